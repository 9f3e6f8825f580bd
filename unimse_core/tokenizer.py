"""The tokenizer of the model: trained here for `model.backbone: scratch`, or a Hugging Face folder.

`train_tokenizer(texts, config)` trains a byte-pair-encoding (BPE) fast tokenizer with the
`tokenizers` library that behaves like T5's where the rest of the code relies on it:

- special tokens `<pad>`, `</s>` (EOS), `<unk>` have ids 0, 1, 2, as in T5 (T5's pad is also its
  decoder start token);
- `</s>` written literally in a text is matched before any other rule and becomes the EOS id: MELD
  and IEMOCAP inputs mark the target utterance with it (docs/inputs-and-targets.md). The spaces
  around it are absorbed, so `a </s> b` is `▁a </s> ▁b` (no lone `▁` pieces);
- every encoded sequence ends with EOS (a post-processor, as T5's tokenizer appends `</s>`).

Text is NFKC-normalised; words are split on whitespace with SentencePiece's `▁` marker (Metaspace),
punctuation is split off, and with `split_digits` every digit is a token of its own, so a score such
as `-1.25` is always the same five pieces. Every printable ASCII character is in the initial
alphabet, so digits and punctuation never become `<unk>` even when the corpus lacks them.

Training is deterministic: the same texts give the same vocabulary (tested). BPE rather than T5's
Unigram model: the library's Unigram trainer is not deterministic (pieces of equal score come out in
hash-map order) and, on a corpus as small as the synthetic one, splits most words into letters.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from unimse_core.config import TokenizerConfig

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, EOS, UNK)  # ids 0, 1, 2, as in T5
# Printable ASCII without whitespace: never unknown, whatever the training texts hold.
ALPHABET: tuple[str, ...] = tuple(c for c in string.printable if not c.isspace())


def _special_tokens() -> list[AddedToken]:
    # lstrip/rstrip: the spaces around a literal `</s>` belong to it, not to a lone `▁` piece.
    return [AddedToken(PAD, special=True, normalized=False),
            AddedToken(EOS, special=True, normalized=False, lstrip=True, rstrip=True),
            AddedToken(UNK, special=True, normalized=False)]


def train_tokenizer(texts: Iterable[str], config: TokenizerConfig) -> PreTrainedTokenizerFast:
    """A fast tokenizer trained on `texts` (the training inputs and targets), T5's special-token layout.

    The vocabulary has at most `config.vocab_size` entries (fewer when the texts support fewer merges).
    """
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    trainer = trainers.BpeTrainer(vocab_size=config.vocab_size, special_tokens=_special_tokens(),
                                  initial_alphabet=list(ALPHABET) + ["▁"], show_progress=False)
    tokenizer.normalizer = normalizers.NFKC()
    splitters = [pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
                 pre_tokenizers.Punctuation("isolated")]
    if config.split_digits:
        splitters.append(pre_tokenizers.Digits(individual_digits=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(splitters)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")

    tokenizer.train_from_iterator(_checked(texts), trainer)
    ids = [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS]
    if ids != [0, 1, 2]:  # the trainers put special tokens first; T5's layout depends on it
        raise RuntimeError(f"special tokens {SPECIAL_TOKENS} got ids {ids}, expected [0, 1, 2]")
    eos_id = ids[1]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}", special_tokens=[(EOS, eos_id)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=PAD, eos_token=EOS, unk_token=UNK)


def _checked(texts: Iterable[str]) -> Iterable[str]:
    count = 0
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i}: must be a string, got {type(text).__name__}")
        count += 1
        yield text
    if count == 0:
        raise ValueError("no texts to train the tokenizer on")


def load_tokenizer(backbone_or_folder: str | Path) -> Any:
    """The tokenizer saved in a folder (ours, or a Hugging Face one such as a local copy of t5-base),
    or of a Hugging Face id already in the local cache; never downloads.

    Checks what the model relies on: a pad and an EOS token, and EOS appended to every encoding.
    """
    tokenizer = AutoTokenizer.from_pretrained(str(backbone_or_folder), local_files_only=True)
    if tokenizer.pad_token_id is None or tokenizer.eos_token_id is None:
        raise ValueError(f"{backbone_or_folder}: the tokenizer needs a pad and an EOS token, got pad "
                         f"{tokenizer.pad_token_id} and EOS {tokenizer.eos_token_id}")
    probe = tokenizer("a")["input_ids"]
    if not probe or probe[-1] != tokenizer.eos_token_id:
        raise ValueError(f"{backbone_or_folder}: the tokenizer does not append EOS ({tokenizer.eos_token!r}) "
                         f"to an encoded text; the targets need it to stop generation")
    return tokenizer
