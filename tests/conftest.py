"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

# Real public label files for tests and benchmarks, outside the repository (never copied into it).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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
