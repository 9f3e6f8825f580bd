"""Local stand-ins for the paper's pretrained models, built on the spot (no hub is reachable here).

- `write_t5_base(folder, texts)`: a T5 with exactly t5-base's configuration (`T5_BASE_CONFIG`),
  random weights, saved with `save_pretrained` as safetensors (`max_shard_size`: sharded, with an
  index file), together with `write_t5_tokenizer`'s tokenizer, as a t5-base folder holds both.
- `write_t5_tokenizer(folder, texts)`: a SentencePiece unigram model trained by the `sentencepiece`
  library on `texts` and filler words to t5-base's 32,000 pieces, in T5's format (pad 0, eos 1,
  unk 2, no bos, 100 `<extra_id_N>` tokens after the pieces: 32,100 tokens for a 32,128-row
  embedding); the folder holds spiece.model and the tokenizer files, loadable as T5TokenizerFast.
- `write_simcse_bert(folder, texts)`: a BertModel with bert-base-uncased's configuration and a
  pooler, random weights, saved as princeton-nlp/sup-simcse-bert-base-uncased is published (config
  of a BertModel, weights without a `bert.` prefix, an uncased WordPiece vocab.txt of 30,522 entries
  with the special tokens at bert-base-uncased's ids).

Weights are random: these check shapes, file formats, tokenization and speed, not quality. A
t5-base save is about 0.9 GB: callers (tests/test_standins.py, bench/decode.py) build one per
session. `python -m bench.standins OUT` writes all three under OUT.
"""

from __future__ import annotations

import io
import re
import string
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

T5_BASE_CONFIG: dict[str, Any] = {
    "vocab_size": 32128, "d_model": 768, "d_ff": 3072, "num_layers": 12, "num_decoder_layers": 12,
    "num_heads": 12, "d_kv": 64, "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
    "dropout_rate": 0.1, "layer_norm_epsilon": 1e-6, "initializer_factor": 1.0, "feed_forward_proj": "relu",
    "tie_word_embeddings": True, "is_encoder_decoder": True, "pad_token_id": 0, "eos_token_id": 1,
    "decoder_start_token_id": 0}
T5_PIECES = 32000      # SentencePiece pieces of t5-base's spiece.model
T5_EXTRA_IDS = 100     # <extra_id_0> .. <extra_id_99>
BERT_BASE_CONFIG: dict[str, Any] = {
    "vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
    "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0}
BERT_SPECIAL = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}


def filler_words(n: int, seed: int = 0) -> list[str]:
    """`n` random lowercase words of 2-9 letters: enough distinct substrings for a 32k unigram vocabulary."""
    rng = np.random.default_rng(seed)
    letters = np.array(list(string.ascii_lowercase))
    return ["".join(letters[rng.integers(26, size=rng.integers(2, 10))]) for _ in range(n)]


def _corpus(texts: Sequence[str], seed: int, lines: int) -> list[str]:
    """`texts` (repeated, so that their words become pieces), lines of filler words, and lines of
    numbers and punctuation, so that every printable ASCII character has a piece, as in t5-base."""
    rng = np.random.default_rng(seed)
    words = filler_words(40000, seed)
    filler = [" ".join(words[i] for i in rng.integers(len(words), size=12)) for _ in range(lines)]
    symbols = list(string.punctuation)
    mixed = [" ".join(f"{words[rng.integers(len(words))]}{symbols[rng.integers(len(symbols))]}"
                      f"{rng.normal(0, 2):.{rng.integers(0, 3)}f}" for _ in range(8)) for _ in range(lines // 10)]
    return [*texts] * 20 + filler + mixed


def write_t5_tokenizer(folder: str | Path, texts: Sequence[str], *, pieces: int = T5_PIECES, seed: int = 0) -> Any:
    """Train the SentencePiece model, write spiece.model and the T5 tokenizer files; return the tokenizer."""
    import sentencepiece as spm
    from transformers import T5TokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_corpus(texts, seed, lines=min(30000, pieces))), model_writer=model, model_type="unigram", vocab_size=pieces,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
        character_coverage=1.0, num_threads=2, input_sentence_size=0, minloglevel=2)
    (folder / "spiece.model").write_bytes(model.getvalue())
    processor = spm.SentencePieceProcessor(model_proto=model.getvalue())
    # transformers builds its Unigram tokenizer from (piece, score) pairs; the extra ids follow the
    # pieces, highest first, so that <extra_id_0> is the last id as in t5-base.
    vocab = [(processor.id_to_piece(i), processor.get_score(i)) for i in range(processor.get_piece_size())]
    vocab += [(f"<extra_id_{i}>", 0.0) for i in range(T5_EXTRA_IDS - 1, -1, -1)]
    tokenizer = T5TokenizerFast(vocab=vocab, extra_ids=T5_EXTRA_IDS)
    tokenizer.save_pretrained(folder)
    return tokenizer


def write_t5_base(folder: str | Path, texts: Sequence[str], *, max_shard_size: str | None = None,
                  seed: int = 0) -> Path:
    """A t5-base-shaped folder: random weights (safetensors; sharded with an index when
    `max_shard_size` is given, e.g. "200MB") and the SentencePiece tokenizer."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    folder = Path(folder)
    write_t5_tokenizer(folder, texts, seed=seed)
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(T5Config(**T5_BASE_CONFIG))
    extra = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.save_pretrained(folder, **extra)
    return folder


def bert_vocab(texts: Iterable[str]) -> list[str]:
    """An uncased WordPiece vocabulary laid out as bert-base-uncased's: [PAD] 0, [unused*], [UNK] 100,
    [CLS] 101, [SEP] 102, [MASK] 103, then characters, `##` characters, the corpus words, fillers."""
    words = Counter(w for t in texts for w in re.findall(r"[a-z0-9]+|[^\sa-z0-9]", t.lower()))
    chars = sorted(set(string.ascii_lowercase + string.digits + string.punctuation))
    vocab = [f"[unused{i}]" for i in range(BERT_BASE_CONFIG["vocab_size"])]
    for token, i in BERT_SPECIAL.items():
        vocab[i] = token
    tail = list(dict.fromkeys([*chars, *(f"##{c}" for c in string.ascii_lowercase + string.digits),
                               *(w for w, _ in words.most_common()), *filler_words(30000, seed=1)]))
    free = [i for i in range(104, len(vocab))]
    seen = set(BERT_SPECIAL)
    tail = [t for t in tail if t not in seen]
    for i, token in zip(free, tail):
        vocab[i] = token
    return vocab


def write_simcse_bert(folder: str | Path, texts: Sequence[str], *, seed: int = 0) -> Path:
    """A sup-simcse-bert-base-uncased-shaped folder (random weights, pooler included)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = bert_vocab(texts)
    BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=True).save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    torch.manual_seed(seed)
    config = BertConfig(**BERT_BASE_CONFIG, architectures=["BertModel"])
    BertModel(config, add_pooling_layer=True).save_pretrained(folder)
    return folder


def main(argv: Sequence[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m bench.standins OUT")
    from unimse_core.universal import DEFAULT_SCHEMA, POLARITIES

    out = Path(argv[0])
    texts = [" ".join((*POLARITIES, *(w for slot in DEFAULT_SCHEMA.slots[1:] for w in DEFAULT_SCHEMA.words(slot))))]
    write_t5_base(out / "t5-base", texts)
    write_simcse_bert(out / "sup-simcse-bert-base-uncased", texts)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1:])
