"""What MOSI and MOSEI share: the CMU label.csv, a sentiment score in [-3, 3], the lower-cased
utterance as input (docs/inputs-and-targets.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from unimse_core.context import clean
from unimse_core.datasets.base import Dataset, LabelFile, TransferRow, sentiment_pool

if TYPE_CHECKING:
    from unimse_core.config import TextConfig
    from unimse_core.io.raw import C1Policy, Features, LabelTable


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
        return raw.read_msa_labels(only.path, self.name, encoding=only.encoding, c1_controls=c1_controls)

    def read_features(self, path: Path, padding: str = "auto") -> Features:
        from unimse_core.io import raw

        return raw.read_msa_features(path, self.name, padding=padding)

    def match_features(self, labels: LabelTable, features: Features) -> tuple[np.ndarray, list[str], dict[str, str]]:
        from unimse_core.io import raw

        # by id, or by position within a split whose ids cannot be read as label ids
        index, split_matching = raw.match_by_id_or_position(labels, features)
        return index, list(features.ids), split_matching

    @property
    def unlisted_label_column(self) -> str | None:
        return "video_id"

    def input_texts(self, table: LabelTable, config: TextConfig) -> list[str]:
        return msa_inputs(table.texts, prefix=config.prefix)

    def used_rows(self, table: LabelTable):
        return None
