"""MELD: Friends dialogues, 7 emotions and a sentiment per utterance (docs/raw-data.md, docs/labels.md).

Files: the official {train,dev,test}_sent_emo.csv (`read_meld_labels`); ids
`<split>/<Dialogue_ID>_<Utterance_ID>` (the bare ids repeat across splits, and so do the feature
pickle's keys `<Dialogue_ID>_<Utterance_ID>`: `match_features` looks a row up in its own split).
Pool: its Sentiment column. Input: the context window with speakers, the dialogue ordered by
Utterance_ID.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unimse_core.context import check_lengths, clean, join, window_inputs
from unimse_core.datasets.base import SPLITS, Dataset, LabelFile, TransferRow, sentiment_pool
from unimse_core.io.errors import RawDataError

if TYPE_CHECKING:
    from unimse_core.config import TextConfig
    from unimse_core.io.raw import C1Policy, Features, LabelTable

EMOTIONS: tuple[str, ...] = ("neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear")
SENTIMENTS: tuple[str, ...] = ("positive", "negative", "neutral")
COLUMNS: tuple[str, ...] = ("Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID")


def read_meld_labels(paths: Mapping[str, str | Path], *, encodings: Mapping[str, str | None] | None = None,
                     c1_controls: C1Policy = "keep") -> LabelTable:
    """The three MELD *_sent_emo.csv files, given as {split: path} (split train/valid/test; "dev" is
    accepted for valid). Ids are `<split>/<Dialogue_ID>_<Utterance_ID>`. `encodings[split]` is the
    declared encoding of a file (None: detected); the official files are UTF-8 with CRLF line ends,
    the authors' copies UTF-8 with C1 controls and LF, and cp1252 copies circulate."""
    from unimse_core.io import raw

    by_split: dict[str, Path] = {}
    for split, path in paths.items():
        canonical = "valid" if split == "dev" else split
        if canonical not in SPLITS or canonical in by_split:
            raise ValueError(f"MELD label files must be given once per split train, valid (or dev), test; "
                             f"got {sorted(map(str, paths))}")
        by_split[canonical] = Path(path)
    missing = [split for split in SPLITS if split not in by_split]
    if missing:
        # A release without one of the three files is a data problem, not a programming error.
        folder = next(iter(by_split.values())).parent if by_split else Path(".")
        raise RawDataError(folder, f"meld: no label file for split(s) {', '.join(missing)} (given: "
                                   f"{', '.join(f'{s} {p.name}' for s, p in by_split.items()) or 'none'})")
    columns: dict[str, list[Any]] = {name: [] for name in (
        "ids", "splits", "texts", "lines", "files", "speakers", "dialogues", "feature_keys", "emotions",
        "sentiments", "utterances")}
    decodings: dict[str, raw.Decoding] = {}
    for file_index, split in enumerate(SPLITS):
        path = by_split[split]
        first = len(columns["ids"])
        declared = (encodings or {}).get(split) or (encodings or {}).get("dev" if split == "valid" else split)
        for line, row in raw.csv_rows(path, COLUMNS, declared, c1_controls, decodings):
            dialogue = raw.index_value(path, line, row, "Dialogue_ID")
            utterance = raw.index_value(path, line, row, "Utterance_ID")
            speaker = row["Speaker"]
            if not speaker.strip():
                raise raw.bad_value(path, line, "Speaker", "a speaker name", speaker)
            values = {
                "emotions": raw.choice(path, line, row, "Emotion", EMOTIONS),
                "sentiments": raw.choice(path, line, row, "Sentiment", SENTIMENTS),
                "texts": raw.text_value(path, line, row, "Utterance"),
                "speakers": speaker,
                "feature_keys": f"{dialogue}_{utterance}",
                "ids": f"{split}/{dialogue}_{utterance}",
                "dialogues": f"{split}/{dialogue}",
                "utterances": utterance,
                "splits": split,
                "lines": line,
                "files": file_index,
            }
            for name, value in values.items():
                columns[name].append(value)
        raw.check_unique(path, columns["ids"][first:], columns["lines"][first:])
        if len(columns["ids"]) == first:
            raise RawDataError(path, f"meld: split {split!r} has no rows")
    utterances = np.asarray(columns.pop("utterances"), dtype=np.int64)
    return raw.LabelTable(dataset="meld", paths=tuple(by_split[s] for s in SPLITS), utterances=utterances,
                          decodings=decodings, **columns)


def meld_inputs(dialogue_ids: Sequence[Hashable], utterance_ids: Sequence[float], speakers: Sequence[str],
                texts: Sequence[str], *, prefix: str, window: int, causal: bool) -> list[str]:
    """The input string of every utterance of one MELD split, in the order given.

    The four sequences are parallel (one entry per utterance, any order, dialogues interleaved or
    not). Context comes from the same dialogue, ordered by `utterance_ids`; an utterance id that
    repeats within a dialogue is an error (ValueError naming both).
    """
    check_lengths(dialogue_ids, utterance_ids, speakers, texts, order_name="utterance id")
    pieces = [join(clean(s), clean(t)) for s, t in zip(speakers, texts)]
    return window_inputs(dialogue_ids, utterance_ids, pieces, prefix=prefix, window=window, causal=causal,
                          ties="error", order_name="utterance id")



@dataclass(frozen=True)
class Meld(Dataset):
    def pool(self, sentiment: str, emotion: str) -> str:
        return sentiment_pool(sentiment, "Sentiment")

    def check_transfer_row(self, sentiment: object, score: float, emotion: object) -> None:
        if not isinstance(sentiment, str):
            raise ValueError(f"sentiment must be a string, got {sentiment!r}")
        if not isinstance(emotion, str):
            raise ValueError(f"emotion must be a string, got {emotion!r}")
        if emotion.strip().lower() not in EMOTIONS:
            raise ValueError(f"unknown MELD emotion {emotion!r} (expected one of {', '.join(EMOTIONS)})")

    def transfer_rows(self, table: LabelTable, *, other_codes: bool) -> list[tuple[int, TransferRow]]:
        return [(i, TransferRow(table.texts[i], table.sentiments[i], float("nan"), table.emotions[i]))
                for i in range(len(table))]

    def read_labels(self, files: Sequence[LabelFile], c1_controls: C1Policy) -> LabelTable:
        return read_meld_labels({f.split: f.path for f in files}, encodings={f.split: f.encoding for f in files},
                                c1_controls=c1_controls)

    def read_features(self, path: Path, padding: str = "auto") -> Features:
        from unimse_core.io import raw

        return raw.read_erc_features(path, self.name)

    def match_features(self, labels: LabelTable, features: Features) -> tuple[np.ndarray, list[str], dict[str, str]]:
        # the pickle keys are the bare "<Dialogue_ID>_<Utterance_ID>", which repeat across splits:
        # a row's key is looked up in the dict of its own split
        assert labels.feature_keys is not None
        where = {(split, key): j for j, (key, split) in enumerate(zip(features.ids, features.splits))}
        index = np.array([where.get(key, -1) for key in zip(labels.splits, labels.feature_keys)],
                         dtype=np.int64).reshape(len(labels))
        names = [f"{split}/{key}" for key, split in zip(features.ids, features.splits)]
        return index, names, {split: "id" for split in SPLITS}

    def input_texts(self, table: LabelTable, config: TextConfig) -> list[str]:
        # dialogues are "<split>/<Dialogue_ID>": one call cannot mix the splits' colliding ids
        return meld_inputs(table.dialogues, table.utterances, table.speakers, table.texts,
                           prefix=config.prefix, window=config.window, causal=config.causal)

    @property
    def conversation_input(self) -> bool:
        return True

    def request_inputs(self, dialogues: Sequence[str], turns: Sequence[int], speakers: Sequence[str],
                       texts: Sequence[str], config: TextConfig) -> list[str]:
        return meld_inputs(dialogues, turns, speakers, texts, prefix=config.prefix, window=config.window,
                           causal=config.causal)

    def gold_code(self, table: LabelTable, i: int) -> str:
        return table.emotions[i]

    def used_rows(self, table: LabelTable):
        return None


DATASET = Meld(name="meld", title="MELD", kind="emotion", card_name="meld", label_kinds=("meld_labels",),
               feature_kind="erc_features", codes=EMOTIONS, words=EMOTIONS, neutral_code="neutral",
               transfer_codes=EMOTIONS, paper={"acc": 65.09, "weighted_f1": 65.51})
