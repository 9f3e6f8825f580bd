"""The HDF5 files of preprocessed and merged data (schema version 1, documented in docs/hdf5-schema.md).

One file holds several *split groups* ("train", "valid", "test/mosi", ...). A split group holds,
for its N utterances, parallel per-row datasets (ids, dataset names, input and target strings,
gold fields) and the audio and video features stored FLAT: one float32 array of all frames per
modality plus an offset and a length per utterance. Flat storage makes a random batch a handful of
contiguous slices, needs no padding on disk, and lets zero-length sequences (text-only data) cost
nothing. Numeric datasets are contiguous and uncompressed, so they can be memory-mapped.

In memory a split group is a `SplitArrays`. `write_h5` writes groups atomically (temporary file,
then rename); `read_h5` reads one group back and checks it, raising `SchemaError` that names the
file and the group.
"""

from __future__ import annotations

import json
import platform
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from unimse_core.io.atomic import atomic_path
from unimse_core.io.errors import RawDataError

SCHEMA_VERSION = 1

# Root attributes the writer sets itself; callers may not pass them.
RESERVED_ATTRS = ("schema_version", "library_versions", "groups")

# SplitArrays field -> HDF5 dataset name, for the per-row string datasets.
STRING_FIELDS: dict[str, str] = {"ids": "id", "dataset": "dataset", "inputs": "input", "targets": "target",
                                 "gold_emotion": "gold_emotion", "polarity": "polarity"}
MODALITIES: tuple[str, ...] = ("audio", "video")
NUMERIC_DATASETS: tuple[str, ...] = ("gold_score", "audio", "audio_offset", "audio_length",
                                     "video", "video_offset", "video_length")

_STR = h5py.string_dtype("utf-8")


class SchemaError(RawDataError):
    """An HDF5 file that is missing, not of this schema, or inconsistent; names the file and group."""


# ----------------------------------------------------------------------------------------------
# in memory


@dataclass(frozen=True, eq=False)
class SplitArrays:
    """N utterances of one split group.

    Per row: `ids`, `dataset` (mosi, mosei, meld or iemocap: a merged split mixes them), `inputs`
    (model input text), `targets` (universal-label target string), `gold_score` (float32, NaN
    where the dataset has no score of its own: MELD, IEMOCAP), `gold_emotion` ("" for MOSI/MOSEI,
    else the dataset's own emotion word), `polarity`.

    Features, flat: utterance i's audio is `audio[audio_offset[i] : audio_offset[i] + audio_length[i]]`
    (`audio_of(i)`), shape [length, audio_dim]; the same for video. Lengths may be 0.
    Arrays may be np.memmap (read-only) when read with `mmap_over_bytes`.
    """

    ids: list[str]
    dataset: list[str]
    inputs: list[str]
    targets: list[str]
    gold_score: np.ndarray      # float32 [N]
    gold_emotion: list[str]
    polarity: list[str]
    audio: np.ndarray           # float32 [total audio frames, audio_dim]
    audio_offset: np.ndarray    # int64 [N]
    audio_length: np.ndarray    # int64 [N]
    video: np.ndarray           # float32 [total video frames, video_dim]
    video_offset: np.ndarray    # int64 [N]
    video_length: np.ndarray    # int64 [N]

    def __post_init__(self) -> None:
        problem = self._normalise()
        if problem:
            raise ValueError(problem)

    def _normalise(self) -> str | None:
        """Bring fields to their types (no copy where they already are); the first problem, or None."""
        set_ = object.__setattr__
        for name in STRING_FIELDS:
            values = getattr(self, name)
            if isinstance(values, (str, bytes)):
                return f"{name}: expected a sequence of strings, got a single {type(values).__name__}"
            values = list(values)
            bad = next((i for i, v in enumerate(values) if not isinstance(v, str)), None)
            if bad is not None:
                return f"{name}[{bad}]: expected a string, got {values[bad]!r}"
            set_(self, name, values)
        n = len(self.ids)
        for name in STRING_FIELDS:
            if len(getattr(self, name)) != n:
                return f"{name}: {len(getattr(self, name))} rows, but ids has {n}"
        for name, dtype, ndim in (("gold_score", np.float32, 1), ("audio", np.float32, 2),
                                  ("audio_offset", np.int64, 1), ("audio_length", np.int64, 1),
                                  ("video", np.float32, 2), ("video_offset", np.int64, 1),
                                  ("video_length", np.int64, 1)):
            value = getattr(self, name)
            if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
                return f"{name}: expected numbers, got dtype {value.dtype}"
            # asanyarray keeps an np.memmap a memmap when the dtype already fits (no copy).
            value = np.asanyarray(value, dtype=dtype)
            if value.ndim != ndim:
                return f"{name}: expected {ndim} dimension(s), got shape {value.shape}"
            if ndim == 1 and len(value) != n:
                return f"{name}: {len(value)} rows, but ids has {n}"
            set_(self, name, value)
        for modality in MODALITIES:
            frames = len(getattr(self, modality))
            offset, length = getattr(self, f"{modality}_offset"), getattr(self, f"{modality}_length")
            for name, values in ((f"{modality}_offset", offset), (f"{modality}_length", length)):
                if n and values.min() < 0:
                    i = int(np.argmax(values < 0))
                    return f"{name}[{i}] (id {self.ids[i]!r}): negative value {int(values[i])}"
            if n and (offset + length).max() > frames:
                i = int(np.argmax(offset + length > frames))
                return (f"{modality} of row {i} (id {self.ids[i]!r}): frames {int(offset[i])}.."
                        f"{int(offset[i] + length[i])} beyond the {frames} stored frames")
        return None

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return (f"SplitArrays({len(self)} rows {self.dataset_counts()}, audio {self.audio.shape}, "
                f"video {self.video.shape})")

    @property
    def audio_dim(self) -> int:
        return int(self.audio.shape[1])

    @property
    def video_dim(self) -> int:
        return int(self.video.shape[1])

    def audio_of(self, i: int) -> np.ndarray:
        """Utterance i's audio frames [length, audio_dim], a view."""
        start = int(self.audio_offset[i])
        return self.audio[start:start + int(self.audio_length[i])]

    def video_of(self, i: int) -> np.ndarray:
        """Utterance i's video frames [length, video_dim], a view."""
        start = int(self.video_offset[i])
        return self.video[start:start + int(self.video_length[i])]

    def dataset_counts(self) -> dict[str, int]:
        """Rows per dataset name, in order of first appearance."""
        return dict(Counter(self.dataset))

    @classmethod
    def concat(cls, parts: Sequence[SplitArrays]) -> SplitArrays:
        """The rows of `parts` one after the other; each part's frames are kept whole, offsets rebased."""
        parts = list(parts)
        if not parts:
            raise ValueError("concat needs at least one SplitArrays")
        for modality in MODALITIES:
            dims = [getattr(p, modality).shape[1] for p in parts]
            if len(set(dims)) > 1:
                raise ValueError(f"concat: {modality} widths differ between parts: {dims}")
        fields: dict[str, Any] = {name: [v for p in parts for v in getattr(p, name)] for name in STRING_FIELDS}
        fields["gold_score"] = np.concatenate([p.gold_score for p in parts])
        for modality in MODALITIES:
            frames = np.cumsum([0] + [len(getattr(p, modality)) for p in parts[:-1]])
            fields[modality] = np.concatenate([getattr(p, modality) for p in parts])
            fields[f"{modality}_offset"] = np.concatenate(
                [getattr(p, f"{modality}_offset") + base for p, base in zip(parts, frames)])
            fields[f"{modality}_length"] = np.concatenate([getattr(p, f"{modality}_length") for p in parts])
        return cls(**fields)

    def take(self, indices: Sequence[int] | np.ndarray) -> SplitArrays:
        """The rows `indices` (integers in [0, N), any order, repeats allowed; or a boolean mask of
        length N). Features are gathered into new contiguous arrays in the new row order."""
        n = len(self)
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise ValueError(f"take: a boolean mask needs shape ({n},), got {idx.shape}")
            idx = np.flatnonzero(idx)
        if idx.size == 0:
            idx = idx.astype(np.int64)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise ValueError(f"take: expected a 1-d sequence of integers, got dtype {idx.dtype}, shape {idx.shape}")
        idx = idx.astype(np.int64, copy=False)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            bad = int(idx[(idx < 0) | (idx >= n)][0])
            raise IndexError(f"take: row {bad} out of range for {n} rows")
        rows = idx.tolist()
        fields: dict[str, Any] = {name: [getattr(self, name)[i] for i in rows] for name in STRING_FIELDS}
        fields["gold_score"] = self.gold_score[idx]
        for modality in MODALITIES:
            flat, offset, length = _gather(getattr(self, modality), getattr(self, f"{modality}_offset")[idx],
                                           getattr(self, f"{modality}_length")[idx])
            fields.update({modality: flat, f"{modality}_offset": offset, f"{modality}_length": length})
        return SplitArrays(**fields)


def _gather(flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, ...]:
    """The frames flat[starts[i] : starts[i] + lengths[i]] laid end to end, and their new offsets."""
    offsets = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    total = int(lengths.sum())
    # Frame j of the output comes from flat[j + (start - new offset) of its row].
    frame_index = np.arange(total, dtype=np.int64) + np.repeat(starts - offsets, lengths)
    return np.ascontiguousarray(flat[frame_index]), offsets, np.array(lengths, dtype=np.int64)


def pack_sequences(sequences: Iterable[np.ndarray], dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat float32 frames [total, dim], offsets [N] and lengths [N] of per-utterance [T_i, dim] arrays.

    Copies each sequence once into one preallocated array (the inputs may be views of a loaded
    pickle); a sequence of width other than `dim` is an error (bring widths to `dim` first).
    """
    sequences = list(sequences)
    lengths = np.zeros(len(sequences), dtype=np.int64)
    for i, seq in enumerate(sequences):
        if seq.ndim != 2 or seq.shape[1] != dim:
            raise ValueError(f"sequence {i}: expected shape [T, {dim}], got {seq.shape}")
        lengths[i] = seq.shape[0]
    offsets = np.zeros(len(sequences), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    flat = np.empty((int(lengths.sum()), dim), dtype=np.float32)
    for seq, start, length in zip(sequences, offsets, lengths):
        flat[start:start + length] = seq
    return flat, offsets, lengths


def empty_sequences(n: int, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat frames, offsets and lengths of n zero-length sequences of width `dim` (text-only data)."""
    return np.zeros((0, dim), dtype=np.float32), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)


# ----------------------------------------------------------------------------------------------
# writing


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shaped a file: python, numpy, h5py, HDF5, torch (if imported), unimse_core."""
    import unimse_core

    # python as major.minor: a patch release changes no number, and must not change the file's bytes
    versions = {"python": ".".join(platform.python_version_tuple()[:2]), "numpy": np.__version__, "h5py": h5py.__version__,
                "hdf5": h5py.version.hdf5_version}
    torch = sys.modules.get("torch")
    if torch is not None:
        versions["torch"] = str(torch.__version__)
    versions["unimse_core"] = unimse_core.__version__
    return versions


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _check_group_names(names: Iterable[str]) -> list[str]:
    names = list(names)
    if not names:
        raise ValueError("write_h5: no groups to write")
    for name in names:
        parts = name.split("/") if isinstance(name, str) else []
        if not parts or any(not p or p != p.strip() or p in (".", "..") for p in parts):
            raise ValueError(f"write_h5: group name {name!r}: expected names like 'train' or 'test/mosi'")
    for a in names:
        for b in names:
            if b.startswith(a + "/"):
                raise ValueError(f"write_h5: group {a!r} would hold data and the group {b!r}; "
                                 f"split groups must be leaves")
    return names


def write_h5(path: str | Path, groups: Mapping[str, SplitArrays], attrs: Mapping[str, Any] | None = None) -> None:
    """Write the split groups `groups` (name -> arrays; nested names like "test/mosi") to `path`.

    Root attributes: `schema_version` (int), `library_versions`, `groups` (rows per dataset and
    frame counts and widths of each group), and every entry of `attrs` (config, source hashes,
    counts, ...), each stored as JSON text. The file appears only when complete.
    """
    names = _check_group_names(groups)
    attrs = dict(attrs or {})
    for key in attrs:
        if not isinstance(key, str) or not key:
            raise ValueError(f"write_h5: attribute names must be non-empty strings, got {key!r}")
        if key in RESERVED_ATTRS:
            raise ValueError(f"write_h5: attribute {key!r} is set by the writer itself")
    summary = {name: {"rows": len(a), "datasets": a.dataset_counts(),
                      "audio_frames": len(a.audio), "audio_dim": a.audio_dim,
                      "video_frames": len(a.video), "video_dim": a.video_dim} for name, a in groups.items()}
    encoded = {"library_versions": library_versions(), "groups": summary, **attrs}
    texts = {}
    for key, value in encoded.items():
        try:
            texts[key] = json.dumps(value, ensure_ascii=False, allow_nan=False, default=_json_default)
        except (TypeError, ValueError) as err:
            raise ValueError(f"write_h5: attribute {key!r} cannot be stored as JSON: {err}") from None

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            f.attrs["schema_version"] = np.int64(SCHEMA_VERSION)
            for key, text in texts.items():
                f.attrs.create(key, text, dtype=_STR)
            for name in names:
                _write_group(_make_group(f, name), groups[name])


def _make_group(f: h5py.File, name: str) -> h5py.Group:
    group: h5py.Group = f
    for part in name.split("/"):
        group = group[part] if part in group else group.create_group(part, track_order=True)
    return group


def _write_group(group: h5py.Group, arrays: SplitArrays) -> None:
    for field, dataset in STRING_FIELDS.items():
        values = np.array(getattr(arrays, field), dtype=object).reshape(len(arrays))
        group.create_dataset(dataset, data=values, dtype=_STR, track_times=False)
    for name in NUMERIC_DATASETS:
        # No chunks, no filters: contiguous storage, readable through np.memmap.
        group.create_dataset(name, data=np.ascontiguousarray(getattr(arrays, name)), track_times=False)


# ----------------------------------------------------------------------------------------------
# reading


def _open(path: str | Path) -> h5py.File:
    """`path` opened read-only, its schema version checked."""
    path = Path(path)
    if not path.exists():
        raise SchemaError(path, "file not found")
    if path.is_dir():
        raise SchemaError(path, "is a directory, expected an HDF5 file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise SchemaError(path, f"not a readable HDF5 file ({err})") from None
    version = f.attrs.get("schema_version")
    if version is None:
        f.close()
        raise SchemaError(path, f"no schema_version attribute; expected {SCHEMA_VERSION} "
                                f"(not a file written by unimse_core.io.hdf5?)")
    if isinstance(version, np.generic):
        version = version.item()
    if not isinstance(version, int) or isinstance(version, bool) or version != SCHEMA_VERSION:
        f.close()
        raise SchemaError(path, f"schema_version {version!r}, this code reads {SCHEMA_VERSION}; "
                                f"rerun the stage that wrote it")
    return f


def _leaf_groups(f: h5py.File) -> list[str]:
    found: list[str] = []

    def visit(group: h5py.Group, prefix: str) -> None:
        for key, item in group.items():
            if isinstance(item, h5py.Group):
                name = f"{prefix}{key}"
                if "id" in item:
                    found.append(name)
                visit(item, name + "/")

    visit(f, "")
    return found


def list_groups(path: str | Path) -> list[str]:
    """The split groups of a file ("train", "test/mosi", ...), in the order they were written."""
    with _open(path) as f:
        return _leaf_groups(f)


def read_attrs(path: str | Path) -> dict[str, Any]:
    """The root attributes: `schema_version` (int) and every other attribute decoded from JSON."""
    with _open(path) as f:
        out: dict[str, Any] = {"schema_version": int(f.attrs["schema_version"])}
        for key, value in f.attrs.items():
            if key == "schema_version":
                continue
            if isinstance(value, bytes):
                value = value.decode("utf-8")
            try:
                out[key] = json.loads(value)
            except (TypeError, ValueError):
                raise SchemaError(path, f"attribute {key!r} is not JSON text: {value!r}") from None
        return out


def read_h5(path: str | Path, group: str, *, mmap_over_bytes: int | None = None) -> SplitArrays:
    """Split group `group` of `path`.

    With `mmap_over_bytes` set, each feature array (audio, video) bigger than that many bytes is
    returned as a read-only np.memmap onto the file instead of being loaded into memory.
    """
    record = f"group {group!r}"
    with _open(path) as f:
        node = f.get(group) if group else None
        if not isinstance(node, h5py.Group) or "id" not in node:
            present = ", ".join(_leaf_groups(f)) or "none"
            what = "holds no split data" if isinstance(node, h5py.Group) else "not found"
            raise SchemaError(path, f"{what}; split groups present: {present}", record)
        missing = [d for d in (*STRING_FIELDS.values(), *NUMERIC_DATASETS) if d not in node]
        if missing:
            raise SchemaError(path, f"missing dataset(s) {', '.join(missing)}", record)
        fields: dict[str, Any] = {}
        try:
            for field, dataset in STRING_FIELDS.items():
                if node[dataset].ndim != 1 or node[dataset].dtype.kind != "O":
                    raise SchemaError(path, f"dataset {dataset!r}: expected a 1-d array of strings, got "
                                            f"shape {node[dataset].shape}, dtype {node[dataset].dtype}", record)
                fields[field] = node[dataset].asstr()[()].tolist()
            for name in NUMERIC_DATASETS:
                threshold = mmap_over_bytes if name in MODALITIES else None
                fields[name] = _read_numeric(Path(path), node[name], threshold)
        except (TypeError, ValueError, OSError) as err:
            raise SchemaError(path, f"unreadable dataset: {err}", record) from None
    try:
        return SplitArrays(**fields)
    except ValueError as err:
        raise SchemaError(path, f"inconsistent data: {err}", record) from None


def _read_numeric(path: Path, ds: h5py.Dataset, mmap_over_bytes: int | None) -> np.ndarray:
    if mmap_over_bytes is not None and ds.nbytes > mmap_over_bytes:
        offset = ds.id.get_offset()
        mappable = (ds.chunks is None and ds.compression is None and offset is not None
                    and ds.dtype.isnative and ds.dtype.kind == "f")
        if mappable:
            return np.memmap(path, mode="r", dtype=ds.dtype, offset=offset, shape=ds.shape)
    return ds[()]
