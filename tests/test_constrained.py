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
from unimse_core.datasets.iemocap import CODES as IEMOCAP_CODES
from unimse_core.datasets.meld import EMOTIONS as MELD_EMOTIONS
from unimse_core.text import POLARITIES, parse_target, target
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


# ----------------------------------------------------------------------------------------------
# SentencePiece (T5's format): `▁` word starts, digits, commas, and a vocabulary that cannot spell


def t5_style(pieces: list[str], clean_up: bool = False):
    """A T5-format Unigram tokenizer (pad 0, eos 1, unk 2, extra ids after the pieces) of `pieces`,
    longer pieces scoring higher, as SentencePiece orders a vocabulary."""
    from transformers import T5TokenizerFast

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(p, -10.0 + len(p)) for p in dict.fromkeys(pieces)]
    vocab += [(f"<extra_id_{i}>", 0.0) for i in range(4, -1, -1)]
    return T5TokenizerFast(vocab=vocab, extra_ids=5, clean_up_tokenization_spaces=clean_up)


WORDS = [*POLARITIES, *MELD_EMOTIONS, *(w for w in IEMOCAP_CODES), "excited", "frustrated", "happy"]
T5_PIECES = ["▁", *(f"▁{w}" for w in WORDS), *WORDS, *"abcdefghijklmnopqrstuvwxyz", *"0123456789",
             *(f"▁{d}" for d in "0123456789"), "10", "25", "1.", "2.", ",", "▁,", ".", "▁.", "-", "▁-", "▁the",
             "itive", "ative", "pos", "neg", "neu", "tral", "▁movie", "ness", "ing"]


def piece_ids(tok, pieces: list[str]) -> list[int]:
    ids = tok.convert_tokens_to_ids(pieces)
    assert tok.unk_token_id not in ids, pieces
    return ids


@pytest.mark.parametrize("clean_up", [False, True])
def test_t5_pieces_word_starts_only_first_and_comma_variants_as_decoded(clean_up):
    tok = t5_style(T5_PIECES, clean_up=clean_up)
    constraint = LabelConstraint(tok, score_decimals=2, max_new_tokens=24)
    start = [tok.pad_token_id]
    at_start = set(constraint.allowed_tokens(0, start))
    # "▁positive" decodes as "positive" when it comes first; "pos" too
    assert set(piece_ids(tok, ["▁positive", "positive", "pos", "▁neu"])) <= at_start
    assert not set(piece_ids(tok, ["▁", "▁,", ",", "▁1", "joy"])) & at_start
    after_word = set(constraint.allowed_tokens(0, start + piece_ids(tok, ["▁positive"])))
    comma, spaced_comma = piece_ids(tok, [",", "▁,"])
    assert comma in after_word and not set(piece_ids(tok, ["▁1", "▁joy", "▁-", "▁", "itive"])) & after_word
    # "▁," reads " ," unless the tokenizer's clean-up turns it into ",": allowed exactly then
    assert (spaced_comma in after_word) == clean_up == (tok.decode([*start, *piece_ids(tok, ["▁positive", "▁,"])],
                                                                   skip_special_tokens=True) == "positive,")
    after_comma = set(constraint.allowed_tokens(0, start + piece_ids(tok, ["▁positive", ","])))
    assert set(piece_ids(tok, ["1", "2.", "-", "3"])) <= after_comma
    assert not set(piece_ids(tok, ["▁1", "4", "10", ","])) & after_comma


@pytest.mark.parametrize("clean_up", [False, True])
@pytest.mark.parametrize("max_new_tokens", [17, 24])
def test_t5_pieces_random_logits_always_give_labels(clean_up, max_new_tokens):
    tok = t5_style(T5_PIECES, clean_up=clean_up)
    constraint = LabelConstraint(tok, score_decimals=2, max_new_tokens=max_new_tokens)
    texts = walk(constraint, tok, rows=64, seed=max_new_tokens + clean_up, max_new_tokens=max_new_tokens)
    assert all(parse_target(t).valid for t in texts), [t for t in texts if not parse_target(t).valid]
    assert len(set(texts)) > 10


def test_a_sentencepiece_model_trained_by_the_library_gives_labels(tmp_path):
    from bench.standins import write_t5_tokenizer
    from transformers import T5TokenizerFast

    write_t5_tokenizer(tmp_path, TARGETS + INPUTS, pieces=1500)
    tok = T5TokenizerFast.from_pretrained(tmp_path)
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id, len(tok)) == (0, 1, 2, 1600)
    constraint = LabelConstraint(tok, score_decimals=2, max_new_tokens=17)
    texts = walk(constraint, tok, rows=48, seed=3, max_new_tokens=17)
    assert all(parse_target(t).valid for t in texts), texts
    assert len(set(texts)) > 10


def test_a_vocabulary_without_some_letter_routes_around_it():
    # no "x": "excited" cannot be spelt, every other label can
    tok = t5_style([p for p in T5_PIECES if "x" not in p])
    constraint = LabelConstraint(tok, score_decimals=2, max_new_tokens=20)
    texts = walk(constraint, tok, rows=64, seed=5, max_new_tokens=20)
    assert all(parse_target(t).valid and "excited" not in t for t in texts)


def test_a_vocabulary_that_cannot_spell_any_label_ends_every_row_unparsable_without_hanging():
    # no comma at all: no label can be written; every row gets EOS at once
    tok = t5_style([p for p in T5_PIECES if "," not in p])
    constraint = LabelConstraint(tok, score_decimals=2, max_new_tokens=20)
    assert constraint.allowed_tokens(0, [tok.pad_token_id]) == [tok.eos_token_id]
    texts = walk(constraint, tok, rows=8, seed=6, max_new_tokens=20)
    assert texts == [""] * 8 and not any(parse_target(t).valid for t in texts)
    torch.manual_seed(0)
    model = build_model(from_dict(ModelConfig, MODEL, "model"), tok).eval()
    generated = model.generate(random_batch(tok, rows=4, seed=2), max_new_tokens=20, constrained=constraint)
    assert generated.shape[1] == 2 and (generated[:, 1] == tok.eos_token_id).all()
