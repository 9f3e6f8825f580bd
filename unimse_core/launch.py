"""`train.devices`: the train stage starting its own processes, one per device (docs/training.md,
section "Several processes").

`launched()` says whether this process already belongs to a launch (torchrun, the elastic
launcher, or a process group initialised by the caller): the stage then trains as one rank of it
and starts nothing. Otherwise, with `train.devices` N > 1, `spawn(N, args)` runs N copies of
`python -m stages.cli train args` on this machine under torch's elastic launcher (the launcher
torchrun uses, `torch.distributed.launcher.api.elastic_launch`), on a free loopback port, and
waits for them: each copy finds the launcher's environment (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT) and trains as one rank of DistributedDataParallel, as under torchrun.

Nothing is done at import.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Sequence

# Set by torchrun and the elastic agent in every worker process.
LAUNCHER_VARIABLES = ("TORCHELASTIC_RUN_ID", "LOCAL_WORLD_SIZE", "WORLD_SIZE")


def launched() -> bool:
    """True inside a process started by a launcher (or with a process group already initialised)."""
    import torch

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return True
    return any(name in os.environ for name in LAUNCHER_VARIABLES)


class LaunchError(RuntimeError):
    """A spawned rank failed; the message names it and its error."""


def spawn(devices: int, args: Sequence[str], *, cuda: bool) -> None:
    """Run `python -m stages.cli train *args` as `devices` local processes under the elastic launcher.

    No restarts (a failed rank fails the stage; rerunning it resumes from the last checkpoint). One
    OpenMP thread per process unless OMP_NUM_THREADS is set, as torchrun does. `cuda`: the ranks
    use GPUs, so at least `devices` must be visible.
    """
    import torch
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if devices < 2:
        raise ValueError(f"spawn needs 2 or more devices, got {devices}")
    if cuda and torch.cuda.device_count() < devices:
        raise LaunchError(f"train.devices: {devices}, but torch sees {torch.cuda.device_count()} CUDA device(s); "
                          f"set train.devices to at most that, or train.device: cpu")
    if not cuda and not torch.distributed.is_gloo_available():
        raise LaunchError(f"train.devices: {devices} on the CPU needs torch's gloo backend, which this build lacks")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=devices, run_id=f"unimse-train-{uuid.uuid4()}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.5)
    try:
        elastic_launch(config, sys.executable)("-m", "stages.cli", "train", *args)
    except ChildFailedError as err:
        failures = "; ".join(f"rank {rank}: exit code {failure.exitcode}" for rank, failure in
                             sorted(err.failures.items()))
        raise LaunchError(f"train.devices: {devices}: a training process failed ({failures}); its output is above. "
                          f"Rerunning the stage resumes from the last checkpoint") from None
