"""Sentence embeddings on disk: a folder with the matrix (dense .npy or sparse .npz) and its index."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from unimse_core.io.atomic import atomic_dir
from unimse_core.io.errors import RawDataError

INDEX = "index.json"


def save_sparse_npz(path: Path, matrix: sp.csr_matrix) -> None:
    """`matrix` as scipy's uncompressed .npz (read back by `scipy.sparse.load_npz`), in the same bytes
    on every Python: scipy's `save_npz` streams each array into the zip with zip64 forced, and how
    zipfile writes that header changed between Python 3.11 patch releases (3.11.2 and 3.11.7 wrote
    other bytes for the same arrays). Here each array is serialised first and stored whole, with a
    fixed date, so no zip64 record and no clock enter the file."""
    arrays = {"indices": matrix.indices, "indptr": matrix.indptr, "format": np.array(matrix.format.encode()),
              "shape": np.array(matrix.shape), "data": matrix.data}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for key, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(value), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buffer.getvalue())


def save_embeddings(folder: str | Path, ids: Sequence[str], datasets: Sequence[str],
                    matrix: np.ndarray | sp.spmatrix, meta: Mapping[str, Any]) -> None:
    """Write the folder whole or not at all; row i of `matrix` embeds `ids[i]`."""
    if matrix.shape[0] != len(ids):
        raise ValueError(f"{matrix.shape[0]} embedding rows for {len(ids)} ids")
    with atomic_dir(folder) as tmp:
        if sp.issparse(matrix):
            name = "vectors.npz"
            save_sparse_npz(tmp / name, sp.csr_matrix(matrix))
        else:
            name = "vectors.npy"
            np.save(tmp / name, np.ascontiguousarray(matrix, dtype=np.float32))
        (tmp / INDEX).write_text(json.dumps({"matrix": name, "shape": list(matrix.shape), "ids": list(ids),
                                             "datasets": list(datasets), **meta}, ensure_ascii=False) + "\n",
                                 encoding="utf-8")


def load_embeddings(folder: str | Path) -> tuple[dict[str, Any], np.ndarray | sp.csr_matrix]:
    """(index, matrix) of a folder written by `save_embeddings`."""
    folder = Path(folder)
    try:
        index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
        path = folder / index["matrix"]
        matrix = sp.load_npz(path).tocsr() if path.suffix == ".npz" else np.load(path, allow_pickle=False)
    except FileNotFoundError as err:
        raise RawDataError(folder, f"incomplete embeddings folder: {err.filename} is missing") from None
    except (ValueError, KeyError, json.JSONDecodeError) as err:
        raise RawDataError(folder, f"unreadable embeddings: {err}") from None
    if matrix.shape[0] != len(index["ids"]):
        raise RawDataError(folder, f"{matrix.shape[0]} rows for {len(index['ids'])} ids")
    return index, matrix
