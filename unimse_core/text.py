"""The model's input strings and target strings, and the parser of generated targets.

Pure functions on sequences of strings and numbers; no file I/O. The formats, the rounding rule
and the context-window options are documented in docs/inputs-and-targets.md.
Each dataset builds its own input (its module in unimse_core.datasets: `input_texts`, and its
window functions there); the target layout is the registry's (unimse_core.universal). This module
gathers what does not belong to one dataset under its documented names, with the paper's layout
(`polarity,score,meld_emotion,iemocap_emotion`) as the default.

Input:  `prefix + body`, the prefix used verbatim (`sst2 sentence: ` by default).
Every text and speaker is stripped and its internal whitespace runs collapsed to one space.
"""

from __future__ import annotations

from typing import Any

from unimse_core.context import EOS, clean
from unimse_core.datasets.base import POLARITIES, score_polarity
from unimse_core.datasets.msa import msa_input, msa_inputs
from unimse_core.universal import DEFAULT_SCHEMA, LabelSchema, ParsedLabel, format_score


def target(polarity: str, score: float, *codes_and_decimals: Any) -> str:
    """A target of the paper's layout: `target(polarity, score, <one code per emotion slot, in layout
    order>, score_decimals)`, e.g. `target("positive", 0.6, "joy", "exc", 2)`; each code is written as
    its word. ValueError names any value outside its class list."""
    *codes, score_decimals = codes_and_decimals
    slots = DEFAULT_SCHEMA.slots[1:]
    if len(codes) != len(slots):
        raise TypeError(f"target() takes one code per emotion slot ({', '.join(slots)}) and score_decimals, "
                        f"got {len(codes_and_decimals)} values after the score")
    return DEFAULT_SCHEMA.target(polarity, {"score": score, **dict(zip(slots, codes))}, score_decimals)


def parse_target(text: object, schema: LabelSchema = DEFAULT_SCHEMA) -> ParsedLabel:
    """Parse a generated target (`LabelSchema.parse`); never raises."""
    return schema.parse(text)


__all__ = ["EOS", "POLARITIES", "LabelSchema", "ParsedLabel", "clean", "format_score", "msa_input", "msa_inputs",
           "parse_target", "score_polarity", "target"]
