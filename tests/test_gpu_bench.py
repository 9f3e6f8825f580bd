"""bench/gpu.py and bench/gpu_check.sh without a GPU: they skip cleanly, and the whole script runs on
the CPU at tiny sizes (`--cpu-smoke`), so that it works the first time a GPU is lent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.gpu import peak_tflops
from tiny_training import quiet_env

ROOT = Path(__file__).resolve().parents[1]
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: bench.gpu runs for real")


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@no_cuda
@pytest.mark.parametrize("command", [[sys.executable, "-m", "bench.gpu"], ["bash", "bench/gpu_check.sh"]])
def test_without_cuda_the_gpu_check_prints_skipped_and_exits_0(command):
    # PYTHON: the script's interpreter is the one running these tests, not whatever `python` PATH finds
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env=quiet_env(PYTHON=sys.executable))
    assert result.returncode == 0, result.stderr[-2000:]
    assert last_json(result.stdout) == {"skipped": "no CUDA device"}


def test_the_peak_table_matches_device_names():
    assert peak_tflops("NVIDIA H200") == peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0  # not A10's 125
    assert peak_tflops("NVIDIA A10") == 125.0
    assert peak_tflops("Some Future GPU") is None


@pytest.mark.slow
def test_the_cpu_smoke_run_goes_through_every_check():
    result = subprocess.run([sys.executable, "-m", "bench.gpu", "--cpu-smoke", "--steps", "1", "--warmup", "0",
                             "--gen-rows", "8", "--eval-batch-size", "8"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600, env=quiet_env())
    assert result.returncode == 0, result.stderr[-3000:]
    out = last_json(result.stdout)
    assert out["ok"] and out["device"] == "cpu"
    assert out["golden_fp32_max_abs_diff"] == 0.0 and len(out["golden_cpu"]) == 3  # the CPU against itself
    assert out["ddp_nccl"]["backend"] == "gloo" and out["ddp_nccl"]["ok"]
    assert out["constrained_rows"] == 8 and out["constrained_unparsable"] == 0
    assert out["t5base_batch_rows"] == 32 and out["t5base_mfu"] is None  # no peak for a CPU
    train = 30 * 32_400 / out["t5base_train_samples_per_s"] / 60
    dev = 30 * 3_730 / out["dev_rows_per_s_constrained"] / 60
    assert out["paper_run_minutes"] == pytest.approx(train + dev, rel=0.05)  # from rounded rates
    assert out["goal_met"] == (out["paper_run_minutes"] <= 15)
