"""Greedy decoding constrained to the universal-label grammar, so that every output parses
(UNIMSE.md section 3; docs/inputs-and-targets.md).

The grammar, on characters, no spaces:

    label    = polarity "," score "," meld "," iemocap
    polarity = positive | negative | neutral
    score    = ["-"] digit ["." digit{1..d}]   digit in 0..3; |score| <= 3 (3 takes only zero decimals);
                                                d = max(1, score_decimals): format_score writes 1.0 at 0 decimals
    meld     = one of text.MELD_EMOTIONS
    iemocap  = one of text.IEMOCAP_EMOTIONS (the words, as in the targets)

Every string of this language parses (`text.parse_target(s).valid`, tested).

`LabelConstraint` is a transformers LogitsProcessor built for one tokenizer. It assumes nothing of
the tokenizer beyond `batch_decode` (with skip_special_tokens, exactly as the generated texts are
decoded afterwards, `decode_texts`) and its special ids: at each step it decodes the row so far with
each candidate token appended and keeps the tokens whose text is still a prefix of a label, then
allows EOS once the text is a whole label. What is checked is therefore exactly the text that is
parsed, whatever the tokenizer does with spaces, merges or byte pieces.

Length. Generation stops after `max_new_tokens`, maybe in mid-label. So a token is allowed only if
the label can still be completed in the tokens left, counting one token per missing character
(`LabelGrammar.need`): a character-by-character completion is always possible when the tokenizer
has a token for each single character in context (ours does: every printable ASCII character is
in its alphabet; T5's SentencePiece vocabulary should, untested here). By induction the text is a
complete label when EOS comes or the length limit is reached. The shortest label,
`neutral,0,joy,joy`, has 17 characters: a constraint for fewer new tokens is refused. Should a
tokenizer be unable to spell a completion, the row gets EOS and evaluation counts it unparsable.

Cost: the allowed tokens of a row are computed once per distinct row (a cache keyed by its ids)
with one batch_decode over the candidates; candidates are the tokens whose own text could occur in
a label (worked out once per tokenizer), a few hundred even for T5's 32k vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import LogitsProcessor

from unimse_core.text import IEMOCAP_EMOTIONS, MELD_EMOTIONS, POLARITIES

MAX_SCORE_DIGIT = 3  # |score| <= 3


def decode_texts(tokenizer: Any, sequences: Any) -> list[str]:
    """The texts of generated token ids [B, n] (special tokens dropped): the one decoding that both the
    constraint checks and evaluation parses."""
    return tokenizer.batch_decode(sequences, skip_special_tokens=True)


class LabelGrammar:
    """The universal-label language as a prefix check on characters."""

    def __init__(self, score_decimals: int):
        if isinstance(score_decimals, bool) or not isinstance(score_decimals, int) or score_decimals < 0:
            raise ValueError(f"score_decimals must be an integer >= 0, got {score_decimals!r}")
        self.score_decimals = score_decimals
        self.max_decimals = max(1, score_decimals)
        self.words: tuple[tuple[str, ...] | None, ...] = (POLARITIES, None, MELD_EMOTIONS, IEMOCAP_EMOTIONS)
        self._score = re.compile(rf"-?([0-{MAX_SCORE_DIGIT}])(?:\.([0-9]*))?")
        self._cache: dict[str, int | None] = {}
        # Fewest characters of each field: the shortest word, or one digit.
        self._shortest = tuple(1 if w is None else min(map(len, w)) for w in self.words)
        letters = {c for w in self.words if w for word in w for c in word}
        self.alphabet = frozenset(letters | set("0123456789-.,"))

    def need(self, text: str) -> int | None:
        """None if `text` is no prefix of a label; else the fewest characters that complete it (0: a label)."""
        if text not in self._cache:
            self._cache[text] = self._need(text)
        return self._cache[text]

    def is_label(self, text: str) -> bool:
        return self.need(text) == 0

    def shortest_label(self) -> int:
        """Characters of the shortest label."""
        need = self.need("")
        assert need is not None
        return need

    def _need(self, text: str) -> int | None:
        fields = text.split(",")
        if len(fields) > len(self.words):
            return None
        *closed, last = fields
        for i, value in enumerate(closed):
            if self._field_need(i, value) != 0:
                return None
        k = len(closed)
        missing = self._field_need(k, last)
        if missing is None:
            return None
        return missing + sum(1 + self._shortest[j] for j in range(k + 1, len(self.words)))

    def _field_need(self, i: int, value: str) -> int | None:
        """Characters that complete field i from `value`, or None when `value` starts no value of it."""
        words = self.words[i]
        if words is not None:
            lengths = [len(w) - len(value) for w in words if w.startswith(value)]
            return min(lengths) if lengths else None
        if value in ("", "-"):
            return 1
        match = self._score.fullmatch(value)
        if match is None:
            return None
        digit, decimals = match.groups()
        if decimals is None:
            return 0
        if len(decimals) > self.max_decimals:
            return None
        if int(digit) == MAX_SCORE_DIGIT and decimals.strip("0"):
            return None  # above 3
        return 1 if decimals == "" else 0


class LabelConstraint(LogitsProcessor):
    """Greedy (or sampled) generation that can only produce universal labels; see the module docstring.

    `start_tokens`: decoder ids before the first generated token (T5: the decoder start token), so
    that `input_ids.shape[1] - start_tokens` tokens have been generated at a step.
    Usable as `UniMSE.generate(batch, max_new_tokens, constrained=constraint)`; `allowed_tokens`
    is the same rule as a `prefix_allowed_tokens_fn`.
    """

    def __init__(self, tokenizer: Any, *, score_decimals: int, max_new_tokens: int, start_tokens: int = 1):
        self.tokenizer = tokenizer
        self.grammar = LabelGrammar(score_decimals)
        self.max_new_tokens = max_new_tokens
        self.start_tokens = start_tokens
        shortest = self.grammar.shortest_label()
        if max_new_tokens < shortest:
            raise ValueError(f"max_new_tokens {max_new_tokens} is too few to guarantee a complete label: the "
                             f"shortest label (neutral,0,joy,joy) may take {shortest} tokens, one per character")
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no EOS token; a constrained label could not end")
        self.eos_token_id = int(tokenizer.eos_token_id)
        self.candidates = self._candidates()
        # row ids (tuple) -> (is the text a label, candidate tokens, characters each leaves missing)
        self._rows: dict[tuple[int, ...], tuple[bool, np.ndarray, np.ndarray]] = {}

    def _candidates(self) -> np.ndarray:
        """Tokens whose own text, stripped, could occur inside a label: only the grammar's characters,
        every run of letters inside a grammar word. A filter for speed only: each candidate is still
        checked in context, and single characters always pass (so completion stays possible)."""
        special = set(self.tokenizer.all_special_ids)
        ids = [t for t in range(len(self.tokenizer)) if t not in special]
        words = [w for group in self.grammar.words if group for w in group]
        keep = []
        for t, text in zip(ids, decode_texts(self.tokenizer, [[t] for t in ids])):
            piece = text.strip()
            if not piece or not set(piece) <= self.grammar.alphabet:
                continue
            if all(any(run in w for w in words) for run in re.findall(r"[a-z]+", piece)):
                keep.append(t)
        return np.asarray(keep, dtype=np.int64)

    def _row(self, row: tuple[int, ...]) -> tuple[bool, np.ndarray, np.ndarray]:
        cached = self._rows.get(row)
        if cached is None:
            text = decode_texts(self.tokenizer, [list(row)])[0]
            is_label = self.grammar.is_label(text)
            extended = decode_texts(self.tokenizer, [[*row, t] for t in self.candidates.tolist()])
            needs = [self.grammar.need(s) for s in extended]
            ok = np.array([n is not None for n in needs], dtype=bool)
            cached = (is_label, self.candidates[ok], np.array([n for n in needs if n is not None], dtype=np.int64))
            self._rows[row] = cached
        return cached

    def allowed_tokens(self, batch_id: int, input_ids: torch.Tensor | Sequence[int]) -> list[int]:
        """The tokens that may follow one row (decoder ids so far, start token included)."""
        row = tuple(int(t) for t in (input_ids.tolist() if isinstance(input_ids, torch.Tensor) else input_ids))
        generated = row[self.start_tokens:]
        if self.eos_token_id in generated:
            return [self.eos_token_id]  # finished: generate pads the rest whatever is chosen
        left = self.max_new_tokens - len(generated)  # tokens left, this one included
        is_label, tokens, needs = self._row(row)
        allowed = tokens[needs <= left - 1].tolist()
        if is_label or not allowed:
            # Not a label with nothing allowed happens only for a tokenizer that cannot spell the
            # completion; EOS then ends the row and evaluation counts it unparsable.
            allowed.append(self.eos_token_id)
        return allowed

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        """input_ids [B, n] (decoder ids so far), scores [B, V] -> scores with every disallowed token at -inf."""
        mask = torch.ones_like(scores, dtype=torch.bool)  # True: disallowed
        for b in range(input_ids.shape[0]):
            mask[b, self.allowed_tokens(b, input_ids[b])] = False
        return scores.masked_fill(mask, float("-inf"))


__all__ = ["LabelConstraint", "LabelGrammar", "decode_texts"]
