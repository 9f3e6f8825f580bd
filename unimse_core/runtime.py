"""Where a run executes: its device, process group and autocast, and moving batches to the device.

Training, evaluation and prediction share these; they live apart from the training loop so that
evaluation and `unimse predict` import them without importing unimse_core/training.py (and a change
to the loop does not rerun the evaluate stage). Importing this module does no work: `runtime` picks
the device when called.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import torch

from unimse_core.determinism import pin_numerics


class RuntimeSettings(Protocol):
    """What `runtime` reads of a config: train, evaluate (and predict's) configs alike."""

    device: Literal["auto", "cpu", "cuda"]
    bf16: bool
    deterministic: bool
    cpu_threads: int


class DeviceError(RuntimeError):
    """The device a setting asks for is not available; the message starts with the setting's name."""


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    rank: int
    world_size: int
    autocast: Callable[[], contextlib.AbstractContextManager]

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def runtime(config: RuntimeSettings, *, group: str | None = None, device_key: str | None = None) -> Runtime:
    """Device and process group: under torchrun (WORLD_SIZE > 1) one process per device, gloo on CPU.

    Reads only `device`, `bf16`, `deterministic` and `cpu_threads`, which training and evaluation
    configure alike; pins the numerics (unimse_core/determinism.py). `group` names the params group
    in messages (default: `train` for a TrainConfig, else `evaluate`); `device_key` the setting that
    chose the device (default `<group>.device`; `unimse predict` passes its `--device`).
    """
    from unimse_core.config import TrainConfig

    group = group or ("train" if isinstance(config, TrainConfig) else "evaluate")
    device_key = device_key or f"{group}.device"
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    cuda = config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())
    if config.device == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"{device_key}: cuda, but torch sees no CUDA device")
    if world_size > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    use_bf16 = cuda and config.bf16
    pin_numerics(config.deterministic, config.cpu_threads, device=device, group=group)

    def autocast() -> contextlib.AbstractContextManager:
        return torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()

    return Runtime(device, rank, world_size, autocast)


def to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Copies to `device`; non-blocking on CUDA from the loader's pinned memory (no wait per step)."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def generate_fitting(model: Any, batch: Mapping[str, torch.Tensor], **kwargs: Any) -> list[torch.Tensor]:
    """`model.generate(batch, **kwargs)` as a list of id tensors [b_i, 1 + n_i] whose rows are the
    batch's, in order: one tensor, or, when the device runs out of memory, the results of the two
    halves (recursively), so that `loader.eval_batch_size` can be the largest batch that fits most
    of the time without failing on the few longest batches."""
    try:
        return [model.generate(batch, **kwargs)]
    except torch.cuda.OutOfMemoryError:
        rows = len(batch["index"])
        if rows == 1:
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = rows // 2
        return [*generate_fitting(model, {k: v[:half] for k, v in batch.items()}, **kwargs),
                *generate_fitting(model, {k: v[half:] for k, v in batch.items()}, **kwargs)]


__all__ = ["DeviceError", "Runtime", "RuntimeSettings", "generate_fitting", "runtime", "to_device"]
