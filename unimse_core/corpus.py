"""The utterances that take part in the universal-label transfer, gathered from the label tables.

One row per utterance, datasets in the order mosi, mosei, meld, iemocap and rows in table order:
that order is the candidate order that breaks cosine ties (lowest index wins). IEMOCAP rows
outside the six classes are left out unless asked for (`labels.iemocap_other_codes: include`,
the reference's behaviour), and only those with text can be embedded at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from unimse_core.config import DATASETS
from unimse_core.io.raw import LabelTable


@dataclass(frozen=True)
class Corpus:
    ids: list[str]
    dataset: list[str]
    split: list[str]
    text: list[str]
    sentiment: list[str]   # MOSI/MOSEI annotation, MELD Sentiment, "" for IEMOCAP
    score: list[float]     # MOSI/MOSEI label, NaN elsewhere
    emotion: list[str]     # MELD Emotion word, IEMOCAP code, "" for MOSI/MOSEI

    def __len__(self) -> int:
        return len(self.ids)


def build_corpus(tables: Mapping[str, LabelTable], *, iemocap_other_codes: bool) -> Corpus:
    """Every row of `tables` (keyed by dataset) that the transfer uses; IEMOCAP tables need their splits."""
    columns: dict[str, list] = {name: [] for name in Corpus.__dataclass_fields__}
    for dataset in DATASETS:
        table = tables.get(dataset)
        if table is None:
            continue
        for i, uid in enumerate(table.ids):
            if dataset == "iemocap" and not table.in_classes[i] and not (iemocap_other_codes and table.texts[i].strip()):
                continue
            columns["ids"].append(uid)
            columns["dataset"].append(dataset)
            columns["split"].append(table.splits[i])
            # MSA texts are upper-case transcripts: lower-cased as the reference does before encoding
            columns["text"].append(table.texts[i].strip().lower() if dataset in ("mosi", "mosei") else table.texts[i])
            columns["sentiment"].append(table.annotations[i] if dataset in ("mosi", "mosei")
                                        else table.sentiments[i] if dataset == "meld" else "")
            columns["score"].append(float(table.scores[i]) if dataset in ("mosi", "mosei") else math.nan)
            columns["emotion"].append(table.emotions[i] if dataset == "meld"
                                      else table.codes[i] if dataset == "iemocap" else "")
    return Corpus(**columns)
