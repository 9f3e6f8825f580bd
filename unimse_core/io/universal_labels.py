"""The universal-label table, data/labels/<dataset>.csv: its one writer and reader (docs/labels.md, "Output").

Columns: id, split, text, polarity, pool, then each slot of the run's label layout
(`LabelSchema.slots`: score, then `<dataset>_emotion` per emotion dataset of data.datasets), then
`<slot>_neighbour` and `<slot>_cosine` per slot. Written by the labels stage, read by preprocess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unimse_core.io.errors import RawDataError
from unimse_core.io.tables import read_table, write_table


def table_columns(slots: Sequence[str]) -> tuple[str, ...]:
    """The columns of a table whose label layout has `slots`, in order."""
    return ("id", "split", "text", "polarity", "pool", *slots,
            *(f"{slot}_{what}" for slot in slots for what in ("neighbour", "cosine")))


def write_universal_labels(path: str | Path, columns: Mapping[str, Sequence[Any]], slots: Sequence[str]) -> None:
    """Write one dataset's table atomically; `columns` must hold exactly `table_columns(slots)`."""
    expected = table_columns(slots)
    if set(columns) != set(expected):
        raise ValueError(f"{path}: universal-label columns {sorted(columns)}, expected {list(expected)}")
    write_table(path, {name: columns[name] for name in expected})


@dataclass(frozen=True)
class UniversalLabels:
    """One dataset's universal-label table, keyed by id: `values[slot]` per row (score as float64)."""

    path: Path
    row: dict[str, int]
    split: list[str]
    polarity: list[str]
    values: dict[str, Any]

    @property
    def score(self) -> np.ndarray:
        return self.values["score"]


def read_universal_labels(path: str | Path, slots: Sequence[str]) -> UniversalLabels:
    """The table at `path`; RawDataError naming the file and line on a missing column (another label
    layout: rerun the labels stage with the same data.datasets), a duplicate id or a non-numeric score."""
    path = Path(path)
    columns = read_table(path, ("id", "split", "polarity", *slots))
    row: dict[str, int] = {}
    for i, uid in enumerate(columns["id"]):
        if uid in row:
            raise RawDataError(path, f"duplicate id {uid!r} (first on line {row[uid] + 2})", f"line {i + 2}")
        row[uid] = i
    try:
        score = np.array([float(s) for s in columns["score"]], dtype=np.float64)
    except ValueError as err:
        raise RawDataError(path, f"column score: expected numbers ({err})") from None
    values = {slot: score if slot == "score" else columns[slot] for slot in slots}
    return UniversalLabels(path, row, columns["split"], columns["polarity"], values)
