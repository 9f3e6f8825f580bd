"""The model's input strings and target strings, and the parser of generated targets.

Pure functions on sequences of strings and numbers; no file I/O. The formats, the rounding rule
and the context-window options are documented in docs/inputs-and-targets.md.

Input:  `prefix + body`, the prefix used verbatim (`sst2 sentence: ` by default).
  MOSI/MOSEI: the lower-cased utterance.
  MELD:       `window` utterances before and (unless causal) after the target one, from the same
              dialogue in Utterance_ID order, each as `Speaker text`; the target one as
              `</s> Speaker text </s>`; joined by single spaces.
  IEMOCAP:    the same without speakers; the window is taken from the whole dialogue or, as the
              reference does, from the same speaker's turns only (`iemocap_context`).
Every text and speaker is stripped and its internal whitespace runs collapsed to one space.

Target: `polarity,score,meld_emotion,iemocap_emotion`, no spaces, e.g. `negative,-1.2,sadness,sadness`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

POLARITIES: tuple[str, ...] = ("positive", "negative", "neutral")
MELD_EMOTIONS: tuple[str, ...] = ("neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear")
IEMOCAP_CODES: tuple[str, ...] = ("hap", "sad", "neu", "fru", "ang", "exc")
IEMOCAP_WORDS: dict[str, str] = {"hap": "joy", "sad": "sadness", "neu": "neutral", "fru": "frustrated",
                                 "ang": "anger", "exc": "excited"}
# The target's IEMOCAP field holds these words, in the order of IEMOCAP_CODES.
IEMOCAP_EMOTIONS: tuple[str, ...] = tuple(IEMOCAP_WORDS[c] for c in IEMOCAP_CODES)

EOS = "</s>"  # T5's tokenizer turns the literal into its EOS id: it marks the target utterance


# ----------------------------------------------------------------------------------------------
# input text


def clean(text: str) -> str:
    """`text` stripped, with every internal whitespace run (spaces, tabs, newlines) made one space."""
    return " ".join(text.split())


def msa_input(text: str, *, prefix: str) -> str:
    """MOSI/MOSEI: `prefix` + the cleaned, lower-cased utterance."""
    return prefix + clean(text).lower()


def msa_inputs(texts: Sequence[str], *, prefix: str) -> list[str]:
    """`msa_input` of every utterance of a split."""
    return [msa_input(t, prefix=prefix) for t in texts]


def meld_inputs(dialogue_ids: Sequence[Hashable], utterance_ids: Sequence[float], speakers: Sequence[str],
                texts: Sequence[str], *, prefix: str, window: int, causal: bool) -> list[str]:
    """The input string of every utterance of one MELD split, in the order given.

    The four sequences are parallel (one entry per utterance, any order, dialogues interleaved or
    not). Context comes from the same dialogue, ordered by `utterance_ids`; an utterance id that
    repeats within a dialogue is an error (ValueError naming both).
    """
    _check_lengths(dialogue_ids, utterance_ids, speakers, texts, order_name="utterance id")
    pieces = [_join(clean(s), clean(t)) for s, t in zip(speakers, texts)]
    return _window_inputs(dialogue_ids, utterance_ids, pieces, prefix=prefix, window=window, causal=causal,
                          ties="error", order_name="utterance id")


def iemocap_inputs(dialogue_ids: Sequence[Hashable], order: Sequence[float], speakers: Sequence[str],
                   texts: Sequence[str], *, prefix: str, window: int, causal: bool,
                   iemocap_context: Literal["dialogue", "speaker"]) -> list[str]:
    """The input string of every utterance of one IEMOCAP split, in the order given (no speakers in it).

    `order` sorts the turns of a dialogue: the start time (`LabelTable.starts`) or a turn index.
    Equal values keep their input order. `iemocap_context`: `dialogue` takes the window from all
    turns of the dialogue; `speaker` (the reference) from the same speaker's turns only.
    """
    _check_lengths(dialogue_ids, order, speakers, texts, order_name="order value")
    if iemocap_context == "dialogue":
        groups: Sequence[Hashable] = dialogue_ids
    elif iemocap_context == "speaker":
        groups = list(zip(dialogue_ids, speakers))
    else:
        raise ValueError(f"iemocap_context must be 'dialogue' or 'speaker', got {iemocap_context!r}")
    pieces = [clean(t) for t in texts]
    return _window_inputs(groups, order, pieces, prefix=prefix, window=window, causal=causal,
                          ties="input", order_name="order value")


def _check_lengths(dialogue_ids: Sequence[object], order: Sequence[object], speakers: Sequence[object],
                   texts: Sequence[object], *, order_name: str) -> None:
    lengths = (len(dialogue_ids), len(order), len(speakers), len(texts))
    if len(set(lengths)) > 1:
        raise ValueError(f"parallel sequences differ in length: {lengths[0]} dialogue ids, {lengths[1]} "
                         f"{order_name}s, {lengths[2]} speakers, {lengths[3]} texts")


def _join(speaker: str, text: str) -> str:
    return " ".join(p for p in (speaker, text) if p)


def _window_inputs(groups: Sequence[Hashable], order: Sequence[float], pieces: Sequence[str], *, prefix: str,
                   window: int, causal: bool, ties: Literal["error", "input"], order_name: str) -> list[str]:
    """`prefix + before... </s> piece </s> after...` for every piece, the context from its own group.

    One pass to group the rows, one sort per group: O(N log n) for N rows and groups of n, then
    O(window) per row to build its string.
    """
    n = len(pieces)
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise ValueError(f"window must be an integer >= 0, got {window!r}")
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    inputs: list[str] = [""] * n
    for group, rows in members.items():
        for i in rows:
            if isinstance(order[i], (str, bytes)) or order[i] != order[i]:  # x != x: NaN
                raise ValueError(f"dialogue {group!r}: row {i} has {order_name} {order[i]!r}; "
                                 f"expected a number (strings would sort '10' before '2')")
        rows.sort(key=lambda i: order[i])  # stable: equal values keep their input order
        if ties == "error":
            for a, b in zip(rows, rows[1:]):
                if order[a] == order[b]:
                    raise ValueError(f"dialogue {group!r}: {order_name} {order[a]!r} repeats (rows {a} and {b})")
        for k, i in enumerate(rows):
            before = [pieces[j] for j in rows[max(0, k - window):k]]
            after = [] if causal else [pieces[j] for j in rows[k + 1:k + 1 + window]]
            inputs[i] = prefix + " ".join([*before, _join(EOS, _join(pieces[i], EOS)), *after])
    return inputs


# ----------------------------------------------------------------------------------------------
# targets


def iemocap_word(code: str) -> str:
    """The target word of an IEMOCAP code (hap -> joy, ...); ValueError for any other code."""
    try:
        return IEMOCAP_WORDS[code]
    except (KeyError, TypeError):
        raise ValueError(f"unknown IEMOCAP emotion code {code!r}: expected one of "
                         f"{', '.join(IEMOCAP_CODES)}") from None


def score_polarity(score: float) -> str:
    """MOSI/MOSEI polarity: the sign of the (unrounded) score; 0 is neutral."""
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


def iemocap_polarity(code: str) -> str:
    """IEMOCAP polarity by the pool rule: neu -> neutral, hap/exc -> positive, any other code -> negative."""
    return "neutral" if code == "neu" else "positive" if code in ("hap", "exc") else "negative"


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


def target(polarity: str, score: float, meld_emotion: str, iemocap_emotion: str, score_decimals: int) -> str:
    """`polarity,score,meld_emotion,iemocap_emotion`; `iemocap_emotion` is an IEMOCAP code (hap, ...),
    written as its word. ValueError names any value outside its class list."""
    if polarity not in POLARITIES:
        raise ValueError(f"unknown polarity {polarity!r}: expected one of {', '.join(POLARITIES)}")
    if meld_emotion not in MELD_EMOTIONS:
        raise ValueError(f"unknown MELD emotion {meld_emotion!r}: expected one of {', '.join(MELD_EMOTIONS)}")
    return ",".join((polarity, format_score(score, score_decimals), meld_emotion, iemocap_word(iemocap_emotion)))


@dataclass(frozen=True)
class ParsedLabel:
    """A generated target, parsed. A field is None where it is missing or not in its class list
    (score: not a finite decimal number). `valid`: exactly four fields, all usable; `reason` says
    otherwise what is wrong first ("" when valid)."""

    polarity: str | None
    score: float | None
    meld_emotion: str | None
    iemocap_emotion: str | None
    valid: bool
    reason: str

    def prediction(self, dataset: str) -> float | str | None:
        """The field that counts for `dataset`: score (MOSI/MOSEI), MELD emotion, IEMOCAP emotion word."""
        if dataset in ("mosi", "mosei"):
            return self.score
        if dataset == "meld":
            return self.meld_emotion
        if dataset == "iemocap":
            return self.iemocap_emotion
        raise ValueError(f"unknown dataset {dataset!r}: expected mosi, mosei, meld or iemocap")


_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_target(text: object) -> ParsedLabel:
    """Parse a generated target; never raises. Tolerates whitespace around fields and upper case."""
    if not isinstance(text, str):
        return ParsedLabel(None, None, None, None, False, f"not a string: {type(text).__name__}")
    fields = [f.strip() for f in text.split(",")]
    problems: list[str] = []
    if len(fields) != 4:
        problems.append(f"{len(fields)} field(s), expected 4")
    fields += [""] * (4 - len(fields))

    def word(value: str, choices: tuple[str, ...], name: str) -> str | None:
        value = value.lower()
        if value in choices:
            return value
        problems.append(f"{name} {'missing' if not value else repr(value) + ' unknown'}")
        return None

    polarity = word(fields[0], POLARITIES, "polarity")
    score = None
    if _NUMBER.fullmatch(fields[1]) and math.isfinite(float(fields[1])):
        score = float(fields[1]) + 0.0  # -0.0 -> 0.0
    else:
        problems.append(f"score {'missing' if not fields[1] else repr(fields[1]) + ' not a finite number'}")
    meld = word(fields[2], MELD_EMOTIONS, "MELD emotion")
    iemocap = word(fields[3], IEMOCAP_EMOTIONS, "IEMOCAP emotion")
    return ParsedLabel(polarity, score, meld, iemocap, not problems, problems[0] if problems else "")
