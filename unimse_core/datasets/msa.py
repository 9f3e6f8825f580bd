"""What MOSI and MOSEI share: the CMU label.csv, a sentiment score in [-3, 3], the lower-cased
utterance as input (docs/inputs-and-targets.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unimse_core.context import clean
from unimse_core.datasets.base import Dataset, LabelFile, TransferRow, sentiment_pool

if TYPE_CHECKING:
    from unimse_core.config import TextConfig
    from unimse_core.io.raw import C1Policy, LabelTable


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

    def input_texts(self, table: LabelTable, config: TextConfig) -> list[str]:
        return msa_inputs(table.texts, prefix=config.prefix)

    def used_rows(self, table: LabelTable):
        return None
