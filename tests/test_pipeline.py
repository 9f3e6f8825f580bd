"""One real `dvc repro` of the embedded default, in a temporary git copy of the project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
           "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def copy_project(dest: Path) -> Path:
    """The project's tracked and untracked-but-not-ignored files, copied into `dest`."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    return dest


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The project's tracked and untracked-but-not-ignored files, committed in a fresh git repo."""
    dest = copy_project(tmp_path_factory.mktemp("project"))
    # The embedded default, shrunk so that the suite stays fast: the same stages, fewer rows and steps.
    params = yaml.safe_load((dest / "params.yaml").read_text())
    for dataset in ("mosi", "mosei", "meld", "iemocap"):
        params["synthetic"][dataset].update(train=32, valid=8, test=8)
    params["train"].update(epochs=2, max_steps=4)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-qm", "copy"], dest)
    return dest


def stages_run(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def set_param(project: Path, group: str, key: str, value) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params[group][key] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_dvc_repro_runs_the_embedded_default(project):
    first = run(["dvc", "repro"], project)
    assert {"synthesize", "fetch", "embed", "labels", "merge", "tokenizer", "train"} <= stages_run(first.stdout)
    assert {f"preprocess@{d}" for d in ("mosi", "mosei", "meld", "iemocap")} <= stages_run(first.stdout)
    report = json.loads((project / "data" / "verified.json").read_text())
    assert report["ok"] and report["source"] == "synthetic"
    assert set(report["datasets"]) == {"mosi", "mosei", "meld", "iemocap"}
    merged = json.loads((project / "metrics" / "merge.json").read_text())
    assert merged["combination"] == "moseldmp" and set(merged["counts"]) == {
        "train", "valid", "test/mosi", "test/mosei", "test/meld", "test/iemocap"}

    summary = json.loads((project / "metrics" / "train.json").read_text())
    assert summary["steps"] == 4 and set(summary["dev"]) == {"mosi", "mosei", "meld", "iemocap"}
    assert (project / "models" / "selected" / "config.json").exists()

    again = run(["dvc", "repro"], project)
    assert stages_run(again.stdout) == set()

    # a fetch setting reruns fetch (and the report, which prints every setting): the verification
    # report is unchanged, so nothing between them runs
    set_param(project, "fetch", "retries", 5)
    assert stages_run(run(["dvc", "repro"], project).stdout) == {"check", "fetch", "report"}

    # a transfer setting reruns the transfer and what depends on it, never the encoder
    set_param(project, "labels", "neighbour_splits", ["train", "valid", "test"])
    rerun = stages_run(run(["dvc", "repro"], project).stdout)
    assert "labels" in rerun and "embed" not in rerun and "synthesize" not in rerun


def test_results_experiments_and_metric_diffs(project):
    run(["dvc", "repro"], project)
    test = json.loads((project / "metrics" / "test.json").read_text())
    assert set(test) == {"mosi", "mosei", "meld", "iemocap"}
    assert {"MAE", "Corr", "Mult_acc_7", "Non0_F1_score", "unparsable"} <= set(test["mosi"])
    assert {"acc", "weighted_f1", "unparsable"} <= set(test["meld"])
    assert all(test[d]["unparsable"] == 0 for d in test)  # constrained decoding: every output parses
    for dataset in test:
        assert (project / "predictions" / f"{dataset}.csv").exists()
    report = (project / "reports" / "report.md").read_text()
    assert "65.09" in report  # the paper's MELD accuracy, beside ours
    assert list((project / "reports" / "figures").glob("*.png"))
    assert json.loads(run(["dvc", "plots", "show", "--json"], project).stdout)

    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline"], project)
    # same inputs, same bytes: every stage rerun, training from scratch, changes no tracked byte and no metric
    shutil.rmtree(project / "checkpoints")
    run(["dvc", "repro", "-f"], project)
    assert run(["git", "status", "--porcelain"], project).stdout == ""
    assert run(["dvc", "metrics", "diff"], project).stdout.strip() == ""
    assert json.loads((project / "timings" / "train.json").read_text())["seconds_this_run"] > 0  # times: here only
    run(["dvc", "exp", "run", "-S", "train.seed=2"], project)
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], project).stdout)
    assert diff.get("metrics/test.json")  # another seed, other test metrics

    # an evaluation setting reruns evaluation and the report, never training
    set_param(project, "evaluate", "max_new_tokens", 30)
    assert stages_run(run(["dvc", "repro"], project).stdout) == {"check", "evaluate", "report"}


def test_a_params_typo_stops_dvc_repro_before_any_output_is_removed(project):
    """`check` runs first: the train stage would reject the key too, but only after DVC had removed
    its uncached dvclive/train."""
    run(["dvc", "repro"], project)
    live = project / "dvclive" / "train"
    before = {p: p.read_bytes() for p in live.rglob("*") if p.is_file()}
    assert before
    params = project / "params.yaml"
    good = params.read_text()
    set_param(project, "train", "lr_t5x", 0.01)
    try:
        failed = subprocess.run(["dvc", "repro"], cwd=project, capture_output=True, text=True,
                                env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    finally:  # the project is shared by the module's later tests
        params.write_text(good)
    assert failed.returncode != 0
    assert "train.lr_t5x: unknown key" in failed.stdout + failed.stderr
    assert "no output was removed" in failed.stdout + failed.stderr
    assert {p: p.read_bytes() for p in live.rglob("*") if p.is_file()} == before
    assert (project / "metrics" / "train.json").exists() and (project / "reports" / "report.md").exists()

def test_compare_reads_two_runs_through_dvc(project, tmp_path):
    """`unimse compare` on a revision and an experiment: predictions come from the DVC cache, no checkout."""
    run(["dvc", "exp", "run", "-n", "cmp-seed3", "-S", "train.seed=3"], project)
    result = run(["unimse", "compare", "HEAD", "cmp-seed3", "--resamples", "300", "--json", str(tmp_path / "c.json"),
                  "--figure", str(tmp_path / "c.png")], project)
    assert "| MOSI | MAE (lower is better) |" in result.stdout and "| MELD | weighted F1 |" in result.stdout
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads((tmp_path / "c.json").read_text())
    # side A recomputed from HEAD's cached prediction tables = HEAD's test metrics of the evaluate stage
    committed = json.loads(run(["git", "show", "HEAD:metrics/test.json"], project).stdout)
    for dataset, metric in (("mosi", "MAE"), ("mosei", "Mult_acc_7"), ("meld", "weighted_f1"), ("iemocap", "acc")):
        assert data["metrics"][dataset][metric]["a"] == pytest.approx(committed[dataset][metric], abs=1e-12)
    same = run(["unimse", "compare", "HEAD", "HEAD", "--resamples", "100", "--json", str(tmp_path / "s.json")],
               project)
    assert same.returncode == 0
    for metrics in json.loads((tmp_path / "s.json").read_text())["metrics"].values():
        for c in metrics.values():
            assert c["difference"] == 0.0 and (c["p_value"] == 1.0 or c["p_value"] is None)
