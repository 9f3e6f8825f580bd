"""The benchmarks that drive whole training runs, on the tiny setup of tests/tiny_training.py:
they run, and their JSON says what the runs did."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tiny_training import params, quiet_env, write_inputs

ROOT = Path(__file__).resolve().parents[1]


def test_bench_ablation_trains_the_full_model_and_the_text_only_one(tmp_path):
    inputs = write_inputs(tmp_path / "inputs")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params()))
    result = subprocess.run([sys.executable, "-m", "bench.ablation", "--epochs", "2", "--merged", inputs / "merged.h5",
                             "--tokenizer", inputs / "tokenizer", "--params", tmp_path / "params.yaml"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, env=quiet_env())
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["epochs"] == 2
    for name in ("full", "text"):
        series = out[f"select_series_{name}"]
        assert len(series) == 2 and out[f"select_{name}"] == max(series)
        assert out[f"best_epoch_{name}"] == series.index(max(series)) + 1
        assert out[f"select_late_mean_{name}"] == pytest.approx(series[1], abs=1e-4)
        assert {f"dev_mosi_mae_{name}", f"dev_meld_weighted_f1_{name}"} <= set(out)
    assert out["select_gain"] == pytest.approx(out["select_full"] - out["select_text"], abs=2e-4)


def test_bench_predict_times_the_file_path_and_the_calls(tmp_path):
    from tiny_training import TEXT

    tiny = {**params(), "text": dict(TEXT), "tokenizer": {"vocab_size": 150, "split_digits": True}}
    tiny["loader"]["num_workers"] = 0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny))
    result = subprocess.run([sys.executable, "-m", "bench.predict", "--rows", "12", "--calls", "1", "--batch-size", "4",
                             "--params", tmp_path / "params.yaml", "--tmp", tmp_path],
                            cwd=ROOT, capture_output=True, text=True, timeout=600, env=quiet_env())
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["rows"] == 12 and out["calls_timed"] == 1 and out["calls_agreeing_with_file"] == "1/1"
    # rows/s of the file path over rows/s of the calls = (rows / file seconds) x seconds per call
    assert out["file_vs_calls"] == pytest.approx(12 / out["file_seconds"] * out["call_seconds_mean"], abs=0.06)
    assert out["calls_seconds_for_all_rows_extrapolated"] == pytest.approx(12 * out["call_seconds_mean"], rel=0.01)
