"""The CUDA path (marker `cuda`; skipped without a CUDA device): the training loop and the train
stage on the GPU against the CPU, bf16 autocast, constrained generation, and `train.devices` with
NCCL when two GPUs are visible. bench/gpu_check.sh runs these after `python -m bench.gpu`.

Dropout is off where runs are compared: the CPU and CUDA generators draw different masks.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest
import torch

from test_training import configs, run_train
from tiny_training import quiet_env, stage_options, unimse_script, write_inputs, write_params
from unimse_core import training
from unimse_core.evaluation import generate_texts, label_constraint
from unimse_core.model import build_model
from unimse_core.text import parse_target
from unimse_core.tokenizer import load_tokenizer

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (the cuda tests need one)")]
NO_DROPOUT = {"dropout_rate": 0.0, "modality_dropout": 0.0}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return write_inputs(tmp_path_factory.mktemp("cuda_inputs"), train_rows=8, dev_rows=4, test_groups=False)


@pytest.fixture(autouse=True)
def fp32_matmuls():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    enabled, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def test_the_training_loop_on_cuda_fp32_follows_the_cpu_run(inputs, tmp_path):
    model_config, train_config, loader_config = configs(epochs=1)
    model_config = dataclasses.replace(model_config, **NO_DROPOUT)
    states = {}
    for device in ("cpu", "cuda"):
        states[device] = run_train(inputs, tmp_path / device, dataclasses.replace(train_config, device=device,
                                                                                  bf16=False),
                                   model_config, loader_config)
    losses = {d: [e["train/loss"] for e in s.history if "train/loss" in e] for d, s in states.items()}
    assert len(losses["cpu"]) == len(losses["cuda"]) > 2
    assert losses["cuda"] == pytest.approx(losses["cpu"], abs=1e-4)
    weights = {d: torch.load(tmp_path / d / training.CHECKPOINT, map_location="cpu", weights_only=False)["model"]
               for d in states}
    for name, value in weights["cpu"].items():
        torch.testing.assert_close(weights["cuda"][name], value, atol=1e-4, rtol=1e-3, msg=name)


def test_bf16_autocast_trains_within_tolerance_of_fp32(inputs, tmp_path):
    model_config, train_config, loader_config = configs(epochs=1)
    model_config = dataclasses.replace(model_config, **NO_DROPOUT)
    runs = {bf16: run_train(inputs, tmp_path / str(bf16), dataclasses.replace(train_config, device="cuda", bf16=bf16),
                            model_config, loader_config) for bf16 in (False, True)}
    losses = {k: [e["train/loss"] for e in s.history if "train/loss" in e] for k, s in runs.items()}
    assert losses[True] == pytest.approx(losses[False], rel=3e-2)  # bench.gpu's BF16_TOLERANCE
    assert losses[True] != losses[False]  # autocast did run in bf16


def test_compiled_training_on_cuda_runs_or_says_why_not(inputs, tmp_path, recwarn):
    model_config, train_config, loader_config = configs(epochs=1)
    state = run_train(inputs, tmp_path / "compiled", dataclasses.replace(train_config, device="cuda", compile=True),
                      model_config, loader_config)
    assert state.step > 0
    for warning in recwarn:
        if "train.compile" in str(warning.message):
            assert "runs eagerly:" in str(warning.message)


def test_constrained_generation_on_cuda_parses_every_row(inputs):
    tokenizer = load_tokenizer(inputs / "tokenizer")
    model_config, train_config, loader_config = configs()
    torch.manual_seed(0)
    model = build_model(model_config, tokenizer)
    rt = training.runtime(dataclasses.replace(train_config, device="cuda", bf16=True))
    from tiny_training import split

    rows = split({"mosi": 12, "meld": 12}, seed=5)
    texts = generate_texts(model, rows, tokenizer, loader_config, rt, max_new_tokens=24,
                           constraint=label_constraint(tokenizer, score_decimals=2, max_new_tokens=24))
    assert len(texts) == len(rows) and all(parse_target(t).valid for t in texts), texts


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="train.devices: 2 on CUDA needs 2 GPUs")
def test_the_train_stage_with_two_devices_uses_nccl(inputs, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    params = write_params(work / "params.yaml", loader={"batch_size": 2},
                          train={"epochs": 1, "device": "cuda", "devices": 2, "bf16": True})
    env = quiet_env()
    env.pop("OMP_NUM_THREADS")
    result = subprocess.run([str(unimse_script()), "train", *stage_options(inputs, work, params)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert json.loads((work / "train.json").read_text())["world_size"] == 2
