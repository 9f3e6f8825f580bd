"""Greedy decoding constrained to the universal-label grammar, so that every output parses
(docs/inputs-and-targets.md).

The grammar, on characters, no spaces:

    label    = polarity "," score ("," emotion)*   one emotion field per emotion slot of the layout
                                                 (unimse_core.universal.LabelSchema; the paper's: meld, iemocap)
    polarity = positive | negative | neutral
    score    = ["-"] digit ["." digit{1..d}]   digit in 0..3; |score| <= 3 (3 takes only zero decimals);
                                                d = max(1, score_decimals): format_score writes 1.0 at 0 decimals
    emotion  = one of the slot's dataset's words (as in the targets; MELD_EMOTIONS, IEMOCAP_EMOTIONS)

Every string of this language parses (`LabelSchema.parse(s).valid`, tested).

`LabelConstraint` is a transformers LogitsProcessor built for one tokenizer, computed as tensors.
Once per tokenizer it builds an automaton: the grammar as a character DFA (`LabelGrammar.automaton`:
one state per field and canonical prefix of its value, about a hundred), and a transition table
[states, vocabulary] giving the state that each token leads to, or dead. What a token appends to
the text is read off the tokenizer's own `batch_decode` (with skip_special_tokens, exactly as the
generated texts are decoded afterwards, `decode_texts`): alone for the first token, after an anchor
token for the others, so that SentencePiece's `▁` word starts (a space inside a label: dead), its
dropped leading space, and the clean-up that turns `▁,` into `,` are all whatever the tokenizer
does. A token whose text is empty or holds a character outside the grammar is dead everywhere.
At each generation step a row's state is the table folded over its tokens, and the allowed tokens
are one row of a precomputed [states, vocabulary] table: no Python decoding in the loop.

Length. Generation stops after `max_new_tokens`, maybe in mid-label. So a token is allowed only if
a label can still be completed in the tokens left: `need[state]`, the fewest tokens from a state to
a complete label, is computed exactly on the token automaton (a shortest-path fixpoint), so the
guarantee holds for any vocabulary. By induction the text is a complete label when EOS comes or the
length limit is reached. The shortest label, `neutral,0,joy,joy`, has 17 characters: a constraint
for fewer new tokens is refused. Should a tokenizer be unable to spell a label at all (it lacks a
piece for a character that every label needs), nothing but EOS is allowed: the row ends and
evaluation counts it unparsable, never a crash or a hang.

Assumption: the text of a sequence is the concatenation of what its tokens append (true of
Metaspace/SentencePiece decoders on the ASCII of the grammar; tested for our BPE and a T5-format
SentencePiece model, tests/test_constrained.py). A tokenizer that broke it could yield an
unparsable row, which evaluation counts, never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import LogitsProcessor

from unimse_core.universal import DEFAULT_SCHEMA, POLARITIES, LabelSchema

MAX_SCORE_DIGIT = 3  # |score| <= 3


def decode_texts(tokenizer: Any, sequences: Any) -> list[str]:
    """The texts of generated token ids [B, n] (special tokens dropped): the one decoding that both the
    constraint checks and evaluation parses."""
    return tokenizer.batch_decode(sequences, skip_special_tokens=True)


class LabelGrammar:
    """The universal-label language as a prefix check on characters."""

    def __init__(self, score_decimals: int, schema: LabelSchema = DEFAULT_SCHEMA):
        if isinstance(score_decimals, bool) or not isinstance(score_decimals, int) or score_decimals < 0:
            raise ValueError(f"score_decimals must be an integer >= 0, got {score_decimals!r}")
        self.score_decimals = score_decimals
        self.max_decimals = max(1, score_decimals)
        # polarity, score (None: a number), then each emotion slot of the run's layout
        self.words: tuple[tuple[str, ...] | None, ...] = (POLARITIES, None,
                                                          *(schema.words(slot) for slot in schema.slots[1:]))
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

    def automaton(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The grammar as a character DFA: (alphabet in column order, transitions [states, alphabet]
        with -1 for dead, accepting [states]). State 0 is the empty text. A state is a field and a
        canonical prefix of its value: of a score's decimals only their count matters (3 takes only
        zeros, which the prefix check enforces)."""
        alphabet = sorted(self.alphabet)
        keys: dict[tuple[int, str], int] = {(0, ""): 0}
        todo = [(0, "")]
        edges: list[tuple[int, int, int]] = []
        while todo:
            k, value = todo.pop()
            here = keys[(k, value)]
            for c, char in enumerate(alphabet):
                if char == ",":
                    if k + 1 >= len(self.words) or self._field_need(k, value) != 0:
                        continue
                    nxt = (k + 1, "")
                else:
                    if self._field_need(k, value + char) is None:
                        continue
                    nxt = (k, self._canonical(k, value + char))
                if nxt not in keys:
                    keys[nxt] = len(keys)
                    todo.append(nxt)
                edges.append((here, c, keys[nxt]))
        table = np.full((len(keys), len(alphabet)), -1, dtype=np.int64)
        for here, c, nxt in edges:
            table[here, c] = nxt
        accepting = np.zeros(len(keys), dtype=bool)
        for (k, value), i in keys.items():
            accepting[i] = k == len(self.words) - 1 and self._field_need(k, value) == 0
        return alphabet, table, accepting

    def _canonical(self, i: int, value: str) -> str:
        if self.words[i] is not None or "." not in value:
            return value
        whole, decimals = value.split(".")
        return f"{whole}.{'0' * len(decimals)}"

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

    Tables (S automaton states, then FINISHED and DEAD; V = len(tokenizer)):
    `transitions` [S + 2, V]: the state after a token; `next_need` [S + 2, V]: tokens that the state
    after a token still needs to a complete label (UNREACHABLE where dead), EOS counting 0 from an
    accepting state.
    """

    UNREACHABLE = 1 << 20

    def __init__(self, tokenizer: Any, *, score_decimals: int, max_new_tokens: int, start_tokens: int = 1,
                 schema: LabelSchema = DEFAULT_SCHEMA):
        self.tokenizer = tokenizer
        self.grammar = LabelGrammar(score_decimals, schema)
        self.max_new_tokens = max_new_tokens
        self.start_tokens = start_tokens
        shortest = self.grammar.shortest_label()
        if max_new_tokens < shortest:
            raise ValueError(f"max_new_tokens {max_new_tokens} is too few to guarantee a complete label: the "
                             f"shortest label (neutral,0,joy,joy) may take {shortest} tokens, one per character")
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no EOS token; a constrained label could not end")
        self.eos_token_id = int(tokenizer.eos_token_id)
        self.transitions, self.next_need, self.need = self._tables()
        self._on_device: dict[tuple[torch.device, int], tuple[torch.Tensor, torch.Tensor]] = {}

    # ------------------------------------------------------------------------------------------
    # the tables, once per tokenizer

    def _token_texts(self) -> tuple[list[str | None], list[str | None]]:
        """What each token appends to the text: as the first token, and after other tokens (None: a
        special token, or an anchor-relative text that could not be read)."""
        vocab = len(self.tokenizer)
        special = set(self.tokenizer.all_special_ids)
        ids = list(range(vocab))
        alone = decode_texts(self.tokenizer, [[t] for t in ids])
        first: list[str | None] = [None if t in special else text for t, text in zip(ids, alone)]
        anchor = self._anchor(first)
        if anchor is None:
            return first, first
        a_text = first[anchor]
        after = decode_texts(self.tokenizer, [[anchor, t] for t in ids])
        later: list[str | None] = [None if t in special or not text.startswith(a_text) else text[len(a_text):]
                                   for t, text in zip(ids, after)]
        return first, later

    def _anchor(self, first: list[str | None]) -> int | None:
        """A token of grammar letters that decodes as itself next to itself (no word-start marker)."""
        letters = self.grammar.alphabet - set("0123456789-.,")
        options = [t for t, text in enumerate(first) if text and set(text) <= letters]
        options.sort(key=lambda t: len(first[t]))
        for t in options[:50]:
            if decode_texts(self.tokenizer, [[t, t]])[0] == first[t] * 2:
                return t
        return None

    def _tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        alphabet, chars, accepting = self.grammar.automaton()
        n_states = len(chars)
        finished, dead = n_states, n_states + 1
        column = {c: i for i, c in enumerate(alphabet)}
        first, later = self._token_texts()
        vocab = len(first)
        transitions = np.full((n_states + 2, vocab), dead, dtype=np.int32)
        for texts, rows in ((later, np.arange(1, n_states)), (first, np.arange(0, 1))):
            by_length: dict[int, list[tuple[int, list[int]]]] = {}
            for t, text in enumerate(texts):
                if text and set(text) <= self.grammar.alphabet:
                    by_length.setdefault(len(text), []).append((t, [column[c] for c in text]))
            for tokens in by_length.values():
                ids = np.array([t for t, _ in tokens])
                cols = np.array([c for _, c in tokens])  # [T, L]
                state = np.repeat(rows[:, None], len(ids), axis=1)  # [R, T]
                for i in range(cols.shape[1]):
                    alive = state >= 0
                    state = np.where(alive, chars[np.maximum(state, 0), cols[None, :, i]], -1)
                transitions[rows[:, None], ids[None, :]] = np.where(state >= 0, state, dead)
        transitions[:n_states, self.eos_token_id] = np.where(accepting, finished, dead)
        transitions[finished, :] = finished  # generate pads a finished row
        # need[s]: fewest tokens from s to an accepting state (Bellman-Ford on the token graph)
        need = np.full(n_states + 2, self.UNREACHABLE, dtype=np.int64)
        need[:n_states][accepting] = 0
        need[finished] = 0
        while True:
            best = np.minimum(need, np.minimum(1 + need[transitions].min(axis=1), self.UNREACHABLE))
            if np.array_equal(best, need):
                break
            need = best
        next_need = need[transitions].astype(np.int32)
        next_need[:n_states, self.eos_token_id] = np.where(accepting, 0, self.UNREACHABLE)
        next_need[finished, :] = self.UNREACHABLE
        next_need[finished, self.eos_token_id] = 0  # finished: generate pads the rest whatever is chosen
        next_need[dead, :] = self.UNREACHABLE
        return transitions, next_need, need

    def _device_tables(self, device: torch.device, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The tables on `device`, `width` columns wide (T5 pads its vocabulary: the extra ids are dead)."""
        key = (device, width)
        if key not in self._on_device:
            transitions, next_need = self.transitions, self.next_need
            extra = width - transitions.shape[1]
            if extra > 0:
                dead = transitions.shape[0] - 1
                transitions = np.pad(transitions, ((0, 0), (0, extra)), constant_values=dead)
                next_need = np.pad(next_need, ((0, 0), (0, extra)), constant_values=self.UNREACHABLE)
            self._on_device[key] = (torch.from_numpy(np.ascontiguousarray(transitions[:, :width])).to(device),
                                    torch.from_numpy(np.ascontiguousarray(next_need[:, :width]))
                                    .to(device=device, dtype=torch.int32))
        return self._on_device[key]

    # ------------------------------------------------------------------------------------------
    # at each step

    def states(self, input_ids: torch.Tensor, width: int | None = None) -> torch.Tensor:
        """input_ids [B, n] (start tokens included) -> the automaton state of each row [B]."""
        transitions, _ = self._device_tables(input_ids.device, width or self.transitions.shape[1])
        state = torch.zeros(input_ids.shape[0], dtype=torch.int64, device=input_ids.device)
        for column in input_ids[:, self.start_tokens:].T:
            state = transitions[state, column.clamp(0, transitions.shape[1] - 1)].long()
        return state

    def allowed_mask(self, input_ids: torch.Tensor, width: int) -> torch.Tensor:
        """input_ids [B, n] -> [B, width] True where a token may come next."""
        _, next_need = self._device_tables(input_ids.device, width)
        left = self.max_new_tokens - (input_ids.shape[1] - self.start_tokens)  # tokens left, this one included
        allowed = next_need[self.states(input_ids, width)] <= left - 1  # [B, width]
        # Nothing allowed: a tokenizer that cannot spell the label (or a row forced off the grammar).
        # EOS then ends the row and evaluation counts it unparsable.
        stuck = ~allowed.any(dim=1)
        allowed[stuck, self.eos_token_id] = True
        return allowed

    def allowed_tokens(self, batch_id: int, input_ids: torch.Tensor | Sequence[int]) -> list[int]:
        """The tokens that may follow one row (decoder ids so far, start token included)."""
        row = torch.as_tensor(input_ids, dtype=torch.long).reshape(1, -1)
        return torch.nonzero(self.allowed_mask(row, self.transitions.shape[1])[0]).flatten().tolist()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        """input_ids [B, n] (decoder ids so far), scores [B, V] -> scores with every disallowed token at -inf."""
        return scores.masked_fill(~self.allowed_mask(input_ids, scores.shape[1]), float("-inf"))


__all__ = ["LabelConstraint", "LabelGrammar", "decode_texts"]
