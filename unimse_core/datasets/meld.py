"""MELD: Friends dialogues, 7 emotions and a sentiment per utterance (docs/raw-data.md, docs/labels.md).

Files: the official {train,dev,test}_sent_emo.csv (unimse_core.io.raw.read_meld_labels); ids
`<split>/<Dialogue_ID>_<Utterance_ID>` (the bare ids repeat across splits). Pool: its Sentiment
column. Input: the context window with speakers, the dialogue ordered by Utterance_ID.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unimse_core.context import check_lengths, clean, join, window_inputs
from unimse_core.datasets.base import Dataset, LabelFile, TransferRow, sentiment_pool

if TYPE_CHECKING:
    from unimse_core.config import TextConfig
    from unimse_core.io.raw import C1Policy, LabelTable

EMOTIONS: tuple[str, ...] = ("neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear")


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
        from unimse_core.io import raw

        return raw.read_meld_labels({f.split: f.path for f in files}, encodings={f.split: f.encoding for f in files},
                                    c1_controls=c1_controls)

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
