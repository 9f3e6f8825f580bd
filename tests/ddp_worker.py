"""One process of the DDP tests (tests/test_ddp.py), started by `python -m torch.distributed.run`.

    ddp_worker.py grads OUT
        Each rank takes its half of the fixed global batch of `global_batch()`, runs forward and
        backward through DistributedDataParallel wrapped as unimse_core/training.py wraps the model
        (process group from `training.runtime`: gloo on the CPU), and rank 0 saves the averaged
        gradients, with the contrastive loss off and on, to OUT (torch.save).

    ddp_worker.py stage AUDIT_DIR [--kill-after-epoch N] -- <options of `unimse train`>
        The train stage, as `unimse train`, with a Python audit hook that records every file
        system write of this process (open for writing, mkdir, rename, remove, rmtree) below the
        folder of --summary; each rank reports them in AUDIT_DIR/rank<r>.json when the stage ends.
        `--kill-after-epoch N`: rank 0 SIGKILLs itself right after writing epoch N's checkpoint
        (torchrun then stops the other rank), a crash at an epoch boundary.

The model and batch are also used by the single-process side of the test (imported from here).
A watchdog (UNIMSE_TEST_WATCHDOG_S, set by the test) dumps every thread's stack and exits, so a
hung collective fails the test with a stack trace instead of hanging it.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
import sys
from pathlib import Path

import torch

from tiny_training import MODEL, params
from unimse_core import training
from unimse_core.config import ModelConfig, TrainConfig, from_dict
from unimse_core.model import UniMSE, scratch_t5_config

VOCAB = 50
GLOBAL_BATCH = 8


def grad_model(contrastive: bool) -> UniMSE:
    """A tiny UniMSE without dropout (the ranks' dropout masks would differ from one process's), seeded."""
    config = from_dict(ModelConfig, {**MODEL, "dropout_rate": 0.0, "modality_dropout": 0.0,
                                     "contrastive": contrastive}, "model")
    torch.manual_seed(0)
    from transformers import T5ForConditionalGeneration

    return UniMSE(T5ForConditionalGeneration(scratch_t5_config(config, VOCAB)), config).train()


def global_batch() -> dict[str, torch.Tensor]:
    """8 rows, every input 7 tokens and every target 5 (no padding: each half then has the same number
    of target tokens, so the mean of the two halves' token-mean losses IS the global token mean);
    ragged audio and video, some rows without frames."""
    g = torch.Generator().manual_seed(1)
    b, dim = GLOBAL_BATCH, MODEL["feature_dim"]
    audio_lengths = torch.tensor([6, 2, 0, 3, 5, 1, 4, 6])
    video_lengths = torch.tensor([4, 4, 1, 0, 2, 3, 4, 1])
    audio = torch.randn(b, 6, dim, generator=g) * (torch.arange(6) < audio_lengths[:, None]).unsqueeze(-1)
    video = torch.randn(b, 4, dim, generator=g) * (torch.arange(4) < video_lengths[:, None]).unsqueeze(-1)
    labels = torch.randint(3, VOCAB, (b, 5), generator=g)
    labels[:, -1] = 1
    input_ids = torch.randint(3, VOCAB, (b, 7), generator=g)
    return dict(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), labels=labels, audio=audio,
                audio_lengths=audio_lengths, video=video, video_lengths=video_lengths, index=torch.arange(b))


def shard(batch: dict[str, torch.Tensor], rank: int, world_size: int) -> dict[str, torch.Tensor]:
    """Rank `rank`'s contiguous share of the global batch."""
    size = len(batch["index"]) // world_size
    return {k: v[rank * size:(rank + 1) * size] for k, v in batch.items()}


def gradients(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Forward and backward of `model` (UniMSE or its DDP wrapper) on `batch`: every parameter's gradient."""
    model.zero_grad(set_to_none=True)
    model(batch).loss.backward()
    named = model.module.named_parameters() if hasattr(model, "module") else model.named_parameters()
    missing = [name for name, p in named if p.grad is None]
    if missing:
        raise RuntimeError(f"no gradient for {missing}")
    named = model.module.named_parameters() if hasattr(model, "module") else model.named_parameters()
    return {name: p.grad.detach().clone() for name, p in named}


def ddp_gradients(out: Path) -> None:
    config = from_dict(TrainConfig, {**params()["train"], "device": "cpu"}, "train")
    rt = training.runtime(config)
    assert rt.world_size == 2 and torch.distributed.get_backend() == "gloo", (rt, torch.distributed.get_backend())
    result = {}
    for contrastive in (False, True):
        model = grad_model(contrastive)
        wrapped = torch.nn.parallel.DistributedDataParallel(model, device_ids=None)  # as training.train
        result[contrastive] = gradients(wrapped, shard(global_batch(), rt.rank, rt.world_size))
    if rt.is_main:
        torch.save(result, out)
    # As the train stage: a barrier, and the process group left to the process's exit. Destroying it
    # here (its last reference going with the DDP wrappers) hung a rank now and then in gloo's teardown.
    torch.distributed.barrier()


# ----------------------------------------------------------------------------------------------
# the stage, with its writes audited


WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PATH_EVENTS = {"os.mkdir": (0,), "os.rename": (0, 1), "os.remove": (0,), "os.rmdir": (0,), "shutil.rmtree": (0,),
               "os.truncate": (0,), "os.link": (0, 1), "os.symlink": (0, 1), "shutil.copyfile": (1,),
               "shutil.copytree": (1,), "shutil.move": (0, 1)}


def audit_writes(root: Path) -> list[str]:
    """Install an audit hook recording `event path` for each write below `root`; returns the live list."""
    root = root.resolve()
    writes: list[str] = []

    def below(path: object) -> str | None:
        if isinstance(path, (str, bytes, os.PathLike)) and not isinstance(path, int):
            resolved = Path(os.fsdecode(path)).resolve()
            if resolved == root or root in resolved.parents:
                return str(resolved)
        return None

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None))[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS)
            if writing and below(path):
                writes.append(f"open {below(path)}")
        elif event in PATH_EVENTS:
            for i in PATH_EVENTS[event]:
                if i < len(args) and below(args[i]):
                    writes.append(f"{event} {below(args[i])}")

    sys.addaudithook(hook)
    return writes


def stage(audit_dir: Path, kill_after_epoch: int, options: list[str]) -> None:
    from stages.cli import main

    rank = int(os.environ.get("RANK", "0"))
    writes = audit_writes(Path(options[options.index("--summary") + 1]).parent)
    if kill_after_epoch and rank == 0:
        save = training.save_checkpoint

        def save_then_die(folder, state, *args, **kwargs):
            save(folder, state, *args, **kwargs)
            if state.epoch == kill_after_epoch:
                os.kill(os.getpid(), signal.SIGKILL)

        training.save_checkpoint = save_then_die
    try:
        main(["train", *options], prog_name="unimse", standalone_mode=False)
    finally:
        audit_dir.mkdir(parents=True, exist_ok=True)
        (audit_dir / f"rank{rank}.json").write_text(json.dumps(writes, indent=1))


def cli(argv: list[str]) -> None:
    # the stage's options follow "--", untouched by this parser
    ours, options = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grads = commands.add_parser("grads")
    grads.add_argument("out", type=Path)
    run = commands.add_parser("stage")
    run.add_argument("audit_dir", type=Path)
    run.add_argument("--kill-after-epoch", type=int, default=0)
    args = parser.parse_args(ours)
    if args.command == "grads":
        ddp_gradients(args.out)
    else:
        stage(args.audit_dir, args.kill_after_epoch, options)


if __name__ == "__main__":
    # A hung collective must not hang the test: dump every thread's stack into the log and exit.
    faulthandler.dump_traceback_later(int(os.environ.get("UNIMSE_TEST_WATCHDOG_S", "150")), exit=True)
    cli(sys.argv[1:])
