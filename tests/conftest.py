"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Real public label files for tests and benchmarks, outside the repository (never copied into it).
# UNIMSE_SHARED_DATA points elsewhere (e.g. from a git worktree, where ../shared/data does not exist).
SHARED_DATA = Path(os.environ.get("UNIMSE_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


@pytest.fixture
def shared_data() -> Path:
    """The folder of real label files (../shared/data from the project root); skips where absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it lives outside the repository)")
    return SHARED_DATA


@pytest.fixture
def one_thread():
    """torch on one thread for the test: steady timings and no OpenMP spinning on two shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SMALL_SIZES = {"train": 24, "valid": 8, "test": 8}


def small_synthetic_params() -> dict:
    """The shipped params.yaml with every synthetic dataset (every registered one) shrunk to SMALL_SIZES utterances."""
    from unimse_core.config import read_params
    from unimse_core.datasets import NAMES

    params = read_params(Path(__file__).resolve().parents[1] / "params.yaml")
    for dataset in NAMES:
        params["synthetic"][dataset].update(SMALL_SIZES)
    return params


@pytest.fixture(scope="session")
def small_release(tmp_path_factory) -> Path:
    """A small synthetic release, generated once per session; tests copy it before changing it."""
    from unimse_core.config import SyntheticConfig, from_dict
    from unimse_core.synthetic import generate

    out = tmp_path_factory.mktemp("release") / "synthetic"
    generate(from_dict(SyntheticConfig, small_synthetic_params()["synthetic"], "synthetic"), out)
    return out
