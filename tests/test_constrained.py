"""Decoding constrained to the universal-label grammar: the grammar by hand, the guarantee that every
constrained output parses (random logits at the tightest length, and a tiny random model), and that
the same model decoding freely mostly produces garbage."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from tiny_training import FEATURE_DIM, MODEL
from unimse_core.config import EvaluateConfig, ModelConfig, TokenizerConfig, from_dict
from unimse_core.constrained import LabelConstraint, LabelGrammar, decode_texts
from unimse_core.data import collate
from unimse_core.model import build_model
from unimse_core.text import IEMOCAP_CODES, MELD_EMOTIONS, POLARITIES, parse_target, target
from unimse_core.tokenizer import train_tokenizer

TARGETS = ["positive,1.25,joy,joy", "negative,-2.4,sadness,anger", "neutral,0.0,neutral,neutral",
           "positive,0.6,surprise,excited", "negative,-0.33,disgust,frustrated", "negative,-3.0,fear,sadness",
           "positive,3.0,anger,joy"]
INPUTS = ["sst2 sentence: the movie was good", "sst2 sentence: a plain and boring plot", "sst2 sentence: wow what fun"]


def tokenizer_of(split_digits: bool = True, vocab_size: int = 120):
    return train_tokenizer(TARGETS + INPUTS, from_dict(TokenizerConfig, {"vocab_size": vocab_size,
                                                                          "split_digits": split_digits}, "tokenizer"))


@pytest.fixture(scope="module")
def tokenizer():
    return tokenizer_of()


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


# ----------------------------------------------------------------------------------------------
# the grammar


@pytest.mark.parametrize("text, need", [
    ("", 17),                                   # neutral,0,joy,joy
    ("p", 17),                                  # 7 letters of positive, then ,0,joy,joy
    ("neutral", 10), ("neutral,", 9), ("neutral,-", 9), ("neutral,3", 8), ("neutral,3.", 9), ("neutral,3.0", 8),
    ("positive,-1.25,", 7), ("positive,-1.25,f", 7), ("positive,-1.25,fear,", 3),
    ("neutral,0,joy,joy", 0), ("positive,-1.25,surprise,frustrated", 0),
    ("neutral,0,joy,jo", 1),
    ("Neutral", None), (" neutral", None), ("neutral ,", None), ("x", None), ("neutral,4", None),
    ("neutral,12", None), ("neutral,3.01", None), ("neutral,-3.5", None), ("neutral,1.234", None),
    ("neutral,+1", None), ("neutral,.5", None), ("neutral,nan", None), ("neutral,1e3", None),
    ("neutral,0,hap,", None), ("neutral,0,joy,joy,", None), ("neutral,0,joy,joyful", None),
])
def test_need_by_hand(text, need):
    assert LabelGrammar(2).need(text) == need


def test_decimals_follow_score_decimals_and_zero_decimals_still_take_one():
    assert LabelGrammar(3).need("neutral,1.234") == 8
    assert LabelGrammar(1).need("neutral,1.23") is None
    # format_score writes 1.0 at 0 decimals: the grammar must accept it
    assert LabelGrammar(0).need("neutral,1.0,joy,joy") == 0 and target("positive", 1.0, "joy", "hap", 0) == \
        "positive,1.0,joy,joy"


@pytest.mark.parametrize("decimals", range(7))
def test_shortest_label_is_what_the_config_checks(decimals):
    assert LabelGrammar(decimals).shortest_label() == EvaluateConfig.SHORTEST_LABEL


def test_every_target_is_a_label_and_every_label_parses():
    rng = random.Random(0)
    for _ in range(300):
        decimals = rng.randrange(0, 7)
        text = target(rng.choice(POLARITIES), rng.uniform(-3, 3), rng.choice(MELD_EMOTIONS), rng.choice(IEMOCAP_CODES),
                      decimals)
        assert LabelGrammar(decimals).is_label(text), text
    grammar = LabelGrammar(2)
    alphabet = sorted(grammar.alphabet)
    labels = 0
    for _ in range(400):
        # a random walk that only keeps prefixes, until a label comes out
        text = ""
        while not grammar.is_label(text) or rng.random() < 0.3:
            options = [c for c in alphabet if grammar.need(text + c) is not None]
            if not options:
                break
            text += rng.choice(options)
        if grammar.is_label(text):
            labels += 1
            parsed = parse_target(text)
            assert parsed.valid, (text, parsed.reason)
            assert -3 <= parsed.score <= 3
    assert labels > 300


# ----------------------------------------------------------------------------------------------
# the constraint


def walk(constraint: LabelConstraint, tokenizer, rows: int, seed: int, max_new_tokens: int) -> list[str]:
    """Greedy decoding of `rows` rows on random logits (a worst-case model), with the constraint."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.zeros((rows, 1), dtype=torch.long)  # the decoder start token
    done = torch.zeros(rows, dtype=torch.bool)
    for _ in range(max_new_tokens):
        scores = torch.randn((rows, len(tokenizer) + 5), generator=generator) * 5  # wider, as T5's padded vocab
        scores = constraint(ids, scores)
        assert torch.isfinite(scores).any(dim=1).all()
        chosen = scores.argmax(dim=1)
        chosen = torch.where(done, torch.full_like(chosen, tokenizer.pad_token_id), chosen)
        ids = torch.cat([ids, chosen[:, None]], dim=1)
        done |= chosen == tokenizer.eos_token_id
        if done.all():
            break
    return decode_texts(tokenizer, ids)


@pytest.mark.parametrize("split_digits", [True, False])
@pytest.mark.parametrize("max_new_tokens", [17, 24])
def test_random_logits_give_labels_even_at_the_tightest_length(split_digits, max_new_tokens):
    tok = tokenizer_of(split_digits=split_digits)
    constraint = LabelConstraint(tok, score_decimals=2, max_new_tokens=max_new_tokens)
    texts = walk(constraint, tok, rows=64, seed=max_new_tokens, max_new_tokens=max_new_tokens)
    bad = [t for t in texts if not parse_target(t).valid]
    assert not bad
    assert all(constraint.grammar.is_label(t) for t in texts)
    assert len(set(texts)) > 10  # the constraint restricts, it does not force one answer


def test_eos_only_after_a_complete_label(tokenizer):
    constraint = LabelConstraint(tokenizer, score_decimals=2, max_new_tokens=30)
    eos = tokenizer.eos_token_id
    start = [tokenizer.pad_token_id]
    assert eos not in constraint.allowed_tokens(0, start)
    partial = tokenizer("neutral,0,joy,jo", add_special_tokens=False)["input_ids"]
    assert eos not in constraint.allowed_tokens(0, start + partial)
    whole = tokenizer("neutral,0,joy,joy", add_special_tokens=False)["input_ids"]
    assert eos in constraint.allowed_tokens(0, start + whole)
    # every allowed continuation of a prefix keeps a prefix
    for t in constraint.allowed_tokens(0, start + partial):
        if t != eos:
            assert constraint.grammar.need(decode_texts(tokenizer, [start + partial + [t]])[0]) is not None


def test_too_few_new_tokens_are_refused(tokenizer):
    with pytest.raises(ValueError, match="max_new_tokens 16"):
        LabelConstraint(tokenizer, score_decimals=2, max_new_tokens=16)


# ----------------------------------------------------------------------------------------------
# a tiny random model


def random_batch(tokenizer, rows: int, seed: int) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(rows):
        ids = rng.integers(3, len(tokenizer), int(rng.integers(3, 12))).tolist() + [tokenizer.eos_token_id]
        items.append({"index": i, "input_ids": np.asarray(ids, dtype=np.int32),
                      "labels": np.asarray([tokenizer.eos_token_id], dtype=np.int32),
                      "audio": rng.normal(size=(int(rng.integers(0, 5)), FEATURE_DIM)).astype(np.float32),
                      "video": rng.normal(size=(int(rng.integers(1, 4)), FEATURE_DIM)).astype(np.float32)})
    return collate(items, pad_token_id=tokenizer.pad_token_id)


def test_a_random_model_constrained_always_parses_and_free_mostly_does_not(tokenizer):
    torch.manual_seed(0)
    model = build_model(from_dict(ModelConfig, MODEL, "model"), tokenizer).eval()
    batch = random_batch(tokenizer, rows=20, seed=1)
    constraint = LabelConstraint(tokenizer, score_decimals=2, max_new_tokens=24)
    constrained = decode_texts(tokenizer, model.generate(batch, max_new_tokens=24, constrained=constraint))
    assert all(parse_target(t).valid for t in constrained), constrained
    as_prefix_fn = decode_texts(tokenizer, model.generate(batch, max_new_tokens=24,
                                                          constrained=constraint.allowed_tokens))
    assert as_prefix_fn == constrained
    free = decode_texts(tokenizer, model.generate(batch, max_new_tokens=24))
    assert sum(parse_target(t).valid for t in free) <= 5, free
