"""Command `preflight` (no DVC stage): checks to run before a long training run (docs/reproducing.md).

Backbone and sentence encoder load offline; the tokenizer spells every label of the grammar and the
labels fit `loader.max_target_tokens`; feature widths agree (`features.dim`, `model.feature_dim`,
the merged file); CUDA and bf16 are there when asked for; the checkpoints' disk has room; and a
timed probe (a few training steps and one dev generation batch on the merged file's rows) gives an
estimate of the whole run. Prints a table; exits 1 on a blocker, naming the param to change.
"""

from __future__ import annotations

from pathlib import Path

import click

from stages.common import PathOption, load_groups, params_option
from unimse_core.config import (DataConfig, EmbedConfig, EvaluateConfig, FeaturesConfig, LoaderConfig, ModelConfig,
                                TextConfig, TrainConfig)
from unimse_core.universal import LabelSchema


@click.command()
@click.option("--merged", type=PathOption, default=Path("data/merged.h5"), show_default=True,
              help="merged HDF5 file (frame width and the probe's rows; skipped where absent)")
@click.option("--tokenizer", "tokenizer_dir", type=PathOption, default=Path("models/tokenizer"), show_default=True,
              help="tokenizer folder of the tokenizer stage (else the backbone's)")
@click.option("--checkpoints", type=PathOption, default=Path("checkpoints"), show_default=True,
              help="folder the train stage writes its checkpoints to")
@click.option("--probe-steps", type=click.IntRange(min=0), default=2, show_default=True,
              help="timed training steps of the probe (0: no probe)")
@params_option
def command(merged: Path, tokenizer_dir: Path, checkpoints: Path, probe_steps: int, params: Path) -> None:
    """Check a run's settings, files and machine before training; estimate the run's time."""
    from unimse_core import preflight
    from unimse_core.preflight import Check

    model, train, loader, evaluate, features, embed, text, data = load_groups(
        params, model=ModelConfig, train=TrainConfig, loader=LoaderConfig, evaluate=EvaluateConfig,
        features=FeaturesConfig, embed=EmbedConfig, text=TextConfig, data=DataConfig)
    checks, _ = preflight.check_backbone(model)
    checks += preflight.check_encoder(embed)
    tokenizer = None
    if checks[0].status != "blocker":
        tokenizer, source = _tokenizer(model, tokenizer_dir)
        if tokenizer is None:
            checks.append(Check("tokenizer spells labels", "warn", source))
        else:
            checks += preflight.check_tokenizer(tokenizer, score_decimals=text.score_decimals, evaluate=evaluate,
                                                train=train, loader=loader, schema=LabelSchema.of(data.datasets),
                                                param="model.backbone" if model.backbone != "scratch"
                                                else "tokenizer.vocab_size")
    arrays = _arrays(merged)
    width = None if arrays is None else _width(arrays[0])
    checks += preflight.check_features(features, model, width)
    checks += preflight.check_device(train, evaluate)
    blocked = any(c.status == "blocker" for c in checks)
    if tokenizer is not None and not blocked:
        checks += _model_checks(model, train, loader, tokenizer, arrays, checkpoints, probe_steps)
    _print(checks)
    blockers = [c for c in checks if c.status == "blocker"]
    if blockers:
        raise click.ClickException("; ".join(f"{c.name}: {c.detail} (change {c.param})" for c in blockers))


def _tokenizer(model: ModelConfig, folder: Path):
    from unimse_core.tokenizer import load_tokenizer

    if folder.is_dir():
        return load_tokenizer(folder), str(folder)
    if model.backbone != "scratch":
        return load_tokenizer(model.backbone), model.backbone
    return None, f"{folder} absent: the scratch tokenizer is trained by the tokenizer stage (dvc repro tokenizer)"


def _arrays(merged: Path):
    if not merged.is_file():
        return None
    from unimse_core.io.hdf5 import read_h5

    return read_h5(merged, "train"), read_h5(merged, "valid")


def _width(arrays) -> int | None:
    for frames in (arrays.audio, arrays.video):
        if frames is not None and frames.ndim == 2:
            return int(frames.shape[1])
    return None


def _model_checks(model_config, train, loader, tokenizer, arrays, checkpoints: Path, probe_steps: int):
    import torch

    from unimse_core import preflight
    from unimse_core.data import make_loader
    from unimse_core.model import build_model, parameter_groups
    from unimse_core.preflight import Check
    from unimse_core.runtime import runtime, to_device

    model = build_model(model_config, tokenizer)
    groups = parameter_groups(model, trainable_blocks=train.trainable_blocks, lr_t5=train.lr_t5,
                              lr_other=train.lr_other, weight_decay=train.weight_decay)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for g in groups for p in g["params"])
    checks = [Check("parameters", "ok", f"{trainable:,} trainable of {total:,}")]
    checks += preflight.check_disk(checkpoints, total, trainable)
    if arrays is None or probe_steps == 0:
        checks.append(Check("time estimate", "warn", "no probe: no merged file (dvc repro merge) or --probe-steps 0"))
        return checks
    rt = runtime(train)
    model.to(rt.device)
    optimizer = torch.optim.Adam(groups)
    train_arrays, dev_arrays = arrays
    batch = to_device(next(iter(make_loader(train_arrays, tokenizer, loader, train=True, seed=train.seed))), rt.device)
    dev = to_device(next(iter(make_loader(dev_arrays, tokenizer, loader, train=False, seed=0))), rt.device)

    def step() -> None:
        model.train()
        with rt.autocast():
            loss = model(batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        float(loss.detach())

    def generate() -> None:
        model.eval()
        with torch.inference_mode(), rt.autocast():
            model.generate(dev, max_new_tokens=train.max_new_tokens)

    step_s, generate_s = preflight.probe_time(step, generate, steps=probe_steps)
    seconds = preflight.estimate_seconds(step_s=step_s, generate_s=generate_s, train_rows=len(train_arrays),
                                         dev_rows=len(dev_arrays), train=train, loader=loader,
                                         world_size=rt.world_size)
    checks.append(Check("time estimate", "ok", f"{step_s:.2f} s per step, {generate_s:.2f} s per dev batch: "
                                               f"about {_duration(seconds)} for the whole run"))
    return checks


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _print(checks) -> None:
    width = max(len(c.name) for c in checks)
    for c in checks:
        click.echo(f"{c.name:<{width}}  {c.status:<7}  {c.detail}" + (f"  -> {c.param}" if c.param else ""))
