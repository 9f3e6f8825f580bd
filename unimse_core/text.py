"""The model's input strings and target strings, and the parser of generated targets.

Pure functions on sequences of strings and numbers; no file I/O. The formats, the rounding rule
and the context-window options are documented in docs/inputs-and-targets.md.
Each dataset builds its own input (its module in unimse_core.datasets); the target layout is the
registry's (unimse_core.universal). This module gathers them under their documented names, with
the paper's layout (`polarity,score,meld_emotion,iemocap_emotion`) as the default.

Input:  `prefix + body`, the prefix used verbatim (`sst2 sentence: ` by default).
Every text and speaker is stripped and its internal whitespace runs collapsed to one space.
"""

from __future__ import annotations

from unimse_core.context import EOS, clean
from unimse_core.datasets.base import POLARITIES, score_polarity
from unimse_core.datasets.iemocap import CODES as IEMOCAP_CODES
from unimse_core.datasets.iemocap import WORDS as IEMOCAP_WORDS
from unimse_core.datasets.iemocap import iemocap_inputs, iemocap_polarity
from unimse_core.datasets.meld import EMOTIONS as MELD_EMOTIONS
from unimse_core.datasets.meld import meld_inputs
from unimse_core.datasets.msa import msa_input, msa_inputs
from unimse_core.universal import DEFAULT_SCHEMA, LabelSchema, ParsedLabel, format_score

# The target's IEMOCAP field holds these words, in the order of IEMOCAP_CODES.
IEMOCAP_EMOTIONS: tuple[str, ...] = tuple(IEMOCAP_WORDS[c] for c in IEMOCAP_CODES)


def iemocap_word(code: str) -> str:
    """The target word of an IEMOCAP code (hap -> joy, ...); ValueError for any other code."""
    return DEFAULT_SCHEMA.owner("iemocap_emotion").word(code)


def target(polarity: str, score: float, meld_emotion: str, iemocap_emotion: str, score_decimals: int) -> str:
    """The paper's layout `polarity,score,meld_emotion,iemocap_emotion`; `iemocap_emotion` is an IEMOCAP
    code (hap, ...), written as its word. ValueError names any value outside its class list."""
    return DEFAULT_SCHEMA.target(polarity, {"score": score, "meld_emotion": meld_emotion,
                                            "iemocap_emotion": iemocap_emotion}, score_decimals)


def parse_target(text: object, schema: LabelSchema = DEFAULT_SCHEMA) -> ParsedLabel:
    """Parse a generated target (`LabelSchema.parse`); never raises."""
    return schema.parse(text)


__all__ = ["EOS", "IEMOCAP_CODES", "IEMOCAP_EMOTIONS", "IEMOCAP_WORDS", "MELD_EMOTIONS", "POLARITIES",
           "LabelSchema", "ParsedLabel", "clean", "format_score", "iemocap_inputs", "iemocap_polarity",
           "iemocap_word", "meld_inputs", "msa_input", "msa_inputs", "parse_target", "score_polarity", "target"]
