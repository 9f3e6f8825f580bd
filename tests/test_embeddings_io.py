"""The sparse embedding file has the same bytes on every Python (unimse_core/io/embeddings.py)."""

from __future__ import annotations

import zipfile

import numpy as np
import scipy.sparse as sp

from unimse_core.io.embeddings import load_embeddings, save_embeddings


def test_the_sparse_matrix_round_trips_without_zip64_records_or_clock(tmp_path):
    matrix = sp.csr_matrix(np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -0.25]], dtype=np.float64))
    save_embeddings(tmp_path / "e", ["a", "b"], ["mosi", "mosi"], matrix, {"encoder": "tfidf"})
    with zipfile.ZipFile(tmp_path / "e" / "vectors.npz") as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == ["indices.npy", "indptr.npy", "format.npy", "shape.npy", "data.npy"]
    # scipy's save_npz writes a zip64 extra field (whose form changed between Python 3.11 patch releases)
    assert all(i.extra == b"" and i.date_time == (1980, 1, 1, 0, 0, 0) and i.compress_type == zipfile.ZIP_STORED
               for i in infos)
    loaded = sp.load_npz(tmp_path / "e" / "vectors.npz")
    assert loaded.format == "csr" and loaded.dtype == matrix.dtype
    assert np.array_equal(loaded.toarray(), matrix.toarray())
    index, again = load_embeddings(tmp_path / "e")
    assert index["ids"] == ["a", "b"] and np.array_equal(again.toarray(), matrix.toarray())
