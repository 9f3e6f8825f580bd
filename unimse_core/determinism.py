"""Pinned numerics: with `deterministic: true` the same inputs give the same bytes on any x86-64 CPU.

What makes a CPU run differ between machines (found by running the golden training steps of
tests/test_model.py under each setting; tests/test_determinism.py keeps it so, docs/training.md):

- ATen's CPU capability dispatch. Elementwise and reduction kernels are compiled for DEFAULT, AVX2
  and AVX512 and torch runs the best one the CPU has; the vector width changes the order of
  additions in a sum, a mean, a softmax. `ATEN_CPU_CAPABILITY` caps it; torch reads it once, at its
  first tensor operation (not at `import torch`).
- MKL's GEMM kernels (torch's BLAS on x86): one per instruction set, with different blockings.
  `MKL_CBWR` (conditional numerical reproducibility) fixes the code path; `STRICT` also makes GEMM
  independent of the number of threads. MKL reads it at its first call. The branch is
  `COMPATIBLE` (SSE2 without the approximate rcpps/rsqrtps), the one MKL keeps on every vendor's
  CPU: it ignores the ISA branches (`AVX2`, ...) on a non-Intel CPU and falls back on its `AUTO`
  dispatch without a word, so an `AVX2` pin gave an AMD machine other bytes than an Intel one
  (measured: docs/training.md).
- oneDNN's instruction set (`ONEDNN_MAX_CPU_ISA`), read at its first primitive. The fp32 model does
  not reach oneDNN today; pinned so that a new layer that does cannot break the promise.
- The number of intra-op threads: ATen splits a large reduction into one partial sum per thread (a
  full sum, a gradient norm of the 64k-weight embedding). `cpu_threads` fixes it.

AVX2 is ATen's and oneDNN's pin because every x86-64 CPU of the last ten years has it: an AVX-512
machine gives the bytes of an AVX2 one. The pin costs speed (`python -m bench.determinism`, docs/training.md). On CUDA,
`deterministic` turns on torch's deterministic algorithms and cuDNN's deterministic mode; GPUs of
different models may still differ from each other and from the CPU.
"""

from __future__ import annotations

import os
import platform
import warnings
from typing import Any

import torch

# The CPU code paths every deterministic run takes, whatever the machine has.
PINNED_ENV = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX2"}
PINNED_CAPABILITY = "AVX2"  # as torch.backends.cpu.get_cpu_capability() names it
CUBLAS_WORKSPACE = ":4096:8"  # what torch's deterministic cuBLAS GEMMs require (their docs)


def pin_numerics(deterministic: bool, cpu_threads: int, *, group: str, device: str | torch.device = "cpu"
                 ) -> dict[str, Any]:
    """Pin the kernels a run uses; returns what was pinned, for the run's records (the train stage
    also puts it in the run's identity, so that a checkpoint made under another pin is not resumed).

    Call it before the first tensor operation of the process: torch and MKL choose their kernels
    once. The stages call it right after loading their params; `runtime.runtime` calls it again
    (a no-op then) for callers of the library. `group` names the params group in messages.
    `cpu_threads` > 0 sets torch's intra-op threads (0: torch's default, one per core), whether
    deterministic or not. `device` "auto" means CUDA when available.
    """
    if cpu_threads > 0:
        torch.set_num_threads(cpu_threads)
    cuda = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                        "cpu" if device == "auto" else device).type == "cuda"
    if deterministic:
        if _x86():
            os.environ.update(PINNED_ENV)
        torch.use_deterministic_algorithms(True, warn_only=True)
        if cuda:
            # cuBLAS reads it when it creates its handle, at the first GEMM on the device
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
    capability = torch.backends.cpu.get_cpu_capability()
    if deterministic and _x86() and capability != PINNED_CAPABILITY:
        warnings.warn(f"{group}.deterministic: torch runs its {capability} CPU kernels, not the pinned "
                      f"{PINNED_CAPABILITY} ones (this process chose them before the pin, or the CPU has no "
                      f"AVX2); results may differ from other machines' in the last bits", RuntimeWarning,
                      stacklevel=2)
    return {"deterministic": deterministic, "cpu_capability": capability,
            "cpu_threads": cpu_threads if cpu_threads > 0 else "default",
            "pinned": dict(PINNED_ENV) if deterministic and _x86() else {}}


def _x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")
