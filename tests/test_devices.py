"""`train.devices`: the train stage starting its own DistributedDataParallel processes (CPU, gloo).

One temporary git copy of the project, its embedded default shrunk (fewer rows, a smaller model):

- `dvc exp run -S train.devices=2 train` trains with two processes started by the stage itself
  (the elastic launcher);
- SIGKILLed (dvc, the launcher and both ranks) as soon as its first checkpoint exists, it is
  resumed by `dvc repro` from that checkpoint (it holds a marker only the killed run wrote) to
  bit-identical weights, state and selected model of an uninterrupted two-process run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from test_pipeline import copy_project
from tiny_training import (assert_identical, comparable, quiet_env, selected_weights, stage_options, unimse_script,
                           write_inputs, write_params)
from unimse_core import launch, training

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                       reason="this torch build has no gloo backend (CPU DistributedDataParallel)"),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finding the ranks to kill needs Linux /proc"),
]

DVC_TIMEOUT_S = 600
# The train stage's paths, as in dvc.yaml.
OPTIONS = ["--merged", "data/merged.h5", "--tokenizer", "models/tokenizer", "--checkpoints", "checkpoints",
           "--out", "models/selected", "--summary", "metrics/train.json", "--live", "dvclive/train"]
MARKER = "test/written_by_the_killed_run"
EPOCHS = 3  # killed after epoch 1 (or 2, on a slow machine): a later epoch is left to the resumed run
ROOT = Path(__file__).resolve().parents[1]


def env() -> dict[str, str]:
    """dvc and git on the path, one thread per process, this checkout ahead of the installed one."""
    return quiet_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                     PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
                     GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.com", GIT_COMMITTER_NAME="test",
                     GIT_COMMITTER_EMAIL="test@example.com", DVC_NO_ANALYTICS="1")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True, timeout=DVC_TIMEOUT_S)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    return result


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc), children first."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process is gone
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL `pid` and everything below it, as a crash of the machine would stop them."""
    for p in [pid, *descendants(pid)]:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    dest = copy_project(tmp_path_factory.mktemp("devices"))
    params = yaml.safe_load((dest / "params.yaml").read_text())
    for dataset in ("mosi", "mosei", "meld", "iemocap"):
        params["synthetic"][dataset].update(train=12, valid=4, test=4)
    params["model"].update(d_model=16, d_ff=32, num_layers=2, num_decoder_layers=2, num_heads=2, d_kv=8,
                           lstm_hidden=8, fusion_blocks=1, pmf_bottleneck=8, contrastive_dim=8)
    params["train"].update(epochs=EPOCHS, max_new_tokens=8, devices=1)
    params["loader"].update(batch_size=4, eval_batch_size=8)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (dest / "dvc.lock").unlink()  # the baseline's lock names outputs this copy's cache does not hold
    run(["git", "init", "-q"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-qm", "copy"], dest)
    return dest


def test_launched_reads_the_launcher_environment(monkeypatch):
    for name in launch.LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not launch.launched()
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    assert launch.launched()
    with pytest.raises(ValueError, match="2 or more"):
        launch.spawn(1, [], cuda=False)


def test_dvc_exp_run_with_two_devices_trains_and_a_killed_run_resumes_exactly(project, tmp_path):
    """The killed `dvc exp run` is resumed by `dvc repro` (docs/training.md: `dvc exp run` first checks
    out the outputs dvc.lock records) and compared with an uninterrupted two-process run of the stage
    on the same inputs."""
    last = project / "checkpoints" / training.CHECKPOINT
    log = tmp_path / "killed.log"
    with log.open("w") as handle:
        victim = subprocess.Popen(["dvc", "exp", "run", "-S", "train.devices=2", "train"], cwd=project, env=env(),
                                  stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + DVC_TIMEOUT_S
            while not last.exists():  # written whole (temp file, then rename) after epoch 1
                assert victim.poll() is None, f"the run ended before it was killed:\n{log.read_text()[-4000:]}"
                assert time.monotonic() < deadline, "no checkpoint in time"
                time.sleep(0.005)
            kill_tree(victim.pid)  # dvc, the launcher and both ranks (in a session of their own)
        finally:
            kill_tree(victim.pid)
            victim.wait(timeout=30)
    assert yaml.safe_load((project / "params.yaml").read_text())["train"]["devices"] == 2
    payload = torch.load(last, map_location="cpu", weights_only=False)
    assert payload["state"]["epoch"] < EPOCHS and len(payload["rng"]) == 2, "killed too late"
    assert not (project / "metrics" / "train.json").exists()
    payload["state"]["history"][-1][MARKER] = "resumed"  # a string: neither a metric nor part of the weights
    torch.save(payload, last)

    again = run(["dvc", "repro", "train"], project)
    assert "Running stage 'train'" in again.stdout
    summary = json.loads((project / "metrics" / "train.json").read_text())
    assert summary["world_size"] == 2 and summary["epochs_run"] == EPOCHS
    # two ranks of batch 4: ceil(rows / 8) steps per epoch
    assert summary["steps"] == EPOCHS * -(-summary["train_rows"] // (4 * 2))
    assert json.loads((project / "models" / "selected" / "run.json").read_text())["world_size"] == 2
    assert "devices: 2" in (project / "dvc.lock").read_text()
    resumed = torch.load(last, map_location="cpu", weights_only=False)
    assert any(MARKER in event for event in resumed["state"]["history"]), "the checkpoint was not resumed"

    # The uninterrupted run: the stage alone, starting its two processes, on the same inputs.
    fresh = tmp_path / "fresh"
    options = [str(project / a) if not a.startswith("--") else a for a in OPTIONS]
    options[options.index("--checkpoints") + 1:options.index("--live") + 2] = [
        str(fresh / "checkpoints"), "--out", str(fresh / "selected"), "--summary", str(fresh / "train.json"),
        "--live", str(fresh / "live")]
    run([str(unimse_script()), "train", *options, "--params", str(project / "params.yaml")], project)
    assert json.loads((fresh / "train.json").read_text())["world_size"] == 2
    uninterrupted = torch.load(fresh / "checkpoints" / training.CHECKPOINT, map_location="cpu", weights_only=False)
    assert_identical(resumed["model"], uninterrupted["model"])
    history = [{k: v for k, v in event.items() if k != MARKER} for event in resumed["state"]["history"]]
    assert comparable({**resumed["state"], "history": history}) == comparable(uninterrupted["state"])
    assert_identical(selected_weights(project / "models" / "selected"), selected_weights(fresh / "selected"))


def test_a_failing_rank_fails_the_stage_naming_it_and_its_error(tmp_path):
    inputs = write_inputs(tmp_path / "inputs", train_rows=4, dev_rows=2, test_groups=False)
    (inputs / "merged.h5").write_bytes(b"not an HDF5 file")  # read by the ranks, not by the stage that starts them
    work = tmp_path / "work"
    work.mkdir()
    params = write_params(work / "params.yaml", train={"devices": 2})
    result = subprocess.run([str(unimse_script()), "train", *stage_options(inputs, work, params)], env=env(),
                            capture_output=True, text=True, timeout=DVC_TIMEOUT_S)
    assert result.returncode != 0
    assert "merged.h5" in result.stderr  # the rank's own error
    assert "train.devices: 2: a training process failed (rank " in result.stderr, result.stderr[-3000:]
    assert not (work / "train.json").exists()
