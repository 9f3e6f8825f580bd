"""DistributedDataParallel on the CPU: two processes under `python -m torch.distributed.run` (gloo,
loopback only, a free port).

- Gradients: the two ranks' averaged gradients on their halves of a global batch equal one
  process's gradients on the whole batch, with the contrastive loss off. With it on they equal the
  mean of the two halves' gradients instead: InfoNCE takes its negatives within each rank's batch
  (docs/training.md), so the global batch's cross-half negatives are not seen.
- The train stage under torchrun: a few steps finish, only rank 0 writes (an audit hook records every
  write of each rank), and a run killed at an epoch boundary resumes to the uninterrupted run's weights.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ddp_worker
from tiny_training import (assert_identical, comparable, quiet_env, selected_weights, stage_options, write_inputs,
                           write_params)
from unimse_core import training

WORKER = Path(__file__).with_name("ddp_worker.py")
ROOT = Path(__file__).resolve().parents[1]
LAUNCH_TIMEOUT_S = 180  # a launch takes 15-20 s on two busy cores

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch build has no torch.distributed"),
    pytest.mark.skipif(torch.distributed.is_available() and not torch.distributed.is_gloo_available(),
                       reason="this torch build has no gloo backend (CPU DistributedDataParallel)"),
    pytest.mark.usefixtures("one_thread"),  # the single-process side on one thread, as the workers
]


def free_port() -> int:
    """A TCP port free on the loopback interface right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str, log: Path, ok: bool = True, timeout: float = LAUNCH_TIMEOUT_S) -> int:
    """`python -m torch.distributed.run` with two CPU processes on the loopback; its return code.

    Bounded in time: the launcher and its workers run in a session of their own, killed whole on a
    timeout (the workers also dump their stacks and exit after WATCHDOG_S, see tests/ddp_worker.py)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--nnodes", "1",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()), *args]
    # tests/ for the worker's imports, then this checkout ahead of whatever the environment installed
    path = os.pathsep.join(filter(None, [str(WORKER.parent), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env = quiet_env(PYTHONPATH=path, UNIMSE_TEST_WATCHDOG_S=str(int(timeout) - 20))
    with log.open("w") as handle:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            pytest.fail(f"torchrun did not finish in {timeout} s:\n{log.read_text()[-6000:]}")
    if ok:
        assert returncode == 0, log.read_text()[-6000:]
    return returncode


# ----------------------------------------------------------------------------------------------
# gradients


def test_ddp_gradients_equal_one_process_on_the_global_batch(tmp_path):
    out = tmp_path / "ddp_grads.pt"
    torchrun(str(WORKER), "grads", str(out), log=tmp_path / "torchrun.log")
    ddp = torch.load(out, weights_only=True)

    batch = ddp_worker.global_batch()
    halves = [ddp_worker.shard(batch, rank, 2) for rank in (0, 1)]
    for contrastive in (False, True):
        whole = ddp_worker.gradients(ddp_worker.grad_model(contrastive), batch)
        parts = [ddp_worker.gradients(ddp_worker.grad_model(contrastive), half) for half in halves]
        mean_of_halves = {k: (parts[0][k] + parts[1][k]) / 2 for k in whole}
        assert ddp[contrastive].keys() == whole.keys()
        for name, grad in ddp[contrastive].items():
            torch.testing.assert_close(grad, mean_of_halves[name], atol=1e-6, rtol=1e-5, msg=name)
        if not contrastive:
            for name, grad in ddp[contrastive].items():
                torch.testing.assert_close(grad, whole[name], atol=1e-6, rtol=1e-5, msg=name)
        else:
            # per-rank negatives: the contrastive projections' gradients are not the global batch's
            heads = [k for k in whole if k.startswith("contrastive_heads.")]
            assert heads and any(not torch.allclose(ddp[True][k], whole[k], atol=1e-6) for k in heads)
    # the check has teeth: every parameter got a non-zero gradient somewhere
    assert sum(bool(g.abs().sum() > 0) for g in ddp[False].values()) == len(ddp[False])


# ----------------------------------------------------------------------------------------------
# the train stage under torchrun


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return write_inputs(tmp_path_factory.mktemp("ddp_inputs"), train_rows=8, dev_rows=4)


# 16 training rows, batches of 2 on each of the 2 ranks: 4 steps per epoch; max_steps ends the run
# after the first 2 steps of epoch 2 (an epoch cut short is still evaluated).
STEPS_PER_EPOCH = 4
GROUPS = {"loader": {"batch_size": 2}, "train": {"epochs": 3, "max_steps": 6}}


def stage_command(inputs: Path, work: Path, audit: Path, kill_after_epoch: int = 0) -> list[str]:
    """The worker running `unimse train` on `work` (made here, with its params.yaml)."""
    work.mkdir(exist_ok=True)
    options = stage_options(inputs, work, write_params(work / "params.yaml", **GROUPS))
    return [str(WORKER), "stage", str(audit), "--kill-after-epoch", str(kill_after_epoch), "--", *options]


@pytest.fixture(scope="module")
def uninterrupted(inputs, tmp_path_factory) -> Path:
    """A run of the train stage under torchrun, its writes audited: the folder holding work/, audit/
    and torchrun.log."""
    root = tmp_path_factory.mktemp("ddp_run")
    torchrun(*stage_command(inputs, root / "work", root / "audit"), log=root / "torchrun.log")
    return root


def test_the_train_stage_runs_a_few_steps_under_torchrun_and_only_rank_0_writes(uninterrupted):
    work, audit = uninterrupted / "work", uninterrupted / "audit"
    summary = json.loads((work / "train.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 6 and summary["epochs_run"] == 2
    assert summary["stopped_early"] is False and summary["best_epoch"] in (1, 2)
    assert summary["train_rows"] == 4 * STEPS_PER_EPOCH and summary["dev_rows"] == 8
    assert (work / "selected" / "run.json").exists() and (work / "selected" / "tokenizer.json").exists()
    assert json.loads((work / "selected" / "run.json").read_text())["world_size"] == 2
    assert (uninterrupted / "torchrun.log").read_text().count("train: best epoch") == 1  # only rank 0 reports

    writes = {rank: json.loads((audit / f"rank{rank}.json").read_text()) for rank in (0, 1)}
    assert writes[1] == [], f"rank 1 wrote: {writes[1][:5]}"
    assert any(w.endswith("/train.json") for w in writes[0])
    assert any(training.CHECKPOINT in w for w in writes[0])  # the hook does see rank 0's writes


def test_a_torchrun_run_killed_at_an_epoch_boundary_resumes_to_the_uninterrupted_weights(inputs, uninterrupted,
                                                                                        tmp_path):
    """Each rank's RNG state goes into the checkpoint: its dropout draws depend on its own batches."""
    fresh, killed = uninterrupted / "work", tmp_path / "killed"
    assert torchrun(*stage_command(inputs, killed, tmp_path / "audit", kill_after_epoch=1),
                    log=tmp_path / "killed.log", ok=False) != 0
    state = torch.load(killed / "checkpoints" / training.CHECKPOINT, map_location="cpu", weights_only=False)
    assert state["state"]["epoch"] == 1 and len(state["rng"]) == 2 and not (killed / "train.json").exists()

    # Resumed through the documented command: torchrun ... -m stages.cli train <options>.
    torchrun("-m", "stages.cli", "train", *stage_options(inputs, killed, killed / "params.yaml"),
             log=tmp_path / "resumed.log")
    assert_identical(selected_weights(killed / "selected"), selected_weights(fresh / "selected"))
    final = [torch.load(w / "checkpoints" / training.CHECKPOINT, map_location="cpu", weights_only=False)
             for w in (killed, fresh)]
    assert_identical(final[0]["model"], final[1]["model"])
    assert comparable(final[0]["state"]) == comparable(final[1]["state"])
    assert final[1]["state"]["step"] == 6
