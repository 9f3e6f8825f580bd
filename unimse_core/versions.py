"""The versions of every package that can change a number of a run: one function, for every record.

The model folder (`run.json`, `unimse.json`) and the report both call `package_versions`, so the two
always list the same packages. The installed distributions are read from their metadata, so
nothing is imported. `constraints.txt` pins these versions for the committed baseline (README.md).
"""

from __future__ import annotations

import platform
from importlib import metadata

import unimse_core

# Distributions whose code computes, parses or stores a number of the pipeline (numerics, tokenizing,
# file formats, the DVC hashing that decides what reruns).
PACKAGES = ("torch", "numpy", "scipy", "scikit-learn", "transformers", "tokenizers", "safetensors", "h5py",
            "dvc", "dvclive", "matplotlib", "pyyaml")


def package_versions() -> dict[str, str]:
    """`{name: version}` for python (major.minor: patch releases change no number), each of PACKAGES
    ("not installed" when absent) and unimse_core."""
    versions = {"python": ".".join(platform.python_version_tuple()[:2])}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["unimse_core"] = unimse_core.__version__
    return versions
