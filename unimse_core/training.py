"""The training loop: seeded, resumable, DDP-ready, selecting the checkpoint on the dev set only.

Read top to bottom: `train` seeds everything, builds loaders and the optimiser, resumes from the
last epoch checkpoint when one exists for the same run, then for each epoch trains, evaluates on
the merged dev set (greedy generation parsed into per-dataset metrics), keeps the best model by
`train.select_on`, writes a checkpoint, and stops early after `train.patience` epochs without
improvement. The test sets are never read here.

A checkpoint holds the model, the optimiser, every RNG state and the history, and is written at
the end of each epoch; a run killed at any point resumes from it and, the epoch order coming from
(seed, epoch), ends with the same weights as an uninterrupted run (exactly so on the CPU).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import pickle
import random
import re
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unimse_core.config import LoaderConfig, TrainConfig, to_dict
from unimse_core.data import make_loader
from unimse_core.io.atomic import atomic_dir, atomic_path
from unimse_core.io.hdf5 import SplitArrays
from unimse_core.metrics import dataset_metrics, primary
from unimse_core.universal import DEFAULT_SCHEMA, LabelSchema
from unimse_core.model import UniMSE, parameter_groups, save_model
# the device helpers, shared with evaluation and prediction (re-exported: `training.runtime` keeps working)
from unimse_core.runtime import Runtime, generate_fitting, runtime, to_device

CHECKPOINT = "last.pt"
BEST = "best"
DEV_METRICS = "dev_metrics.json"


# ----------------------------------------------------------------------------------------------
# seeds and RNG states


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG state as tensors and plain numbers, so that a checkpoint loads with weights_only=True."""
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": {"version": version, "mt": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached": float(cached)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    py, npy = state["python"], state["numpy"]
    random.setstate((py["version"], tuple(py["mt"].tolist()), py["gauss"]))
    np.random.set_state((npy["kind"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class CompiledOrEager:
    """`torch.compile(module)` (`train.compile`), falling back for good to `module` itself, with a
    warning that says why, when compiling is not supported here or fails (no C compiler, an
    unsupported operation, ...). Compilation happens at the first call and at each new shape."""

    def __init__(self, module: torch.nn.Module):
        self.eager = module
        self.compiled: Any = None
        try:
            import torch._dynamo

            if not torch._dynamo.is_dynamo_supported():
                raise RuntimeError("torch.compile is not supported on this Python or platform")
            self.compiled = torch.compile(module)
        except Exception as err:  # noqa: BLE001 - any failure to compile means eager, said once
            self._fall_back(err)

    def _fall_back(self, err: BaseException) -> None:
        warnings.warn(f"train.compile: true, but the model runs eagerly: {type(err).__name__}: "
                      f"{str(err).strip().splitlines()[0] if str(err).strip() else 'no message'}", stacklevel=3)
        self.compiled = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.compiled is not None:
            try:
                return self.compiled(*args, **kwargs)
            except torch.cuda.OutOfMemoryError:
                raise
            except Exception as err:  # noqa: BLE001 - a compiler failure; a real error recurs eagerly below
                self._fall_back(err)
        return self.eager(*args, **kwargs)


def train_step(model: Callable[[Mapping[str, torch.Tensor]], Any], batch: Mapping[str, torch.Tensor],
               optimizer: torch.optim.Optimizer, trainable: list[torch.Tensor], *, grad_clip: float,
               autocast: Callable[[], contextlib.AbstractContextManager]) -> torch.Tensor:
    """One optimiser step: forward under `autocast`, backward, clipping, the update. Returns the loss,
    detached and still on the device: nothing here waits for the device (reading it would)."""
    with autocast():
        out = model(batch)
    optimizer.zero_grad(set_to_none=True)
    out.loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(trainable, grad_clip)
    optimizer.step()
    return out.loss.detach()


def mean_loss(losses: list[torch.Tensor]) -> float:
    """The mean of a window of step losses, read from the device at once (one sync per log line), in
    float64 as numpy averages the Python floats of the single losses."""
    return float(np.mean(torch.stack(losses).to("cpu", torch.float64).numpy()))


# ----------------------------------------------------------------------------------------------
# evaluation


def evaluate(model: UniMSE, arrays: SplitArrays, tokenizer: Any, loader_config: LoaderConfig, rt: Runtime, *,
             max_new_tokens: int, schema: LabelSchema = DEFAULT_SCHEMA) -> tuple[dict[str, dict[str, float]], float, list[str]]:
    """Per-dataset metrics of greedy generations, the mean loss, and the generated texts in row order.

    Batches hold rows of similar input length, longest first (little padding; the mean loss is over
    those batches, weighted by rows). Under DDP each rank generates its share and the texts are
    gathered by row index.
    """
    loader = make_loader(arrays, tokenizer, loader_config, train=False, seed=0, rank=rt.rank,
                         world_size=rt.world_size, by_length=True)
    model.eval()
    texts: dict[int, str] = {}
    loss_sum, rows = 0.0, 0
    with torch.inference_mode(), rt.autocast():
        for batch in loader:
            batch = to_device(batch, rt.device)
            out = model(batch)
            n = len(batch["index"])
            loss_sum += float(out.loss) * n
            rows += n
            generated = generate_fitting(model, batch, max_new_tokens=max_new_tokens)
            decoded = [t for ids in generated for t in tokenizer.batch_decode(ids, skip_special_tokens=True)]
            for i, text in zip(batch["index"].tolist(), decoded):
                texts.setdefault(i, text)
    if rt.world_size > 1:
        gathered: list[Any] = [None] * rt.world_size
        torch.distributed.all_gather_object(gathered, (texts, loss_sum, rows))
        texts = {}
        for part, _, _ in gathered:
            for i, text in part.items():
                texts.setdefault(i, text)
        loss_sum = sum(g[1] for g in gathered)
        rows = sum(g[2] for g in gathered)
    generated_texts = [texts[i] for i in range(len(arrays))]
    metrics = {}
    datasets = np.asarray(arrays.dataset)
    for dataset in dict.fromkeys(arrays.dataset):
        idx = np.flatnonzero(datasets == dataset)
        metrics[dataset] = dataset_metrics(dataset, [generated_texts[i] for i in idx], arrays.gold_score[idx],
                                           [arrays.gold_emotion[i] for i in idx], schema)
    return metrics, loss_sum / max(rows, 1), generated_texts


def selection_value(config: TrainConfig, metrics: Mapping[str, Mapping[str, float]], dev_loss: float) -> float:
    """The scalar the best checkpoint maximises (documented in params: train.select_on)."""
    if config.select_on == "dev_loss":
        return -dev_loss
    return float(np.mean([primary(d, m) for d, m in metrics.items()]))


# ----------------------------------------------------------------------------------------------
# checkpoints


@dataclass
class State:
    """Everything that the rest of a run depends on, saved at the end of every epoch."""

    fingerprint: str
    epoch: int = 0                       # epochs completed
    step: int = 0                        # optimiser steps completed
    best_value: float = -math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    train_seconds: float = 0.0           # time spent in optimiser steps, counted only with train.max_minutes
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per logged step (dvclive rows)
    trainable_parameters: int = 0        # parameters the optimiser updates (train.trainable_blocks)
    total_parameters: int = 0
    optimizer_state_bytes: int = 0       # Adam's moments: frozen parameters have none


def fingerprint(*parts: Any) -> str:
    """A checkpoint may only be resumed by the very same run: same configs, data and tokenizer."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def save_checkpoint(folder: Path, state: State, model: UniMSE, optimizer: torch.optim.Optimizer,
                    rng: list[dict[str, Any]] | None = None) -> None:
    """`rng`: the RNG states of every rank, in rank order (default: this process's alone). Each rank's
    dropout draws as many numbers as its own batches need, so under DDP the states differ by rank."""
    payload = {"state": plain(state.__dict__), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "rng": rng if rng is not None else [rng_state()]}
    # through a file object: given a path, torch.save names the archive's records after the (random)
    # temporary file name, and the same checkpoint would differ in bytes from run to run
    with atomic_path(folder / CHECKPOINT) as tmp, tmp.open("wb") as handle:
        torch.save(payload, handle)


def plain(value: Any) -> Any:
    """`value` with numpy scalars as Python numbers and tuples as lists: what weights_only loads."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint file holding something other than tensors and plain containers: never unpickled."""


def load_checkpoint(folder: Path, expected: str, model: UniMSE, optimizer: torch.optim.Optimizer,
                    rank: int = 0) -> State | None:
    """The saved state when the checkpoint belongs to this run (model, optimiser and this rank's RNG
    restored); None otherwise. Reads only: `train` clears the folder of another run, on rank 0.

    The file is read with weights_only=True: tensors, numbers, strings and containers only, so that a
    checkpoints folder pulled from a shared remote cannot run code (docs/training.md)."""
    path = folder / CHECKPOINT
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        detail = re.search(r"WeightsUnpickler error: (.*?)(?:\. Please|\n|$)", str(err))
        raise UnsafeCheckpointError(
            f"{path}: refused to load: the checkpoint holds Python objects other than tensors, numbers, strings "
            f"and containers, and unpickling them could run code (torch.load weights_only=True said: "
            f"{detail.group(1) if detail else 'unsupported content'}). A checkpoint written by this code never "
            f"does; delete {folder} to start the run over") from None
    if payload["state"]["fingerprint"] != expected:
        return None
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    set_rng_state(payload["rng"][rank])
    return State(**payload["state"])


# ----------------------------------------------------------------------------------------------
# the loop


def batches(loader: torch.utils.data.DataLoader, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
    loader.batch_sampler.set_epoch(epoch)
    yield from loader


def train(model: UniMSE, tokenizer: Any, train_arrays: SplitArrays, dev_arrays: SplitArrays, *,
          config: TrainConfig, loader_config: LoaderConfig, checkpoints: Path, run_id: str,
          log: Callable[[dict[str, Any]], None] = lambda event: None,
          progress: Callable[[int, int], Any] | None = None, schema: LabelSchema = DEFAULT_SCHEMA) -> State:
    """Train, select on dev, checkpoint every epoch; the best model is in `checkpoints/best`.

    `run_id` identifies the run (configs, data and tokenizer hashes): a checkpoint of another run is
    never resumed. `log` receives each history entry (steps and dev metrics) as it happens and, on
    resume, the entries already recorded, so loggers can be rebuilt from scratch.
    """
    rt = runtime(config)
    seed_everything(config.seed)
    model.to(rt.device)
    groups = parameter_groups(model, trainable_blocks=config.trainable_blocks, lr_t5=config.lr_t5,
                              lr_other=config.lr_other, weight_decay=config.weight_decay)
    optimizer = torch.optim.Adam(groups, fused=rt.device.type == "cuda" or None)  # one kernel for every update on CUDA
    if rt.is_main:
        checkpoints.mkdir(parents=True, exist_ok=True)
    state = load_checkpoint(checkpoints, run_id, model, optimizer, rank=rt.rank)
    if rt.world_size > 1:
        torch.distributed.barrier()  # every rank has read the checkpoint before rank 0 may clear the folder
    if state is None:
        state = State(fingerprint=run_id)
        if rt.is_main and any(checkpoints.iterdir()):
            # another run's checkpoint or selected model is never resumed nor mixed into this run
            shutil.rmtree(checkpoints)
            checkpoints.mkdir(parents=True)
    for event in state.history:
        log(event)
    wrapped = model
    if rt.world_size > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[rt.device.index] if rt.device.type == "cuda" else None)
    forward = CompiledOrEager(wrapped) if config.compile else wrapped
    loader = make_loader(train_arrays, tokenizer, loader_config, train=True, seed=config.seed, rank=rt.rank,
                         world_size=rt.world_size)
    trainable = [p for g in groups for p in g["params"]]

    while (state.epoch < config.epochs and not _out_of_steps(state, config) and not _out_of_time(state, config)
           and not _out_of_patience(state, config)):
        model.train()
        started, window = time.perf_counter(), []
        for batch in batches(loader, state.epoch):
            batch = to_device(batch, rt.device)
            loss = train_step(forward, batch, optimizer, trainable, grad_clip=config.grad_clip, autocast=rt.autocast)
            state.step += 1
            window.append(loss)  # read only every log_every steps: no host sync per step
            if progress is not None:
                progress(state.step, len(loader))
            if state.step % config.log_every == 0:
                _record(state, log, {"step": state.step, "train/loss": mean_loss(window)})
                window = []
            if _out_of_steps(state, config) or (
                    config.max_minutes > 0 and _out_of_time(state, config, _rank0(time.perf_counter() - started, rt))):
                break
        if rt.device.type == "cuda":
            torch.cuda.synchronize(rt.device)  # the epoch's queued steps count as its time
        if config.max_minutes > 0:  # counted only for the budget: a time in a checkpoint changes its bytes
            state.train_seconds += _rank0(time.perf_counter() - started, rt)
        metrics, dev_loss, _ = evaluate(model, dev_arrays, tokenizer, loader_config, rt,
                                        max_new_tokens=config.max_new_tokens, schema=schema)
        value = selection_value(config, metrics, dev_loss)
        state.epoch += 1
        event = {"step": state.step, "epoch": state.epoch, "dev/loss": dev_loss, "dev/select": value,
                 **{f"dev/{d}/{k}": v for d, m in metrics.items() for k, v in m.items()}}
        _record(state, log, event)
        if value > state.best_value:
            state.best_value, state.best_epoch, state.bad_epochs = value, state.epoch, 0
            if rt.is_main:
                with atomic_dir(checkpoints / BEST) as tmp:
                    save_model(model, tmp)
                    (tmp / DEV_METRICS).write_text(json.dumps(
                        {"epoch": state.epoch, "dev_loss": dev_loss, "select": value, "metrics": metrics},
                        indent=2) + "\n")
        else:
            state.bad_epochs += 1
        rng = [rng_state()]
        if rt.world_size > 1:
            rng = [None] * rt.world_size
            torch.distributed.all_gather_object(rng, rng_state())
        if rt.is_main:
            save_checkpoint(checkpoints, state, model, optimizer, rng)
    if rt.world_size > 1:
        torch.distributed.barrier()
    state.trainable_parameters = sum(p.numel() for p in trainable)
    state.total_parameters = sum(p.numel() for p in model.parameters())
    state.optimizer_state_bytes = optimizer_state_bytes(optimizer)
    return state


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the optimiser's per-parameter tensors (Adam: two moments and a step per trained parameter)."""
    return sum(v.numel() * v.element_size() for s in optimizer.state.values() for v in s.values()
               if isinstance(v, torch.Tensor))


def _record(state: State, log: Callable[[dict[str, Any]], None], event: dict[str, Any]) -> None:
    state.history.append(event)
    log(event)


def _out_of_steps(state: State, config: TrainConfig) -> bool:
    return config.max_steps > 0 and state.step >= config.max_steps


def _rank0(seconds: float, rt: Runtime) -> float:
    """Rank 0's clock on every rank, so that all ranks stop on the same step (a time limit must not
    leave one rank waiting in an all-reduce that the others never reach)."""
    if rt.world_size == 1:
        return seconds
    value = torch.tensor([seconds], dtype=torch.float64, device=rt.device)
    torch.distributed.broadcast(value, src=0)
    return float(value.item())


def _out_of_time(state: State, config: TrainConfig, epoch_seconds: float = 0.0) -> bool:
    """`train.max_minutes`: the steps of earlier epochs plus those of the current one so far."""
    return config.max_minutes > 0 and state.train_seconds + epoch_seconds >= 60 * config.max_minutes


def _out_of_patience(state: State, config: TrainConfig) -> bool:
    """Early stopping; checked before an epoch, so that a run resumed after its early stop stops too."""
    return config.patience > 0 and state.bad_epochs >= config.patience


def run_id(*, configs: Mapping[str, Any], files: Mapping[str, Path]) -> str:
    """The identity of a run: its configs and the sha256 of its input files."""
    from unimse_core.io.manifest import sha256_file

    hashes = {}
    for name, path in sorted(files.items()):
        if path.is_dir():
            hashes[name] = {p.relative_to(path).as_posix(): sha256_file(p) for p in sorted(path.rglob("*")) if p.is_file()}
        else:
            hashes[name] = sha256_file(path)
    return fingerprint({k: to_dict(v) for k, v in configs.items()}, hashes)
