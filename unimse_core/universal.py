"""The universal label's layout, derived from the dataset registry (docs/labels.md, docs/inputs-and-targets.md).

A label has the fields `polarity`, `score`, then one emotion slot `<dataset>_emotion` per emotion
dataset of `data.datasets`, in that order. With the paper's four datasets that is
`polarity,score,meld_emotion,iemocap_emotion` (docs/inputs-and-targets.md). `LabelSchema` writes targets,
parses generated ones (never raising) and tells which field counts for which dataset; the label
transfer, the constrained grammar and the metrics read their slots from it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from unimse_core import datasets

POLARITIES: tuple[str, ...] = datasets.POLARITIES
UNPARSABLE = "unparsable"
"""The key that counts unparsable outputs (metrics/test.json) and the class they are scored as."""

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def format_score(score: float, score_decimals: int) -> str:
    """The score rounded to `score_decimals` places, trailing zeros dropped, one kept after the point.

    Rounding is Python's: correctly rounded from the exact binary value (2.345 -> 2.35 since the
    float is a hair above 2.345; 2.675 -> 2.67; 0.125 -> 0.12, an exact tie, to even). -0.0 and
    any value rounding to zero are written 0.0. Never scientific notation.
    """
    if isinstance(score_decimals, bool) or not isinstance(score_decimals, int) or not 0 <= score_decimals <= 6:
        raise ValueError(f"score_decimals must be an integer in 0..6, got {score_decimals!r}")
    value = float(score)
    if not math.isfinite(value):
        raise ValueError(f"score must be finite, got {score!r}")
    text = f"{value:.{score_decimals}f}"
    if "." not in text:
        text += ".0"
    text = text.rstrip("0")
    if text.endswith("."):
        text += "0"
    return "0.0" if text == "-0.0" else text


@dataclass(frozen=True)
class ParsedLabel:
    """A generated target, parsed. `slots[slot]` is None where the field is missing or not in its class
    list (score: not a finite decimal number); `slots["meld_emotion"]` also reads as `.meld_emotion`.
    `valid`: exactly the schema's fields, all usable; `reason` says otherwise what is wrong first."""

    polarity: str | None
    slots: Mapping[str, Any]
    valid: bool
    reason: str
    schema: LabelSchema

    @property
    def score(self) -> float | None:
        return self.slots.get("score")

    def __getattr__(self, name: str) -> Any:
        slots = self.__dict__.get("slots")
        if slots is not None and name in slots:
            return slots[name]
        raise AttributeError(name)

    def prediction(self, dataset: str) -> float | str | None:
        """The field that counts for `dataset`: the score, or the dataset's own emotion word."""
        slot = datasets.get(dataset).slot
        if slot not in self.slots:
            raise ValueError(f"dataset {dataset!r} has no field in the label layout {','.join(self.schema.fields)}")
        return self.slots[slot]


@dataclass(frozen=True)
class LabelSchema:
    """The label layout of a run: polarity, score, one slot per emotion dataset of `datasets`."""

    datasets: tuple[str, ...]

    @classmethod
    def of(cls, names: Iterable[str]) -> LabelSchema:
        names = tuple(names)
        for name in names:
            datasets.get(name)
        return cls(names)

    @classmethod
    def of_merged(cls, attrs: Mapping[str, Any]) -> LabelSchema:
        """The layout a merged file's rows were built with (its preprocess config's `label_layout`; files
        written before the registry hold the paper's layout)."""
        configs = [source.get("config", {}) for source in attrs.get("sources", {}).values()]
        layouts = {tuple(c.get("label_layout", datasets.PAPER_DATASETS)) for c in configs}
        if len(layouts) > 1:
            raise ValueError(f"the merged datasets were preprocessed with different label layouts {sorted(layouts)}; "
                             "rerun preprocess with one data.datasets")
        return cls.of(layouts.pop() if layouts else datasets.PAPER_DATASETS)

    @cached_property
    def emotion_datasets(self) -> tuple[str, ...]:
        return datasets.of_kind("emotion", self.datasets)

    @cached_property
    def slots(self) -> tuple[str, ...]:
        return ("score", *(datasets.get(d).slot for d in self.emotion_datasets))

    @cached_property
    def fields(self) -> tuple[str, ...]:
        return ("polarity", *self.slots)

    @cached_property
    def slot_sources(self) -> dict[str, tuple[str, ...]]:
        """slot -> the datasets whose own label fills it (score: every score dataset, in `datasets` order)."""
        return {"score": datasets.of_kind("score", self.datasets),
                **{datasets.get(d).slot: (d,) for d in self.emotion_datasets}}

    @cached_property
    def neutral_default(self) -> dict[str, Any]:
        """What a slot holds where nothing is copied: score 0.0, each emotion dataset's neutral code."""
        return {"score": 0.0, **{datasets.get(d).slot: datasets.get(d).neutral_code for d in self.emotion_datasets}}

    def owner(self, slot: str) -> datasets.Dataset:
        """The emotion dataset of an emotion slot."""
        return datasets.get(self.slot_sources[slot][0])

    def words(self, slot: str) -> tuple[str, ...]:
        """The words an emotion slot is written with in targets."""
        return self.owner(slot).words

    def target(self, polarity: str, values: Mapping[str, Any], score_decimals: int) -> str:
        """The target string: polarity, the score rounded, each emotion slot's code written as its word.

        ValueError names any value outside its class list."""
        if polarity not in POLARITIES:
            raise ValueError(f"unknown polarity {polarity!r}: expected one of {', '.join(POLARITIES)}")
        parts = [polarity, format_score(values["score"], score_decimals)]
        parts += [self.owner(slot).word(values[slot]) for slot in self.slots[1:]]
        return ",".join(parts)

    def parse(self, text: object) -> ParsedLabel:
        """Parse a generated target; never raises. Tolerates whitespace around fields and upper case."""
        n = len(self.fields)
        if not isinstance(text, str):
            return ParsedLabel(None, dict.fromkeys(self.slots), False, f"not a string: {type(text).__name__}", self)
        fields = [f.strip() for f in text.split(",")]
        problems: list[str] = []
        if len(fields) != n:
            problems.append(f"{len(fields)} field(s), expected {n}")
        fields += [""] * (n - len(fields))

        def word(value: str, choices: Sequence[str], name: str) -> str | None:
            value = value.lower()
            if value in choices:
                return value
            problems.append(f"{name} {'missing' if not value else repr(value) + ' unknown'}")
            return None

        polarity = word(fields[0], POLARITIES, "polarity")
        slots: dict[str, Any] = {"score": None}
        if _NUMBER.fullmatch(fields[1]) and math.isfinite(float(fields[1])):
            slots["score"] = float(fields[1]) + 0.0  # -0.0 -> 0.0
        else:
            problems.append(f"score {'missing' if not fields[1] else repr(fields[1]) + ' not a finite number'}")
        for slot, value in zip(self.slots[1:], fields[2:]):
            slots[slot] = word(value, self.words(slot), f"{self.owner(slot).title} emotion")
        return ParsedLabel(polarity, slots, not problems, problems[0] if problems else "", self)


DEFAULT_SCHEMA = LabelSchema.of(datasets.PAPER_DATASETS)
"""The paper's layout: polarity,score,meld_emotion,iemocap_emotion."""
