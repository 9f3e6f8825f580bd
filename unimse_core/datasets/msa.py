"""What MOSI and MOSEI share: the CMU label.csv (`read_msa_labels`), a sentiment score in [-3, 3],
ids `<video_id>_<clip_id>` (video ids contain underscores: never split an id on the first `_`),
features matched by id or by position (`match_by_id_or_position`), the lower-cased utterance as
input (docs/inputs-and-targets.md)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from unimse_core.context import clean
from unimse_core.datasets.base import SPLITS, Dataset, LabelFile, TransferRow, sentiment_pool
from unimse_core.io.errors import RawDataError

if TYPE_CHECKING:
    from unimse_core.config import TextConfig
    from unimse_core.io.raw import C1Policy, Features, LabelTable


COLUMNS: tuple[str, ...] = ("video_id", "clip_id", "text", "label", "annotation", "mode")
ANNOTATIONS: tuple[str, ...] = ("Positive", "Negative", "Neutral")
SCORE_RANGE: tuple[float, float] = (-3.0, 3.0)
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def read_msa_labels(path: str | Path, dataset: str, *, encoding: str | None = None,
                    c1_controls: C1Policy = "keep") -> LabelTable:
    """MOSI/MOSEI label.csv: id `<video_id>_<clip_id>`, split from `mode`, score from `label`."""
    from unimse_core import datasets
    from unimse_core.io import raw

    if not isinstance(datasets.REGISTRY.get(dataset), SentimentScores):
        names = [n for n, d in datasets.REGISTRY.items() if isinstance(d, SentimentScores)]
        raise ValueError(f"dataset must be one of {', '.join(names)}, got {dataset!r}")
    path = Path(path)
    ids, splits, texts, lines, scores, annotations = [], [], [], [], [], []
    low, high = SCORE_RANGE
    decodings: dict[str, raw.Decoding] = {}
    for line, row in raw.csv_rows(path, COLUMNS, encoding, c1_controls, decodings):
        video = raw.token_value(path, line, row, "video_id", "a video id")
        clip = raw.token_value(path, line, row, "clip_id", "a clip id")
        value = row["label"]
        score = float(value) if _NUMBER.fullmatch(value.strip()) else math.nan
        if not low <= score <= high:
            raise raw.bad_value(path, line, "label", f"a number in [{low:g}, {high:g}]", value)
        annotations.append(raw.choice(path, line, row, "annotation", ANNOTATIONS))
        splits.append(raw.choice(path, line, row, "mode", SPLITS))
        texts.append(raw.text_value(path, line, row, "text"))
        ids.append(f"{video}_{clip}")
        scores.append(score)
        lines.append(line)
    raw.check_unique(path, ids, lines)
    raw.check_no_empty_split(path, dataset, splits)
    return raw.LabelTable(dataset=dataset, paths=(path,), ids=ids, splits=splits, texts=texts, lines=lines,
                          files=[0] * len(ids), scores=np.asarray(scores, dtype=np.float64),
                          annotations=annotations, decodings=decodings)


def match_by_id_or_position(labels: LabelTable, features: Features) -> tuple[np.ndarray, dict[str, str]]:
    """Label row -> feature row, and per split whether ids or positions paired them: by id, or by
    position within a split none of whose ids can be read as `<video_id>_<clip_id>` (some authors'
    pickles), where the counts agree; a split where some ids match and others do not is an error
    naming the first unmatched rows.

    A split whose ids all fail to match (they parse but name no label row) pairs nothing: every
    row is a feature without labels, which the caller reports or refuses (`fetch.unmatched_ids`)."""
    from unimse_core.io import raw

    label_row = {uid: i for i, uid in enumerate(labels.ids)}
    parsed = features.parsed_ids or [features.ids_parsed] * len(features)
    index = np.full(len(labels), -1, dtype=np.int64)
    how: dict[str, str] = {}
    for split in SPLITS:
        rows = [j for j, s in enumerate(features.splits) if s == split]
        found = {j: label_row.get(features.ids[j], -1) if parsed[j] else -1 for j in rows}
        matched = [j for j in rows if found[j] >= 0]
        if rows and not any(parsed[j] for j in rows):
            index[_position_rows(labels, features, split)] = rows
            how[split] = "position"
            continue
        unmatched = [j for j in rows if found[j] < 0]
        if unmatched and matched:
            named = ", ".join(f"{split}/id row {j - rows[0]} {features.ids[j]!r}"
                              + ("" if parsed[j] else " (not '<video_id>_<clip_id>')")
                              for j in unmatched[:raw.EXAMPLE_ROWS])
            raise RawDataError(features.path, f"{labels.dataset}: {len(matched)} of the {len(rows)} {split} rows match "
                                              f"{labels.paths[0]} by id and {len(unmatched)} do not, e.g. {named}; a "
                                              "partial match means the pickle and the label table are from different "
                                              "releases (pairing by position would shift rows): use the label.csv "
                                              "published with this pickle", f"{split}/id row {unmatched[0] - rows[0]}")
        for j in matched:
            index[found[j]] = j
        how[split] = "id"
    return index, how


def _position_rows(labels: LabelTable, features: Features, split: str) -> list[int]:
    label_rows = [i for i, s in enumerate(labels.splits) if s == split]
    n_features = sum(1 for s in features.splits if s == split)
    if len(label_rows) != n_features:
        first = next(j for j, s in enumerate(features.splits) if s == split)
        raise RawDataError(features.path, f"{labels.dataset}: no {split} id can be read as a {labels.paths[0]} id "
                                          f"(e.g. {features.ids[first]!r}) and the rows cannot be paired by position "
                                          f"because the counts differ: {len(label_rows)} labels vs {n_features} "
                                          "features; use the label.csv published with this pickle", f"{split}/id")
    return label_rows


def msa_input(text: str, *, prefix: str) -> str:
    """MOSI/MOSEI: `prefix` + the cleaned, lower-cased utterance."""
    return prefix + clean(text).lower()


def msa_inputs(texts: Sequence[str], *, prefix: str) -> list[str]:
    """`msa_input` of every utterance of a split."""
    return [msa_input(t, prefix=prefix) for t in texts]


@dataclass(frozen=True)
class SentimentScores(Dataset):
    """A CMU dataset: label.csv with video_id, clip_id, text, label (the score), annotation, mode (the split)."""

    def pool(self, sentiment: str, emotion: str) -> str:
        return sentiment_pool(sentiment, "annotation")

    def check_transfer_row(self, sentiment: object, score: float, emotion: object) -> None:
        if not isinstance(sentiment, str):
            raise ValueError(f"sentiment must be a string, got {sentiment!r}")
        if not math.isfinite(score):
            raise ValueError(f"score must be a finite number, got {score!r}")

    def transfer_rows(self, table: LabelTable, *, other_codes: bool) -> list[tuple[int, TransferRow]]:
        # MSA texts are upper-case transcripts: lower-cased as the reference does before encoding
        return [(i, TransferRow(table.texts[i].strip().lower(), table.annotations[i], float(table.scores[i]), ""))
                for i in range(len(table))]

    def read_labels(self, files: Sequence[LabelFile], c1_controls: C1Policy) -> LabelTable:
        from unimse_core.io import raw

        (only,) = files
        return read_msa_labels(only.path, self.name, encoding=only.encoding, c1_controls=c1_controls)

    def read_features(self, path: Path, padding: str = "auto") -> Features:
        from unimse_core.io import raw

        return raw.read_msa_features(path, self.name, padding=padding)

    def match_features(self, labels: LabelTable, features: Features) -> tuple[np.ndarray, list[str], dict[str, str]]:
        # by id, or by position within a split whose ids cannot be read as label ids
        index, split_matching = match_by_id_or_position(labels, features)
        return index, list(features.ids), split_matching

    @property
    def unlisted_label_column(self) -> str | None:
        return "video_id"

    def input_texts(self, table: LabelTable, config: TextConfig) -> list[str]:
        return msa_inputs(table.texts, prefix=config.prefix)

    def used_rows(self, table: LabelTable):
        return None
