"""The utterances that take part in the universal-label transfer, gathered from the label tables.

One row per utterance, datasets in the registry's order (mosi, mosei, meld, iemocap, ...) and rows
in table order:
that order is the candidate order that breaks cosine ties (lowest index wins). Which rows of a
table take part, and what text, pool column, score and emotion each brings, is the dataset
module's (`Dataset.transfer_rows`); IEMOCAP rows outside the six classes take part only when asked
for (`labels.iemocap_other_codes: include`, the reference's behaviour), and only with text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from unimse_core import datasets
from unimse_core.io.raw import LabelTable


@dataclass(frozen=True)
class Corpus:
    ids: list[str]
    dataset: list[str]
    split: list[str]
    text: list[str]
    sentiment: list[str]   # the pool column (MOSI/MOSEI annotation, MELD Sentiment), "" where unused
    score: list[float]     # a score dataset's label, NaN elsewhere
    emotion: list[str]     # an emotion dataset's code, "" for score datasets

    def __len__(self) -> int:
        return len(self.ids)


def build_corpus(tables: Mapping[str, LabelTable], *, iemocap_other_codes: bool) -> Corpus:
    """Every row of `tables` (keyed by dataset) that the transfer uses; tables need their splits."""
    columns: dict[str, list] = {name: [] for name in Corpus.__dataclass_fields__}
    for name in (n for n in datasets.NAMES if n in tables):
        table = tables[name]
        for i, row in datasets.get(name).transfer_rows(table, other_codes=iemocap_other_codes):
            columns["ids"].append(table.ids[i])
            columns["dataset"].append(name)
            columns["split"].append(table.splits[i])
            columns["text"].append(row.text)
            columns["sentiment"].append(row.sentiment)
            columns["score"].append(row.score)
            columns["emotion"].append(row.emotion)
    return Corpus(**columns)
