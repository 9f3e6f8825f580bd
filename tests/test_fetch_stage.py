"""The fetch stage and `unimse verify` on a whole release: synthetic, downloaded over HTTP, and broken."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import pickle
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from conftest import SMALL_SIZES, small_synthetic_params
from stages.fetch import command as fetch
from stages.verify import command as verify_cli

ROOT = Path(__file__).resolve().parents[1]
SIZES = SMALL_SIZES


@pytest.fixture(scope="module")
def release(small_release) -> Path:
    return small_release


@pytest.fixture
def work(tmp_path, release) -> Path:
    shutil.copytree(release, tmp_path / "synthetic")
    (tmp_path / "raw").mkdir()
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(small_synthetic_params()))
    return tmp_path


def set_params(work: Path, **groups) -> None:
    params = yaml.safe_load((work / "params.yaml").read_text())
    for group, values in groups.items():
        params[group].update(values)
    (work / "params.yaml").write_text(yaml.safe_dump(params))


def run_fetch(work: Path, manifest: Path | None = None):
    args = ["--synthetic-dir", work / "synthetic", "--synthetic-manifest", work / "synthetic" / "manifest.json",
            "--local-dir", work / "raw", "--manifest", manifest or work / "synthetic" / "manifest.json",
            "--report", work / "verified.json", "--params", work / "params.yaml"]
    result = CliRunner().invoke(fetch, [str(a) for a in args])
    report = json.loads((work / "verified.json").read_text()) if (work / "verified.json").exists() else None
    return result, report


def rehash(manifest_path: Path, rel: str) -> None:
    """Make the manifest agree with a file we changed on purpose, so the structure check is reached."""
    manifest = json.loads(manifest_path.read_text())
    data = (manifest_path.parent / rel).read_bytes()
    for entry in manifest["files"]:
        if entry["path"] == rel:
            entry["size"], entry["sha256"] = len(data), hashlib.sha256(data).hexdigest()
    manifest_path.write_text(json.dumps(manifest))


def test_synthetic_release_verifies(work):
    result, report = run_fetch(work)
    assert result.exit_code == 0, result.output
    assert report["ok"] and report["problems"] == [] and report["source"] == "synthetic"
    assert {f["status"] for f in report["files"]} == {"ok"}
    manifest = json.loads((work / "synthetic" / "manifest.json").read_text())
    assert len(report["files"]) == len(manifest["files"])
    for dataset in ("mosi", "mosei", "meld", "iemocap"):
        d = report["datasets"][dataset]
        if dataset != "iemocap":  # IEMOCAP's csv has no split column; its splits come from the features
            assert d["label_counts"] == SIZES
        # every utterance either has features or is counted as missing them
        assert sum(d["feature_counts"].values()) + d["labels_without_features"] >= sum(SIZES.values())
        assert d["features_without_labels"] == 0
    assert report["datasets"]["mosi"]["audio_dim"] == 5 and report["datasets"]["mosi"]["video_dim"] == 20
    assert not [p for p in work.iterdir() if p.name.endswith(".tmp")]


def test_subset_of_datasets_and_text_only(work):
    set_params(work, data={"datasets": ["meld"], "text_only": True})
    result, report = run_fetch(work)
    assert result.exit_code == 0, result.output
    assert set(report["datasets"]) == {"meld"}
    assert all(f["dataset"] == "meld" and f["kind"] == "meld_labels" for f in report["files"])
    assert report["datasets"]["meld"]["features"] is None


def test_missing_file_and_wrong_hash_are_problems(work):
    (work / "synthetic" / "meld" / "dev_sent_emo.csv").unlink()
    with (work / "synthetic" / "mosi" / "label.csv").open("a") as handle:
        handle.write("\n")
    result, report = run_fetch(work)
    assert result.exit_code != 0
    problems = "\n".join(report["problems"])
    assert "meld/dev_sent_emo.csv" in problems and "missing" in problems
    assert "mosi/label.csv" in problems
    statuses = {f["path"].split("synthetic/")[1]: f["status"] for f in report["files"]}
    assert statuses["meld/dev_sent_emo.csv"] == "missing"
    assert statuses["mosi/label.csv"] in ("size_mismatch", "hash_mismatch")


def test_truncated_pickle_is_a_problem_naming_the_file(work):
    rel = "meld/meld_features.pkl"
    path = work / "synthetic" / rel
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    rehash(work / "synthetic" / "manifest.json", rel)
    result, report = run_fetch(work)
    assert result.exit_code != 0
    assert any(rel in p and "truncated or corrupt" in p for p in report["problems"]), report["problems"]


def test_unmatched_ids_policy(work):
    set_params(work, fetch={"unmatched_ids": "error"})
    result, report = run_fetch(work)
    # the synthetic data leaves some utterances without features, as the real data does
    assert result.exit_code != 0
    assert any("without features" in p for p in report["problems"])


class Touch:
    """Unpickling this would create a file: the crafted payload of a malicious pickle."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_verify_refuses_a_malicious_pickle_without_running_it(work):
    rel = "mosi/mosi_data_noalign.pkl"
    marker = work / "pwned"
    (work / "synthetic" / rel).write_bytes(pickle.dumps({"train": Touch(marker)}))
    rehash(work / "synthetic" / "manifest.json", rel)
    result = CliRunner().invoke(verify_cli, [str(work / "synthetic" / rel),
                                             "--manifest", str(work / "synthetic" / "manifest.json")])
    assert result.exit_code != 0
    assert "system" in result.output and "refused" in result.output
    assert not marker.exists()


def test_verify_refuses_a_file_whose_hash_differs(work):
    rel = "mosi/label.csv"
    path = work / "synthetic" / rel
    data = bytearray(path.read_bytes())
    data[-2] = ord("7") if data[-2] != ord("7") else ord("8")  # same size, other content
    path.write_bytes(bytes(data))
    result = CliRunner().invoke(verify_cli, [str(path), "--manifest", str(work / "synthetic" / "manifest.json")])
    assert result.exit_code != 0
    assert "sha256" in result.output and rel in result.output


def test_verify_names_files_not_in_the_manifest(work, tmp_path):
    stray = tmp_path / "notes.csv"
    stray.write_text("a,b\n")
    result = CliRunner().invoke(verify_cli, [str(stray), "--manifest", str(work / "synthetic" / "manifest.json")])
    assert result.exit_code != 0
    assert "notes.csv: not listed in the manifest, and its header 'a,b' fits no label reader" in result.output


def test_verify_a_whole_folder(work):
    result = CliRunner().invoke(verify_cli, [str(work / "synthetic"), "--unmatched-ids", "report",
                                             "--manifest", str(work / "synthetic" / "manifest.json")])
    assert result.exit_code == 0, result.output


@pytest.fixture
def http_server(release):
    """Serves the synthetic release on 127.0.0.1 (a real HTTP server, shut down after the test)."""
    handler = functools.partial(QuietHandler, directory=str(release))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_local_source_downloads_missing_files_then_verifies(work, http_server):
    manifest = json.loads((work / "synthetic" / "manifest.json").read_text())
    for entry in manifest["files"]:
        entry["url"] = f"{http_server}/{entry['path']}"
    # one file is already in place: it must be kept, not downloaded again
    (work / "raw" / "mosi").mkdir()
    shutil.copy(work / "synthetic" / "mosi" / "label.csv", work / "raw" / "mosi" / "label.csv")
    (work / "local.json").write_text(json.dumps(manifest))
    set_params(work, data={"source": "local"})
    result, report = run_fetch(work, manifest=work / "local.json")
    assert result.exit_code == 0, result.output
    assert report["source"] == "local" and report["raw_dir"] == (work / "raw").as_posix()
    assert len(report["downloaded"]) == len(manifest["files"]) - 1
    assert (work / "raw" / "mosi" / "label.csv").as_posix() not in report["downloaded"]
    for entry in manifest["files"]:
        assert (work / "raw" / entry["path"]).read_bytes() == (work / "synthetic" / entry["path"]).read_bytes()


def test_feature_widths_in_report_match_the_arrays(work):
    _, report = run_fetch(work)
    with (work / "synthetic" / "meld" / "meld_features.pkl").open("rb") as handle:
        features = pickle.load(handle)  # our own freshly generated file, safe to load plainly here
    first = next(iter(features["audio"][0].values()))
    assert report["datasets"]["meld"]["audio_dim"] == np.asarray(first).shape[1]
