"""The scratch tokenizer: T5's special-token layout, literal </s>, EOS appended, save/load, determinism."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from unimse_core.config import ConfigError, TokenizerConfig, from_dict
from unimse_core.tokenizer import load_tokenizer, train_tokenizer

TEXTS = [
    "sst2 sentence: the movie was great , i loved it",
    "sst2 sentence: Joey Hi there </s> Ross I am fine thanks </s> Rachel Okay",
    "sst2 sentence: it was terrible and boring",
    "positive,1.33,joy,joy",
    "negative,-0.8,sadness,frustrated",
    "neutral,0.0,neutral,neutral",
] * 3

# The `tokenizer` group handed over for params.yaml; loaded here so it stays valid.
DEFAULT = {"vocab_size": 1000, "split_digits": True}


def config(**changes) -> TokenizerConfig:
    return from_dict(TokenizerConfig, {**DEFAULT, **changes}, "tokenizer")


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(TEXTS, config(vocab_size=200))


def test_special_tokens_have_t5_ids(tokenizer):
    assert (tokenizer.pad_token, tokenizer.eos_token, tokenizer.unk_token) == ("<pad>", "</s>", "<unk>")
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)


def test_literal_eos_in_text_is_the_eos_id_and_eos_is_appended(tokenizer):
    ids = tokenizer("Joey Hi </s> Ross fine </s> Okay")["input_ids"]
    assert ids[-1] == 1 and ids.count(1) == 3
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert "▁" not in tokens  # the spaces around </s> leave no lone word-start pieces
    assert tokenizer("a")["input_ids"][-1] == 1
    batch = tokenizer(["one two three four five", "x"], truncation=True, max_length=3)["input_ids"]
    assert all(len(row) <= 3 and row[-1] == 1 for row in batch)  # truncation keeps the EOS


def test_targets_decode_back_and_digits_are_never_unknown(tokenizer):
    for target in ("negative,-2.75,anger,frustrated", "positive,3.0,joy,excited", "neutral,0.0,neutral,neutral"):
        ids = tokenizer(target)["input_ids"]
        assert 2 not in ids, tokenizer.convert_ids_to_tokens(ids)  # 2, 5, 7 never occur in TEXTS
        assert tokenizer.decode(ids, skip_special_tokens=True) == target


def test_split_digits():
    split = train_tokenizer(TEXTS, config())
    pieces = split.convert_ids_to_tokens(split("1.33")["input_ids"])
    assert [p for p in pieces if p.strip("▁")][:4] == ["1", ".", "3", "3"]


def test_save_pretrained_and_auto_tokenizer_round_trip(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    for loaded in (AutoTokenizer.from_pretrained(tmp_path, local_files_only=True), load_tokenizer(tmp_path)):
        assert (loaded.pad_token_id, loaded.eos_token_id, loaded.unk_token_id) == (0, 1, 2)
        for text in TEXTS[:6]:
            assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
        assert len(loaded) == len(tokenizer)


def test_training_is_deterministic():
    first = train_tokenizer(TEXTS, config(vocab_size=200))
    second = train_tokenizer(list(TEXTS), config(vocab_size=200))
    assert first.get_vocab() == second.get_vocab()
    assert first.backend_tokenizer.to_str() == second.backend_tokenizer.to_str()


def test_vocab_size_is_an_upper_bound():
    assert len(train_tokenizer(TEXTS, config(vocab_size=120))) <= 120


def test_bad_inputs():
    with pytest.raises(ValueError, match="no texts"):
        train_tokenizer([], config())
    with pytest.raises(TypeError, match="text 1: must be a string"):
        train_tokenizer(["a", 3], config())
    with pytest.raises(ConfigError, match=r"^tokenizer\.vocab_size: must be >= 16"):
        config(vocab_size=3)


def test_load_tokenizer_rejects_a_tokenizer_without_eos_appended(tmp_path):
    plain = train_tokenizer(TEXTS, config())
    plain.backend_tokenizer.post_processor = None
    plain.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="does not append EOS"):
        load_tokenizer(tmp_path)
