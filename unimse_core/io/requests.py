"""The files of `unimse predict --input/--output`: utterances in, labels out, as CSV or JSONL.

The format follows the file name: `.csv` (UTF-8, a header row) or `.jsonl` (one JSON object per
line). A row is a mapping of column names to values; CSV values are strings, JSONL values are what
the line holds. Every row keeps its record name ("line 3") so that errors can name it. Outputs are
written atomically (a temporary file, then a rename): a failed run leaves no partial file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unimse_core.io.atomic import atomic_path
from unimse_core.io.errors import RawDataError

FORMATS = (".csv", ".jsonl")


@dataclass(frozen=True)
class Rows:
    """The rows of a request file: `columns` (CSV: the header; JSONL: every key seen, in order of first
    appearance), `rows` (one mapping per row) and `records` (where each row is, for error messages)."""

    path: Path
    columns: list[str]
    rows: list[dict[str, Any]]
    records: list[str]


def file_format(path: str | Path) -> str:
    """`.csv` or `.jsonl` from the file name; ValueError for any other suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: expected a .csv or .jsonl file name (the format follows the extension), "
                         f"got {suffix or 'no extension'!r}")
    return suffix


def read_rows(path: str | Path) -> Rows:
    """Every row of a .csv or .jsonl request file; RawDataError names the file and line of a bad one."""
    path = Path(path)
    fmt = file_format(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RawDataError(path, "file not found") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise RawDataError(path, f"not UTF-8 text: {err}") from None
    return _read_csv(path, text) if fmt == ".csv" else _read_jsonl(path, text)


def _read_csv(path: Path, text: str) -> Rows:
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise RawDataError(path, "empty file: expected a header row (text, ...)") from None
    except csv.Error as err:
        raise RawDataError(path, f"not a valid CSV: {err}", "line 1") from None
    rows, records = [], []
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise RawDataError(path, f"not a valid CSV: {err}", f"line {reader.line_num}") from None
        if not values:
            continue  # a blank line
        record = f"line {reader.line_num}"
        if len(values) != len(header):
            raise RawDataError(path, f"expected {len(header)} fields ({', '.join(header)}), found {len(values)}",
                               record)
        rows.append(dict(zip(header, values)))
        records.append(record)
    return Rows(path, header, rows, records)


def _read_jsonl(path: Path, text: str) -> Rows:
    columns: dict[str, None] = {}
    rows, records = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        record = f"line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise RawDataError(path, f"not valid JSON: {err}", record) from None
        if not isinstance(row, dict):
            raise RawDataError(path, f"expected a JSON object {{\"text\": ...}}, got {type(row).__name__}", record)
        columns.update(dict.fromkeys(row))
        rows.append(row)
        records.append(record)
    return Rows(path, list(columns), rows, records)


def write_rows(path: str | Path, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Write `rows` (every one holding every column) as .csv or .jsonl by the file name, atomically.

    CSV: None is written as an empty field, booleans as true/false. JSONL: values as JSON (None: null).
    """
    fmt = file_format(path)
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        if fmt == ".jsonl":
            for row in rows:
                handle.write(json.dumps({c: row[c] for c in columns}, ensure_ascii=False) + "\n")
            return
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row[c]) for c in columns])


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def read_frames(path: Path, *, name: str, feature_dim: int, source: Path, record: str):
    """The [frames, feature_dim] array of one row's .npy file (`name`: audio or video).

    Errors are RawDataError on the request file `source` and the row `record`, naming the .npy
    file and the shape expected. NaN/inf are kept: packing sets them to 0 as preprocessing does.
    """
    import numpy as np

    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise RawDataError(source, f"{name} file {path} not found", record) from None
    except (OSError, ValueError) as err:
        raise RawDataError(source, f"{name} file {path}: not a .npy array of numbers ({err})", record) from None
    if array.ndim != 2 or array.shape[1] != feature_dim:
        raise RawDataError(source, f"{name} file {path} has shape {list(array.shape)}; expected "
                           f"[frames, {feature_dim}] (the model's model.feature_dim)", record)
    if array.dtype.kind not in "biuf":
        raise RawDataError(source, f"{name} file {path}: expected numbers, got dtype {array.dtype}", record)
    return array
