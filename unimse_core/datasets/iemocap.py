"""IEMOCAP: dyadic sessions, six emotion classes (docs/raw-data.md, docs/labels.md).

File: IEMOCAP_all.csv (unimse_core.io.raw.read_iemocap_labels), no split column: the split comes
from the feature pickle or, text-only, from the shipped reference split (docs/raw-data.md).
Pool: neu -> neutral, hap/exc -> positive, any other code -> negative. Input: the context window
without speakers, from the whole dialogue or the same speaker's turns (`text.iemocap_context`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from unimse_core.context import check_lengths, clean, window_inputs
from unimse_core.datasets.base import Dataset, LabelFile, TransferRow

if TYPE_CHECKING:
    from unimse_core.config import TextConfig
    from unimse_core.io.raw import C1Policy, Features, LabelTable

CODES: tuple[str, ...] = ("hap", "sad", "neu", "fru", "ang", "exc")
WORDS: dict[str, str] = {"hap": "joy", "sad": "sadness", "neu": "neutral", "fru": "frustrated",
                         "ang": "anger", "exc": "excited"}
# Every code of IEMOCAP_all.csv: the six classes first, then those the training set drops once the
# transfer is done; a transferred IEMOCAP slot may hold any of them.
ALL_CODES: tuple[str, ...] = (*CODES, "sur", "fea", "dis", "oth", "xxx")


def iemocap_polarity(code: str) -> str:
    """IEMOCAP polarity by the pool rule: neu -> neutral, hap/exc -> positive, any other code -> negative."""
    return "neutral" if code == "neu" else "positive" if code in ("hap", "exc") else "negative"


def iemocap_inputs(dialogue_ids: Sequence[Hashable], order: Sequence[float], speakers: Sequence[str],
                   texts: Sequence[str], *, prefix: str, window: int, causal: bool,
                   iemocap_context: Literal["dialogue", "speaker"]) -> list[str]:
    """The input string of every utterance of one IEMOCAP split, in the order given (no speakers in it).

    `order` sorts the turns of a dialogue: the start time (`LabelTable.starts`) or a turn index.
    Equal values keep their input order. `iemocap_context`: `dialogue` takes the window from all
    turns of the dialogue; `speaker` (the reference) from the same speaker's turns only.
    """
    check_lengths(dialogue_ids, order, speakers, texts, order_name="order value")
    if iemocap_context == "dialogue":
        groups: Sequence[Hashable] = dialogue_ids
    elif iemocap_context == "speaker":
        groups = list(zip(dialogue_ids, speakers))
    else:
        raise ValueError(f"iemocap_context must be 'dialogue' or 'speaker', got {iemocap_context!r}")
    pieces = [clean(t) for t in texts]
    return window_inputs(groups, order, pieces, prefix=prefix, window=window, causal=causal,
                          ties="input", order_name="order value")



@dataclass(frozen=True)
class Iemocap(Dataset):
    def pool(self, sentiment: str, emotion: str) -> str:
        code = emotion.strip().lower()
        if code not in ALL_CODES:
            raise ValueError(f"unknown IEMOCAP label {emotion!r} (expected one of {', '.join(ALL_CODES)})")
        return iemocap_polarity(code)

    def check_transfer_row(self, sentiment: object, score: float, emotion: object) -> None:
        if not isinstance(emotion, str):
            raise ValueError(f"emotion must be a string, got {emotion!r}")

    def transfer_rows(self, table: LabelTable, *, other_codes: bool) -> list[tuple[int, TransferRow]]:
        # rows outside the six classes only with labels.iemocap_other_codes: include, and only with text
        return [(i, TransferRow(table.texts[i], "", float("nan"), table.codes[i])) for i in range(len(table))
                if table.in_classes[i] or (other_codes and table.texts[i].strip())]

    def read_labels(self, files: Sequence[LabelFile], c1_controls: C1Policy) -> LabelTable:
        from unimse_core.io import raw

        (only,) = files
        return raw.read_iemocap_labels(only.path, encoding=only.encoding, c1_controls=c1_controls)

    def with_splits(self, labels: LabelTable, features: Features | None) -> LabelTable:
        from unimse_core.io import raw

        return raw.assign_iemocap_splits(labels, features)

    @property
    def splits_need_features(self) -> bool:
        return True

    def verify_splits(self, summary: dict[str, Any], labels: LabelTable, features: Features | None, *,
                      report_policy: bool, hint: str) -> tuple[LabelTable, list[str], list[str]]:
        from unimse_core.io import raw

        # The csv has no split column and rows outside the six classes are not used: count the
        # six-class rows per split, the split coming from the features or the reference split.
        labels = raw.assign_iemocap_splits(labels, features)
        splits = [split for split, used in zip(labels.splits, labels.in_classes) if used]
        problems = []
        summary["other_codes"] = dict(labels.other_codes)
        from_features = features is not None and features.defines_splits
        summary["split_source"] = "features" if from_features else "reference"
        if from_features:
            disagree = raw.iemocap_split_check(labels)
            summary["reference_split_mismatch"] = len(disagree)
            summary.setdefault("unmatched", {})["reference_split_mismatch"] = disagree
            if disagree and not report_policy:
                problems.append(f"{summary['features']}: {len(disagree)} six-class utterance(s) lie in another "
                                f"split than the reference split (unimse_core/io/iemocap_split.json), e.g. "
                                f"{disagree[:5]} {hint}")
        return labels, splits, problems

    def input_texts(self, table: LabelTable, config: TextConfig) -> list[str]:
        # context from every turn of the dialogue that has text, the six classes or not
        spoken = [i for i, t in enumerate(table.texts) if t.strip()]
        inputs = [""] * len(table)
        built = iemocap_inputs([table.dialogues[i] for i in spoken], table.starts[spoken],
                               [table.speakers[i] for i in spoken], [table.texts[i] for i in spoken],
                               prefix=config.prefix, window=config.window, causal=config.causal,
                               iemocap_context=config.iemocap_context)
        for i, value in zip(spoken, built):
            inputs[i] = value
        return inputs

    @property
    def conversation_input(self) -> bool:
        return True

    @property
    def speakers_required(self) -> bool:
        # its input has no speakers; they only group turns with `text.iemocap_context: speaker`
        return False

    def request_inputs(self, dialogues: Sequence[str], turns: Sequence[int], speakers: Sequence[str],
                       texts: Sequence[str], config: TextConfig) -> list[str]:
        return iemocap_inputs(dialogues, turns, speakers, texts, prefix=config.prefix, window=config.window,
                              causal=config.causal, iemocap_context=config.iemocap_context)

    def gold_code(self, table: LabelTable, i: int) -> str:
        return table.codes[i]


DATASET = Iemocap(name="iemocap", title="IEMOCAP", kind="emotion", card_name="iemocap",
                  label_kinds=("iemocap_labels",), feature_kind="erc_features", codes=CODES,
                  words=tuple(WORDS[c] for c in CODES), neutral_code="neu", transfer_codes=ALL_CODES,
                  reference_split=True, paper={"acc": 70.56, "weighted_f1": 70.66}, licence_agreement=True,
                  card_settings={"universal labels": (("labels.iemocap_other_codes",
                                                       "IEMOCAP codes outside the six classes: "),),
                                 "inputs": (("text.iemocap_context", "IEMOCAP context "),)})
