"""unimse_core/runtime.py: the device helpers that training, evaluation and prediction share."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from unimse_core.config import EvaluateConfig, TrainConfig, from_dict, load_config
from unimse_core.runtime import DeviceError, runtime, to_device

ROOT = Path(__file__).resolve().parents[1]


def _config(cls, group: str, **changes):
    params = load_config(cls, group, ROOT / "params.yaml")
    return from_dict(cls, {**{f: getattr(params, f) for f in cls.__dataclass_fields__}, **changes}, group)


@pytest.mark.parametrize(("cls", "group"), [(TrainConfig, "train"), (EvaluateConfig, "evaluate")])
def test_an_absent_cuda_device_is_named_by_the_key_read(monkeypatch, cls, group):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = _config(cls, group, device="cuda", deterministic=False, cpu_threads=0)
    with pytest.raises(DeviceError) as err:
        runtime(config)
    assert str(err.value) == f"{group}.device: cuda, but torch sees no CUDA device"
    with pytest.raises(DeviceError, match=r"^embed\.device: cuda"):
        runtime(config, group="embed")
    with pytest.raises(DeviceError, match=r"^--device: cuda"):
        runtime(config, group="predict", device_key="--device")


def test_the_cpu_runtime_runs_one_process_without_autocast():
    rt = runtime(_config(EvaluateConfig, "evaluate", device="cpu", deterministic=False, cpu_threads=0))
    assert (rt.device, rt.rank, rt.world_size, rt.is_main) == (torch.device("cpu"), 0, 1, True)
    with rt.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    moved = to_device({"x": torch.arange(3)}, rt.device)
    assert moved["x"].tolist() == [0, 1, 2]


def test_evaluation_and_prediction_do_not_import_the_training_loop():
    code = ("import sys, stages.evaluate, stages.predict, unimse_core.evaluation, unimse_core.inference, "
            "unimse_core.runtime; print(sorted(m for m in sys.modules if m.startswith('unimse_core.train')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_training_still_offers_the_helpers_it_uses():
    from unimse_core import runtime as rt_module, training

    assert training.runtime is rt_module.runtime and training.to_device is rt_module.to_device


def test_the_train_stage_refuses_a_model_feature_dim_other_than_the_merged_files(tmp_path):
    from click.testing import CliRunner

    from stages.train import command as train_stage
    from tiny_training import FEATURE_DIM, TEXT, split, stage_options, write_inputs, write_params
    from unimse_core.io.hdf5 import write_h5

    inputs = write_inputs(tmp_path / "inputs", test_groups=False)
    groups = {"train": split({"mosi": 4, "meld": 4}, seed=1), "valid": split({"mosi": 2, "meld": 2}, seed=2)}
    sources = {d: {"config": {"text": TEXT, "features": {"dim": FEATURE_DIM * 2}}, "sources": {}} for d in ("mosi",)}
    write_h5(inputs / "merged.h5", groups, {"combination": "tiny", "sources": sources})
    work = tmp_path / "work"
    work.mkdir()
    result = CliRunner().invoke(train_stage, stage_options(inputs, work, write_params(work / "params.yaml")))
    assert result.exit_code == 1, result.output
    assert (f"model.feature_dim: must equal features.dim ({FEATURE_DIM * 2}), the width {inputs / 'merged.h5'}'s "
            f"frames were built with, got {FEATURE_DIM}") in result.output
    assert not (work / "selected").exists() and not (work / "checkpoints").exists()
