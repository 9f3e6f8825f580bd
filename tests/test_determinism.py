"""Pinned numerics (unimse_core/determinism.py): one machine plays several by capping the
instruction sets that torch and MKL may use and by changing the number of threads.

With `deterministic: true` the golden training steps give the same bytes on every simulated machine;
with it off the same steps give different bytes (so this test fails if the pin stops pinning).
Then the train stage itself, pinned, writes byte-identical outputs on two simulated machines: the
weights, checkpoints, dvclive logs and summary (no time in any of them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tiny_training import quiet_env, stage_options, unimse_script, write_inputs, write_params
from unimse_core.determinism import PINNED_CAPABILITY, PINNED_ENV

WORKER = Path(__file__).with_name("determinism_worker.py")
TIMEOUT_S = 240

# Machines of this kind and of the AVX2-only kind, with one and two threads. The caps are read by the
# libraries themselves: ATen (ATEN_CPU_CAPABILITY), MKL (MKL_ENABLE_INSTRUCTIONS), oneDNN (ONEDNN_MAX_CPU_ISA).
AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
MACHINES = {"this CPU, 1 thread": {"OMP_NUM_THREADS": "1"},
            "this CPU, 2 threads": {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"},
            "AVX2 only, 2 threads": {**AVX2_ONLY, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}}


def machine_env(changes: dict[str, str]) -> dict[str, str]:
    """This process's environment without any inherited pin or cap, then `changes`."""
    env = quiet_env()
    for name in (*PINNED_ENV, *AVX2_ONLY, "MKL_CBWR"):
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[1]),
                                                    env.get("PYTHONPATH")) if p)
    return {**env, **changes}


def run_all(commands: dict[str, tuple[list[str], dict[str, str]]]) -> dict[str, str]:
    """Run the commands two at a time (two cores); each one's stdout."""
    outputs, names = {}, list(commands)
    for start in range(0, len(names), 2):
        batch = {n: subprocess.Popen(commands[n][0], env=commands[n][1], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True) for n in names[start:start + 2]}
        for name, process in batch.items():
            out, err = process.communicate(timeout=TIMEOUT_S)
            assert process.returncode == 0, f"{name}:\n{err[-3000:]}"
            outputs[name] = out
    return outputs


def cpu_has(flag: str) -> bool:
    try:
        return flag in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


needs_avx512 = pytest.mark.skipif(not cpu_has("avx512f"), reason="plays an AVX2 machine on an AVX-512 one")


@pytest.mark.slow
@needs_avx512
def test_golden_steps_give_the_same_bytes_on_every_machine_when_pinned_and_differ_when_not():
    commands = {(mode, machine): ([sys.executable, str(WORKER), mode, "3"], machine_env(changes))
                for mode in ("pinned", "free") for machine, changes in MACHINES.items()}
    results = {key: json.loads(out.strip().splitlines()[-1]) for key, out in run_all(commands).items()}
    pinned = {m: r for (mode, m), r in results.items() if mode == "pinned"}
    free = {m: r for (mode, m), r in results.items() if mode == "free"}

    assert {r["capability"] for r in pinned.values()} == {PINNED_CAPABILITY}
    assert {r["threads"] for r in pinned.values()} == {2}
    assert len({r["sha256"] for r in pinned.values()}) == 1, pinned
    # the same steps without the pin: this CPU's AVX-512 kernels and those of an AVX2 machine disagree
    assert free["this CPU, 2 threads"]["capability"] == "AVX512"
    assert free["AVX2 only, 2 threads"]["capability"] == "AVX2"
    assert free["this CPU, 2 threads"]["sha256"] != free["AVX2 only, 2 threads"]["sha256"], free
    assert free["this CPU, 1 thread"]["threads"] == 1


@pytest.mark.slow
@needs_avx512
def test_the_pinned_train_stage_writes_the_same_bytes_on_two_machines(tmp_path):
    inputs = write_inputs(tmp_path / "inputs", train_rows=8, dev_rows=4, test_groups=False)
    machines = {"this CPU, 1 thread": MACHINES["this CPU, 1 thread"],
                "AVX2 only, 2 threads": MACHINES["AVX2 only, 2 threads"]}
    commands, works = {}, {}
    for i, (machine, changes) in enumerate(machines.items()):
        work = works[machine] = tmp_path / f"run{i}"
        work.mkdir()
        params = write_params(work / "params.yaml", train={"epochs": 2, "cpu_threads": 2})
        commands[machine] = ([str(unimse_script()), "train", *stage_options(inputs, work, params),
                              "--timings", str(work / "timings.json")], machine_env(changes))
    run_all(commands)
    a, b = works.values()
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.name not in ("timings.json",))
    assert {Path("train.json"), Path("selected/run.json"), Path("checkpoints/last.pt")} <= set(files)
    assert any(f.parts[0] == "live" and f.suffix == ".tsv" for f in files)
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file() and p.name != "timings.json")
    different = [str(f) for f in files if (a / f).read_bytes() != (b / f).read_bytes()]
    assert not different, different
    assert "seconds_this_run" in json.loads((a / "timings.json").read_text())  # the times went there instead
    assert json.loads((a / "selected" / "run.json").read_text())["numerics"] == {
        "deterministic": True, "cpu_capability": PINNED_CAPABILITY, "cpu_threads": 2, "pinned": PINNED_ENV}


@pytest.mark.slow
def test_bench_determinism_times_both_variants_with_their_own_kernels():
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "bench.determinism", "--steps", "1", "--warmup", "0", "--rounds", "1",
                             "--threads", "1"], cwd=root, env=machine_env({}), capture_output=True, text=True,
                            timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["pinned_capability"] == PINNED_CAPABILITY and out["threads"] == 1 and out["steps"] == 1
    if cpu_has("avx512f"):
        assert out["free_capability"] == "AVX512"
    assert out["pinned_step_ms"] > 0 and out["free_step_ms"] > 0
    assert out["cost"] == pytest.approx(out["pinned_step_ms"] / out["free_step_ms"] - 1, abs=2e-3)
