"""The authors' real files, exactly as users have them (tests/authors_files.py writes them): fetch
through merge (MOSELDMP) with and without features, one test per accepted layout and policy,
checking the counts in the verification report (data/verified.json)."""

from __future__ import annotations

import csv
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import authors_files as af
from conftest import small_synthetic_params
from stages.embed import command as embed
from stages.fetch import command as fetch
from stages.labels import command as labels
from stages.merge import command as merge
from stages.preprocess import command as preprocess
from stages.verify import command as verify_cli
from unimse_core.io.hdf5 import read_attrs, read_h5

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("mosi", "mosei", "meld", "iemocap")


def manifest_for(release: Path, path: Path) -> Path:
    """The shipped manifest with the expectations of this small release: its MOSI/MOSEI label files
    are not the real ones (no pinned size or hash) and its counts are small. The MELD CSVs keep
    the official sizes and hashes, so they are taken as the manifest's unofficial variant."""
    manifest = json.loads((ROOT / "manifests" / "authors.json").read_text())
    expect = {
        "mosi/label.csv": af.MSA_COUNTS, "mosi/mosi_data_noalign.pkl": af.MSA_COUNTS,
        "mosei/label.csv": af.MSA_COUNTS, "mosei/mosei_senti_data_noalign.pkl": af.MSA_COUNTS,
        "meld/train_sent_emo.csv": {"train": 12}, "meld/dev_sent_emo.csv": {"valid": 4},
        "meld/test_sent_emo.csv": {"test": 4},
        "meld/meld_features.pkl": {"train": 12, "valid": 4, "test": 4},  # the pickle lacks one key
        "iemocap/IEMOCAP_all.csv": af.EXPECTED["iemocap_label_counts"],
        "iemocap/iemocap_features.pkl": {"train": 14, "valid": 5, "test": 6},
    }
    # this release holds the paper's four datasets only (the manifest also lists EmoryNLP)
    manifest["files"] = [entry for entry in manifest["files"] if entry["dataset"] in DATASETS]
    for entry in manifest["files"]:
        entry["splits"] = expect[entry["path"]]
        if entry["kind"] == "msa_labels":
            entry["size"], entry["sha256"] = None, ""
    path.write_text(json.dumps(manifest))
    return path


def new_work(root: Path, **groups) -> Path:
    af.write_release(root / "raw")
    manifest_for(root / "raw", root / "manifest.json")
    params = small_synthetic_params()
    params["data"].update(source="local", datasets=list(DATASETS), text_only=False)
    params["embed"]["encoder"] = "tfidf"
    params["merge"]["combination"] = "moseldmp"
    for group, values in groups.items():
        params[group].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def invoke(command, *args, ok: bool = True):
    result = CliRunner().invoke(command, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def run_fetch(work: Path, ok: bool = True):
    result = invoke(fetch, "--synthetic-dir", work / "synthetic", "--synthetic-manifest", work / "none.json",
                    "--local-dir", work / "raw", "--manifest", work / "manifest.json",
                    "--report", work / "verified.json", "--params", work / "params.yaml", ok=ok)
    return result, json.loads((work / "verified.json").read_text())


def run_all(work: Path) -> dict:
    """fetch, embed, labels, preprocess of every dataset and merge; the verification report."""
    params = work / "params.yaml"
    _, report = run_fetch(work)
    invoke(embed, "--report", work / "verified.json", "--out", work / "embeddings", "--params", params)
    invoke(labels, "--report", work / "verified.json", "--embeddings", work / "embeddings", "--out", work / "labels",
           "--summary", work / "labels.json", "--params", params)
    for dataset in DATASETS:
        invoke(preprocess, "--dataset", dataset, "--report", work / "verified.json",
               "--labels", work / "labels" / f"{dataset}.csv", "--out", work / "processed" / f"{dataset}.h5",
               "--params", params)
    invoke(merge, "--processed", work / "processed", "--out", work / "merged.h5", "--summary", work / "merge.json",
           "--params", params)
    return report


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> tuple[Path, dict]:
    """The whole chain on the authors' files with their features."""
    work = new_work(tmp_path_factory.mktemp("authors"))
    return work, run_all(work)


@pytest.fixture(scope="module")
def text_only(tmp_path_factory) -> tuple[Path, dict]:
    """The whole chain on the same label files, text only (no feature file is read)."""
    work = new_work(tmp_path_factory.mktemp("text_only"), data={"text_only": True})
    return work, run_all(work)


def merged_counts(work: Path) -> dict:
    return json.loads((work / "merge.json").read_text())["counts"]


def h5_row(work: Path, dataset: str, split: str, uid: str):
    arrays = read_h5(work / "processed" / f"{dataset}.h5", split)
    i = arrays.ids.index(uid)
    return int(arrays.audio_length[i]), int(arrays.video_length[i])


def test_the_whole_chain_passes_on_the_authors_files(full):
    work, report = full
    assert report["ok"], report["problems"]
    counts = merged_counts(work)
    assert counts["test/iemocap"] == {"iemocap": 5} and counts["test/meld"] == {"meld": 4}
    assert counts["valid"] == {"mosi": 4, "mosei": 4, "meld": 4, "iemocap": 5}


# 1. file names ------------------------------------------------------------------------------------


def test_authors_file_names_are_found_and_mapped_to_ours(full):
    _, report = full
    found = {f["manifest_path"]: Path(f["path"]).name for f in report["files"] if "manifest_path" in f}
    assert found == {"mosi/label.csv": "MOSI-label.csv", "mosi/mosi_data_noalign.pkl": "mosi_data_0610.pkl",
                     "mosei/label.csv": "MOSEI-label.csv", "mosei/mosei_senti_data_noalign.pkl": "mosei_data_0610.pkl",
                     "meld/meld_features.pkl": "meld_data_0424.pkl",
                     "iemocap/iemocap_features.pkl": "iemocap_data_0610.pkl"}


def test_two_accepted_names_of_one_file_are_a_problem(tmp_path):
    work = new_work(tmp_path)
    shutil.copy(work / "raw" / "meld" / "meld_data_0424.pkl", work / "raw" / "meld" / "meld_data_0610.pkl")
    result, report = run_fetch(work, ok=False)
    assert result.exit_code != 0
    assert any("meld_data_0610.pkl: the same file is also present as" in p and "meld_data_0424.pkl" in p
               and "keep one" in p for p in report["problems"])


# 2. the older MELD layout -------------------------------------------------------------------------


def test_meld_0424_list_of_audio_dicts_has_zero_length_video(full):
    work, report = full
    meld = report["datasets"]["meld"]
    assert meld["layout"] == "erc_audio_only" and meld["video_dim"] == 0 and meld["audio_dim"] == 64
    assert meld["feature_counts"] == af.EXPECTED["meld_feature_counts"]
    assert meld["modality_missing"] == {"train": {"audio": 0, "video": 11}, "valid": {"audio": 0, "video": 4},
                                        "test": {"audio": 0, "video": 4}}
    stats = read_attrs(work / "processed" / "meld.h5")["stats"]
    assert stats["missing_modality"]["train"] == {"audio": 0, "video": 11}
    arrays = read_h5(work / "processed" / "meld.h5", "train")
    assert arrays.video_length.tolist() == [0] * 12
    audio = dict(zip(arrays.ids, arrays.audio_length.tolist()))
    assert audio.pop(f"train/{af.MELD_DROPPED_KEY}") == 0 and all(3 <= n < 8 for n in audio.values())


# 3. a key missing from one modality -------------------------------------------------------------


def test_a_key_with_audio_but_no_video_is_counted_and_zero_filled(full):
    work, report = full
    iemocap = report["datasets"]["iemocap"]
    assert iemocap["modality_missing"]["train"] == {"audio": 0, "video": 1}
    assert iemocap["modality_missing"]["valid"] == iemocap["modality_missing"]["test"] == {"audio": 0, "video": 0}
    assert iemocap["modality_missing_examples"]["video"] == [f"train/{af.IEMOCAP_AUDIO_ONLY}"]
    assert h5_row(work, "iemocap", "train", af.IEMOCAP_AUDIO_ONLY) == (4, 0)
    assert read_attrs(work / "processed" / "iemocap.h5")["stats"]["missing_modality"] == {
        "train": {"audio": 0, "video": 1}}


def test_features_missing_drop_and_error_apply_per_modality(tmp_path):
    work = new_work(tmp_path, features={"missing": "error"})
    _, report = run_fetch(work)
    assert report["ok"]  # fetch counts; the policy is preprocess's
    params = work / "params.yaml"
    invoke(embed, "--report", work / "verified.json", "--out", work / "embeddings", "--params", params)
    invoke(labels, "--report", work / "verified.json", "--embeddings", work / "embeddings", "--out", work / "labels",
           "--summary", work / "labels.json", "--params", params)
    result = invoke(preprocess, "--dataset", "iemocap", "--report", work / "verified.json", "--labels",
                    work / "labels" / "iemocap.csv", "--out", work / "iemocap.h5", "--params", params, ok=False)
    assert "1 utterance(s) without video features, e.g. 'Ses02M_impro01_M001'" in result.output
    assert "features.missing: zero or drop accepts them" in result.output and not (work / "iemocap.h5").exists()
    values = yaml.safe_load(params.read_text())
    values["features"]["missing"] = "drop"
    params.write_text(yaml.safe_dump(values))
    invoke(preprocess, "--dataset", "iemocap", "--report", work / "verified.json", "--labels",
           work / "labels" / "iemocap.csv", "--out", work / "iemocap.h5", "--params", params)
    assert af.IEMOCAP_AUDIO_ONLY not in read_h5(work / "iemocap.h5", "train").ids
    assert len(read_h5(work / "iemocap.h5", "train")) == 11


# 4. counts are expectations ---------------------------------------------------------------------


def test_count_differences_and_unmatched_ids_pass_under_report(full):
    _, report = full
    meld, iemocap = report["datasets"]["meld"], report["datasets"]["iemocap"]
    assert [(d["split"], d["expected"], d["found"]) for d in meld["count_differences"]] == [("train", 12, 11)]
    assert meld["unmatched"]["labels_without_features"] == [f"train/{af.MELD_DROPPED_KEY}"]
    assert meld["labels_without_features"] == 1
    assert iemocap["unmatched"]["features_without_labels"] == [af.IEMOCAP_EXTRA_KEY]
    assert iemocap["unmatched"]["features_outside_classes"] == af.EXPECTED["iemocap_features_outside_classes"]
    assert iemocap["features_outside_classes"] == 2 and iemocap["count_differences"] == []


def test_unmatched_ids_error_keeps_the_strictness(tmp_path):
    work = new_work(tmp_path, fetch={"unmatched_ids": "error"})
    result, report = run_fetch(work, ok=False)
    assert result.exit_code != 0 and not report["ok"]
    problems = "\n".join(report["problems"])
    assert "meld_data_0424.pkl: split train: expected 12 utterances with features, found 11" in problems
    assert "1 labelled id(s) without features, e.g. ['train/1_5']" in problems
    assert f"1 feature id(s) without a label row, e.g. ['{af.IEMOCAP_EXTRA_KEY}']" in problems
    assert problems.count("fetch.unmatched_ids: report") >= 3


# 5. MELD CSV variants ---------------------------------------------------------------------------


def test_meld_csv_variants_are_known_decoded_and_kept_as_published(full):
    work, report = full
    meld_files = {Path(f["path"]).name: f for f in report["files"] if f["kind"] == "meld_labels"}
    assert {f["status"] for f in meld_files.values()} == {"variant"}
    decodings = {Path(p).name: d for p, d in report["datasets"]["meld"]["decodings"].items()}
    assert decodings["train_sent_emo.csv"] == {"encoding": "utf-8", "detected": False, "c1_controls": 2, "repaired": 0}
    assert decodings["dev_sent_emo.csv"] == {"encoding": "cp1252", "detected": True, "c1_controls": 0, "repaired": 0}
    assert decodings["test_sent_emo.csv"]["c1_controls"] == 0
    with (work / "labels" / "meld.csv").open(encoding="utf-8", newline="") as handle:
        texts = {row["id"]: row["text"] for row in csv.DictReader(handle)}
    assert texts["train/0_0"].startswith("I\u0092m ") and texts["valid/0_0"].startswith("I\u2019m ")


def test_c1_controls_repair_turns_u0092_into_the_right_quote(tmp_path):
    work = new_work(tmp_path, fetch={"c1_controls": "repair"})
    _, report = run_fetch(work)
    decodings = {Path(p).name: d for p, d in report["datasets"]["meld"]["decodings"].items()}
    assert decodings["train_sent_emo.csv"]["repaired"] == 2
    from unimse_core.release import open_dataset

    table, _ = open_dataset(report, "meld", features=False)
    assert table.texts[0].startswith("I\u2019m ") and "\u0092" not in "".join(table.texts)


# 6. padding side --------------------------------------------------------------------------------


def test_padding_majority_wins_and_the_contradicting_row_is_named(full):
    work, report = full
    mosi = report["datasets"]["mosi"]
    assert mosi["padding"] == "left" and mosi["padding_policy"] == "auto"
    assert mosi["padding_votes"] == af.EXPECTED["mosi_padding_votes"]
    assert mosi["padding_conflicts"] == 1
    (row,) = mosi["padding_conflict_rows"]
    assert row.startswith("valid/audio row 1 (id ")
    uid = row.split("'")[1]
    # left padding removes the leading zero frames: none lead in this row, so all 6 frames stay
    assert h5_row(work, "mosi", "valid", uid)[0] == af.FRAMES


def test_explicit_padding_side_counts_the_other_rows(tmp_path):
    work = new_work(tmp_path, features={"padding": "right"})
    _, report = run_fetch(work)
    assert report["datasets"]["mosi"]["padding"] == "right"
    assert report["datasets"]["mosi"]["padding_conflicts"] == 39


# 7. MOSEI alignment -----------------------------------------------------------------------------


def test_mosei_without_parsable_ids_pairs_by_position_and_checks_scores(full):
    _, report = full
    mosei, mosi = report["datasets"]["mosei"], report["datasets"]["mosi"]
    assert mosei["split_matching"] == {"train": "position", "valid": "position", "test": "position"}
    assert mosei["score_check"]["compared"] == 20 and mosei["score_check"]["mismatched"] == 0
    assert mosi["split_matching"] == {"train": "id", "valid": "id", "test": "id"} and mosi["matched_by"] == "id"


def rewrite_pickle(path: Path, change) -> None:
    with open(path, "rb") as handle:
        data = pickle.load(handle)  # our own test file
    change(data)
    with open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=4)


def test_a_partial_id_match_is_an_error_naming_the_rows(tmp_path):
    work = new_work(tmp_path)

    def change(data):
        data["valid"]["id"][2, 0] = b"unknown_7"
    rewrite_pickle(work / "raw" / "mosi" / "mosi_data_0610.pkl", change)
    result, report = run_fetch(work, ok=False)
    assert result.exit_code != 0
    (problem,) = [p for p in report["problems"] if "partial match" in p]
    assert "3 of the 4 valid rows match" in problem and "valid/id row 2 'unknown_7'" in problem


def test_a_shifted_table_fails_the_score_check(tmp_path):
    work = new_work(tmp_path)

    def shift(data):
        labels = data["train"]["labels"]
        data["train"]["labels"] = np.roll(labels, 1, axis=0)  # what pairing shifted rows gives
    rewrite_pickle(work / "raw" / "mosei" / "mosei_data_0610.pkl", shift)
    result, report = run_fetch(work, ok=False)
    check = report["datasets"]["mosei"]["score_check"]
    labels_csv = list(csv.DictReader((work / "raw" / "mosei" / "MOSEI-label.csv").open()))
    train = [float(r["label"]) for r in labels_csv if r["mode"] == "train"]
    differ = sum(1 for a, b in zip(train, np.roll(train, 1)) if abs(a - b) > 1e-4)
    assert check["mismatched"] == differ > 0
    assert any("differs from label.csv by more than 0.0001" in p and "fetch.score_tolerance" in p
               for p in report["problems"])


# 8. IEMOCAP's split, with and without features ---------------------------------------------------


def test_iemocap_splits_from_the_pickle_agree_with_the_reference(full):
    _, report = full
    iemocap = report["datasets"]["iemocap"]
    assert iemocap["split_source"] == "features" and iemocap["reference_split_mismatch"] == 0
    assert iemocap["label_counts"] == af.EXPECTED["iemocap_label_counts"]


def test_a_pickle_split_that_disagrees_with_the_reference_is_reported(tmp_path):
    work = new_work(tmp_path)
    moved = "Ses04F_impro08_M001"

    def move(data):
        for modality in ("audio", "video"):
            data[modality][0][moved] = data[modality][1].pop(moved)
    rewrite_pickle(work / "raw" / "iemocap" / "iemocap_data_0610.pkl", move)
    _, report = run_fetch(work)
    assert report["datasets"]["iemocap"]["unmatched"]["reference_split_mismatch"] == [moved]
    values = yaml.safe_load((work / "params.yaml").read_text())
    values["fetch"]["unmatched_ids"] = "error"
    (work / "params.yaml").write_text(yaml.safe_dump(values))
    _, report = run_fetch(work, ok=False)
    assert any("1 six-class utterance(s) lie in another split than the reference split" in p
               for p in report["problems"])


def test_text_only_moseldmp_takes_the_reference_iemocap_split(text_only):
    work, report = text_only
    assert report["ok"], report["problems"]
    iemocap = report["datasets"]["iemocap"]
    assert iemocap["split_source"] == "reference" and iemocap["features"] is None
    assert iemocap["label_counts"] == af.EXPECTED["iemocap_label_counts"]
    counts = merged_counts(work)
    assert counts["valid"] == {"mosi": 4, "mosei": 4, "meld": 4, "iemocap": 5}
    assert counts["test/iemocap"] == {"iemocap": 5}
    assert counts["train"] == {"mosi": 12, "mosei": 12, "meld": 12, "iemocap": 12}
    arrays = read_h5(work / "processed" / "iemocap.h5", "valid")
    assert sorted({uid.rsplit("_", 1)[0] for uid in arrays.ids}) == ["Ses01F_script01_1", "Ses04F_impro08"]


def test_reference_split_file_lists_the_twelve_dialogues():
    from unimse_core.datasets.iemocap import reference_iemocap_split

    reference = reference_iemocap_split()
    assert len(reference.valid_dialogues) == 12 and reference.test_sessions == {5}
    assert reference.six_class_counts == {"train": 5237, "valid": 521, "test": 1622}
    assert reference.split_of(2, "Ses02M_impro08") == "valid" and reference.split_of(2, "Ses02F_impro08") == "train"
    assert reference.split_of(5, "Ses05F_impro06") == "test"


# verify on a file the manifest does not list ----------------------------------------------------


def test_verify_checks_an_unlisted_pickle_safely(tmp_path):
    af.write_release(tmp_path / "raw")
    stray = tmp_path / "my_mosi_copy.pkl"
    shutil.copy(tmp_path / "raw" / "mosi" / "mosi_data_0610.pkl", stray)
    result = invoke(verify_cli, stray, "--json", ok=False)
    report = json.loads(result.output[:result.output.rindex("}") + 1])
    (record,) = report["unlisted"]
    assert record["status"] == "unlisted" and record["layout"] == "authors" and record["read_as"] == "mosi"
    assert record["feature_counts"] == af.MSA_COUNTS and record["padding"] == "left"
    # a pickle that would run code is refused without running it
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"cos\nsystem\n(S'echo hacked'\ntR.")
    result = invoke(verify_cli, evil, ok=False)
    assert result.exit_code != 0 and "evil.pkl" in result.output


# the synthetic generator writes every variant ---------------------------------------------------

ALL_VARIANTS = ["authors_names", "meld_0424", "missing_modality", "count_mismatch", "meld_cp1252", "meld_c1_lf",
                "mixed_padding", "mosei_unparsed_ids"]


def test_synthetic_variants_run_through_merge(tmp_path):
    from unimse_core.config import SyntheticConfig, from_dict
    from unimse_core.synthetic import generate

    params = small_synthetic_params()
    params["synthetic"]["variants"] = ALL_VARIANTS
    params["data"].update(source="synthetic", datasets=list(DATASETS), text_only=False)
    params["embed"]["encoder"] = "tfidf"
    generate(from_dict(SyntheticConfig, params["synthetic"], "synthetic"), tmp_path / "synthetic")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = invoke(fetch, "--synthetic-dir", tmp_path / "synthetic", "--synthetic-manifest",
                    tmp_path / "synthetic" / "manifest.json", "--local-dir", tmp_path / "raw", "--manifest",
                    tmp_path / "manifest.json", "--report", tmp_path / "verified.json", "--params",
                    tmp_path / "params.yaml")
    assert "note" in result.output
    report = json.loads((tmp_path / "verified.json").read_text())
    names = sorted(Path(f["path"]).name for f in report["files"] if "manifest_path" in f)
    assert names == ["MOSEI-label.csv", "MOSI-label.csv", "iemocap_data_0610.pkl", "meld_data_0424.pkl",
                     "mosei_data_0610.pkl", "mosi_data_0610.pkl"]
    d = report["datasets"]
    assert d["meld"]["layout"] == "erc_audio_only" and d["mosi"]["padding_conflicts"] == 1
    assert d["mosei"]["split_matching"] == {"train": "position", "valid": "position", "test": "position"}
    # count_mismatch: the manifest expects every labelled utterance; missing_features (2 %) leaves one out per split
    assert [(x["split"], x["expected"], x["found"]) for x in d["meld"]["count_differences"]] == [
        ("train", 24, 23), ("valid", 8, 7), ("test", 8, 7)]
    assert d["iemocap"]["modality_missing"]["train"]["video"] == 1 and d["iemocap"]["features_without_labels"] == 1
    decodings = {Path(p).name: x for p, x in d["meld"]["decodings"].items()}
    assert decodings["dev_sent_emo.csv"]["encoding"] == "cp1252" and decodings["dev_sent_emo.csv"]["detected"]
    for stage_args in (
            (embed, "--report", tmp_path / "verified.json", "--out", tmp_path / "embeddings"),
            (labels, "--report", tmp_path / "verified.json", "--embeddings", tmp_path / "embeddings", "--out",
             tmp_path / "labels", "--summary", tmp_path / "labels.json")):
        invoke(*stage_args, "--params", tmp_path / "params.yaml")
    for dataset in DATASETS:
        invoke(preprocess, "--dataset", dataset, "--report", tmp_path / "verified.json", "--labels",
               tmp_path / "labels" / f"{dataset}.csv", "--out", tmp_path / "processed" / f"{dataset}.h5",
               "--params", tmp_path / "params.yaml")
    invoke(merge, "--processed", tmp_path / "processed", "--out", tmp_path / "merged.h5", "--summary",
           tmp_path / "merge.json", "--params", tmp_path / "params.yaml")
    assert json.loads((tmp_path / "merge.json").read_text())["totals"]["test/iemocap"] == 8


def test_policy_notes_reach_the_run_report(full, text_only):
    from unimse_core.release import policy_notes
    from unimse_core.report import ReportInputs, render_report

    notes = policy_notes(full[1])
    assert any(n.startswith("meld: ") and "split train: 11 utterances with features, the manifest expects 12" in n
               for n in notes)
    assert "iemocap: train: 1 utterance(s) without video features (features.missing)" in notes
    assert "meld: 1 labelled utterance(s) without features (fetch.unmatched_ids)" in notes
    assert "iemocap: 2 feature key(s) of rows outside the six classes" in notes
    assert any(n.startswith("mosi: 1 row(s) contradict the padding side 'left'") for n in notes)
    assert "iemocap: splits from the reference split (no feature file defines them)" in policy_notes(text_only[1])
    page = render_report(ReportInputs(test={}, params={"data": {"source": "local"}}, verification=full[1]))
    section = page[page.index("## Raw data"):]
    assert "- iemocap: 2 feature key(s) of rows outside the six classes" in section


@pytest.mark.skipif(not os.environ.get("UNIMSE_IEMOCAP_ALL"), reason="UNIMSE_IEMOCAP_ALL names no real IEMOCAP_all.csv")
def test_the_reference_split_gives_the_papers_counts_on_the_real_table():
    from unimse_core.datasets import iemocap
    from unimse_core.io.manifest import read_manifest, check_file

    path = Path(os.environ["UNIMSE_IEMOCAP_ALL"])
    table = iemocap.assign_iemocap_splits(iemocap.read_iemocap_labels(path))
    six = [split for split, used in zip(table.splits, table.in_classes) if used]
    assert {s: six.count(s) for s in ("train", "valid", "test")} == {"train": 5237, "valid": 521, "test": 1622}
    (entry,) = [e for e in read_manifest(ROOT / "manifests" / "authors.json").files if e.kind == "iemocap_labels"]
    assert check_file(entry, path.parent, path).passed
