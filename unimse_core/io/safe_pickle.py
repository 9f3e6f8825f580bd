"""Load pickles from outside without running their code.

A pickle can name any importable callable and have it called while loading: `pickle.load` on a
downloaded file is remote code execution. This unpickler resolves only the globals that numpy
arrays, numpy dtypes and scalars and builtin containers need, and refuses every other global with
an error that names it, before anything is called. No file from outside is ever loaded with plain
`pickle.load`.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
from pathlib import Path
from typing import Any

from unimse_core.io.errors import RawDataError

# (module, name) pairs a pickle of numpy arrays and builtin containers needs, for numpy 1.x and 2.x.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset({
    *((core, name) for core in ("numpy.core.multiarray", "numpy._core.multiarray")
      for name in ("_reconstruct", "scalar")),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    # numpy arrays written with protocol 2 carry their bytes as latin-1 text decoded by this call.
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
    *(("builtins", name) for name in ("dict", "list", "tuple", "set", "frozenset", "int", "float",
                                     "complex", "str", "bytes", "bytearray", "bool")),
})


class UnsafePickleError(RawDataError):
    """The pickle names a global outside the allow-list; nothing of it was executed."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, source: str):
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        # Protocol 0-2 pickles name Python 2 modules (`__builtin__.set`); check the Python 3 names.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise UnsafePickleError(
            self.source, f"refused to load: the pickle asks for the global {module}.{name}, which is "
            "not a numpy array, dtype or builtin container (pickles can run code; only data is allowed)")


def loads(data: bytes, source: str = "<bytes>") -> Any:
    return _load(io.BytesIO(data), source)


def load_pickle(path: str | Path) -> Any:
    """Load a pickle that may contain only numpy arrays/dtypes/scalars and builtin containers."""
    path = Path(path)
    try:
        handle = path.open("rb", buffering=1 << 20)
    except FileNotFoundError:
        raise RawDataError(path, "file not found") from None
    with handle:
        return _load(handle, str(path))


def _load(handle: Any, source: str) -> Any:
    try:
        return _RestrictedUnpickler(handle, source).load()
    except UnsafePickleError:
        raise
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError, KeyError,
            AttributeError, MemoryError, OverflowError, RecursionError, UnicodeDecodeError) as err:
        raise RawDataError(source, f"truncated or corrupt pickle ({type(err).__name__}: {err})") from None
