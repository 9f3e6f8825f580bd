"""What every dataset's raw files share: the label table, the strict CSV helpers its label reader is
built from, the two feature-pickle formats (`msa_features`, `erc_features`) and the match between
label rows and feature rows.

The formats are documented in docs/raw-data.md. Every reader is a pure function of its files that
returns plain dataclasses and numpy arrays, and every malformed input raises `RawDataError` naming
the file, the record (line number, split/key/row or dict key) and what was expected. Nothing here
decides a policy: `match_ids` reports unmatched ids and the caller chooses to report or fail.

What is particular to a dataset (its columns, its ids, its split rule, how its rows find their
features) lives in its module of unimse_core/datasets, which calls these helpers; label tables and
features of one dataset share its ids (`LabelTable.feature_keys` holds a row's pickle key where
the two differ).

Feature sequences are returned as views into the loaded arrays (`x[i, start:stop]`), never copies,
so reading a 2 GB pickle costs the pickle and little more.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from unimse_core.datasets import REGISTRY, SPLITS, get
from unimse_core.io.errors import RawDataError
from unimse_core.io.safe_pickle import load_pickle

# Keys of one split of an MSA pickle; the label key tells the layouts apart.
AUTHORS_KEYS = ("id", "audio", "vision", "labels")
MMSA_KEYS = ("id", "audio", "vision", "regression_labels")
MMSA_LENGTH_KEYS = {"audio": "audio_lengths", "vision": "vision_lengths"}
MODALITIES = ("audio", "video")  # Features' names; the MSA pickles call video "vision"

# Rows per block when scanning a [N, L, D] array for zero frames: bounds the temporary masks.
SCAN_ROWS = 1024
# Pickled labels and label.csv scores agree within float32 rounding.
SCORE_TOLERANCE = 1e-4
EXAMPLE_ROWS = 5  # rows named in an error message

_INDEX = re.compile(r"\d+")
_TOKEN = re.compile(r"\S+")

Padding = Literal["left", "right", "none"]


@dataclass
class LabelTable:
    """One dataset's labelled utterances, in file order (one file per split: train, valid, test in turn).

    Columns that a dataset lacks are None; its module's reader says what it fills. `lines[i]` is
    the line on which row i starts in `paths[files[i]]`.
    """

    dataset: str
    paths: tuple[Path, ...]
    ids: list[str]
    splits: list[str]          # train/valid/test; "" where the files give none (until Dataset.with_splits)
    texts: list[str]
    lines: list[int]
    files: list[int]
    # score datasets
    scores: np.ndarray | None = None            # float64 [N], in [-3, 3]
    annotations: list[str] | None = None        # Positive/Negative/Neutral
    # dialogue datasets
    speakers: list[str] | None = None           # a name, or the speaker's side ("F" or "M")
    dialogues: list[str] | None = None          # the dialogue id ("<split>/<id>" where ids repeat across splits)
    feature_keys: list[str] | None = None       # the pickle key, where it is not the id
    emotions: list[str] | None = None           # one of the dataset's codes (`Dataset.codes`)
    sentiments: list[str] | None = None         # positive/negative/neutral
    utterances: np.ndarray | None = None        # int64 [N], the utterance's index in its dialogue
    # datasets whose files hold codes outside their classes
    codes: list[str] | None = None              # three-letter label code, also outside the classes
    sessions: np.ndarray | None = None          # int64 [N], the recording session
    starts: np.ndarray | None = None            # float64 [N], start time in seconds (orders a dialogue)
    in_classes: np.ndarray | None = None        # bool [N], code among the dataset's classes
    other_codes: dict[str, int] = field(default_factory=dict)  # code -> rows, codes outside the classes
    decodings: dict[str, Decoding] = field(default_factory=dict)  # path -> how its bytes were decoded

    def __len__(self) -> int:
        return len(self.ids)

    def split_counts(self) -> dict[str, int]:
        counts = Counter(self.splits)
        return {split: counts.get(split, 0) for split in SPLITS}

    def where(self, i: int) -> str:
        return f"{self.paths[self.files[i]]} line {self.lines[i]}"


@dataclass
class Features:
    """One dataset's acoustic and visual sequences, per utterance, in file order (train, valid, test).

    `audio[i]` is a float array [T_i, audio_dim] (a view into the loaded pickle, padding removed;
    NaN and inf values kept as they are). `nan_frames` counts, per modality, the kept frames holding
    at least one NaN or inf. `scores` holds the labels stored in an MSA pickle (None for ERC).
    `ids_parsed` is False when an MSA pickle's ids could not be read as `<video_id>_<clip_id>`
    (then `ids` holds them as found and rows can only be matched by position). ERC ids are the
    pickle's keys as stored; where a dataset's keys repeat across splits an utterance is (split, id)
    (`Dataset.feature_keys_unique`, `Dataset.match_features`).
    """

    dataset: str
    path: Path
    layout: Literal["authors", "mmsa", "erc", "erc_audio_only"]
    padding: Padding
    ids: list[str]
    splits: list[str]
    audio: list[np.ndarray | None]   # None: the utterance has no sequence of this modality
    video: list[np.ndarray | None]
    audio_dim: int
    video_dim: int
    nan_frames: dict[str, int]
    scores: np.ndarray | None = None
    ids_parsed: bool = True
    # ERC: per split and modality, the keys present in the other modality only (the authors fill zeros)
    modality_missing: dict[str, dict[str, int]] = field(default_factory=dict)
    modality_missing_ids: dict[str, list[str]] = field(default_factory=dict)  # modality -> "<split>/<key>"
    # MSA under features.padding auto (or an explicit side): rows whose zero frames contradict the side
    padding_votes: dict[str, int] = field(default_factory=dict)     # left/right -> rows that rule out the other
    padding_conflicts: list[str] = field(default_factory=list)      # "<split>/<key> row <i> (id ...)"
    parsed_ids: list[bool] = field(default_factory=list)            # MSA: row i's id reads as <video_id>_<clip_id>

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def defines_splits(self) -> bool:
        """Every split holds at least one utterance (else a dataset with `reference_split` falls back on it)."""
        return all(self.split_counts().values())

    def split_counts(self) -> dict[str, int]:
        counts = Counter(self.splits)
        return {split: counts.get(split, 0) for split in SPLITS}


@dataclass
class IdMatch:
    """How a label table's rows pair with a feature file's rows.

    `feature_index[i]` is the feature row of label row i, or -1. Unmatched ids are listed, not
    raised: label ids in `labels_without_features` (only rows `in_classes` are expected to have
    features, where the table says), feature ids in `features_without_labels` (as
    `Dataset.match_features` names them). `split_mismatch` lists label ids whose split the feature
    file contradicts (`Dataset.check_feature_splits`). `score_mismatch` lists label ids whose score
    in the pickle differs from the label table's. `counts[split]` has `labels`, `features` and
    `matched` rows.
    """

    dataset: str
    matched_by: Literal["id", "position", "mixed"]
    feature_index: np.ndarray
    labels_without_features: list[str]
    features_without_labels: list[str]
    split_mismatch: list[str]
    score_mismatch: list[str]
    counts: dict[str, dict[str, int]]
    split_matching: dict[str, str] = field(default_factory=dict)  # split -> "id" | "position"
    score_compared: int = 0           # matched rows whose two scores were compared
    score_max_diff: float = 0.0       # largest |pickle label - label.csv label| (inf for a NaN)


def _check_kind(dataset: str, kind: str) -> None:
    """ValueError unless `dataset` is registered with feature files of manifest kind `kind`."""
    names = [n for n, d in REGISTRY.items() if d.feature_kind == kind]
    if dataset not in names:
        raise ValueError(f"dataset must be one of {', '.join(names)}, got {dataset!r}")


# --- label tables -----------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise RawDataError(path, "file not found") from None
    except IsADirectoryError:
        raise RawDataError(path, "is a directory, expected a CSV file") from None


C1Policy = Literal["keep", "repair"]
C1_CONTROLS = re.compile("[\u0080-\u009f]")


@dataclass
class Decoding:
    """How one label file's bytes became text: for the verification report."""

    encoding: str                # utf-8 | cp1252
    detected: bool               # cp1252 chosen because the bytes are not UTF-8 (not declared)
    c1_controls: int             # U+0080..U+009F characters in the text (mis-encoded cp1252, e.g. U+0092)
    repaired: int = 0            # of them, replaced by their cp1252 character (fetch.c1_controls: repair)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _repair_c1(char: str) -> str:
    try:
        return char.encode("latin-1").decode("cp1252")
    except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d have no cp1252 character
        return char


def _decode(path: Path, data: bytes, encoding: str | None, c1_controls: C1Policy) -> tuple[str, Decoding]:
    """The text of a label file: UTF-8, or cp1252 where declared or where the bytes are not UTF-8
    but are cp1252. C1 control characters are kept as published unless `c1_controls` is repair."""
    detected = False
    if encoding == "cp1252":
        text = _decode_cp1252(path, data)
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            line = data.count(b"\n", 0, err.start) + 1
            column = err.start - (data.rfind(b"\n", 0, err.start) + 1)
            problem = (f"not valid UTF-8: byte 0x{data[err.start]:02x} at byte offset {err.start} "
                       f"(byte {column} of the line, counting from 0): {err.reason}")
            if encoding == "utf-8":
                raise RawDataError(path, f"{problem}; the manifest declares encoding utf-8 (set the entry's "
                                         "\"encoding\" to cp1252, or null to detect it)", f"line {line}") from None
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError as other:
                line = data.count(b"\n", 0, other.start) + 1
                raise RawDataError(path, f"{problem}, and not cp1252 either (byte 0x{data[other.start]:02x} at byte "
                                         f"offset {other.start}); the file must be UTF-8 or cp1252",
                                   f"line {line}") from None
            detected = True
    # A byte-order mark is valid UTF-8 but would become part of the first column's name.
    text = text.removeprefix("\ufeff")
    found = len(C1_CONTROLS.findall(text))
    decoding = Decoding("cp1252" if detected or encoding == "cp1252" else "utf-8", detected, found)
    if found and c1_controls == "repair":
        text = C1_CONTROLS.sub(lambda m: _repair_c1(m.group()), text)
        decoding.repaired = found - len(C1_CONTROLS.findall(text))
    return text, decoding


def _decode_cp1252(path: Path, data: bytes) -> str:
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise RawDataError(path, f"not valid cp1252 (declared by the manifest): byte 0x{data[err.start]:02x} at byte "
                                 f"offset {err.start}; set the entry's \"encoding\" to utf-8 or null",
                           f"line {line}") from None


def csv_rows(path: Path, required: Sequence[str], encoding: str | None = None, c1_controls: C1Policy = "keep",
              decodings: dict[str, Decoding] | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """(line on which the record starts, {column: value}) for each record of a strict CSV; how the
    bytes were decoded goes into `decodings[path]`. LF and CRLF line ends are both accepted."""
    text, decoding = _decode(path, _read_bytes(path), encoding, c1_controls)
    if decodings is not None:
        decodings[path.as_posix()] = decoding
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise RawDataError(path, f"empty file, expected a header with columns {', '.join(required)}")
        found = ", ".join(repr(h) for h in header)
        for column in required:
            if column not in header:
                raise RawDataError(path, f"missing column {column!r} (header found: {found})", "line 1")
            if header.count(column) > 1:
                raise RawDataError(path, f"column {column!r} appears twice (header found: {found})", "line 1")
        index = {column: header.index(column) for column in required}
        start = reader.line_num + 1
        for row in reader:
            if row:  # a blank line is no record
                if len(row) != len(header):
                    raise RawDataError(path, f"expected {len(header)} fields as in the header, found "
                                             f"{len(row)}", f"line {start}")
                yield start, {column: row[i] for column, i in index.items()}
            start = reader.line_num + 1
    except csv.Error as err:
        raise RawDataError(path, f"malformed CSV: {err}", f"line {reader.line_num}") from None


# The CSV helpers every dataset module's reader uses (unimse_core/datasets, docs/adding-a-dataset.md):
# every error names the file, the line, the column, what was expected and what was found.


def bad_value(path: Path, line: int, column: str, expected: str, value: str) -> RawDataError:
    """The error for a value of `column` on `line` that is not `expected`."""
    return RawDataError(path, f"column {column!r}: expected {expected}, got {value!r}", f"line {line}")


def choice(path: Path, line: int, row: Mapping[str, str], column: str, choices: Sequence[str]) -> str:
    """`row[column]`, which must be one of `choices` (exactly)."""
    value = row[column]
    if value not in choices:
        raise bad_value(path, line, column, f"one of {', '.join(choices)}", value)
    return value


def token_value(path: Path, line: int, row: Mapping[str, str], column: str, what: str) -> str:
    """`row[column]`, which must be non-empty without spaces (`what` says what it names)."""
    value = row[column]
    if not _TOKEN.fullmatch(value):
        raise bad_value(path, line, column, f"{what} (non-empty, no spaces)", value)
    return value


def index_value(path: Path, line: int, row: Mapping[str, str], column: str) -> int:
    """`row[column]` as a non-negative integer."""
    value = row[column]
    if not _INDEX.fullmatch(value):
        raise bad_value(path, line, column, "a non-negative integer", value)
    return int(value)


def text_value(path: Path, line: int, row: Mapping[str, str], column: str) -> str:
    """`row[column]`, an utterance that must not be blank (kept as found)."""
    value = row[column]
    if not value.strip():
        raise bad_value(path, line, column, "a non-empty utterance", value)
    return value


def check_unique(path: Path, ids: Sequence[str], lines: Sequence[int]) -> None:
    """RawDataError naming both lines of the first id that repeats."""
    first: dict[str, int] = {}
    for uid, line in zip(ids, lines):
        if uid in first:
            raise RawDataError(path, f"duplicate id {uid!r}: also on line {first[uid]}", f"line {line}")
        first[uid] = line


def check_no_empty_split(path: Path, dataset: str, splits: Sequence[str]) -> None:
    """RawDataError naming the first of train, valid, test that no row of `splits` has."""
    counts = Counter(splits)
    for split in SPLITS:
        if not counts[split]:
            found = ", ".join(f"{s} {counts[s]}" for s in SPLITS)
            raise RawDataError(path, f"{dataset}: split {split!r} has no rows (rows per split: {found})")


# --- feature pickles ----------------------------------------------------------------------------


def _splits_of(path: Path, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise RawDataError(path, f"expected a dict with keys {', '.join(SPLITS)}, found a {type(data).__name__}")
    missing = [split for split in SPLITS if split not in data]
    if missing:
        raise RawDataError(path, f"missing split(s) {', '.join(missing)}: expected keys {', '.join(SPLITS)}, "
                                 f"found {', '.join(map(repr, data))}")
    return {split: data[split] for split in SPLITS}


def _msa_layout(path: Path, split: str, block: Any) -> Literal["authors", "mmsa"]:
    if not isinstance(block, dict):
        raise RawDataError(path, f"expected a dict of arrays, found a {type(block).__name__}", split)
    found = ", ".join(map(repr, block))
    layout: Literal["authors", "mmsa"] = "mmsa" if "regression_labels" in block else "authors"
    expected = MMSA_KEYS if layout == "mmsa" else AUTHORS_KEYS
    missing = [key for key in expected if key not in block]
    if missing:
        raise RawDataError(path, f"missing key(s) {', '.join(map(repr, missing))}: expected the authors' "
                                 f"layout ({', '.join(AUTHORS_KEYS)}) or the MMSA layout "
                                 f"({', '.join(MMSA_KEYS)}, optionally {', '.join(MMSA_LENGTH_KEYS.values())}); "
                                 f"found {found}", split)
    return layout


def _id_part(value: Any) -> str | None:
    """One id or id part as text; None where it is neither text nor an integer."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return None


def _msa_ids(path: Path, split: str, raw: Any) -> tuple[list[str], list[bool]]:
    """Ids of one split as `<video_id>_<clip_id>` and whether every one of them could be read so.

    Accepted: [N] or [N, 1] of `b"vid_cid"`/`"vid_cid"`/MMSA `"vid$_$cid"`, or [N, 2] pairs
    [video_id, clip_id], the clip id an integer. Anything else is kept as its text, for messages,
    and can only be matched by position.
    """
    try:
        array = np.asarray(raw, dtype=object)
    except ValueError:
        array = np.empty((), dtype=object)
    if array.ndim == 0:
        raise RawDataError(path, f"expected one id per row, found {type(raw).__name__} {str(raw)[:80]!r}",
                           f"{split}/id")
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    pairs = array.ndim == 2 and array.shape[1] == 2
    ids: list[str] = []
    parsed: list[bool] = []
    for i in range(len(array)):
        try:
            if pairs:
                video, clip = _id_part(array[i, 0]), _id_part(array[i, 1])
                text = f"{video}_{clip}" if video and clip else None
            elif array.ndim == 1:
                text = _id_part(array[i])
                text = text.replace("$_$", "_") if text is not None else None
            else:
                text = None
        except UnicodeDecodeError as err:
            raise RawDataError(path, f"id is not valid UTF-8 ({err.reason})", f"{split}/id row {i}") from None
        # clip ids are integers in every release: "vid[3]" or "a_b[3]" are not "<video_id>_<clip_id>"
        video, _, clip = (text or "").rpartition("_")
        ok = bool(video) and clip.isdigit()
        if not ok:
            text = text if text is not None else str(np.asarray(array[i]).tolist())
        ids.append(text)
        parsed.append(ok)
    return ids, parsed


def _sequence_array(path: Path, split: str, key: str, value: Any) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.ndim != 3:
        what = (f"a {value.ndim}-D {value.dtype} array of shape {value.shape}" if isinstance(value, np.ndarray)
                else f"a {type(value).__name__}")
        raise RawDataError(path, f"expected a 3-D float array [utterances, frames, features], found {what}",
                           f"{split}/{key}")
    if value.shape[2] == 0:
        raise RawDataError(path, f"expected at least one feature per frame, found shape {value.shape}",
                           f"{split}/{key}")
    return value


@dataclass
class _Scan:
    """Zero-frame runs of one [N, L, D] array: lead[i]/trail[i] all-zero frames at the start/end of
    row i (L for an all-zero row) and which frames hold a NaN or inf."""

    lead: np.ndarray      # int64 [N]
    trail: np.ndarray     # int64 [N]
    nonfinite: np.ndarray  # bool [N, L]


def _scan(x: np.ndarray) -> _Scan:
    n, length, _ = x.shape
    lead = np.empty(n, dtype=np.int64)
    trail = np.empty(n, dtype=np.int64)
    nonfinite = np.empty((n, length), dtype=bool)
    for s in range(0, n, SCAN_ROWS):
        block = x[s:s + SCAN_ROWS]                          # [b, L, D], a view
        nonzero = (block != 0).any(axis=2)                  # [b, L]; a NaN frame is not a zero frame
        nonfinite[s:s + SCAN_ROWS] = ~np.isfinite(block).all(axis=2)
        seen = nonzero.any(axis=1)
        lead[s:s + SCAN_ROWS] = np.where(seen, nonzero.argmax(axis=1), length)
        trail[s:s + SCAN_ROWS] = np.where(seen, nonzero[:, ::-1].argmax(axis=1), length)
    return _Scan(lead, trail, nonfinite)


def _lengths(path: Path, split: str, key: str, value: Any, n: int, length: int) -> np.ndarray:
    array = np.asarray(value)
    ok = array.shape == (n,) and array.dtype.kind in "iuf"
    if ok and array.dtype.kind == "f":
        ok = bool(np.all(np.isfinite(array)) and np.all(array == np.round(array)))
    if ok:
        array = array.astype(np.int64)
        ok = bool(np.all((array >= 0) & (array <= length)))
    if not ok:
        raise RawDataError(path, f"expected {n} integer frame counts in [0, {length}], found "
                                 f"{array.dtype} array of shape {array.shape}", f"{split}/{key}")
    return array


@dataclass
class _Modality:
    split: str
    key: str                         # the pickle's key: audio or vision
    x: np.ndarray                    # [N, L, D]
    scan: _Scan
    lengths: np.ndarray | None       # int64 [N] where the pickle gives them
    offset: int                      # index of the split's first row in Features.ids


def _padding_evidence(m: _Modality) -> tuple[np.ndarray, np.ndarray]:
    """Rows of one array that rule out right padding, and rows that rule out left padding.

    With lengths: frames outside the counted ones must be all zero on the padded side. Without:
    a row whose only all-zero run leads rules out right padding, one whose only run trails rules
    out left padding; rows with zero frames at both ends, inside only, or everywhere say nothing.
    """
    length = m.x.shape[1]
    lead, trail = m.scan.lead, m.scan.trail
    if m.lengths is not None:
        pad = length - m.lengths
        return np.flatnonzero(trail < pad), np.flatnonzero(lead < pad)
    partial = lead < length
    return (np.flatnonzero(partial & (lead > 0) & (trail == 0)),
            np.flatnonzero(partial & (trail > 0) & (lead == 0)))


def _describe_row(m: _Modality, row: int, ids: Sequence[str], side: str) -> str:
    where = f"{m.split}/{m.key} row {row} (id {ids[m.offset + row]!r})"
    length = m.x.shape[1]
    if m.lengths is not None:
        pad = length - int(m.lengths[row])
        frames = f"frames {length - pad}..{length - 1}" if side == "right" else f"frames 0..{pad - 1}"
        return f"{where} has {MMSA_LENGTH_KEYS[m.key]} {m.lengths[row]} of {length} but {frames} are not all zero"
    lead, trail = int(m.scan.lead[row]), int(m.scan.trail[row])
    return f"{where} has {lead} leading and {trail} trailing all-zero frames"


def _resolve_padding(path: Path, modalities: Sequence[_Modality], ids: Sequence[str],
                     padding: Literal["auto", "left", "right", "none"]) -> Padding:
    """One padding side for the whole file, from the evidence of every row of every array."""
    evidence = [(m, *_padding_evidence(m)) for m in modalities]
    not_right = [(m, int(rows[0])) for m, rows, _ in evidence if len(rows)]
    not_left = [(m, int(rows[0])) for m, _, rows in evidence if len(rows)]
    n_not_right = sum(len(rows) for _, rows, _ in evidence)
    n_not_left = sum(len(rows) for _, _, rows in evidence)
    if padding != "auto":
        # An explicit side overrides the zero-frame evidence, but never the lengths a file gives.
        for m, rules_out_right, rules_out_left in evidence:
            if m.lengths is None:
                continue
            rows = {"left": rules_out_left, "right": rules_out_right,
                    "none": np.flatnonzero(m.lengths < m.x.shape[1])}[padding]
            if len(rows):
                row = int(rows[0])
                problem = (f"{m.split}/{m.key} row {row} has {MMSA_LENGTH_KEYS[m.key]} {m.lengths[row]} "
                           f"of {m.x.shape[1]} frames"
                           if padding == "none" else _describe_row(m, row, ids, padding))
                raise RawDataError(path, f"padding {padding!r} was asked for, but {problem}",
                                   f"{m.split}/{m.key} row {row}")
        return padding
    if not_right and not_left and n_not_right == n_not_left:
        (m_r, row_r), (m_l, row_l) = not_right[0], not_left[0]
        problem = (f"cannot tell the padding side: as many rows ({n_not_right}) rule out right padding, e.g. "
                   f"{_describe_row(m_r, row_r, ids, 'right')}, as rule out left padding, e.g. "
                   f"{_describe_row(m_l, row_l, ids, 'left')}; set features.padding: left or right")
        raise RawDataError(path, problem, f"{m_r.split}/{m_r.key} row {row_r}, {m_l.split}/{m_l.key} row {row_l}")
    if n_not_right > n_not_left:
        return "left"
    if n_not_left > n_not_right:
        return "right"
    if any(np.any(m.lengths < m.x.shape[1]) for m in modalities if m.lengths is not None):
        return "right"  # only all-zero rows are short: either side gives the same frames; MMSA pads right
    return "none"


def _padding_conflicts(modalities: Sequence[_Modality], ids: Sequence[str], side: Padding) -> list[str]:
    """Rows whose zero frames contradict `side` (under auto: the minority), as `<split>/<key> row i (id ...)`."""
    if side == "none":
        return []
    out = []
    for m in modalities:
        rules_out_right, rules_out_left = _padding_evidence(m)
        rows = rules_out_left if side == "left" else rules_out_right
        out.extend(f"{m.split}/{m.key} row {int(r)} (id {ids[m.offset + int(r)]!r})" for r in rows)
    return out


def _padding_votes(modalities: Sequence[_Modality]) -> dict[str, int]:
    votes = {"left": 0, "right": 0}
    for m in modalities:
        rules_out_right, rules_out_left = _padding_evidence(m)
        votes["left"] += len(rules_out_right)
        votes["right"] += len(rules_out_left)
    return votes


def _bounds(m: _Modality, padding: Padding) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last true frame of each row."""
    length = m.x.shape[1]
    n = m.x.shape[0]
    if padding == "none":
        return np.zeros(n, dtype=np.int64), np.full(n, length, dtype=np.int64)
    if m.lengths is not None:
        kept = m.lengths
    else:
        kept = length - (m.scan.lead if padding == "left" else m.scan.trail)
    if padding == "left":
        return length - kept, np.full(n, length, dtype=np.int64)
    return np.zeros(n, dtype=np.int64), kept


def read_msa_features(path: str | Path, dataset: str,
                      padding: Literal["auto", "left", "right", "none"] = "auto") -> Features:
    """An `msa_features` pickle in the authors' or the MMSA layout (told apart by the label key).

    Padding (all-zero frames) is removed on one side for the whole file (`features.padding`).
    `auto` finds the side: from the MMSA lengths where given (frames outside them must be all zero),
    else from the rows whose all-zero frames lead (left) or trail (right). The side that more rows
    agree with wins; the rows that contradict it are kept whole and named in `padding_conflicts`.
    A tie is an error that an explicit `padding` settles.
    """
    _check_kind(dataset, "msa_features")
    if padding not in ("auto", "left", "right", "none"):
        raise ValueError(f"padding must be auto, left, right or none, got {padding!r}")
    path = Path(path)
    blocks = _splits_of(path, load_pickle(path))
    layouts = {split: _msa_layout(path, split, block) for split, block in blocks.items()}
    if len(set(layouts.values())) > 1:
        raise RawDataError(path, "splits mix the authors' and the MMSA layouts: "
                                 + ", ".join(f"{s} {layout}" for s, layout in layouts.items()))
    layout = layouts["train"]
    label_key = "regression_labels" if layout == "mmsa" else "labels"
    ids: list[str] = []
    splits: list[str] = []
    scores: list[np.ndarray] = []
    scores_known = True
    parsed_ids: list[bool] = []
    modalities: list[_Modality] = []
    dims: dict[str, tuple[int, str]] = {}
    for split, block in blocks.items():
        split_ids, parsed = _msa_ids(path, split, block["id"])
        parsed_ids.extend(parsed)
        arrays = {key: _sequence_array(path, split, key, block[key]) for key in ("audio", "vision")}
        labels = np.asarray(block[label_key])
        rows = {"id": len(split_ids), "audio": arrays["audio"].shape[0], "vision": arrays["vision"].shape[0],
                label_key: labels.shape[0] if labels.ndim else 0}
        if len(set(rows.values())) > 1:
            shapes = {"audio": arrays["audio"].shape, "vision": arrays["vision"].shape, label_key: labels.shape}
            raise RawDataError(path, "row counts differ: " + ", ".join(
                f"{key} {n}" + (f" (shape {shapes[key]})" if key in shapes else "") for key, n in rows.items())
                + "; every key must hold one row per utterance", split)
        n = len(split_ids)
        if labels.dtype.kind in "iuf" and labels.size == n:
            scores.append(labels.reshape(n).astype(np.float64))
        else:
            scores_known = False
        for key, x in arrays.items():
            name = "audio" if key == "audio" else "video"
            if name in dims and dims[name][0] != x.shape[2]:
                raise RawDataError(path, f"{x.shape[2]} features per frame (shape {x.shape}), but "
                                         f"{dims[name][1]}/{key} has {dims[name][0]}", f"{split}/{key}")
            dims.setdefault(name, (x.shape[2], split))
            length_key = MMSA_LENGTH_KEYS[key]
            lengths = (_lengths(path, split, length_key, block[length_key], n, x.shape[1])
                       if layout == "mmsa" and length_key in block else None)
            modalities.append(_Modality(split, key, x, _scan(x), lengths, len(ids)))
        ids.extend(split_ids)
        splits.extend([split] * n)
    ids_parsed = all(parsed_ids)
    if ids_parsed:
        _check_unique_features(path, ids, splits)
    side = _resolve_padding(path, modalities, ids, padding)
    conflicts = _padding_conflicts(modalities, ids, side)
    votes = _padding_votes(modalities)
    sequences: dict[str, list[np.ndarray]] = {"audio": [], "video": []}
    nan_frames = {"audio": 0, "video": 0}
    for m in modalities:
        name = "audio" if m.key == "audio" else "video"
        starts, stops = _bounds(m, side)
        for i, (start, stop) in enumerate(zip(starts.tolist(), stops.tolist())):
            sequences[name].append(m.x[i, start:stop])
            nan_frames[name] += int(m.scan.nonfinite[i, start:stop].sum())
    # sequences were appended split by split for audio and video alike, so they stay row-aligned.
    return Features(dataset=dataset, path=path, layout=layout, padding=side, ids=ids, splits=splits,
                    audio=sequences["audio"], video=sequences["video"], audio_dim=dims["audio"][0],
                    video_dim=dims["video"][0], nan_frames=nan_frames,
                    scores=np.concatenate(scores) if scores_known else None, ids_parsed=ids_parsed,
                    parsed_ids=parsed_ids,
                    padding_votes=votes, padding_conflicts=conflicts)


def _check_unique_features(path: Path, ids: Sequence[str], splits: Sequence[str]) -> None:
    first: dict[str, tuple[str, int]] = {}
    offsets = Counter[str]()
    for uid, split in zip(ids, splits):
        row = offsets[split]
        offsets[split] += 1
        if uid in first:
            other_split, other_row = first[uid]
            raise RawDataError(path, f"duplicate id {uid!r}: also {other_split}/id row {other_row}",
                               f"{split}/id row {row}")
        first[uid] = (split, row)


def _erc_key(path: Path, where: str, key: Any) -> str:
    if isinstance(key, bytes):
        try:
            return key.decode("utf-8")
        except UnicodeDecodeError:
            raise RawDataError(path, f"key {key!r} is not valid UTF-8", where) from None
    if not isinstance(key, str):
        raise RawDataError(path, f"expected string keys '<dialogue>_<utterance>', found {type(key).__name__} "
                                 f"{key!r}", where)
    return key


def _frames(path: Path, where: str, value: Any) -> np.ndarray:
    array = value if isinstance(value, np.ndarray) else np.asarray(value) if isinstance(value, list) else None
    if array is None or array.dtype.kind != "f" or array.ndim not in (1, 2):
        what = (f"a {array.ndim}-D {array.dtype} array of shape {array.shape}" if array is not None
                else f"a {type(value).__name__}")
        raise RawDataError(path, f"expected a float array [frames, features] (or [features]), found {what}", where)
    return array.reshape(1, -1) if array.ndim == 1 else array


def _erc_parts(path: Path, data: Any) -> tuple[dict[str, list[dict[Any, Any]]], Literal["erc", "erc_audio_only"]]:
    """{'audio': [train, dev, test], 'video': [...]} from either published layout: the dict of the
    authors' 0610 release, or the older list of three audio-only dicts (the 0424 release)."""
    if isinstance(data, (list, tuple)) and len(data) == len(SPLITS) and all(isinstance(d, dict) for d in data):
        return {"audio": list(data), "video": [{} for _ in SPLITS]}, "erc_audio_only"
    if not isinstance(data, dict):
        what = f"a {type(data).__name__}" + (f" of length {len(data)}" if isinstance(data, (list, tuple)) else "")
        raise RawDataError(path, f"expected a dict with keys 'audio' and 'video' (the 0610 layout) or a list of "
                                 f"{len(SPLITS)} audio dicts train, dev, test (the 0424 layout), found {what}")
    for modality in MODALITIES:
        if modality not in data:
            raise RawDataError(path, f"missing key {modality!r}: expected keys 'audio', 'video', found "
                                     f"{', '.join(map(repr, data))}")
        parts = data[modality]
        if not isinstance(parts, (list, tuple)) or len(parts) != len(SPLITS):
            what = f"a {type(parts).__name__}"
            if isinstance(parts, (list, tuple)):
                what += f" of length {len(parts)}"
            raise RawDataError(path, f"expected a list of {len(SPLITS)} dicts (train, dev, test), found {what}",
                               modality)
        for position, part in enumerate(parts):
            if not isinstance(part, dict):
                raise RawDataError(path, f"expected a dict key -> array, found a {type(part).__name__}",
                                   f"{modality}[{position}]")
    return {m: list(data[m]) for m in MODALITIES}, "erc"


def read_erc_features(path: str | Path, dataset: str) -> Features:
    """An `erc_features` pickle `{'audio': [train, dev, test], 'video': [...]}` of dicts
    key -> float [T, D], or the older list of three audio-only dicts. The split of an utterance is
    the list position of the dict holding it. A key in one modality's dict but not the other's is
    accepted: that modality is absent (None) for the utterance, and counted per split and modality
    (the policy, `features.missing`, is applied when preprocessing)."""
    _check_kind(dataset, "erc_features")
    unique_keys = REGISTRY[dataset].feature_keys_unique
    path = Path(path)
    parts, layout = _erc_parts(path, load_pickle(path))
    ids: list[str] = []
    splits: list[str] = []
    sequences: dict[str, list[np.ndarray | None]] = {"audio": [], "video": []}
    widths: dict[str, tuple[int, str]] = {}
    nan_frames = {"audio": 0, "video": 0}
    missing = {split: {m: 0 for m in MODALITIES} for split in SPLITS}
    missing_ids: dict[str, list[str]] = {m: [] for m in MODALITIES}
    split_of: dict[str, str] = {}
    for position, split in enumerate(SPLITS):
        audio, video = parts["audio"][position], parts["video"][position]
        keys = list(audio) + [key for key in video if key not in audio]
        for key in keys:
            uid = _erc_key(path, f"{'audio' if key in audio else 'video'}[{position}]", key)
            if unique_keys and uid in split_of:
                raise RawDataError(path, f"key {uid!r} is in both the {split_of[uid]} and the {split} dicts",
                                   f"audio[{position}][{key!r}]")
            split_of[uid] = split
            for modality, part in (("audio", audio), ("video", video)):
                if key not in part:
                    sequences[modality].append(None)
                    missing[split][modality] += 1
                    missing_ids[modality].append(f"{split}/{uid}")
                    continue
                where = f"{modality}[{position}][{key!r}]"
                frames = _frames(path, where, part[key])
                width = frames.shape[1]
                if modality in widths and widths[modality][0] != width:
                    raise RawDataError(path, f"{width} features per frame, but {widths[modality][1]} has "
                                             f"{widths[modality][0]}", where)
                widths.setdefault(modality, (width, where))
                sequences[modality].append(frames)
                nan_frames[modality] += int((~np.isfinite(frames)).any(axis=1).sum())
            ids.append(uid)
            splits.append(split)
    return Features(dataset=dataset, path=path, layout=layout, padding="none", ids=ids, splits=splits,
                    audio=sequences["audio"], video=sequences["video"],
                    audio_dim=widths.get("audio", (0, ""))[0], video_dim=widths.get("video", (0, ""))[0],
                    nan_frames=nan_frames, modality_missing=missing, modality_missing_ids=missing_ids)


# --- matching -----------------------------------------------------------------------------------


def match_ids(labels: LabelTable, features: Features, score_tolerance: float = SCORE_TOLERANCE) -> IdMatch:
    """Pair label rows with feature rows; unmatched ids are listed, never raised.

    The dataset pairs the rows (`Dataset.match_features`: by id unless its module says otherwise,
    e.g. by id or position for the MSA pickles, by (split, key) where keys repeat across splits)
    and judges the splits (`Dataset.check_feature_splits`). Where both files hold scores they are
    compared on every matched row (`score_mismatch`: beyond `score_tolerance`).
    """
    if labels.dataset != features.dataset:
        raise ValueError(f"labels of {labels.dataset!r} cannot be matched with features of {features.dataset!r}")
    dataset = get(labels.dataset)
    index, feature_names, split_matching = dataset.match_features(labels, features)
    matched_by: Literal["id", "position", "mixed"] = (
        "id" if set(split_matching.values()) == {"id"} else
        "position" if set(split_matching.values()) == {"position"} else "mixed")

    expected = labels.in_classes if labels.in_classes is not None else np.ones(len(labels), dtype=bool)
    labels_without = [labels.ids[i] for i in np.flatnonzero((index < 0) & expected)]
    has_label = np.zeros(len(features), dtype=bool)
    has_label[index[index >= 0]] = True
    features_without = [feature_names[j] for j in np.flatnonzero(~has_label)]

    split_mismatch, label_split = dataset.check_feature_splits(labels, features, index)

    score_mismatch: list[str] = []
    score_compared, score_max_diff = 0, 0.0
    if labels.scores is not None and features.scores is not None:
        rows = np.flatnonzero(index >= 0)
        diff = np.abs(labels.scores[rows] - features.scores[index[rows]])
        diff = np.where(np.isnan(diff), np.inf, diff)
        differ = ~(diff <= score_tolerance)
        score_mismatch = [labels.ids[i] for i in rows[differ]]
        score_compared = len(rows)
        score_max_diff = float(diff.max()) if len(rows) else 0.0

    counts = {split: {"labels": 0, "features": 0, "matched": 0} for split in SPLITS}
    for i, split in enumerate(label_split):
        if expected[i] and split in counts:
            counts[split]["labels"] += 1
    for split in features.splits:
        counts[split]["features"] += 1
    for i in np.flatnonzero(index >= 0):
        counts[features.splits[index[i]]]["matched"] += 1
    return IdMatch(dataset=labels.dataset, matched_by=matched_by, feature_index=index,
                   labels_without_features=labels_without, features_without_labels=features_without,
                   split_mismatch=split_mismatch, score_mismatch=score_mismatch, counts=counts,
                   split_matching=split_matching, score_compared=score_compared, score_max_diff=score_max_diff)
