"""What the pinned numerics cost: the training step with `deterministic: true` against the same step unpinned.

    python -m bench.determinism [--steps 12] [--warmup 2] [--rounds 2] [--threads N] [--params params.yaml]

The pin chooses torch's and MKL's kernels for the whole process (unimse_core/determinism.py), so each
variant runs in a process of its own: `pinned` calls pin_numerics(True, threads) and `free`
pin_numerics(False, threads), the same number of threads for both (default: params.yaml
`train.cpu_threads`), so that only the kernels differ. Processes alternate (pinned, free, then free,
pinned, ...) for `--rounds` rounds, so that load from other work weighs on both alike. Each builds
the params.yaml `model` group with a 1,000-token vocabulary (the scratch tokenizer's size), seeds,
and times `--steps` training steps after `--warmup` untimed ones: forward, backward, gradient
clipping, Adam, as the training loop does, on 32 rows of MELD-like lengths (inputs of 120-180
tokens, targets of 9-15, 18-24 audio and video frames 64 wide), redrawn every step from a seeded
generator. The figure is the median step of each variant over all its rounds; `cost` = pinned /
free - 1 on wall-clock steps, `cost_cpu` on the process CPU time of each step (with `--threads 1`,
the work itself whatever the load of a shared machine). The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import click

VOCAB = 1000
ROWS = 32


@click.command()
@click.option("--steps", default=12, show_default=True, help="timed steps per process")
@click.option("--warmup", default=2, show_default=True, help="untimed steps per process first")
@click.option("--rounds", default=2, show_default=True, help="processes per variant (alternating)")
@click.option("--threads", type=int, default=None, help="intra-op threads of both variants (default: train.cpu_threads)")
@click.option("--params", type=click.Path(path_type=Path), default=Path("params.yaml"), show_default=True)
@click.option("--child", type=click.Choice(["pinned", "free"]), default=None, hidden=True)
def main(steps: int, warmup: int, rounds: int, threads: int | None, params: Path, child: str | None) -> None:
    from unimse_core.config import TrainConfig, load_config

    if threads is None:
        threads = load_config(TrainConfig, "train", params).cpu_threads
    if child is not None:
        print(json.dumps(_child(child, steps, warmup, threads, params)))
        return
    runs: dict[str, list[dict]] = {"pinned": [], "free": []}
    for round_ in range(rounds):
        for variant in (("pinned", "free") if round_ % 2 == 0 else ("free", "pinned")):
            out = subprocess.run([sys.executable, "-m", "bench.determinism", "--child", variant, "--steps", str(steps),
                                  "--warmup", str(warmup), "--threads", str(threads), "--params", str(params)],
                                 capture_output=True, text=True, check=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            runs[variant].append(result)
            click.echo(f"{variant:6s} round {round_ + 1}: median step {statistics.median(result['step_s']) * 1e3:.1f} ms "
                       f"({result['capability']} kernels, {result['threads']} threads)")
    median = {v: statistics.median([s for r in rs for s in r["step_s"]]) for v, rs in runs.items()}
    best = {v: min(s for r in rs for s in r["step_s"]) for v, rs in runs.items()}
    cpu = {v: statistics.median([s for r in rs for s in r["cpu_s"]]) for v, rs in runs.items()}
    print(json.dumps({"threads": threads, "steps": steps * rounds, "rows": ROWS,
                      "pinned_capability": runs["pinned"][0]["capability"],
                      "free_capability": runs["free"][0]["capability"],
                      "pinned_step_ms": round(median["pinned"] * 1e3, 1), "free_step_ms": round(median["free"] * 1e3, 1),
                      "cost": round(median["pinned"] / median["free"] - 1, 3),
                      "cost_best_steps": round(best["pinned"] / best["free"] - 1, 3),
                      "pinned_cpu_ms": round(cpu["pinned"] * 1e3, 1), "free_cpu_ms": round(cpu["free"] * 1e3, 1),
                      "cost_cpu": round(cpu["pinned"] / cpu["free"] - 1, 3),
                      "load_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}))


def _child(variant: str, steps: int, warmup: int, threads: int, params: Path) -> dict:
    from unimse_core.determinism import pin_numerics

    # first: torch and MKL choose their kernels at their first operation
    pin_numerics(variant == "pinned", threads, group="train")

    import torch
    from transformers import T5ForConditionalGeneration

    from unimse_core.config import ModelConfig, load_config
    from unimse_core.model import UniMSE, parameter_groups, scratch_t5_config

    config = load_config(ModelConfig, "model", params)
    torch.manual_seed(0)
    model = UniMSE(T5ForConditionalGeneration(scratch_t5_config(config, VOCAB)), config).train()
    groups = parameter_groups(model, trainable_blocks="all", lr_t5=1e-3, lr_other=1e-3, weight_decay=1e-4)
    optimizer = torch.optim.Adam(groups)
    trainable = [p for g in groups for p in g["params"]]
    generator = torch.Generator().manual_seed(1)
    times, cpu = [], []
    for step in range(warmup + steps):
        batch = _batch(generator, config.feature_dim)
        started, started_cpu = time.perf_counter(), time.process_time()
        out = model(batch)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        float(out.loss.detach())
        if step >= warmup:
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
    return {"capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
            "step_s": times, "cpu_s": cpu}


def _batch(generator, feature_dim: int) -> dict:
    """32 rows of MELD-like lengths, padded as the loader pads them (zeros past each length)."""
    import torch

    def lengths(low: int, high: int):
        return torch.randint(low, high + 1, (ROWS,), generator=generator)

    n_in, n_out, n_audio, n_video = lengths(120, 180), lengths(9, 15), lengths(18, 24), lengths(18, 24)
    input_ids = torch.randint(3, VOCAB, (ROWS, int(n_in.max())), generator=generator)
    attention_mask = (torch.arange(input_ids.shape[1]) < n_in[:, None]).long()
    input_ids = input_ids * attention_mask
    labels = torch.randint(3, VOCAB, (ROWS, int(n_out.max())), generator=generator)
    labels[torch.arange(labels.shape[1]) >= n_out[:, None]] = -100

    def frames(n):
        x = torch.randn(ROWS, int(n.max()), feature_dim, generator=generator)
        return x * (torch.arange(x.shape[1]) < n[:, None]).unsqueeze(-1)

    return dict(input_ids=input_ids, attention_mask=attention_mask, labels=labels, audio=frames(n_audio),
                audio_lengths=n_audio, video=frames(n_video), video_lengths=n_video, index=torch.arange(ROWS))


if __name__ == "__main__":
    main()
