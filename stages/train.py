"""Stage `train`: the UniMSE model, selected on the merged dev set (docs/training.md).

Runs on one device; with `train.devices` N > 1 it starts N processes itself, one per device, under
torch's elastic launcher (unimse_core/launch.py); under a user's torchrun (several machines) it runs
as one rank and starts nothing. DistributedDataParallel; only rank 0 writes. Checkpoints go to a persisted folder and a killed run resumes from them; the
selected model, its tokenizer, configs and library versions go to `--out`.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from stages.common import PathOption, load_groups, params_option, timings_option, write_timings
from unimse_core.config import LoaderConfig, ModelConfig, TrainConfig, to_dict
from unimse_core.io.atomic import atomic_dir, write_json
from unimse_core.io.errors import RawDataError
from unimse_core.io.hdf5 import read_attrs, read_h5
from unimse_core.io.model_folder import write_run
from unimse_core.training import BEST, DEV_METRICS, run_id, seed_everything, train
from unimse_core.universal import LabelSchema



@click.command()
@click.option("--merged", type=PathOption, required=True, help="merged HDF5 file (train and valid are read)")
@click.option("--tokenizer", "tokenizer_dir", type=PathOption, required=True, help="tokenizer folder")
@click.option("--checkpoints", type=PathOption, required=True, help="persisted folder of resumable checkpoints")
@click.option("--out", type=PathOption, required=True, help="folder of the selected model")
@click.option("--summary", type=PathOption, required=True, help="training summary (JSON)")
@click.option("--live", "live_dir", type=PathOption, required=True, help="dvclive folder (losses, dev metrics)")
@timings_option
@params_option
def command(merged: Path, tokenizer_dir: Path, checkpoints: Path, out: Path, summary: Path, live_dir: Path,
            timings: Path | None, params: Path) -> None:
    """Train UniMSE, select the checkpoint on the dev set, write the selected model."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as transformers_logging

    import torch

    from unimse_core.determinism import pin_numerics
    from unimse_core.launch import LaunchError, launched, spawn
    from unimse_core.model import build_model  # heavy imports (torch, transformers) at run time only
    from unimse_core.runtime import DeviceError, runtime
    from unimse_core.versions import package_versions

    started = time.perf_counter()
    model_config, config, loader_config = load_groups(params, model=ModelConfig, train=TrainConfig,
                                                      loader=LoaderConfig)
    # before any tensor operation: torch and MKL choose their CPU kernels once
    numerics = pin_numerics(config.deterministic, config.cpu_threads, device=config.device, group="train")
    if config.devices > 1 and not launched():
        cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
        args = ["--merged", merged, "--tokenizer", tokenizer_dir, "--checkpoints", checkpoints, "--out", out,
                "--summary", summary, "--live", live_dir, "--params", params]
        if timings is not None:
            args += ["--timings", timings]
        try:
            spawn(config.devices, [str(a) for a in args], cuda=cuda)
        except LaunchError as err:
            raise click.ClickException(str(err)) from None
        return
    try:
        train_arrays = read_h5(merged, "train", mmap_over_bytes=loader_config.mmap_over_bytes)
        dev_arrays = read_h5(merged, "valid", mmap_over_bytes=loader_config.mmap_over_bytes)
    except RawDataError as err:
        raise click.ClickException(str(err)) from None
    transformers_logging.disable_progress_bar()  # one bar per saved checkpoint would bury ours
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    built_with = _built_with(merged)  # read before hours of training, not after
    text_config = built_with["text"]
    built_dim = built_with.get("features", {}).get("dim")
    if built_dim is not None and model_config.feature_dim != built_dim:
        raise click.ClickException(f"model.feature_dim: must equal features.dim ({built_dim}), the width "
                                   f"{merged}'s frames were built with, got {model_config.feature_dim}")
    try:
        schema = LabelSchema.of_merged(read_attrs(merged))
    except ValueError as err:
        raise click.ClickException(f"{merged}: {err}") from None
    try:
        rt = runtime(config, group="train")
    except DeviceError as err:
        raise click.ClickException(str(err)) from None
    seed_everything(config.seed)
    model = build_model(model_config, tokenizer)
    # the pinned kernels are part of the run: a checkpoint made under another pin is not resumed
    identity = run_id(configs={"model": model_config, "train": config, "loader": loader_config,
                               "world_size": rt.world_size, "numerics": numerics},
                      files={"merged": merged, "tokenizer": tokenizer_dir})
    live = _Live(live_dir) if rt.is_main else None
    with Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TextColumn("epoch step"),
                  TimeElapsedColumn(), disable=not rt.is_main, transient=True) as bar:
        task = bar.add_task("train", total=None)
        state = train(model, tokenizer, train_arrays, dev_arrays, config=config, loader_config=loader_config,
                      checkpoints=checkpoints, run_id=identity, log=live or (lambda event: None),
                      progress=lambda step, per_epoch: bar.update(task, completed=step), schema=schema)
    if not rt.is_main:
        return
    best = checkpoints / BEST
    if not best.exists():
        raise click.ClickException(f"{best}: no model was selected (no epoch ran)")
    dev = json.loads((best / DEV_METRICS).read_text())
    with atomic_dir(out) as tmp:
        shutil.copytree(best, tmp, dirs_exist_ok=True)
        tokenizer.save_pretrained(tmp)
        write_run(tmp, {"configs": {"model": to_dict(model_config), "train": to_dict(config),
                                    "loader": to_dict(loader_config),
                                    # how inputs were built, so that `unimse predict` builds them the same way
                                    "text": text_config},
                        # the layout the model generates, so that predict and evaluate parse it the same way
                        "label_layout": list(schema.datasets),
                        "world_size": rt.world_size, "numerics": numerics, "versions": package_versions(),
                        "run_id": identity})
    write_json(summary, {"select_on": config.select_on, "best_epoch": state.best_epoch,
                         "best_select": state.best_value, "epochs_run": state.epoch, "steps": state.step,
                         "stopped_early": state.epoch < config.epochs and state.bad_epochs >= config.patience > 0,
                         "out_of_time": config.max_minutes > 0 and state.train_seconds >= 60 * config.max_minutes,
                         "train_rows": len(train_arrays), "dev_rows": len(dev_arrays), "world_size": rt.world_size,
                         "trainable_parameters": state.trainable_parameters,
                         "total_parameters": state.total_parameters,
                         "optimizer_state_bytes": state.optimizer_state_bytes,
                         "dev": dev["metrics"]})
    # wall-clock times only here, never in a tracked output (docs/training.md)
    seconds = {"seconds_this_run": round(time.perf_counter() - started, 1)}
    if config.max_minutes > 0:  # the optimiser-step time that the budget counts (kept in the checkpoints)
        seconds["train_seconds"] = round(state.train_seconds, 1)
    write_timings(timings, seconds)
    click.echo(f"train: best epoch {state.best_epoch} of {state.epoch} ({config.select_on} {state.best_value:.4f}) "
               f"-> {out}")


class _Live:
    """dvclive logging rebuilt from the run's history, so a resumed run's plots have no duplicate steps."""

    def __init__(self, folder: Path):
        from dvclive import Live

        shutil.rmtree(folder, ignore_errors=True)
        self.live = Live(dir=str(folder), save_dvc_exp=False, dvcyaml=None, report=None)

    def __call__(self, event: dict) -> None:
        self.live.step = event["step"]
        for name, value in event.items():
            if name not in ("step", "epoch") and isinstance(value, (int, float)):
                self.live.log_metric(name, value, plot=True)
        self.live.make_summary()


def _built_with(merged: Path) -> dict:
    """The `text` and `features` params the merged file's rows were built with (every dataset shares them)."""
    sources = read_attrs(merged)["sources"]
    return next(iter(sources.values()))["config"]
