"""Rows of a request file -> the model's input rows, and generated labels -> output rows (`unimse predict`).

A request row holds `text` and optionally `id`, `audio` and `video` (paths of .npy files
[frames, model.feature_dim], relative to the request file's folder). Without conversations
(`none`) each row is an MSA-style utterance: `msa_input`. With conversations (the name of a
registered dataset whose input is a conversation window, `CONVERSATIONS`) every row also holds
`dialogue_id`, `speaker` and `turn` (integers 0, 1, 2, ... or 1, 2, 3, ... within a dialogue, no
gap, no repeat, rows in any order), and its input is the context window that preprocessing builds
for that dataset, by the very functions preprocessing calls (the dataset's `request_inputs`;
docs/inputs-and-targets.md): so a turn's input string is identical to the one the model saw in
training for the same dialogue and `text` settings.

The output columns follow the model's universal-label layout (`label_columns`).
Every problem is a RawDataError naming the request file, the row's line and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unimse_core import datasets
from unimse_core.config import TextConfig
from unimse_core.datasets.msa import msa_inputs
from unimse_core.features import pack
from unimse_core.io.errors import RawDataError
from unimse_core.io.hdf5 import SplitArrays
from unimse_core.io.model_folder import run_label_layout
from unimse_core.io.requests import Rows, read_frames
from unimse_core.universal import DEFAULT_SCHEMA, LabelSchema

NO_CONVERSATIONS = "none"
CONVERSATIONS: tuple[str, ...] = (NO_CONVERSATIONS, *(n for n, d in datasets.REGISTRY.items()
                                                      if d.conversation_input))
"""The choices of `--conversations`: none, then every registered dataset whose input is a conversation window."""
CONVERSATION_COLUMNS: tuple[str, ...] = ("dialogue_id", "speaker", "turn")
REQUEST_DATASET = ""
"""The `dataset` of the rows `unimse predict` builds: they belong to no dataset (only training, which
balances and scores per dataset, and the test sets read the column)."""


def label_columns(schema: LabelSchema) -> tuple[str, ...]:
    """The label columns of the output: the generated text, whether it parses and why not, then every field
    of the model's layout (polarity, score, one per emotion slot)."""
    return ("generated", "valid", "parse_error", *schema.fields)


def _require(rows: Rows, columns: Sequence[str], why: str) -> None:
    for i, row in enumerate(rows.rows):
        missing = [c for c in columns if c not in row]
        if missing:
            raise RawDataError(rows.path, f"missing column(s) {', '.join(missing)} ({why}); "
                               f"columns present: {', '.join(rows.columns) or 'none'}", rows.records[i])


def _string(rows: Rows, i: int, column: str, *, empty_ok: bool = False) -> str:
    value = rows.rows[i][column]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and column != "text":
        value = str(value)
    if not isinstance(value, str):
        raise RawDataError(rows.path, f"column {column}: expected a string, got {json_type(value)}", rows.records[i])
    if not empty_ok and not value.strip():
        raise RawDataError(rows.path, f"column {column} is empty or only whitespace; expected "
                           + ("the utterance's words" if column == "text" else f"a {column.replace('_', ' ')}"),
                           rows.records[i])
    return value


def _turn(rows: Rows, i: int) -> int:
    value = rows.rows[i]["turn"]
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise RawDataError(rows.path, f"column turn: expected an integer (0, 1, 2, ... within the dialogue), "
                       f"got {value!r}", rows.records[i])


def json_type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def request_inputs(rows: Rows, *, conversations: str, text_config: TextConfig) -> list[str]:
    """The model input string of every row, in row order (checks every row first)."""
    if conversations not in CONVERSATIONS:
        raise ValueError(f"conversations must be one of {', '.join(CONVERSATIONS)}, got {conversations!r}")
    if not rows.rows:
        raise RawDataError(rows.path, "no row: expected a header and one utterance per row" if
                           rows.path.suffix.lower() == ".csv" else "no row: expected one JSON object per line")
    _require(rows, ("text",), "the utterance")
    texts = [_string(rows, i, "text") for i in range(len(rows.rows))]
    if conversations == NO_CONVERSATIONS:
        return msa_inputs(texts, prefix=text_config.prefix)
    dataset = datasets.get(conversations)
    _require(rows, CONVERSATION_COLUMNS, f"--conversations {conversations}")
    dialogues = [_string(rows, i, "dialogue_id") for i in range(len(rows.rows))]
    speakers = [_string(rows, i, "speaker", empty_ok=not dataset.speakers_required) for i in range(len(rows.rows))]
    turns = [_turn(rows, i) for i in range(len(rows.rows))]
    check_turns(rows, dialogues, turns)
    return dataset.request_inputs(dialogues, turns, speakers, texts, text_config)


def check_turns(rows: Rows, dialogues: Sequence[str], turns: Sequence[int]) -> None:
    """Within each dialogue the turns are consecutive integers with no gap and no repeat."""
    members: dict[str, list[int]] = {}
    for i, d in enumerate(dialogues):
        members.setdefault(d, []).append(i)
    for dialogue, index in members.items():
        index.sort(key=lambda i: turns[i])
        for a, b in zip(index, index[1:]):
            if turns[b] == turns[a]:
                raise RawDataError(rows.path, f"dialogue {dialogue!r}: turn {turns[a]} repeats ({rows.records[a]} "
                                   f"and {rows.records[b]}); expected each turn once", rows.records[b])
            if turns[b] != turns[a] + 1:
                raise RawDataError(rows.path, f"dialogue {dialogue!r}: turn {turns[a] + 1} is missing (turns jump "
                                   f"from {turns[a]} to {turns[b]}); expected consecutive turns, no gap",
                                   rows.records[b])


def request_arrays(rows: Rows, inputs: Sequence[str], *, feature_dim: int) -> SplitArrays:
    """The rows as a split the data loader reads: inputs, and audio/video frames read from the rows'
    .npy paths (an empty cell or no column: no frames, as text-only data), NaN/inf set to 0 by packing."""
    base = rows.path.parent
    sequences: dict[str, list[np.ndarray | None]] = {}
    for name in ("audio", "video"):
        sequences[name] = []
        for i, row in enumerate(rows.rows):
            cell = row.get(name)
            if cell is None or (isinstance(cell, str) and not cell.strip()):
                sequences[name].append(None)
                continue
            if not isinstance(cell, str):
                raise RawDataError(rows.path, f"column {name}: expected the path of a .npy file, got "
                                   f"{json_type(cell)}", rows.records[i])
            path = Path(cell.strip())
            sequences[name].append(read_frames(path if path.is_absolute() else base / path, name=name,
                                               feature_dim=feature_dim, source=rows.path, record=rows.records[i]))
    return request_split([str(i) for i in range(len(inputs))], inputs, sequences["audio"], sequences["video"],
                         feature_dim=feature_dim)


def request_split(ids: Sequence[str], inputs: Sequence[str], audio: Sequence[np.ndarray | None],
                  video: Sequence[np.ndarray | None], *, feature_dim: int) -> SplitArrays:
    """Request rows as a split the data loader reads (`unimse predict`'s file and single utterance): each
    row's frames [T, feature_dim] (None: none, as text-only data) packed with NaN/inf set to 0, no gold,
    and the dataset REQUEST_DATASET."""
    frames: dict[str, Any] = {}
    for name, sequences in (("audio", audio), ("video", video)):
        packed = pack([None if s is None else s.astype(np.float32, copy=False) for s in sequences], feature_dim)
        frames.update({name: packed.frames, f"{name}_offset": packed.offset, f"{name}_length": packed.length})
    n = len(inputs)
    return SplitArrays(ids=list(ids), dataset=[REQUEST_DATASET] * n, inputs=list(inputs), targets=[""] * n,
                       gold_score=np.full(n, np.nan, dtype=np.float32), gold_emotion=[""] * n, polarity=[""] * n,
                       **frames)


def output_rows(rows: Rows, inputs: Sequence[str], generated: Sequence[str], *, conversations: str,
                model_id: str, schema: LabelSchema) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows) of the output file: the request's line, its id (when given) and conversation
    columns, the input built, the generated label (`label_columns` of the model's layout `schema`), the
    model's id."""
    if len(generated) != len(rows.rows) or len(inputs) != len(rows.rows):
        raise ValueError(f"{len(generated)} generated texts and {len(inputs)} inputs for {len(rows.rows)} rows")
    conversation = CONVERSATION_COLUMNS if conversations != NO_CONVERSATIONS else ()
    keep = [c for c in ("id", *conversation) if c in rows.columns]
    columns = ["record", *keep, "input", *label_columns(schema), "model_id"]
    out = []
    for row, record, input_text, text_out in zip(rows.rows, rows.records, inputs, generated):
        parsed = schema.parse(text_out)
        out.append({"record": record, **{c: row.get(c) for c in keep}, "input": input_text, "generated": text_out,
                    "valid": parsed.valid, "parse_error": parsed.reason, "polarity": parsed.polarity,
                    **parsed.slots, "model_id": model_id})
    return columns, out


def model_id(run: Mapping[str, Any] | None, weights: Sequence[Path]) -> str:
    """The model's identity: the train stage's `run_id` from run.json, else `sha256:` of its weight files."""
    if run and isinstance(run.get("run_id"), str):
        return run["run_id"]
    import hashlib

    from unimse_core.io.manifest import sha256_file

    present = [w for w in weights if w.is_file()]
    if not present:
        return "unknown"
    digest = hashlib.sha256("".join(f"{w.name}:{sha256_file(w)}\n" for w in present).encode()).hexdigest()
    return f"sha256:{digest}"


def model_schema(run: Mapping[str, Any] | None, run_file: Path) -> tuple[LabelSchema, str]:
    """(the universal-label layout the model generates, a note where it is assumed): run.json's
    `label_layout`; a folder without run.json, or a run.json written before the layout was recorded,
    holds a model of the paper's layout (the merged files of that time had no other), said in the note."""
    layout = run_label_layout(run)
    if layout is None:
        why = "no run.json" if run is None else "no label_layout in it"
        return DEFAULT_SCHEMA, (f"{run_file}: {why}; assuming the paper's label layout "
                                f"{','.join(DEFAULT_SCHEMA.fields)}")
    try:
        return LabelSchema.of(layout), ""
    except ValueError as err:
        raise ValueError(f"{run_file}: label_layout {list(layout)}: {err}") from None
