"""The restricted unpickler: refuses code before it runs, loads numpy arrays and containers, reports corruption."""

from __future__ import annotations

import collections
import os
import pathlib
import pickle
import shlex

import numpy as np
import pytest

from unimse_core.io.errors import RawDataError
from unimse_core.io.safe_pickle import UnsafePickleError, load_pickle, loads


class _ShellTouch:
    def __init__(self, target: pathlib.Path):
        self.target = target

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.target))}",)


class _PathTouch:
    def __init__(self, target: pathlib.Path):
        self.target = target

    def __reduce__(self):
        return pathlib.Path.touch, (self.target,)


def _open_for_writing(target: pathlib.Path) -> bytes:
    """Protocol 0 by hand: GLOBAL builtins.open, MARK, two strings, TUPLE, REDUCE, STOP."""
    return f"cbuiltins\nopen\n(V{target}\nVw\ntR.".encode()


def _payloads(target: pathlib.Path) -> dict[str, tuple[bytes, str]]:
    """name -> (pickle bytes, the global the error must name). Each one creates `target` when loaded."""
    return {
        "os.system p2": (pickle.dumps(_ShellTouch(target), protocol=2), "posix.system"),
        "os.system p4": (pickle.dumps(_ShellTouch(target), protocol=4), "posix.system"),
        "builtins.open p0": (_open_for_writing(target), "builtins.open"),
        "Path.touch p4": (pickle.dumps(_PathTouch(target), protocol=4), "pathlib.Path.touch"),
        # protocol 2 reaches Path.touch through __builtin__.getattr, which maps to builtins.getattr
        "Path.touch p2": (pickle.dumps(_PathTouch(target), protocol=2), "builtins.getattr"),
    }


PAYLOAD_NAMES = list(_payloads(pathlib.Path("x")))


@pytest.mark.skipif(os.name != "posix", reason="the os.system payloads name posix.system")
@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_payloads_really_run_code_with_plain_pickle(tmp_path, name):
    """Control: the crafted pickles do create the file when loaded the unsafe way."""
    target = tmp_path / "created"
    data, _ = _payloads(target)[name]
    result = pickle.loads(data)
    if hasattr(result, "close"):
        result.close()
    assert target.exists()


@pytest.mark.skipif(os.name != "posix", reason="the os.system payloads name posix.system")
@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_forbidden_global_is_refused_before_it_runs(tmp_path, name):
    target = tmp_path / "created"
    data, forbidden = _payloads(target)[name]
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(UnsafePickleError, match=f"the global {forbidden}") as err:
        load_pickle(path)
    assert err.value.path == str(path)
    assert isinstance(err.value, RawDataError)
    with pytest.raises(UnsafePickleError, match=f"the global {forbidden}"):
        loads(data)
    assert not target.exists()


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "features": rng.standard_normal((4, 7, 5)).astype(np.float32),
        "bytes_ids": np.array([[b"03bSnISJMiM_1"], [b"0h-zjBukYpk_2"], [b"1DmNV9C1hbY_10"]]),
        "object_bytes_ids": np.array([[b"a_1"], [b"b_2"]], dtype=object),
        "str_ids": np.array([["03bSnISJMiM", "1"], ["-3g5yACwYnA", "10"]]),
        "labels": np.array([[[1.5]], [[-3.0]]], dtype=np.float64),
        "lengths": np.array([3, 0, 50], dtype=np.int64),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "fortran": np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
    }


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_arrays_round_trip(tmp_path, protocol):
    arrays = _arrays()
    obj = {"train": arrays, "valid": {"id": arrays["bytes_ids"], "scalar": np.float32(2.5), "n": np.int64(7)}}
    path = tmp_path / "features.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    loaded = load_pickle(path)
    for key, array in arrays.items():
        got = loaded["train"][key]
        assert isinstance(got, np.ndarray) and got.dtype == array.dtype and got.shape == array.shape, key
        np.testing.assert_array_equal(got, array)
    assert loaded["valid"]["scalar"] == np.float32(2.5) and loaded["valid"]["scalar"].dtype == np.float32
    assert loaded["valid"]["n"] == 7
    np.testing.assert_array_equal(loaded["valid"]["id"], arrays["bytes_ids"])


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_builtin_containers_round_trip(tmp_path, protocol):
    obj = {
        "audio": [{"0_0": [1.0, 2.0]}, {}, {"3_1": (1, 2)}],
        "set": {1, 2, 3}, "frozen": frozenset({"a"}), "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
        "bytes": b"\x00\xff", "bytearray": bytearray(b"xy"), "none": None, "flags": (True, False),
        "complex": 1 + 2j, "big": 2 ** 70, "text": "Ses01F_impro01_F000 \u00e9",
    }
    path = tmp_path / "containers.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    loaded = load_pickle(path)
    assert loaded == obj
    assert type(loaded["ordered"]) is collections.OrderedDict and list(loaded["ordered"]) == ["b", "a"]
    assert type(loaded["bytearray"]) is bytearray


def test_truncated_pickle(tmp_path):
    data = pickle.dumps({"train": _arrays()}, protocol=4)
    path = tmp_path / "cut.pkl"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RawDataError, match="truncated or corrupt") as err:
        load_pickle(path)
    assert str(path) in str(err.value)
    assert not isinstance(err.value, UnsafePickleError)


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(tmp_path, seed):
    path = tmp_path / "noise.pkl"
    # A protocol header followed by noise reaches deeper into the unpickler than noise alone.
    noise = np.random.default_rng(seed).bytes(4096)
    path.write_bytes(noise if seed % 2 else b"\x80\x04" + noise)
    with pytest.raises(RawDataError, match="truncated or corrupt") as err:
        load_pickle(path)
    assert str(path) in str(err.value)


def test_empty_and_missing_file(tmp_path):
    (tmp_path / "empty.pkl").write_bytes(b"")
    with pytest.raises(RawDataError, match="truncated or corrupt"):
        load_pickle(tmp_path / "empty.pkl")
    with pytest.raises(RawDataError, match="file not found"):
        load_pickle(tmp_path / "absent.pkl")
