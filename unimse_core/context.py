"""Context windows of conversational datasets, and the whitespace cleaning of every text.

Pure functions (docs/inputs-and-targets.md): a dataset module (unimse_core.datasets) renders each
utterance as a piece and `window_inputs` puts `window` pieces before and (unless causal) after the
target one, which is wrapped as `</s> piece </s>`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal

EOS = "</s>"  # T5's tokenizer turns the literal into its EOS id: it marks the target utterance


def clean(text: str) -> str:
    """`text` stripped, with every internal whitespace run (spaces, tabs, newlines) made one space."""
    return " ".join(text.split())


def check_lengths(dialogue_ids: Sequence[object], order: Sequence[object], speakers: Sequence[object],
                  texts: Sequence[object], *, order_name: str) -> None:
    lengths = (len(dialogue_ids), len(order), len(speakers), len(texts))
    if len(set(lengths)) > 1:
        raise ValueError(f"parallel sequences differ in length: {lengths[0]} dialogue ids, {lengths[1]} "
                         f"{order_name}s, {lengths[2]} speakers, {lengths[3]} texts")


def join(speaker: str, text: str) -> str:
    return " ".join(p for p in (speaker, text) if p)


def window_inputs(groups: Sequence[Hashable], order: Sequence[float], pieces: Sequence[str], *, prefix: str,
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
            inputs[i] = prefix + " ".join([*before, join(EOS, join(pieces[i], EOS)), *after])
    return inputs


def speaker_window_inputs(dialogue_ids: Sequence[Hashable], order: Sequence[float], speakers: Sequence[str],
                          texts: Sequence[str], *, prefix: str, window: int, causal: bool) -> list[str]:
    """The input string of every utterance of one split of a dialogue dataset, in the order given, each
    piece `speaker text` (docs/inputs-and-targets.md).

    The four sequences are parallel (one entry per utterance, any order, dialogues interleaved or
    not). Context comes from the same dialogue, ordered by `order` (the utterance ids); a value that
    repeats within a dialogue is an error (ValueError naming both).
    """
    check_lengths(dialogue_ids, order, speakers, texts, order_name="utterance id")
    pieces = [join(clean(s), clean(t)) for s, t in zip(speakers, texts)]
    return window_inputs(dialogue_ids, order, pieces, prefix=prefix, window=window, causal=causal,
                          ties="error", order_name="utterance id")
