"""Benchmark of the training data loader next to the training step it feeds, in the same run.

    python -m bench.loader [--merged data/merged.h5] [--passes 20] [--steps 6] [--warmup 1]
                           [--threads N] [--tmp DIR]

1. The merged file: `--merged` when it exists; otherwise the embedded default is built under a
   temporary folder by the pipeline's own commands (`unimse synthesize`, `fetch`, `embed`,
   `labels`, `preprocess` per dataset, `merge`) with params.yaml, forced to the synthetic source.
2. The tokenizer as the tokenizer stage makes it: trained on the training inputs and targets with
   the `tokenizer` group (`model.backbone: scratch`), else the backbone's own.
3. The loader: `make_loader` over the merged training split with the `loader` group (as the train
   stage reads it, memory-mapped over `mmap_over_mib`), `--passes` full epochs, every batch built
   by the real collate (token and frame padding). Its construction (tokenizing every row once) is
   timed apart.
4. The step: the default model (`model` group, `train` group's freezing, learning rates and
   clipping) trained on the loader's own batches, one step as in the training loop (bench/train.py:
   forward under the runtime's autocast, backward, clipping, Adam); median of `--steps` after
   `--warmup`.

loader_vs_step = step time / batch time. Goal (issue 4): at least 20, so that the loader never
starves training. The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import click
import torch
import yaml

from bench.preprocess import step as run_step
from bench.preprocess import unimse
from bench.train import Trainer
from unimse_core.config import (DataConfig, LoaderConfig, ModelConfig, TokenizerConfig, TrainConfig, load_config,
                                read_params)
from unimse_core.data import make_loader
from unimse_core.io.hdf5 import read_h5
from unimse_core.model import build_model
from unimse_core.tokenizer import load_tokenizer, train_tokenizer
from unimse_core.training import runtime, seed_everything, to_device

ROOT = Path(__file__).resolve().parents[1]
GOAL_RATIO = 20.0


def build_merged(params: dict, work: Path) -> Path:
    """The merged file of the embedded default, written under `work` by the pipeline's commands."""
    params = {**params, "data": {**params["data"], "source": "synthetic", "text_only": False}}
    datasets = load_config(DataConfig, "data", params).datasets
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    cli, p = unimse(), ["--params", str(work / "params.yaml")]
    report = str(work / "verified.json")
    click.echo(f"building the embedded default's merged file in {work}", err=True)
    run_step("synthesize", [*cli, "synthesize", "--out", str(work / "synthetic"), *p], ROOT)
    run_step("fetch", [*cli, "fetch", "--synthetic-dir", str(work / "synthetic"), "--synthetic-manifest",
                       str(work / "synthetic" / "manifest.json"), "--local-dir", str(work / "raw"), "--manifest",
                       str(ROOT / "manifests" / "authors.json"), "--report", report, *p], ROOT)
    run_step("embed", [*cli, "embed", "--report", report, "--out", str(work / "embeddings"), *p], ROOT)
    run_step("labels", [*cli, "labels", "--report", report, "--embeddings", str(work / "embeddings"), "--out",
                        str(work / "labels"), "--summary", str(work / "labels.json"), *p], ROOT)
    for dataset in datasets:
        run_step(f"preprocess {dataset}", [*cli, "preprocess", "--dataset", dataset, "--report", report, "--labels",
                                           str(work / "labels" / f"{dataset}.csv"), "--out",
                                           str(work / "processed" / f"{dataset}.h5"), *p], ROOT)
    merged = work / "merged.h5"
    run_step("merge", [*cli, "merge", "--processed", str(work / "processed"), "--out", str(merged), "--summary",
                       str(work / "merge.json"), *p], ROOT)
    return merged


@click.command()
@click.option("--merged", type=click.Path(path_type=Path), default=ROOT / "data" / "merged.h5", show_default=True,
              help="merged HDF5 file; built from the embedded default when absent")
@click.option("--passes", default=20, show_default=True, help="full passes over the training split")
@click.option("--steps", default=6, show_default=True, help="timed training steps")
@click.option("--warmup", default=1, show_default=True, help="untimed training steps first")
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
@click.option("--params", type=click.Path(path_type=Path), default=ROOT / "params.yaml", show_default=True)
@click.option("--tmp", "tmp_root", type=click.Path(path_type=Path), default=None,
              help="folder for a merged file built here (default: the system's)")
def main(merged: Path, passes: int, steps: int, warmup: int, threads: int | None, params: Path,
         tmp_root: Path | None) -> None:
    """Batches per second of the training loader next to the default model's training step."""
    if threads:
        torch.set_num_threads(threads)
    values = read_params(params)
    model_config = load_config(ModelConfig, "model", values)
    train_config = load_config(TrainConfig, "train", values)
    loader_config = load_config(LoaderConfig, "loader", values)
    work = None
    load_start = os.getloadavg()
    try:
        source = "existing"
        if not merged.exists():
            work = Path(tempfile.mkdtemp(prefix="unimse-bench-loader-", dir=tmp_root))
            merged, source = build_merged(values, work), "built"
        train_arrays = read_h5(merged, "train", mmap_over_bytes=loader_config.mmap_over_bytes)

        started = time.perf_counter()
        if model_config.backbone == "scratch":
            tokenizer = train_tokenizer([*train_arrays.inputs, *train_arrays.targets],
                                        load_config(TokenizerConfig, "tokenizer", values))
        else:
            tokenizer = load_tokenizer(model_config.backbone)
        tokenizer_s = time.perf_counter() - started

        started = time.perf_counter()
        loader = make_loader(train_arrays, tokenizer, loader_config, train=True, seed=train_config.seed)
        build_s = time.perf_counter() - started
        batches, pass_s = 0, []
        for epoch in range(passes):
            loader.batch_sampler.set_epoch(epoch)
            started = time.perf_counter()
            batches += sum(1 for _ in loader)
            pass_s.append(time.perf_counter() - started)
        loader_s = sum(pass_s)
        batches_per_s = batches / loader_s

        rt = runtime(train_config)
        if rt.device.type == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)  # as the training loop does on the CPU
        seed_everything(train_config.seed)
        trainer = Trainer(build_model(model_config, tokenizer), train_config, rt)
        stream = iter(())
        epoch = 0
        for i in range(warmup + steps):
            batch = next(stream, None)
            if batch is None:
                loader.batch_sampler.set_epoch(epoch)
                epoch += 1
                stream = iter(loader)
                batch = next(stream)
            batch = to_device(batch, rt.device)
            if i < warmup:
                trainer.step(batch)
            else:
                trainer.timed_step(batch)
        step_s = statistics.median(trainer.wall)
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()

    batch_s = 1 / batches_per_s
    ratio = step_s / batch_s
    contended = max(load_start[0], load_end[0]) > (os.cpu_count() or 1)
    result = {
        "batches_per_s": round(batches_per_s, 1),
        "batch_ms": round(batch_s * 1e3, 3),
        "step_s": round(step_s, 4),
        "step_best_s": round(min(trainer.wall), 4),
        "step_cpu_s": round(statistics.median(trainer.cpu), 4),
        "loader_vs_step": round(ratio, 1),
        "goal_ratio": GOAL_RATIO,
        "goal_met": ratio >= GOAL_RATIO,
        "batch_size": loader_config.batch_size,
        "rows": len(train_arrays),
        "batches": batches,
        "passes": passes,
        "loader_build_s": round(build_s, 3),
        "tokenizer_s": round(tokenizer_s, 3),
        "tokenizer_size": len(tokenizer),
        "num_workers": loader_config.num_workers,
        "bucket_size": loader_config.bucket_size,
        "steps": len(trainer.wall),
        "merged": source,
        "mean_frames": {m: round(float(getattr(train_arrays, f"{m}_length").mean()), 1) for m in ("audio", "video")},
        "device": str(rt.device),
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "loadavg_start": round(load_start[0], 2),
        "loadavg_end": round(load_end[0], 2),
        "contended": contended,
    }
    click.echo(f"\nloader over the merged training split ({source} file): {len(train_arrays)} rows, batches of "
               f"{loader_config.batch_size}, {passes} passes, num_workers {loader_config.num_workers}")
    click.echo(f"  tokenizer trained in {tokenizer_s:.2f} s ({len(tokenizer)} tokens); loader built "
               f"(every row tokenized) in {build_s:.2f} s")
    click.echo(f"  loader         {batches_per_s:9.1f} batches/s   ({batch_s * 1e3:.2f} ms a batch)")
    click.echo(f"  training step  {step_s:9.3f} s          (default model, {rt.device}, median of {len(trainer.wall)};"
               f" best {min(trainer.wall):.3f} s)")
    click.echo(f"  loader_vs_step {ratio:9.1f}x         (goal >= {GOAL_RATIO:.0f}x: "
               f"{'met' if ratio >= GOAL_RATIO else 'MISSED'})")
    if contended:
        click.echo(f"note: taken under contention (1-minute load {load_start[0]:.1f} -> {load_end[0]:.1f} on "
                   f"{os.cpu_count()} cpus)")
    click.echo(json.dumps(result))


if __name__ == "__main__":
    main()
