"""Benchmark of frozen blocks at t5-base size: the paper's `trainable_blocks: [-2, -1]` against all
blocks trainable, in one run.

    python -m bench.frozen [--rows 2] [--steps 3] [--warmup 1] [--threads N] [--device auto]

Both models are UniMSE on a T5 of t5-base's configuration (bench/standins.py), random weights, the
same seed, the params.yaml `model` group's fusion and contrastive heads, the paper's learning rates
(3e-4 T5, 1e-4 the rest). A step is the training loop's (forward, backward, gradient clipping,
Adam): unimse_core/model.py's `parameter_groups` decides what reaches the optimiser. Steps of the
two alternate after `--warmup` untimed steps each, on the same MELD-like batch (bench/train.py's).

Figures per setting: median step time, peak RSS during its steps (VmHWM, reset before each step;
both models stay resident, so the difference is what gradients, Adam state and activations cost),
trainable and total parameters, and Adam's state in bytes (`optimizer_state_bytes`: two float32
moments per trained parameter). The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import time

import click
import torch

from bench.train import peak_mib, reset_peak, synthetic_batch

PAPER_LR = {"lr_t5": 3e-4, "lr_other": 1e-4}
SETTINGS = {"paper": (-2, -1), "all": "all"}


@click.command()
@click.option("--rows", type=click.IntRange(1), default=2, show_default=True, help="rows per batch")
@click.option("--steps", type=click.IntRange(1), default=3, show_default=True, help="timed steps of each")
@click.option("--warmup", type=click.IntRange(0), default=1, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=None, help="torch threads (default: torch's)")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
def main(rows: int, steps: int, warmup: int, threads: int | None, device: str) -> None:
    from pathlib import Path

    from transformers import T5Config, T5ForConditionalGeneration

    from bench.standins import T5_BASE_CONFIG
    from unimse_core.config import ModelConfig, load_config
    from unimse_core.model import UniMSE, parameter_groups
    from unimse_core.training import optimizer_state_bytes, to_device

    if threads:
        torch.set_num_threads(threads)
    dev = torch.device("cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu")
    config = load_config(ModelConfig, "model", Path(__file__).resolve().parents[1] / "params.yaml")
    batch = to_device(synthetic_batch(rows, T5_BASE_CONFIG["vocab_size"], config.feature_dim), dev)
    runs = {}
    for name, blocks in SETTINGS.items():
        torch.manual_seed(0)
        model = UniMSE(T5ForConditionalGeneration(T5Config(**T5_BASE_CONFIG)), config).to(dev).train()
        groups = parameter_groups(model, trainable_blocks=blocks, weight_decay=0.0, **PAPER_LR)
        trainable = [p for g in groups for p in g["params"]]
        runs[name] = {"model": model, "optimizer": torch.optim.Adam(groups), "trainable": trainable,
                      "wall": [], "peak": []}

    def step(run: dict, timed: bool) -> None:
        resettable = timed and reset_peak(dev)
        started = time.perf_counter()
        out = run["model"](batch)
        run["optimizer"].zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(run["trainable"], 1.0)
        run["optimizer"].step()
        float(out.loss.detach())
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if timed:
            run["wall"].append(time.perf_counter() - started)
            run["peak"].append(peak_mib(dev) if resettable else None)
            click.echo(f"{name_of(run):>5}: step {run['wall'][-1]:.2f} s, peak {run['peak'][-1]} MiB")

    def name_of(run: dict) -> str:
        return next(n for n, r in runs.items() if r is run)

    for _ in range(warmup):
        for run in runs.values():
            step(run, timed=False)
    for i in range(steps):
        for name in (SETTINGS if i % 2 == 0 else reversed(list(SETTINGS))):
            step(runs[name], timed=True)

    out: dict = {}
    for name, run in runs.items():
        peaks = [p for p in run["peak"] if p is not None]
        out[name] = {"trainable_blocks": list(SETTINGS[name]) if name == "paper" else "all",
                     "step_s": round(statistics.median(run["wall"]), 3),
                     "peak_rss_mib" if dev.type == "cpu" else "peak_cuda_mib": round(max(peaks), 1) if peaks else None,
                     "trainable_parameters": sum(p.numel() for p in run["trainable"]),
                     "total_parameters": sum(p.numel() for p in run["model"].parameters()),
                     "optimizer_state_bytes": optimizer_state_bytes(run["optimizer"])}
    paper, every = out["paper"], out["all"]
    out.update({"step_ratio": round(paper["step_s"] / every["step_s"], 3),
                "optimizer_state_ratio": round(paper["optimizer_state_bytes"] / every["optimizer_state_bytes"], 4),
                "rows": rows, "steps": steps, "device": dev.type, "threads": torch.get_num_threads(),
                "load_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()})
    click.echo(json.dumps(out))


if __name__ == "__main__":
    main()
