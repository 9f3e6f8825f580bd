"""Benchmark of the preprocess stage: peak memory and wall time on data of MOSEI's real size.

    python -m bench.preprocess [--max-frames 500] [--scale 1.0] [--tmp DIR] [--keep]

1. `unimse synthesize` writes a raw release whose MOSEI has the real sizes (16,326 / 1,871 / 4,659
   utterances, audio 74-d and video 35-d, up to --max-frames frames, in the authors' padded
   pickle layout); only MOSEI is written (data.datasets: [mosei]: the writers follow it).
2. `unimse fetch`, `unimse embed` (tfidf) and `unimse labels` write the verification report and
   the universal-label table, as in the pipeline.
3. `unimse preprocess --dataset mosei` runs as the only child of a fresh launcher process, which
   reports its peak RSS (getrusage(RUSAGE_CHILDREN).ru_maxrss: the child's own, as the launcher
   starts nothing else) and wall time. A second launcher measures a child that only loads the
   features (`read_msa_features`): the floor that any preprocessing of this pickle pays.

Every step runs in its own process, so the numbers are the stage's alone. Everything is written
under a temporary folder, removed at the end unless --keep. --scale shrinks the sizes for a quick
try. Goal (issue 4): peak RSS under 1.5x the size of the raw feature pickle. The last line printed
is one JSON object.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import yaml

from unimse_core.config import SyntheticConfig, from_dict, read_params, to_dict

ROOT = Path(__file__).resolve().parents[1]
MOSEI = {"train": 16326, "valid": 1871, "test": 4659, "audio_dim": 74, "video_dim": 35}
GOAL_RATIO = 1.5
MIB = 2**20

# The fresh parent of the measured process: it starts that one child and nothing else, so
# RUSAGE_CHILDREN is the child's own peak (ru_maxrss in KiB on Linux).
LAUNCHER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
rc = subprocess.run(sys.argv[1:]).returncode
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "wall_s": wall, "maxrss_kib": usage.ru_maxrss,
                  "user_s": usage.ru_utime, "sys_s": usage.ru_stime}))
"""
LOAD_ONLY = ("import sys; from unimse_core.io.raw import read_msa_features; "
             "f = read_msa_features(sys.argv[1], 'mosei'); print(len(f), 'utterances loaded')")


def unimse() -> list[str]:
    """The `unimse` console script of this interpreter's environment (or the same via -m)."""
    script = Path(sys.executable).parent / "unimse"
    return [str(script)] if script.exists() else [sys.executable, "-m", "stages.cli"]


def bench_params(max_frames: int, scale: float) -> dict:
    params = read_params(ROOT / "params.yaml")
    synthetic = dict(params["synthetic"], seed=0, msa_layout="authors", max_frames=max_frames)
    synthetic["mosei"] = {**MOSEI, **{s: max(1, round(MOSEI[s] * scale)) for s in ("train", "valid", "test")}}
    config = from_dict(SyntheticConfig, synthetic, "synthetic")  # checked like the stage checks it
    params["synthetic"] = to_dict(config)
    params["data"].update(source="synthetic", datasets=["mosei"], text_only=False)
    params["embed"]["encoder"] = "tfidf"
    params["features"].update(dim=64, missing="zero")
    return params


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1][:150] if lines else ""


def step(name: str, args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise click.ClickException(f"{name} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    click.echo(f"  {name:<11} {seconds:7.1f} s  {last_line(result.stdout)}", err=True)
    return seconds


def measured(args: list[str], cwd: Path) -> tuple[dict, str]:
    """Run `args` under a fresh launcher; (its measurement, the child's output)."""
    result = subprocess.run([sys.executable, "-c", LAUNCHER, *args], cwd=cwd, capture_output=True, text=True)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise click.ClickException(f"launcher failed:\n{result.stdout}\n{result.stderr}")
    measure = json.loads(lines[-1])
    if measure["rc"] != 0:
        raise click.ClickException(f"{' '.join(args[:3])} failed ({measure['rc']}):\n{result.stdout}\n{result.stderr}")
    return measure, "\n".join(lines[:-1])


@click.command()
@click.option("--max-frames", default=500, show_default=True, help="longest sequence; the pickle pads to it")
@click.option("--scale", default=1.0, show_default=True, help="multiply MOSEI's split sizes (quick tries)")
@click.option("--tmp", "tmp_root", type=click.Path(path_type=Path), default=None,
              help="folder for the temporary files (default: the system's)")
@click.option("--keep", is_flag=True, help="keep the temporary folder and print its path")
def main(max_frames: int, scale: float, tmp_root: Path | None, keep: bool) -> None:
    work = Path(tempfile.mkdtemp(prefix="unimse-bench-preprocess-", dir=tmp_root))
    try:
        params = bench_params(max_frames, scale)
        (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        cli = unimse()
        p = ["--params", str(work / "params.yaml")]
        click.echo(f"bench.preprocess in {work} (cpus: {os.cpu_count()})", err=True)
        step("synthesize", [*cli, "synthesize", "--out", str(work / "synthetic"), *p], ROOT)
        step("fetch", [*cli, "fetch", "--synthetic-dir", str(work / "synthetic"),
                       "--synthetic-manifest", str(work / "synthetic" / "manifest.json"),
                       "--local-dir", str(work / "raw"), "--manifest", str(work / "synthetic" / "manifest.json"),
                       "--report", str(work / "verified.json"), *p], ROOT)
        step("embed", [*cli, "embed", "--report", str(work / "verified.json"), "--out", str(work / "embeddings"), *p],
             ROOT)
        step("labels", [*cli, "labels", "--report", str(work / "verified.json"), "--embeddings",
                        str(work / "embeddings"), "--out", str(work / "labels"), "--summary",
                        str(work / "labels.json"), *p], ROOT)
        report = json.loads((work / "verified.json").read_text())
        pickle_path = Path(report["datasets"]["mosei"]["features"])
        raw_bytes = pickle_path.stat().st_size

        load, _ = measured([sys.executable, "-c", LOAD_ONLY, str(pickle_path)], ROOT)
        out = work / "processed" / "mosei.h5"
        run, output = measured([*cli, "preprocess", "--dataset", "mosei", "--report", str(work / "verified.json"),
                                "--labels", str(work / "labels" / "mosei.csv"), "--out", str(out), *p], ROOT)
        click.echo(f"  preprocess  {run['wall_s']:7.1f} s  {last_line(output)}", err=True)

        from unimse_core.io.hdf5 import read_attrs  # after the children: keeps this process small

        groups = read_attrs(out)["groups"]
        utterances = sum(g["rows"] for g in groups.values())
        packed_bytes = sum((g["audio_frames"] * g["audio_dim"] + g["video_frames"] * g["video_dim"]) * 4
                           for g in groups.values())
        peak = run["maxrss_kib"] * 1024
        result = {
            "peak_rss_ratio": round(peak / raw_bytes, 3),
            "peak_rss_mib": round(peak / MIB, 1),
            "raw_pickle_mib": round(raw_bytes / MIB, 1),
            "wall_s": round(run["wall_s"], 2),
            "utterances": utterances,
            "goal_ratio": GOAL_RATIO,
            "goal_met": peak / raw_bytes < GOAL_RATIO,
            "load_only_peak_rss_mib": round(load["maxrss_kib"] * 1024 / MIB, 1),
            "load_only_wall_s": round(load["wall_s"], 2),
            "packed_features_mib": round(packed_bytes / MIB, 1),
            "h5_mib": round(out.stat().st_size / MIB, 1),
            "rows": {name: g["rows"] for name, g in groups.items()},
            "max_frames": max_frames,
            "audio_dim": MOSEI["audio_dim"],
            "video_dim": MOSEI["video_dim"],
            "scale": scale,
            "cpus": os.cpu_count(),
        }
    finally:
        if keep:
            click.echo(f"kept {work}", err=True)
        else:
            shutil.rmtree(work, ignore_errors=True)

    click.echo(f"\nMOSEI-sized preprocess: {utterances} utterances (audio {MOSEI['audio_dim']}-d, video "
               f"{MOSEI['video_dim']}-d, up to {max_frames} frames, brought to 64-d)")
    click.echo(f"  raw feature pickle          {result['raw_pickle_mib']:9.1f} MiB")
    click.echo(f"  peak RSS, loading it only   {result['load_only_peak_rss_mib']:9.1f} MiB "
               f"({result['load_only_wall_s']:.1f} s)")
    click.echo(f"  packed features (64-d)      {result['packed_features_mib']:9.1f} MiB   (HDF5 file "
               f"{result['h5_mib']:.1f} MiB)")
    click.echo(f"  peak RSS, preprocess stage  {result['peak_rss_mib']:9.1f} MiB = {result['peak_rss_ratio']:.2f}x "
               f"the pickle (goal < {GOAL_RATIO}x: {'met' if result['goal_met'] else 'MISSED'})")
    click.echo(f"  wall time, preprocess stage {result['wall_s']:9.1f} s")
    click.echo(json.dumps(result))


if __name__ == "__main__":
    main()
