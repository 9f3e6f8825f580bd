"""The embed, labels, preprocess and merge stages through click's CliRunner, on a small synthetic release."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from conftest import SMALL_SIZES, small_synthetic_params
from stages.embed import command as embed
from stages.fetch import command as fetch
from stages.labels import command as labels
from stages.merge import command as merge
from stages.preprocess import command as preprocess
from unimse_core.io.hdf5 import SCHEMA_VERSION, list_groups, read_attrs, read_h5
from unimse_core.io.manifest import sha256_file
from unimse_core.datasets.iemocap import WORDS as IEMOCAP_WORDS
from unimse_core.datasets.meld import EMOTIONS as MELD_EMOTIONS
from unimse_core.text import parse_target

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("mosi", "mosei", "meld", "iemocap")
SPLITS = ("train", "valid", "test")
SIZES = SMALL_SIZES
SLOT_SOURCES = {"score": ("mosi", "mosei"), "meld_emotion": ("meld",), "iemocap_emotion": ("iemocap",)}
OWN_SLOT = {"mosi": "score", "mosei": "score", "meld": "meld_emotion", "iemocap": "iemocap_emotion"}
TABLE_COLUMNS = ("id", "split", "text", "polarity", "score", "meld_emotion", "iemocap_emotion")


def small_params() -> dict:
    params = small_synthetic_params()
    params["data"].update(source="synthetic", datasets=list(DATASETS), text_only=False)
    params["embed"]["encoder"] = "tfidf"
    params["features"]["missing"] = "zero"
    return params


@pytest.fixture(scope="module")
def release(small_release) -> Path:
    return small_release


def new_work(root: Path, release: Path, **groups) -> Path:
    shutil.copytree(release, root / "synthetic")
    (root / "raw").mkdir()
    params = small_params()
    for group, values in groups.items():
        params[group].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def invoke(command, *args, ok: bool = True):
    result = CliRunner().invoke(command, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def run_labels(work: Path) -> None:
    """fetch, embed and labels into `work`."""
    params = work / "params.yaml"
    invoke(fetch, "--synthetic-dir", work / "synthetic", "--synthetic-manifest", work / "synthetic" / "manifest.json",
           "--local-dir", work / "raw", "--manifest", work / "synthetic" / "manifest.json",
           "--report", work / "verified.json", "--params", params)
    invoke(embed, "--report", work / "verified.json", "--out", work / "embeddings", "--params", params)
    invoke(labels, "--report", work / "verified.json", "--embeddings", work / "embeddings", "--out", work / "labels",
           "--summary", work / "labels.json", "--params", params)


def run_preprocess(work: Path, datasets=DATASETS) -> None:
    for dataset in datasets:
        invoke(preprocess, "--dataset", dataset, "--report", work / "verified.json",
               "--labels", work / "labels" / f"{dataset}.csv", "--out", work / "processed" / f"{dataset}.h5",
               "--params", work / "params.yaml")


def run_merge(work: Path, ok: bool = True):
    return invoke(merge, "--processed", work / "processed", "--out", work / "merged.h5",
                  "--summary", work / "merge.json", "--params", work / "params.yaml", ok=ok)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def tables(work: Path, datasets=DATASETS) -> dict[str, list[dict[str, str]]]:
    return {d: read_csv(work / "labels" / f"{d}.csv") for d in datasets}


@pytest.fixture(scope="module")
def work(tmp_path_factory, release) -> Path:
    """The whole chain on the default settings (neighbours from train, features.missing: zero)."""
    work = new_work(tmp_path_factory.mktemp("work"), release)
    run_labels(work)
    run_preprocess(work)
    run_merge(work)
    return work


def neighbour_rows(tabs: dict[str, list[dict[str, str]]]):
    """(dataset, row, slot, neighbour id) of every transferred slot."""
    for dataset, rows in tabs.items():
        for row in rows:
            for slot in SLOT_SOURCES:
                if row[f"{slot}_neighbour"]:
                    yield dataset, row, slot, row[f"{slot}_neighbour"]


def split_of_neighbour(tabs: dict[str, list[dict[str, str]]], slot: str, uid: str) -> str:
    found = [r["split"] for d in SLOT_SOURCES[slot] if d in tabs for r in tabs[d] if r["id"] == uid]
    assert len(found) == 1, f"{slot} neighbour {uid!r}: found {len(found)} times in {SLOT_SOURCES[slot]}"
    return found[0]


# --- labels -------------------------------------------------------------------------------------


def test_label_tables_have_the_audit_columns(work):
    tabs = tables(work)
    report = json.loads((work / "verified.json").read_text())
    for dataset, rows in tabs.items():
        header = list(rows[0])
        assert header[:3] == ["id", "split", "text"]
        assert set(TABLE_COLUMNS) <= set(header)
        for slot in SLOT_SOURCES:
            assert {f"{slot}_neighbour", f"{slot}_cosine"} <= set(header)
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids))
        assert all(r["text"].strip() for r in rows)
        counts = Counter(r["split"] for r in rows)
        assert {s: counts[s] for s in SPLITS} == report["datasets"][dataset]["label_counts"]
    assert all(r["id"].split("/")[0] == r["split"] for r in tabs["meld"])  # MELD ids are split/dia_utt


def test_transferred_neighbours_are_training_rows_of_their_source_dataset(work):
    tabs = tables(work)
    seen = Counter()
    for dataset, row, slot, uid in neighbour_rows(tabs):
        assert slot != OWN_SLOT[dataset]
        assert split_of_neighbour(tabs, slot, uid) == "train"
        cosine = float(row[f"{slot}_cosine"])
        assert -1.0 - 1e-6 <= cosine <= 1.0 + 1e-6
        seen[slot] += 1
    assert set(seen) == set(SLOT_SOURCES)  # every slot was transferred somewhere
    summary = json.loads((work / "labels.json").read_text())
    assert summary["neighbour_splits"] == ["train"] and summary["absent_datasets"] == []


def test_the_transferred_value_is_the_neighbours_own_label(work):
    tabs = tables(work)
    by_id = {(d, r["id"]): r for d, rows in tabs.items() for r in rows}
    for _, row, slot, uid in neighbour_rows(tabs):
        source = next(by_id[(d, uid)] for d in SLOT_SOURCES[slot] if (d, uid) in by_id)
        assert row[slot] == source[slot]


def test_neighbours_from_every_split_when_asked(tmp_path, release, work):
    other = new_work(tmp_path, release, labels={"neighbour_splits": ["train", "valid", "test"]})
    (other / "verified.json").write_text((work / "verified.json").read_text())
    shutil.copytree(work / "embeddings", other / "embeddings")
    invoke(labels, "--report", other / "verified.json", "--embeddings", other / "embeddings", "--out",
           other / "labels", "--summary", other / "labels.json", "--params", other / "params.yaml")
    tabs = tables(other)
    splits = Counter(split_of_neighbour(tabs, slot, uid) for _, _, slot, uid in neighbour_rows(tabs))
    assert splits["train"] and (splits["valid"] or splits["test"]), splits
    summary = json.loads((other / "labels.json").read_text())
    assert summary["neighbour_splits"] == ["train", "valid", "test"]


def test_neutral_pool_rows_keep_the_neutral_default_and_no_neighbour(work):
    neutral = 0
    for dataset, rows in tables(work).items():
        for row in rows:
            if row["pool"] != "neutral":
                continue
            neutral += 1
            assert float(row["score"]) == 0.0, row
            assert (row["meld_emotion"], row["iemocap_emotion"]) == ("neutral", "neu"), row
            assert not any(row[f"{slot}_neighbour"] for slot in SLOT_SOURCES), row
            assert not any(row[f"{slot}_cosine"] for slot in SLOT_SOURCES), row
    assert neutral > 0


def test_a_subset_of_datasets_has_only_its_own_slots(tmp_path, release):
    # The label layout follows data.datasets (docs/labels.md): MOSI + MELD give polarity,score,meld_emotion.
    sub = new_work(tmp_path, release, data={"datasets": ["mosi", "meld"]}, merge={"combination": "moseld"})
    run_labels(sub)
    assert sorted(p.name for p in (sub / "labels").iterdir()) == ["meld.csv", "mosi.csv"]
    header = (sub / "labels" / "mosi.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == ["id", "split", "text", "polarity", "pool", "score", "meld_emotion", "score_neighbour",
                      "score_cosine", "meld_emotion_neighbour", "meld_emotion_cosine"]
    tabs = tables(sub, ("mosi", "meld"))
    assert any(r["score_neighbour"] for r in tabs["meld"]) and any(r["meld_emotion_neighbour"] for r in tabs["mosi"])
    summary = json.loads((sub / "labels.json").read_text())
    assert summary["datasets"] == ["mosi", "meld"] and summary["absent_datasets"] == []
    assert set(summary["status"]["mosi"]) == {"score", "meld_emotion"}
    run_preprocess(sub, ("mosi", "meld"))
    for dataset in ("mosi", "meld"):
        for split in SPLITS:
            targets = read_h5(sub / "processed" / f"{dataset}.h5", split).targets
            assert all(len(t.split(",")) == 3 and t.split(",")[2] in MELD_EMOTIONS for t in targets)
    # moseld needs mosei, which data.datasets leaves out
    result = run_merge(sub, ok=False)
    assert result.exit_code != 0 and "mosei" in result.output
    assert not (sub / "merged.h5").exists()


# --- preprocess and merge -----------------------------------------------------------------------


def test_h5_split_counts_equal_the_label_tables(work):
    for dataset, rows in tables(work).items():
        path = work / "processed" / f"{dataset}.h5"
        assert list_groups(path) == list(SPLITS)
        for split in SPLITS:
            arrays = read_h5(path, split)
            expected = [r["id"] for r in rows if r["split"] == split]
            assert sorted(arrays.ids) == sorted(expected), (dataset, split)
            assert set(arrays.dataset) == {dataset}
            assert arrays.audio_dim == 64 and arrays.video_dim == 64


def test_missing_features_are_empty_sequences_and_the_rest_have_frames(work):
    for dataset in DATASETS:
        attrs = read_attrs(work / "processed" / f"{dataset}.h5")
        missing = sum(attrs["stats"]["missing_features"].values())
        empty = sum(int((read_h5(work / "processed" / f"{dataset}.h5", s).audio_length == 0).sum()) for s in SPLITS)
        assert empty == missing, dataset


def test_preprocessed_files_describe_themselves(work):
    report = json.loads((work / "verified.json").read_text())
    for dataset in DATASETS:
        attrs = read_attrs(work / "processed" / f"{dataset}.h5")
        assert attrs["schema_version"] == SCHEMA_VERSION and attrs["dataset"] == dataset
        assert attrs["config"]["features"] == {"dim": 64, "missing": "zero", "padding": "auto"}
        assert attrs["config"]["text"]["prefix"] == "sst2 sentence: " and attrs["config"]["text"]["score_decimals"] == 2
        table = (work / "labels" / f"{dataset}.csv").as_posix()
        assert attrs["sources"][table] == sha256_file(work / "labels" / f"{dataset}.csv")
        raw = {f["path"]: f["sha256"] for f in report["files"] if f["dataset"] == dataset}
        assert raw and all(attrs["sources"][p] == h for p, h in raw.items())
        stats = attrs["stats"]
        assert stats["dataset"] == dataset and stats["missing_policy"] == "zero"
        assert stats["rows"] == {s: len(read_h5(work / "processed" / f"{dataset}.h5", s)) for s in SPLITS}
        assert {"nonfinite_values", "nonfinite_utterances", "iemocap_slot_dropped", "raw_dims"} <= set(stats)
        assert attrs["groups"]["train"]["rows"] == stats["rows"]["train"]
        assert set(attrs["library_versions"]) >= {"python", "numpy", "h5py"}


def test_targets_parse_back_to_the_universal_labels(work):
    checked = 0
    for dataset, rows in tables(work).items():
        by_id = {r["id"]: r for r in rows}
        for split in SPLITS:
            arrays = read_h5(work / "processed" / f"{dataset}.h5", split)
            for uid, target, polarity in zip(arrays.ids, arrays.targets, arrays.polarity):
                row = by_id[uid]
                parsed = parse_target(target)
                assert parsed.valid, target
                assert parsed.polarity == row["polarity"] == polarity
                assert parsed.score == round(float(row["score"]), 2), (target, row["score"])
                assert parsed.meld_emotion == row["meld_emotion"]
                assert parsed.iemocap_emotion == IEMOCAP_WORDS[row["iemocap_emotion"]]
                checked += 1
    assert checked == sum(len(r) for r in tables(work).values())


def test_merged_file_has_train_valid_and_one_test_group_per_dataset(work):
    path = work / "merged.h5"
    assert list_groups(path) == ["train", "valid", *(f"test/{d}" for d in DATASETS)]
    counts = {d: {s: len(read_h5(work / "processed" / f"{d}.h5", s)) for s in SPLITS} for d in DATASETS}
    train, valid = read_h5(path, "train"), read_h5(path, "valid")
    assert len(train) == sum(c["train"] for c in counts.values())
    assert len(valid) == sum(c["valid"] for c in counts.values())
    assert train.dataset_counts() == {d: counts[d]["train"] for d in DATASETS}
    assert valid.dataset == [d for d in DATASETS for _ in range(counts[d]["valid"])]  # concatenated in order
    for d in DATASETS:
        test = read_h5(path, f"test/{d}")
        assert test.ids == read_h5(work / "processed" / f"{d}.h5", "test").ids
    summary = json.loads((work / "merge.json").read_text())
    assert summary["combination"] == "moseldmp"
    assert summary["totals"] == {"train": len(train), "valid": len(valid),
                                 **{f"test/{d}": counts[d]["test"] for d in DATASETS}}
    attrs = read_attrs(path)
    assert attrs["combination"] == "moseldmp" and set(attrs["sources"]) == set(DATASETS)
