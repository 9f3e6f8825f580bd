"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

# Real public label files for tests and benchmarks, outside the repository (never copied into it).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The folder of real label files (../shared/data from the project root); skips where absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it lives outside the repository)")
    return SHARED_DATA
