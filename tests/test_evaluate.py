"""The evaluate stage through click's CliRunner, on a tiny random model and a tiny merged file with
all four test sets: prediction tables, metric names, garbage generations, and that only the test
groups are read."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

import stages.evaluate
from stages.evaluate import command as evaluate
from tiny_training import FEATURE_DIM, LOADER, MODEL
from unimse_core.config import ModelConfig, TokenizerConfig, from_dict
from unimse_core.evaluation import (CLASS_METRICS, MSA_METRICS, TABLE_COLUMNS, ordered_metrics, prediction_table,
                                    utterance_arrays)
from unimse_core.io.hdf5 import SplitArrays, pack_sequences, read_h5, write_h5
from unimse_core.io.tables import read_table
from unimse_core.model import EXTRA_WEIGHTS, UniMSE, build_model, save_model
from unimse_core.datasets.iemocap import CODES as IEMOCAP_CODES
from unimse_core.datasets.iemocap import WORDS as IEMOCAP_WORDS
from unimse_core.datasets.iemocap import iemocap_polarity
from unimse_core.datasets.meld import EMOTIONS as MELD_EMOTIONS
from unimse_core.text import parse_target, score_polarity, target

DATASETS = ("mosi", "mosei", "meld", "iemocap")
TEST_ROWS = {"mosi": 6, "mosei": 5, "meld": 6, "iemocap": 5}
EVALUATE = {"constrained": True, "max_new_tokens": 24, "device": "cpu", "bf16": False, "deterministic": True,
            "cpu_threads": 1}
TEXT = {"prefix": "sst2 sentence: ", "window": 2, "causal": False, "iemocap_context": "dialogue", "score_decimals": 2}
WORDS = ("awful", "bad", "plain", "good", "superb", "movie", "talk", "scene")
GARBAGE = ("", "positive", "positive,abc,joy,joy", "nan", "positive,1e999,joy,joy")


def rows(dataset: str, n: int, seed: int) -> SplitArrays:
    """n utterances of `dataset` with the gold fields its metrics need and 0-4 frames of each modality."""
    rng = np.random.default_rng(seed)
    fields: dict[str, list] = {k: [] for k in ("ids", "dataset", "inputs", "targets", "gold_score", "gold_emotion",
                                               "polarity", "audio", "video")}
    for i in range(n):
        score = float(rng.choice([-2.0, -0.5, 0.0, 1.0, 2.5]))
        meld = str(rng.choice(MELD_EMOTIONS))
        code = str(rng.choice(IEMOCAP_CODES))
        if dataset in ("mosi", "mosei"):
            polarity, gold_score, gold_emotion = score_polarity(score), score, ""
        elif dataset == "meld":
            polarity, gold_score, gold_emotion = score_polarity(score), np.nan, meld
        else:
            polarity, gold_score, gold_emotion = iemocap_polarity(code), np.nan, IEMOCAP_WORDS[code]
        fields["ids"].append(f"{dataset}/{seed}/{i}")
        fields["dataset"].append(dataset)
        fields["inputs"].append("sst2 sentence: " + " ".join(rng.choice(WORDS, size=int(rng.integers(2, 6)))))
        fields["targets"].append(target(polarity, score, meld, code, 2))
        fields["gold_score"].append(gold_score)
        fields["gold_emotion"].append(gold_emotion)
        fields["polarity"].append(polarity)
        for modality in ("audio", "video"):
            fields[modality].append(rng.normal(size=(int(rng.integers(0, 5)), FEATURE_DIM)).astype(np.float32))
    audio, audio_offset, audio_length = pack_sequences(fields.pop("audio"), FEATURE_DIM)
    video, video_offset, video_length = pack_sequences(fields.pop("video"), FEATURE_DIM)
    return SplitArrays(**fields, audio=audio, audio_offset=audio_offset, audio_length=audio_length, video=video,
                       video_offset=video_offset, video_length=video_length)


def save_tiny_model(folder: Path, texts: list[str]) -> Path:
    """A random tiny UniMSE and a tokenizer trained on `texts`, saved as the train stage saves them."""
    from unimse_core.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(texts, from_dict(TokenizerConfig, {"vocab_size": 150, "split_digits": True},
                                                 "tokenizer"))
    torch.manual_seed(0)
    save_model(build_model(from_dict(ModelConfig, MODEL, "model"), tokenizer), folder, tokenizer)
    return folder


def write_params(path: Path, **evaluate_changes) -> Path:
    path.write_text(yaml.safe_dump({"evaluate": {**EVALUATE, **evaluate_changes}, "loader": dict(LOADER),
                                    "text": dict(TEXT)}, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    groups = {"train": SplitArrays.concat([rows(d, 8, seed=k) for k, d in enumerate(DATASETS)]),
              "valid": SplitArrays.concat([rows(d, 3, seed=10 + k) for k, d in enumerate(DATASETS)])}
    groups.update({f"test/{d}": rows(d, TEST_ROWS[d], seed=20 + k) for k, d in enumerate(DATASETS)})
    write_h5(folder / "merged.h5", groups, {"combination": "tiny"})
    train = groups["train"]
    save_tiny_model(folder / "selected", [*train.inputs, *train.targets])
    return folder


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def run(inputs: Path, work: Path, ok: bool = True, model: Path | None = None, merged: Path | None = None,
        **evaluate_changes):
    params = write_params(work / "params.yaml", **evaluate_changes)
    result = CliRunner().invoke(evaluate, ["--model", str(model or inputs / "selected"),
                                           "--merged", str(merged or inputs / "merged.h5"),
                                           "--predictions", str(work / "predictions"),
                                           "--metrics", str(work / "metrics" / "test.json"), "--params", str(params)])
    if ok:
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def tables(work: Path) -> dict[str, dict[str, list[str]]]:
    return {d: read_table(work / "predictions" / f"{d}.csv", TABLE_COLUMNS) for d in DATASETS}


def expected_names(dataset: str) -> list[str]:
    return [*(MSA_METRICS if dataset in ("mosi", "mosei") else CLASS_METRICS), "unparsable"]


# ----------------------------------------------------------------------------------------------
# the stage


def test_constrained_evaluation_writes_one_row_per_test_row_and_every_output_parses(inputs, tmp_path):
    run(inputs, tmp_path)
    assert sorted(p.name for p in (tmp_path / "predictions").iterdir()) == sorted(f"{d}.csv" for d in DATASETS)
    metrics = json.loads((tmp_path / "metrics" / "test.json").read_text())
    assert list(metrics) == list(DATASETS)
    for dataset, table in tables(tmp_path).items():
        arrays = read_h5(inputs / "merged.h5", f"test/{dataset}")
        assert list(table) == list(TABLE_COLUMNS)
        assert table["id"] == arrays.ids and table["target"] == arrays.targets and table["input"] == arrays.inputs
        assert all(parse_target(g).valid for g in table["generated"]), table["generated"]
        assert not any(table["parse_error"])
        assert list(metrics[dataset]) == expected_names(dataset)
        assert metrics[dataset]["unparsable"] == 0
        if dataset in ("mosi", "mosei"):
            assert [float(g) for g in table["gold"]] == pytest.approx(arrays.gold_score.tolist())
            assert table["prediction"] == table["score"]
        else:
            assert table["gold"] == arrays.gold_emotion
            assert table["prediction"] == table[f"{dataset}_emotion"]


def test_free_decoding_counts_what_does_not_parse(inputs, tmp_path):
    run(inputs, tmp_path, constrained=False, max_new_tokens=8)  # below 17: allowed when decoding freely
    metrics = json.loads((tmp_path / "metrics" / "test.json").read_text())
    for dataset, table in tables(tmp_path).items():
        assert list(metrics[dataset]) == expected_names(dataset)
        assert metrics[dataset]["unparsable"] == sum(p == "" for p in table["prediction"])
    assert sum(m["unparsable"] for m in metrics.values()) > 0  # a random model decoding freely: garbage


def test_garbage_generations_never_crash_and_are_counted(inputs, tmp_path, monkeypatch):
    from unimse_core.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(inputs / "selected")
    encoded = [tokenizer(g, add_special_tokens=False)["input_ids"] for g in GARBAGE]

    def garbage(self, batch, max_new_tokens, constrained=None):
        picked = [encoded[i % len(GARBAGE)] for i in batch["index"].tolist()]
        out = torch.zeros((len(picked), 1 + max(map(len, picked))), dtype=torch.long)  # start and pad: 0
        for row, ids in enumerate(picked):
            out[row, 1:1 + len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    monkeypatch.setattr(UniMSE, "generate", garbage)
    run(inputs, tmp_path)
    metrics = json.loads((tmp_path / "metrics" / "test.json").read_text())
    for dataset, table in tables(tmp_path).items():
        n = TEST_ROWS[dataset]
        assert table["generated"] == [GARBAGE[i % len(GARBAGE)] for i in range(n)]
        assert all(table["parse_error"])
        # every garbage text lacks a score; "positive,abc,joy,joy" and "positive,1e999,joy,joy" still
        # carry a MELD and an IEMOCAP emotion (joy), which is what counts for MELD and IEMOCAP
        with_emotion = sum(GARBAGE[i % len(GARBAGE)].endswith(",joy,joy") for i in range(n))
        expected = n if dataset in ("mosi", "mosei") else n - with_emotion
        assert metrics[dataset]["unparsable"] == expected, dataset
        assert list(metrics[dataset]) == expected_names(dataset)
        assert all(v is None or math.isfinite(v) for v in metrics[dataset].values())
    assert metrics["mosi"]["MAE"] == pytest.approx(float(np.mean(np.abs(read_h5(inputs / "merged.h5",
                                                                                 "test/mosi").gold_score))))


def test_only_test_groups_are_read(inputs, tmp_path, monkeypatch):
    read = []

    def recording(path, group, **kwargs):
        read.append(group)
        return read_h5(path, group, **kwargs)

    monkeypatch.setattr(stages.evaluate, "read_h5", recording)
    run(inputs, tmp_path)
    assert read == [f"test/{d}" for d in DATASETS]


def test_a_missing_model_file_is_named(inputs, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(inputs / "selected", model)
    (model / EXTRA_WEIGHTS).unlink()
    result = run(inputs, tmp_path, ok=False, model=model)
    assert result.exit_code != 0 and EXTRA_WEIGHTS in result.output
    assert not (tmp_path / "metrics" / "test.json").exists()


def copy_model(inputs: Path, folder: Path) -> Path:
    import shutil

    shutil.copytree(inputs / "selected", folder)
    return folder


def test_a_model_of_another_label_layout_is_refused_naming_both_files(inputs, tmp_path):
    model = copy_model(inputs, tmp_path / "model")
    five = [*DATASETS, "emorynlp"]
    (model / "run.json").write_text(json.dumps({"run_id": "r", "label_layout": five}))
    result = run(inputs, tmp_path, ok=False, model=model)
    assert result.exit_code != 0
    for piece in (str(model / "run.json"), str(inputs / "merged.h5"), ", ".join(five), ", ".join(DATASETS),
                  "polarity,score,meld_emotion,iemocap_emotion,emorynlp_emotion",
                  "polarity,score,meld_emotion,iemocap_emotion (label_layout"):
        assert piece in result.output, result.output
    assert not (tmp_path / "metrics" / "test.json").exists()


def test_an_unknown_dataset_in_the_models_layout_names_run_json(inputs, tmp_path):
    model = copy_model(inputs, tmp_path / "model")
    (model / "run.json").write_text(json.dumps({"run_id": "r", "label_layout": ["mosi", "nope"]}))
    result = run(inputs, tmp_path, ok=False, model=model)
    assert result.exit_code != 0 and str(model / "run.json") in result.output
    assert "unknown dataset 'nope'" in result.output


def test_a_model_of_the_merged_files_layout_runs(inputs, tmp_path):
    model = copy_model(inputs, tmp_path / "model")
    (model / "run.json").write_text(json.dumps({"run_id": "r", "label_layout": list(DATASETS)}))
    run(inputs, tmp_path, model=model)
    assert set(json.loads((tmp_path / "metrics" / "test.json").read_text())) == set(DATASETS)


def _set_feature_dim(model: Path, value: int) -> None:
    meta = json.loads((model / "unimse.json").read_text())
    meta["model"]["feature_dim"] = value
    (model / "unimse.json").write_text(json.dumps(meta))


def test_a_model_of_another_feature_width_is_refused_naming_both_values(inputs, tmp_path):
    model = copy_model(inputs, tmp_path / "model")
    _set_feature_dim(model, FEATURE_DIM + 1)
    result = run(inputs, tmp_path, ok=False, model=model)
    assert result.exit_code != 0
    # this merged file records no features.dim: its test frames' width counts
    for piece in (str(model / "unimse.json"), f"feature_dim is {FEATURE_DIM + 1}", str(inputs / "merged.h5"),
                  f"frames have width {FEATURE_DIM};"):
        assert piece in result.output, result.output
    assert not (tmp_path / "metrics" / "test.json").exists()


def test_the_recorded_features_dim_is_what_the_model_must_match(inputs, tmp_path):
    tests = {f"test/{d}": read_h5(inputs / "merged.h5", f"test/{d}") for d in DATASETS}
    merged = tmp_path / "merged.h5"
    sources = {d: {"config": {"text": TEXT, "features": {"dim": FEATURE_DIM + 2}}, "sources": {}} for d in DATASETS}
    write_h5(merged, tests, {"combination": "tiny", "sources": sources})
    result = run(inputs, tmp_path, ok=False, merged=merged)
    assert result.exit_code != 0
    for piece in (str(inputs / "selected" / "unimse.json"), f"feature_dim is {FEATURE_DIM} (model.feature_dim)",
                  f"{merged}'s frames were built with features.dim {FEATURE_DIM + 2};"):
        assert piece in result.output, result.output


def test_constrained_decoding_needs_room_for_the_shortest_label(inputs, tmp_path):
    result = run(inputs, tmp_path, ok=False, max_new_tokens=16)
    assert result.exit_code != 0 and "evaluate.max_new_tokens" in result.output


# ----------------------------------------------------------------------------------------------
# the pure parts


def test_metrics_keep_their_order_and_nan_becomes_null():
    msa = {name: 0.5 for name in MSA_METRICS} | {"Non0_acc_2": float("nan"), "unparsable": 2}
    out = ordered_metrics("mosi", dict(reversed(list(msa.items()))))
    assert list(out) == expected_names("mosi") and out["Non0_acc_2"] is None and out["unparsable"] == 2
    with pytest.raises(ValueError, match="expected"):
        ordered_metrics("meld", {"acc": 1.0, "unparsable": 0})


def test_prediction_table_leaves_unparsed_fields_empty():
    arrays = rows("meld", 2, seed=0)
    table = prediction_table("meld", arrays, ["negative,-1.5,anger,sadness", "positive"])
    assert list(table) == list(TABLE_COLUMNS)
    assert table["prediction"] == ["anger", None] and table["score"] == [-1.5, None]
    assert table["parse_error"][0] == "" and table["parse_error"][1]


def test_an_utterance_becomes_a_preprocessed_msa_row():
    audio = np.array([[1.0, np.nan, 2.0, np.inf]], dtype=np.float64)
    arrays = utterance_arrays("  What  A Movie ", prefix="sst2 sentence: ", audio=audio, video=None,
                              feature_dim=4)
    assert arrays.inputs == ["sst2 sentence: what a movie"]
    assert arrays.audio.tolist() == [[1.0, 0.0, 2.0, 0.0]] and arrays.video_length.tolist() == [0]
    with pytest.raises(ValueError, match=r"\[frames, 4\]"):
        utterance_arrays("x", prefix="", audio=np.zeros((2, 3)), video=None, feature_dim=4)
