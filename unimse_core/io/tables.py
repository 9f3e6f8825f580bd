"""Column tables as CSV (UTF-8, header row): the universal-label tables and the prediction tables."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from unimse_core.io.atomic import atomic_path
from unimse_core.io.errors import RawDataError


def write_table(path: str | Path, columns: Mapping[str, Sequence[Any]]) -> None:
    """Write equal-length columns as a CSV, atomically; floats keep their full repr (NaN as empty)."""
    names = list(columns)
    n = {len(columns[name]) for name in names}
    if len(n) > 1:
        raise ValueError(f"columns of unequal length: { {name: len(columns[name]) for name in names} }")
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in zip(*(columns[name] for name in names)):
            writer.writerow(["" if isinstance(v, float) and v != v else v for v in row])


def read_table(path: str | Path, required: Sequence[str]) -> dict[str, list[str]]:
    """The columns of a CSV written by `write_table`, as strings; the `required` ones must exist."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8", newline="")
    except FileNotFoundError:
        raise RawDataError(path, "file not found") from None
    with handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader)
            rows = list(reader)
        except StopIteration:
            raise RawDataError(path, "empty file: expected a header row") from None
        except (csv.Error, UnicodeDecodeError) as err:
            raise RawDataError(path, f"not a valid UTF-8 CSV: {err}", f"line {reader.line_num}") from None
    missing = [name for name in required if name not in header]
    if missing:
        raise RawDataError(path, f"missing column(s) {', '.join(missing)}; header: {', '.join(header)}")
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise RawDataError(path, f"expected {len(header)} fields, found {len(row)}", f"line {i + 2}")
    return {name: [row[j] for row in rows] for j, name in enumerate(header)}
