"""Manifests: read_manifest errors, check_file statuses, sha256_file, and the shipped authors.json."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import pytest

from unimse_core.io.errors import RawDataError
from unimse_core.io.manifest import (FileCheck, ManifestEntry, check_file, read_manifest, sha256_file,
                                     write_manifest)

ROOT = Path(__file__).resolve().parents[1]
AUTHORS = ROOT / "manifests" / "authors.json"
SHARED_DATA = Path(os.environ.get("UNIMSE_SHARED_DATA") or ROOT.parent / "shared" / "data")
GOOD = {"path": "mosi/label.csv", "dataset": "mosi", "kind": "msa_labels", "split": None, "size": 3,
        "sha256": "", "url": "", "splits": None}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.json"
    path.write_text(text, encoding="utf-8")
    return path


def manifest_with(tmp_path: Path, *files: dict) -> Path:
    return write(tmp_path, json.dumps({"schema": 1, "name": "t", "files": list(files)}))


# --- read_manifest ---------------------------------------------------------------------------

def test_round_trip(tmp_path):
    path = manifest_with(tmp_path, GOOD, {**GOOD, "path": "mosi/x.pkl", "kind": "msa_features",
                                          "size": None, "sha256": "a" * 64, "url": "file:///x",
                                          "splits": {"train": 1, "valid": 2, "test": 3}})
    manifest = read_manifest(path)
    assert manifest.name == "t"
    assert manifest.files[1] == ManifestEntry("mosi/x.pkl", "mosi", "msa_features", None, None, "a" * 64,
                                              "file:///x", {"train": 1, "valid": 2, "test": 3})
    write_manifest(tmp_path / "again.json", manifest)
    assert read_manifest(tmp_path / "again.json") == manifest


def test_bad_json_names_the_file(tmp_path):
    path = write(tmp_path, '{"schema": 1, "files": [')
    with pytest.raises(RawDataError, match="not a valid JSON manifest") as err:
        read_manifest(path)
    assert str(path) in str(err.value)


def test_missing_manifest(tmp_path):
    with pytest.raises(RawDataError, match="manifest not found"):
        read_manifest(tmp_path / "absent.json")


@pytest.mark.parametrize(("change", "problem"), [
    ({"colour": "red"}, "unknown field 'colour'"),
    ({"sha256": "ABC"}, "sha256 must be 64 lower-case hex digits"),
    ({"sha256": "A" * 64}, "sha256 must be 64 lower-case hex digits"),
    ({"path": "/etc/passwd"}, "must be relative to the raw folder"),
    ({"path": "mosi/../../x"}, "must be relative to the raw folder"),
    ({"dataset": "sst2"}, "dataset must be one of"),
    ({"kind": "audio"}, "kind must be one of"),
    ({"split": "dev"}, "split must be one of"),
    ({"size": -1}, "size must be a byte count"),
    ({"size": True}, "size must be a byte count"),
    ({"url": "ftp://x"}, "url must start with"),
    ({"splits": {"train": 1.5}}, "splits must map"),
])
def test_bad_entry_names_file_and_record(tmp_path, change, problem):
    path = manifest_with(tmp_path, GOOD, {**GOOD, "path": "mosei/label.csv", **change})
    with pytest.raises(RawDataError) as err:
        read_manifest(path)
    assert err.value.path == str(path)
    assert err.value.record == "files[1]"
    assert problem in str(err.value)
    assert str(err.value).startswith(f"{path}: files[1]: ")


def test_duplicate_path(tmp_path):
    path = manifest_with(tmp_path, GOOD, {**GOOD, "kind": "msa_features"}, GOOD)
    with pytest.raises(RawDataError, match=r"files\[1\]: path 'mosi/label.csv' is listed twice") as err:
        read_manifest(path)
    assert str(path) in str(err.value)


def test_wrong_schema(tmp_path):
    with pytest.raises(RawDataError, match='"schema": 1'):
        read_manifest(write(tmp_path, json.dumps({"schema": 2, "files": []})))


# --- check_file ------------------------------------------------------------------------------

def entry(size: int | None, sha256: str) -> ManifestEntry:
    return ManifestEntry("mosi/label.csv", "mosi", "msa_labels", size=size, sha256=sha256)


@pytest.fixture
def raw(tmp_path):
    data = b"video_id,clip_id\nabc,1\n"
    (tmp_path / "mosi").mkdir()
    (tmp_path / "mosi" / "label.csv").write_bytes(data)
    return tmp_path, data, hashlib.sha256(data).hexdigest()


def test_check_ok(raw):
    root, data, sha = raw
    assert check_file(entry(len(data), sha), root) == FileCheck(
        "mosi/label.csv", "ok", len(data), sha, f"{root / 'mosi/label.csv'}: ok ({len(data)} bytes)")
    assert check_file(entry(None, sha), root).status == "ok"


@pytest.mark.parametrize("size_known", [True, False])
def test_check_recorded(raw, size_known):
    root, data, sha = raw
    check = check_file(entry(len(data) if size_known else None, ""), root)
    assert (check.status, check.size, check.sha256) == ("recorded", len(data), sha)
    assert check.passed


def test_check_missing(tmp_path):
    check = check_file(entry(10, ""), tmp_path)
    assert (check.status, check.size, check.sha256) == ("missing", None, "")
    assert str(tmp_path / "mosi" / "label.csv") in check.message
    assert not check.passed


def test_check_directory_is_missing(tmp_path):
    (tmp_path / "mosi" / "label.csv").mkdir(parents=True)
    check = check_file(entry(None, ""), tmp_path)
    assert check.status == "missing" and "not a regular file" in check.message


def test_check_size_mismatch_does_not_hash(raw, monkeypatch):
    root, data, sha = raw
    monkeypatch.setattr("unimse_core.io.manifest.sha256_file",
                        lambda *a, **k: pytest.fail("hashed although the size was already wrong"))
    check = check_file(entry(len(data) + 5, sha), root)
    assert (check.status, check.size, check.sha256) == ("size_mismatch", len(data), "")
    assert str(root / "mosi" / "label.csv") in check.message
    assert f"expected {len(data) + 5} bytes, got {len(data)}" in check.message


def test_check_hash_mismatch(raw):
    root, data, sha = raw
    wrong = hashlib.sha256(data + b"!").hexdigest()
    check = check_file(entry(len(data), wrong), root)
    assert (check.status, check.sha256) == ("hash_mismatch", sha)
    assert str(root / "mosi" / "label.csv") in check.message
    assert f"expected {wrong}, got {sha}" in check.message


# --- sha256_file -----------------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, 4096, 3 * 4096 + 17])
def test_sha256_file_multi_chunk(tmp_path, size):
    data = hashlib.shake_256(b"seed").digest(size) if size else b""
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path, chunk_size=4096) == hashlib.sha256(data).hexdigest()


def test_sha256_file_default_chunk(tmp_path):
    data = hashlib.shake_256(b"seed").digest((1 << 20) * 2 + 3)  # more than two default chunks
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


# --- the shipped manifest of the authors' release -------------------------------------------

def test_authors_manifest_reads():
    manifest = read_manifest(AUTHORS)
    assert manifest.name == "authors"
    paths = [e.path for e in manifest.files]
    assert paths == ["mosi/label.csv", "mosi/mosi_data_noalign.pkl", "mosei/label.csv",
                     "mosei/mosei_senti_data_noalign.pkl", "meld/train_sent_emo.csv", "meld/dev_sent_emo.csv",
                     "meld/test_sent_emo.csv", "meld/meld_features.pkl", "iemocap/IEMOCAP_all.csv",
                     "iemocap/iemocap_features.pkl", "emorynlp/emorynlp_train_final.csv",
                     "emorynlp/emorynlp_dev_final.csv", "emorynlp/emorynlp_test_final.csv"]
    by_path = {e.path: e for e in manifest.files}
    assert by_path["mosi/mosi_data_noalign.pkl"].splits == {"train": 1284, "valid": 229, "test": 686}
    assert by_path["mosei/mosei_senti_data_noalign.pkl"].splits == {"train": 16326, "valid": 1871, "test": 4659}
    assert by_path["meld/meld_features.pkl"].splits == {"train": 9989, "valid": 1109, "test": 2610}
    assert by_path["iemocap/iemocap_features.pkl"].splits == {"train": 5237, "valid": 521, "test": 1622}
    # the reference split's six-class counts (docs/raw-data.md), expectations the verifier reports against
    assert by_path["iemocap/IEMOCAP_all.csv"].splits == {"train": 5237, "valid": 521, "test": 1622}
    assert by_path["meld/meld_features.pkl"].names == ("meld/meld_data_0610.pkl", "meld/meld_data_0424.pkl")
    assert by_path["iemocap/iemocap_features.pkl"].names[0] == "iemocap/iemocap_data_0610.pkl"
    assert [by_path[f"meld/{n}_sent_emo.csv"].split for n in ("train", "dev", "test")] == ["train", "valid", "test"]
    for e in manifest.files:
        if e.path.endswith(".pkl"):
            assert (e.size, e.sha256, e.url) == (None, "", "")


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real label files not present at {SHARED_DATA}")
def test_authors_manifest_matches_real_label_files():
    manifest = read_manifest(AUTHORS)
    # IEMOCAP_all.csv is hashed too but not in the shared folder (tests/test_authors_files.py checks it)
    hashed = [e for e in manifest.files if e.sha256 and e.dataset != "iemocap"]
    assert len(hashed) == 8  # MOSI, MOSEI, MELD's three, EmoryNLP's three
    for e in hashed:
        check = check_file(e, SHARED_DATA)
        assert check.status == "ok", check.message


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real label files not present at {SHARED_DATA}")
def test_authors_manifest_counts_match_real_label_files():
    for e in read_manifest(AUTHORS).files:
        if not e.sha256 or e.dataset == "iemocap":
            continue
        with open(SHARED_DATA / e.path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        counts = Counter(row["mode"] for row in rows) if e.kind == "msa_labels" else {e.split: len(rows)}
        assert e.splits == dict(counts), e.path


def test_a_published_variant_passes_as_that_variant(tmp_path):
    from unimse_core.io.manifest import Variant

    (tmp_path / "a.csv").write_bytes(b"copy")
    sha = hashlib.sha256(b"copy").hexdigest()
    official = dict(path="a.csv", dataset="meld", kind="meld_labels", split="train", size=9,
                    sha256=hashlib.sha256(b"official!").hexdigest())
    known = Variant(name="known copy", size=4, sha256=sha, encoding="utf-8")
    other_size = Variant(name="other", size=5, sha256="")
    check = check_file(ManifestEntry(**official, variants=(other_size, known)), tmp_path)
    assert (check.status, check.variant, check.encoding, check.sha256) == ("variant", "known copy", "utf-8", sha)
    assert check.passed and "size mismatch: expected 9 bytes, got 4; taken as the published variant" in check.message
    # no variant matches: still the size mismatch
    assert check_file(ManifestEntry(**official, variants=(other_size,)), tmp_path).status == "size_mismatch"
    # an unknown variant takes any file; the hash is recorded
    unknown = check_file(ManifestEntry(**official, variants=(Variant(name="any"),)), tmp_path)
    assert unknown.status == "variant" and unknown.sha256 == sha and "unknown size and hash" in unknown.message


def test_accepted_names_are_read_and_may_not_repeat(tmp_path):
    entry = {"path": "meld/meld_features.pkl", "dataset": "meld", "kind": "erc_features",
             "names": ["meld/meld_data_0610.pkl"]}
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"schema": 1, "files": [entry]}))
    assert read_manifest(path).files[0].accepted_paths == ("meld/meld_features.pkl", "meld/meld_data_0610.pkl")
    twice = dict(entry, path="meld/other.pkl")
    path.write_text(json.dumps({"schema": 1, "files": [entry, twice]}))
    with pytest.raises(RawDataError, match="path 'meld/meld_data_0610.pkl' is listed twice"):
        read_manifest(path)
    path.write_text(json.dumps({"schema": 1, "files": [dict(entry, encoding="latin-1")]}))
    with pytest.raises(RawDataError, match="encoding must be one of utf-8, cp1252 or null"):
        read_manifest(path)
