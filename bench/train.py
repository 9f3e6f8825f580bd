"""Benchmark of the training step: UniMSE next to plain T5 of the same size, in the same run.

    python -m bench.train [--steps 8] [--t5base-steps 4] [--warmup 1] [--device auto] [--threads N]
                          [--size default] [--size t5base] [--compare-loop]

Two sizes, each timed for the full model (PMF, LSTM encoders, contrastive loss: the params.yaml
`model` group) and for its parity configuration (the same T5 weights, `fusion: none`,
`contrastive: false`: one call of stock T5ForConditionalGeneration):

- default: the params.yaml `model` group, 32 rows per batch, the `train` group's freezing and
  learning rates;
- t5base: a scratch T5 of t5-base's sizes (d_model 768, d_ff 3072, 12 + 12 blocks, 12 heads of 64,
  vocabulary 32,128) with the rest of the `model` group, 8 rows per batch (a CPU's worth), the
  paper's freezing (trainable_blocks [-2, -1]: blocks 10 and 11 of encoder and decoder) and
  learning rates (3e-4 for T5, 1e-4 for the rest).

Batches have MELD-like lengths: per row, input tokens, target tokens, audio and video frames drawn
uniformly within +-25 % of 150, 12, 157 and 32 (frames 64 wide), seeded, padded by the real
`collate`. A step is the training loop's (unimse_core.training.train_step): forward under the
runtime's autocast (bf16 on CUDA), backward, gradient clipping, Adam (fused on CUDA), the loss read
on the host every `train.log_every` steps only. Steps of
the two variants alternate (plain, full, then full, plain, ...) after `--warmup` untimed steps
each, so that load from other processes weighs on both alike. Overhead = full / plain - 1 on the
median steps (`overhead`); cross-checks: the median ratio of the adjacent (same-round) steps, the
best steps, and the process CPU time (with one thread, the work itself whatever the load).

Peak memory per variant: on CUDA torch.cuda.max_memory_allocated over its steps; on the CPU the
process's peak RSS during its steps (VmHWM, reset before each step through /proc/self/clear_refs;
both models stay resident, so the difference between the variants is what the extra activations
and weights cost). Goal (issue 5): overhead at most 0.15 at t5-base size. The last line printed is
one JSON object.

`--compare-loop` times instead, for the full model at each size, the loop's step as it was before
issue 15 (`old`: plain Adam, the loss read on the host after every step) against today's (`new`:
training.train_step, fused Adam on CUDA, the loss read every log_every steps), alternating in the
same way, from the same initial weights: `loop_ratio_<size>` = new / old median step time (below 1:
faster; on the CPU both should be the same, the gains are on CUDA).

On a CPU shared with other work, several torch threads spin-wait for each other whenever one is
descheduled, which inflates every step (several-fold at the default size, more for the model of
more, smaller operations); `--threads 1` or OMP_WAIT_POLICY=PASSIVE in the environment give
steadier numbers. The summary flags a load above the CPU count.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch
from transformers import T5ForConditionalGeneration

from unimse_core.config import ModelConfig, TrainConfig, from_dict, load_config, read_params, to_dict
from unimse_core.data import collate
from unimse_core.model import UniMSE, parameter_groups, scratch_t5_config
from unimse_core.training import Runtime, mean_loss, runtime, to_device, train_step

ROOT = Path(__file__).resolve().parents[1]
GOAL_OVERHEAD = 0.15
MIB = 2**20
# Mean lengths per row, MELD-like: frames as docs/raw-data.md gives them, tokens of a windowed input
# and of a universal-label target. Each row draws within +-SPREAD of them.
LENGTHS = {"input": 150, "target": 12, "audio": 157, "video": 32}
SPREAD = 0.25
T5_BASE = {"d_model": 768, "d_ff": 3072, "num_layers": 12, "num_decoder_layers": 12, "num_heads": 12,
           "d_kv": 64, "dropout_rate": 0.1}
T5_BASE_VOCAB = 32128
PAPER_TRAIN = {"trainable_blocks": (-2, -1), "lr_t5": 3e-4, "lr_other": 1e-4}
VARIANTS = ("plain", "full")
LOOPS = ("old", "new")


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    model: ModelConfig
    train: TrainConfig
    vocab_size: int
    rows: int


def cases(params: dict[str, Any], device: str) -> dict[str, Case]:
    """The default and t5-base-sized cases, their configs checked as the stages check them."""
    model = load_config(ModelConfig, "model", params)
    train = dataclasses.replace(load_config(TrainConfig, "train", params), device=device)
    vocab = params["tokenizer"]["vocab_size"]  # the scratch tokenizer's upper bound
    t5base_model = from_dict(ModelConfig, {**to_dict(model), "backbone": "scratch", **T5_BASE}, "model")
    t5base_train = dataclasses.replace(train, **PAPER_TRAIN)
    return {"default": Case("default", model, train, vocab, 32),
            "t5base": Case("t5base", t5base_model, t5base_train, T5_BASE_VOCAB, 8)}


def parity(config: ModelConfig) -> ModelConfig:
    """The same model without fusion and contrastive loss: stock T5 (tests/test_model.py: parity)."""
    return dataclasses.replace(config, fusion="none", contrastive=False)


# ----------------------------------------------------------------------------------------------
# inputs


def synthetic_batch(rows: int, vocab_size: int, feature_dim: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A training batch of MELD-like lengths through the real `collate` (ids 3.. are ordinary tokens,
    every sequence ends with EOS = 1)."""
    rng = np.random.default_rng(seed)

    def length(mean: int) -> int:
        return int(rng.integers(round(mean * (1 - SPREAD)), round(mean * (1 + SPREAD)) + 1))

    items = []
    for i in range(rows):
        tokens = [np.append(rng.integers(3, vocab_size, length(LENGTHS[k]) - 1), 1).astype(np.int32)
                  for k in ("input", "target")]
        frames = [rng.standard_normal((length(LENGTHS[k]), feature_dim), dtype=np.float32) for k in ("audio", "video")]
        items.append({"index": i, "input_ids": tokens[0], "labels": tokens[1], "audio": frames[0], "video": frames[1]})
    return collate(items, pad_token_id=0)


def describe_batch(batch: dict[str, torch.Tensor]) -> dict[str, Any]:
    mean = {"input_tokens": batch["attention_mask"].sum(1), "target_tokens": (batch["labels"] != -100).sum(1),
            "audio_frames": batch["audio_lengths"], "video_frames": batch["video_lengths"]}
    return {"rows": len(batch["index"]), **{k: round(float(v.float().mean()), 1) for k, v in mean.items()},
            "padded": {k: list(batch[k].shape) for k in ("input_ids", "labels", "audio", "video")}}


# ----------------------------------------------------------------------------------------------
# measuring


def reset_peak(device: torch.device) -> bool:
    """Reset the peak-memory counter of `device`; False when it cannot be reset."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / MIB
    try:
        status = Path("/proc/self/status").read_text()
        return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, never reset


class Trainer:
    """One variant and its optimiser; `step` is one step of the training loop."""

    def __init__(self, model: UniMSE, config: TrainConfig, rt: Runtime, loop: str = "new"):
        self.model, self.config, self.rt, self.loop = model.to(rt.device).train(), config, rt, loop
        groups = parameter_groups(model, trainable_blocks=config.trainable_blocks, lr_t5=config.lr_t5,
                                  lr_other=config.lr_other, weight_decay=config.weight_decay)
        fused = rt.device.type == "cuda" and loop == "new"
        self.optimizer = torch.optim.Adam(groups, fused=fused or None)
        self.window: list[torch.Tensor] = []
        self.trainable = [p for g in groups for p in g["params"]]
        self.parameters = sum(p.numel() for p in model.parameters())
        self.trainable_parameters = sum(p.numel() for p in self.trainable)
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.peak: list[float | None] = []

    def step(self, batch: dict[str, torch.Tensor]) -> None:
        if self.loop == "old":  # the loop before issue 15: the loss read after every step (a sync on CUDA)
            with self.rt.autocast():
                out = self.model(batch)
            self.optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            if self.config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.trainable, self.config.grad_clip)
            self.optimizer.step()
            float(out.loss.detach())
            return
        self.window.append(train_step(self.model, batch, self.optimizer, self.trainable,
                                      grad_clip=self.config.grad_clip, autocast=self.rt.autocast))
        if len(self.window) == self.config.log_every:
            mean_loss(self.window)
            self.window = []

    def timed_step(self, batch: dict[str, torch.Tensor]) -> None:
        resettable = reset_peak(self.rt.device)
        wall, cpu = time.perf_counter(), time.process_time()
        self.step(batch)
        if self.rt.device.type == "cuda":
            torch.cuda.synchronize(self.rt.device)
        self.wall.append(time.perf_counter() - wall)
        self.cpu.append(time.process_time() - cpu)
        self.peak.append(peak_mib(self.rt.device) if resettable else None)

    def summary(self, rows: int) -> dict[str, Any]:
        median = statistics.median(self.wall)
        peaks = [p for p in self.peak if p is not None]
        return {"step_s": round(median, 4), "step_best_s": round(min(self.wall), 4),
                "step_cpu_s": round(statistics.median(self.cpu), 4), "samples_per_s": round(rows / median, 2),
                "peak_mib": round(max(peaks), 1) if peaks else None, "steps": len(self.wall),
                "parameters": self.parameters, "trainable_parameters": self.trainable_parameters}


def run_case(case: Case, rt: Runtime, steps: int, warmup: int, log: Callable[[str], None]) -> dict[str, Any]:
    torch.manual_seed(case.train.seed)
    t5 = T5ForConditionalGeneration(scratch_t5_config(case.model, case.vocab_size))
    # The copy is taken before UniMSE hooks the original's blocks: each variant owns its weights.
    trainers = {"plain": Trainer(UniMSE(copy.deepcopy(t5), parity(case.model)), case.train, rt),
                "full": Trainer(UniMSE(t5, case.model), case.train, rt)}
    batch = to_device(synthetic_batch(case.rows, case.vocab_size, case.model.feature_dim), rt.device)
    for _ in range(warmup):
        for trainer in trainers.values():
            trainer.step(batch)
    for i in range(steps):
        for name in (VARIANTS if i % 2 == 0 else VARIANTS[::-1]):
            trainers[name].timed_step(batch)
            log(f"    {case.name} step {i + 1}/{steps} {name:<5} {trainers[name].wall[-1]:7.3f} s")
    result = {name: trainer.summary(case.rows) for name, trainer in trainers.items()}
    full, plain = result["full"], result["plain"]
    paired = statistics.median(f / p for f, p in zip(trainers["full"].wall, trainers["plain"].wall))
    result.update(overhead=round(full["step_s"] / plain["step_s"] - 1, 4),
                  overhead_paired=round(paired - 1, 4),
                  overhead_best=round(full["step_best_s"] / plain["step_best_s"] - 1, 4),
                  overhead_cpu=round(full["step_cpu_s"] / plain["step_cpu_s"] - 1, 4),
                  batch=describe_batch(batch), trainable_blocks=case.train.trainable_blocks,
                  model={k: getattr(case.model, k) for k in ("d_model", "d_ff", "num_layers", "num_decoder_layers",
                                                               "num_heads", "lstm_hidden", "fusion_blocks",
                                                               "pmf_bottleneck", "contrastive")},
                  vocab_size=case.vocab_size)
    del trainers, t5, batch
    return result


def run_loop_case(case: Case, rt: Runtime, steps: int, warmup: int, log: Callable[[str], None]) -> dict[str, Any]:
    """The full model's step, old loop against new, alternating, from the same initial weights."""
    torch.manual_seed(case.train.seed)
    t5 = T5ForConditionalGeneration(scratch_t5_config(case.model, case.vocab_size))
    trainers = {"old": Trainer(UniMSE(copy.deepcopy(t5), case.model), case.train, rt, loop="old"),
                "new": Trainer(UniMSE(t5, case.model), case.train, rt, loop="new")}
    batch = to_device(synthetic_batch(case.rows, case.vocab_size, case.model.feature_dim), rt.device)
    for _ in range(warmup):
        for trainer in trainers.values():
            trainer.step(batch)
    for i in range(steps):
        for name in (LOOPS if i % 2 == 0 else LOOPS[::-1]):
            trainers[name].timed_step(batch)
            log(f"    {case.name} step {i + 1}/{steps} {name:<3} {trainers[name].wall[-1]:7.3f} s")
    result = {name: trainer.summary(case.rows) for name, trainer in trainers.items()}
    paired = statistics.median(n / o for n, o in zip(trainers["new"].wall, trainers["old"].wall))
    result.update(ratio=round(result["new"]["step_s"] / result["old"]["step_s"], 4), ratio_paired=round(paired, 4),
                  ratio_cpu=round(result["new"]["step_cpu_s"] / result["old"]["step_cpu_s"], 4))
    return result


def report(name: str, r: dict[str, Any]) -> None:
    b = r["batch"]
    click.echo(f"\n{name}: d_model {r['model']['d_model']}, {r['model']['num_layers']}+"
               f"{r['model']['num_decoder_layers']} blocks, trainable blocks {r['trainable_blocks']}; "
               f"{b['rows']} rows of ~{b['input_tokens']:.0f} input / {b['target_tokens']:.0f} target tokens, "
               f"~{b['audio_frames']:.0f} audio / {b['video_frames']:.0f} video frames")
    for variant in VARIANTS:
        v = r[variant]
        click.echo(f"  {variant:<5} step {v['step_s']:8.3f} s (best {v['step_best_s']:.3f}, cpu {v['step_cpu_s']:.3f})"
                   f"  {v['samples_per_s']:7.2f} samples/s  peak {v['peak_mib'] or float('nan'):8.1f} MiB  "
                   f"{v['trainable_parameters'] / 1e6:.2f}M of {v['parameters'] / 1e6:.2f}M params train")
    click.echo(f"  overhead full/plain - 1: {r['overhead']:+.1%} (medians), {r['overhead_paired']:+.1%} (median of "
               f"adjacent pairs), {r['overhead_best']:+.1%} (best steps), {r['overhead_cpu']:+.1%} (cpu time)")


@click.command()
@click.option("--steps", default=8, show_default=True, help="timed steps per variant, default size")
@click.option("--t5base-steps", default=4, show_default=True, help="timed steps per variant, t5-base size")
@click.option("--warmup", default=1, show_default=True, help="untimed steps per variant first")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
@click.option("--size", "sizes", type=click.Choice(["default", "t5base"]), multiple=True,
              default=("default", "t5base"), show_default=True, help="sizes to time (repeat the option)")
@click.option("--params", type=click.Path(path_type=Path), default=ROOT / "params.yaml", show_default=True)
@click.option("--compare-loop", is_flag=True, help="time the loop's step before issue 15 against today's")
def main(steps: int, t5base_steps: int, warmup: int, device: str, threads: int | None, sizes: tuple[str, ...],
         params: Path, compare_loop: bool) -> None:
    """Time a training step of UniMSE next to plain T5 of the same size."""
    if threads:
        torch.set_num_threads(threads)
    chosen = cases(read_params(params), device)
    rt = runtime(chosen["default"].train)
    if rt.device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)  # as the training loop does on the CPU
    log = lambda line: click.echo(line, err=True)  # noqa: E731
    load_start = os.getloadavg()
    log(f"bench.train on {rt.device} (torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
        f"load {load_start[0]:.1f})")
    counts = {"default": steps, "t5base": t5base_steps}
    if compare_loop:
        loops = {name: run_loop_case(chosen[name], rt, counts[name], warmup, log) for name in ("default", "t5base")
                 if name in sizes}
        load_end = os.getloadavg()
        for name, r in loops.items():
            click.echo(f"{name}: old {r['old']['step_s']:.3f} s, new {r['new']['step_s']:.3f} s per step: new/old "
                       f"{r['ratio']:.3f} (adjacent pairs {r['ratio_paired']:.3f}, cpu time {r['ratio_cpu']:.3f})")
        click.echo(json.dumps({**{f"loop_ratio_{n}": r["ratio"] for n, r in loops.items()},
                               **{f"loop_ratio_paired_{n}": r["ratio_paired"] for n, r in loops.items()},
                               **loops, "device": str(rt.device), "torch_threads": torch.get_num_threads(),
                               "cpus": os.cpu_count(), "loadavg_start": round(load_start[0], 2),
                               "loadavg_end": round(load_end[0], 2), "torch": torch.__version__}))
        return
    results = {name: run_case(chosen[name], rt, counts[name], warmup, log) for name in ("default", "t5base")
               if name in sizes}
    load_end = os.getloadavg()

    for name, r in results.items():
        report(name, r)
    t5base = results.get("t5base")
    contended = max(load_start[0], load_end[0]) > (os.cpu_count() or 1)
    if t5base is not None:
        click.echo(f"\nt5-base size overhead {t5base['overhead']:+.1%} (goal <= {GOAL_OVERHEAD:.0%}: "
                   f"{'met' if t5base['overhead'] <= GOAL_OVERHEAD else 'MISSED'})")
    if contended:
        click.echo(f"note: taken under contention (1-minute load {load_start[0]:.1f} -> {load_end[0]:.1f} on "
                   f"{os.cpu_count()} cpus); compare the cross-checks")
    default = results.get("default")
    out = {"overhead_default": default["overhead"] if default else None,
           "overhead_t5base": t5base["overhead"] if t5base else None,
           "overhead_default_cpu": default["overhead_cpu"] if default else None,
           "overhead_t5base_cpu": t5base["overhead_cpu"] if t5base else None,
           "goal_overhead": GOAL_OVERHEAD,
           "goal_met": t5base["overhead"] <= GOAL_OVERHEAD if t5base else None,
           "samples_per_s_default": default["full"]["samples_per_s"] if default else None,
           "samples_per_s_t5base": t5base["full"]["samples_per_s"] if t5base else None,
           **results,
           "device": str(rt.device), "bf16": rt.device.type == "cuda" and chosen["default"].train.bf16,
           "torch_threads": torch.get_num_threads(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
           "cpus": os.cpu_count(),
           "loadavg_start": round(load_start[0], 2), "loadavg_end": round(load_end[0], 2), "contended": contended,
           "torch": torch.__version__}
    click.echo(json.dumps(out))


if __name__ == "__main__":
    main()
