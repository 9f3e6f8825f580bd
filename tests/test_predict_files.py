"""`unimse predict --input/--output` on a tiny random model: CSV and JSONL, batches, .npy paths,
conversations whose windows are those preprocessing builds, and bad input that leaves no output."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from stages.predict import command as predict
from test_evaluate import LOADER, TEXT, save_tiny_model
from test_predict import TEXTS
from tiny_training import FEATURE_DIM
from conftest import SHARED_DATA
from unimse_core.config import TextConfig, from_dict
from unimse_core.datasets import LabelFile
from unimse_core.datasets import get as dataset_of
from unimse_core.datasets.iemocap import read_iemocap_labels
from unimse_core.datasets.meld import EMOTIONS as MELD_EMOTIONS
from unimse_core.datasets.meld import read_meld_labels
from unimse_core.inference import CONVERSATIONS
from unimse_core.text import POLARITIES, msa_input

IEMOCAP_EMOTIONS = dataset_of("iemocap").words

LABEL_KEYS = ["generated", "valid", "parse_error", "polarity", "score", "meld_emotion", "iemocap_emotion"]
UTTERANCES = ["What a GOOD movie", "a bad and  boring plot", "fine", "superb scene", "awful talk", "plain"]

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("predict_files")
    save_tiny_model(root / "model", TEXTS)
    (root / "params.yaml").write_text(yaml.safe_dump({"text": TEXT, "loader": LOADER}))
    return root


def run(folder: Path, *args, ok: bool = True):
    result = CliRunner().invoke(predict, ["--model", str(folder / "model"), "--params", str(folder / "params.yaml"),
                                          *map(str, args)])
    if ok:
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_csv_of_utterances_gets_one_label_per_row(folder, tmp_path):
    source = write_csv(tmp_path / "in.csv", ["id", "text"], [[f"u{i}", t] for i, t in enumerate(UTTERANCES)])
    result = run(folder, "--input", source, "--output", tmp_path / "out.csv")
    rows = read_csv(tmp_path / "out.csv")
    assert f"{len(UTTERANCES)} row(s)" in result.output
    assert list(rows[0]) == ["record", "id", "input", *LABEL_KEYS, "model_id"]
    assert [r["id"] for r in rows] == [f"u{i}" for i in range(len(UTTERANCES))]
    assert [r["record"] for r in rows] == [f"line {i + 2}" for i in range(len(UTTERANCES))]
    assert [r["input"] for r in rows] == [msa_input(t, prefix=TEXT["prefix"]) for t in UTTERANCES]
    for r in rows:
        assert r["valid"] == "true" and r["parse_error"] == ""  # constrained decoding: every output parses
        assert r["polarity"] in POLARITIES and -3 <= float(r["score"]) <= 3
        assert r["meld_emotion"] in MELD_EMOTIONS and r["iemocap_emotion"] in IEMOCAP_EMOTIONS
        fields = r["generated"].split(",")
        assert fields[0::2] == [r["polarity"], r["meld_emotion"]] and fields[3] == r["iemocap_emotion"]
        assert float(fields[1]) == float(r["score"])
    # no run.json in this folder: the id is the hash of the weights, the same on every row
    assert len({r["model_id"] for r in rows}) == 1 and rows[0]["model_id"].startswith("sha256:")


def test_the_file_path_gives_what_one_utterance_gives_whatever_the_batch(folder, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in UTTERANCES))
    outputs = []
    for batch_size in (1, 4):
        run(folder, "--input", source, "--output", tmp_path / f"out{batch_size}.jsonl", "--batch-size", batch_size)
        outputs.append(read_jsonl(tmp_path / f"out{batch_size}.jsonl"))
    assert outputs[0] == outputs[1]
    first = outputs[0][0]
    assert first["valid"] is True and isinstance(first["score"], float) and set(first) >= set(LABEL_KEYS)
    single = run(folder, "--text", UTTERANCES[0], "--json")
    assert json.loads(single.stdout.strip().splitlines()[-1])["generated"] == first["generated"]


def test_npy_paths_per_row_relative_to_the_file(folder, tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "feats").mkdir()
    np.save(tmp_path / "feats" / "a0.npy", rng.normal(size=(5, FEATURE_DIM)).astype(np.float32))
    np.save(tmp_path / "v1.npy", rng.normal(size=(3, FEATURE_DIM)))
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in [
        {"text": "fine", "audio": "feats/a0.npy"}, {"text": "fine", "video": str(tmp_path / "v1.npy")},
        {"text": "fine", "audio": "", "video": None}]) + "\n")
    run(folder, "--input", source, "--output", tmp_path / "out.jsonl")
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert len(rows) == 3 and all(r["valid"] for r in rows)
    single = run(folder, "--text", "fine", "--audio", tmp_path / "feats" / "a0.npy", "--json")
    assert json.loads(single.stdout.strip().splitlines()[-1])["generated"] == rows[0]["generated"]


def _release_rows(dataset: str, release: Path):
    """(table, rows, expected inputs) of a synthetic release's dialogues, turns numbered 0, 1, ... in the
    order preprocessing sorts them (MELD: Utterance_ID; IEMOCAP: start time), rows shuffled."""
    if dataset == "emorynlp":
        table = dataset_of(dataset).read_labels([LabelFile(s, release / f"emorynlp_{f}_final.csv")
                                                    for s, f in (("train", "train"), ("valid", "dev"),
                                                                 ("test", "test"))], "keep")
        keys = table.utterances
        spoken = list(range(len(table)))
    elif dataset == "meld":
        table = read_meld_labels({s: release / "meld" / f"{f}_sent_emo.csv"
                                  for s, f in (("train", "train"), ("dev", "dev"), ("test", "test"))})
        keys = table.utterances
        spoken = list(range(len(table)))
    else:
        table = read_iemocap_labels(release / "iemocap" / "IEMOCAP_all.csv")
        keys = table.starts
        spoken = [i for i, t in enumerate(table.texts) if t.strip()]
    config = from_dict(TextConfig, TEXT, "text")
    expected = dataset_of(table.dataset).input_texts(table, config)
    by_dialogue: dict[str, list[int]] = {}
    for i in spoken:
        by_dialogue.setdefault(table.dialogues[i], []).append(i)
    rows = []
    for dialogue, members in by_dialogue.items():
        for turn, i in enumerate(sorted(members, key=lambda i: keys[i])):
            rows.append({"dialogue_id": dialogue, "speaker": table.speakers[i], "turn": turn,
                         "text": table.texts[i], "expect": expected[i]})
    random.Random(0).shuffle(rows)
    return rows


def write_emorynlp(folder: Path) -> Path:
    """EmoryNLP files of a few scenes per split: rows out of Utterance_ID order, several speakers per row,
    untidy whitespace and case (the reader and the window clean them)."""
    rng = random.Random(7)
    folder.mkdir()
    header = "Utterance,Speaker,Emotion,Scene_ID,Utterance_ID,Season,Episode,Start_Time,End_Time\n"
    names = ["['Ross Geller']", "['Monica Geller']", "\"['Rachel Green', 'Joey Tribbiani']\"", "['Phoebe  Buffay']"]
    for file in ("train", "dev", "test"):
        lines = []
        for scene in range(3):
            for utterance in range(rng.randint(4, 7)):
                words = " ".join(rng.choice(UTTERANCES).split()[:2])
                emotion = rng.choice(dataset_of("emorynlp").codes).capitalize()
                lines.append(f"\"  {words}  {utterance} \",{rng.choice(names)},{emotion},{scene},{utterance},1,"
                             f"{1 + scene % 2},x,y\n")
        rng.shuffle(lines)
        (folder / f"emorynlp_{file}_final.csv").write_text(header + "".join(lines), encoding="utf-8")
    return folder


def test_the_choices_are_none_and_the_datasets_whose_input_is_a_conversation():
    assert CONVERSATIONS == ("none", "meld", "iemocap", "emorynlp")
    choices = next(p for p in predict.params if p.name == "conversations").type.choices
    assert tuple(choices) == CONVERSATIONS


@pytest.mark.parametrize("dataset", ["meld", "iemocap", "emorynlp"])
def test_conversation_windows_are_those_preprocessing_builds(folder, tmp_path, small_release, dataset):
    release = write_emorynlp(tmp_path / "emorynlp") if dataset == "emorynlp" else small_release
    rows = _release_rows(dataset, release)
    assert len(rows) > 20 and any(r["turn"] > 2 for r in rows)
    _assert_windows(folder, tmp_path, dataset, rows)


def _assert_windows(folder: Path, tmp_path: Path, dataset: str, rows: list[dict]) -> None:
    source = write_csv(tmp_path / "dialogues.csv", ["dialogue_id", "speaker", "turn", "text"],
                       [[r["dialogue_id"], r["speaker"], r["turn"], r["text"]] for r in rows])
    run(folder, "--input", source, "--output", tmp_path / "out.csv", "--conversations", dataset)
    out = read_csv(tmp_path / "out.csv")
    assert list(out[0])[:5] == ["record", "dialogue_id", "speaker", "turn", "input"]
    assert [r["input"] for r in out] == [r["expect"] for r in rows]
    assert [(r["dialogue_id"], int(r["turn"])) for r in out] == [(r["dialogue_id"], r["turn"]) for r in rows]
    if dataset != "iemocap":  # IEMOCAP's input has no speakers
        assert all(" ".join(r["speaker"].split()) in r["input"] for r in out)
    assert sum(r["input"].count("</s>") for r in out) == 2 * len(out)


def test_emorynlp_windows_of_the_real_files_are_those_preprocessing_builds(folder, tmp_path):
    real = SHARED_DATA / "emorynlp"
    if not real.is_dir():
        pytest.skip(f"real EmoryNLP files absent at {real} (set UNIMSE_SHARED_DATA)")
    rows = _release_rows("emorynlp", real)
    scenes = sorted({r["dialogue_id"] for r in rows if r["dialogue_id"].startswith("test/")})[:4]
    _assert_windows(folder, tmp_path, "emorynlp", [r for r in rows if r["dialogue_id"] in scenes])


def test_windows_follow_the_models_text_settings(folder, tmp_path):
    """text.window and text.causal come from the model folder's run.json."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(folder / "model", model)
    (model / "run.json").write_text(json.dumps({"run_id": "run-abc", "configs": {
        "text": {**TEXT, "window": 1, "causal": True}, "loader": LOADER}}))
    source = write_csv(tmp_path / "d.csv", ["dialogue_id", "speaker", "turn", "text"],
                       [["d", "Ann", 2, "three"], ["d", "Bob", 0, "one"], ["d", "Ann", 1, "Two"]])
    result = CliRunner().invoke(predict, ["--model", str(model), "--input", str(source),
                                          "--output", str(tmp_path / "o.csv"), "--conversations", "meld"])
    assert result.exit_code == 0, result.output
    out = read_csv(tmp_path / "o.csv")
    p = TEXT["prefix"]
    assert [r["input"] for r in out] == [f"{p}Ann Two </s> Ann three </s>", f"{p}</s> Bob one </s>",
                                         f"{p}Bob one </s> Ann Two </s>"]
    assert {r["model_id"] for r in out} == {"run-abc"}


BAD = {
    "empty text": (["id", "text"], [["a", "fine"], ["b", "   "]], "none", ["line 3", "empty"]),
    "missing column": (["id", "words"], [["a", "fine"]], "none", ["line 2", "missing column(s) text"]),
    "missing speaker": (["dialogue_id", "turn", "text"], [["d", 0, "x"]], "meld",
                        ["line 2", "missing column(s) speaker"]),
    "gap": (["dialogue_id", "speaker", "turn", "text"], [["d", "A", 0, "x"], ["d", "B", 1, "y"], ["d", "A", 3, "z"]],
            "meld", ["line 4", "turn 2 is missing", "'d'"]),
    "duplicate": (["dialogue_id", "speaker", "turn", "text"], [["d", "A", 0, "x"], ["e", "A", 0, "w"],
                                                             ["d", "B", 0, "y"]],
                  "iemocap", ["line 4", "turn 0 repeats", "line 2"]),
    "not a turn": (["dialogue_id", "speaker", "turn", "text"], [["d", "A", "first", "x"]], "meld",
                   ["line 2", "expected an integer"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_rows_are_named_and_leave_no_output(folder, tmp_path, case):
    header, rows, conversations, expected = BAD[case]
    source = write_csv(tmp_path / "bad.csv", header, rows)
    out = tmp_path / "out.csv"
    result = run(folder, "--input", source, "--output", out, "--conversations", conversations, ok=False)
    assert result.exit_code != 0
    assert str(source) in result.output
    for piece in expected:
        assert piece in result.output, result.output
    assert not out.exists() and not list(tmp_path.glob(".out.csv*"))


def test_a_wrong_npy_width_names_the_file_row_and_width(folder, tmp_path):
    np.save(tmp_path / "wide.npy", np.zeros((4, FEATURE_DIM + 2), dtype=np.float32))
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "ok"}) + "\n\n" + json.dumps({"text": "ok", "video": "wide.npy"}) + "\n")
    out = tmp_path / "out.jsonl"
    out.write_text("an older output\n")
    result = run(folder, "--input", source, "--output", out, ok=False)
    assert result.exit_code != 0
    assert str(source) in result.output and "line 3" in result.output and "wide.npy" in result.output
    assert f"[4, {FEATURE_DIM + 2}]" in result.output and f"[frames, {FEATURE_DIM}]" in result.output
    assert out.read_text() == "an older output\n"  # untouched: nothing written over it


def test_usage_errors(folder, tmp_path):
    source = write_csv(tmp_path / "in.csv", ["text"], [["x"]])
    assert "--output" in run(folder, "--input", source, ok=False).output
    assert "either --text" in run(folder, "--text", "x", "--input", source, "--output", tmp_path / "o.csv",
                                  ok=False).output
    assert ".csv or .jsonl" in run(folder, "--input", source, "--output", tmp_path / "o.txt", ok=False).output
    assert "--conversations" in run(folder, "--text", "x", "--conversations", "meld", ok=False).output


def test_the_output_columns_are_the_models_label_layout(folder, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(folder / "model", model)
    (model / "run.json").write_text(json.dumps({"run_id": "r5", "label_layout": ["mosi", "meld", "emorynlp"],
                                                "configs": {"text": TEXT, "loader": LOADER}}))
    source = write_csv(tmp_path / "in.csv", ["text"], [[t] for t in UTTERANCES[:3]])
    result = CliRunner().invoke(predict, ["--model", str(model), "--input", str(source),
                                          "--output", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert list(rows[0]) == ["record", "input", "generated", "valid", "parse_error", "polarity", "score",
                             "meld_emotion", "emorynlp_emotion", "model_id"]
    for r in rows:
        assert r["valid"] is True and r["generated"].split(",")[2:] == [r["meld_emotion"], r["emorynlp_emotion"]]
        assert r["emorynlp_emotion"] in dataset_of("emorynlp").words and r["model_id"] == "r5"
