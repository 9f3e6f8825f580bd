"""Typed, frozen configs: one dataclass per params.yaml group.

Every stage builds its config from its own params.yaml group with `load_config`. Loading fails at
once, naming the key in full, on an unknown key, a missing key, a wrong type or a value out of
range (`train.lr: must be > 0, got -1`). Bounds and choices are declared next to the field with
`param(...)` and `Literal[...]`, so they are checked in one place.

YAML lists become tuples, so configs stay hashable and immutable.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import yaml

T = TypeVar("T")

from unimse_core.datasets import NAMES as DATASETS  # noqa: E402  (the registry: unimse_core/datasets)
from unimse_core.datasets import COMBINATIONS, combination_datasets  # noqa: E402
from unimse_core.datasets import REGISTRY  # noqa: E402

Dataset = Literal[DATASETS]  # type: ignore[valid-type]


class ConfigError(ValueError):
    """A params.yaml value that the code cannot accept; the message starts with the full key."""


def param(*, gt: float | None = None, ge: float | None = None, lt: float | None = None,
          le: float | None = None, min_len: int | None = None, unique: bool = False,
          help: str = "") -> Any:
    """A required config field with optional bounds (for numbers) or length/uniqueness (for tuples)."""
    return field(metadata={"gt": gt, "ge": ge, "lt": lt, "le": le, "min_len": min_len,
                           "unique": unique, "help": help})


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the annotation `tp` and return it in its config form."""
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices or isinstance(value, bool) != any(isinstance(c, bool) for c in choices):
            raise ConfigError(f"{key}: must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{key}: must be {' or '.join(_type_name(o) for o in options)}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: must be a list, got {value!r}")
        (item_tp, _ellipsis) = get_args(tp)
        return tuple(_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        key_tp, value_tp = get_args(tp)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: must be a mapping, got {value!r}")
        return types.MappingProxyType(
            {_convert(k, key_tp, f"{key} key"): _convert(v, value_tp, f"{key}.{k}") for k, v in value.items()})
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: must be a string, got {value!r}")
        return value
    raise TypeError(f"config annotation {tp!r} of {key} is not supported")


def _check_bounds(value: Any, meta: Mapping[str, Any], key: str) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for name, ok, word in (("gt", lambda v, b: v > b, ">"), ("ge", lambda v, b: v >= b, ">="),
                               ("lt", lambda v, b: v < b, "<"), ("le", lambda v, b: v <= b, "<=")):
            bound = meta.get(name)
            if bound is not None and not ok(value, bound):
                raise ConfigError(f"{key}: must be {word} {bound:g}, got {value!r}")
    if isinstance(value, tuple):
        min_len = meta.get("min_len")
        if min_len is not None and len(value) < min_len:
            raise ConfigError(f"{key}: needs at least {min_len} item(s), got {list(value)!r}")
        if meta.get("unique") and len(set(value)) != len(value):
            raise ConfigError(f"{key}: items must be unique, got {list(value)!r}")


def from_dict(cls: type[T], data: Any, prefix: str) -> T:
    """Build the frozen dataclass `cls` from the mapping `data`; `prefix` is the params key of `data`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix}: must be a mapping of {cls.__name__} fields, got {data!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]}: unknown key (known keys: {', '.join(fields)})")
    values = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}"
        if name not in data:
            if f.default is not dataclasses.MISSING:
                values[name] = f.default
                continue
            raise ConfigError(f"{key}: missing key")
        value = _convert(data[name], hints[name], key)
        _check_bounds(value, f.metadata, key)
        values[name] = value
    config = cls(**values)
    check = getattr(config, "check", None)
    if check is not None:
        problem = check()
        if problem:
            raise ConfigError(f"{prefix}.{problem}")
    return config


def read_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: params file not found") from None
    try:
        params = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: must hold a mapping of parameter groups")
    return params


def load_config(cls: type[T], group: str, params: str | Path | Mapping[str, Any] = "params.yaml") -> T:
    """The config of one params.yaml group, checked; `params` is a path or an already-read mapping."""
    if not isinstance(params, Mapping):
        params = read_params(params)
    if group not in params:
        raise ConfigError(f"{group}: missing group in params.yaml")
    return from_dict(cls, params[group], group)


def to_dict(config: Any) -> Any:
    """A config as plain YAML/JSON data (tuples as lists), for artifacts that describe themselves."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (tuple, list)):
        return [to_dict(v) for v in config]
    if isinstance(config, Mapping):
        return {k: to_dict(v) for k, v in config.items()}
    return config


# ----------------------------------------------------------------------------------------------
# params.yaml groups


@dataclass(frozen=True)
class DataConfig:
    """`data`: which raw data the pipeline reads."""

    source: Literal["synthetic", "local"] = param(
        help="synthetic: the embedded generator; local: the authors' files in the local raw folder")
    datasets: tuple[Dataset, ...] = param(min_len=1, unique=True, help="datasets to use, any subset")
    text_only: bool = param(help="no feature files: zero-length audio and video for every utterance")


@dataclass(frozen=True)
class SyntheticSplits:
    """Utterances per split of one synthetic dataset."""

    train: int = param(ge=1)
    valid: int = param(ge=1)
    test: int = param(ge=1)


@dataclass(frozen=True)
class SyntheticSizes(SyntheticSplits):
    """Utterances per split of one synthetic dataset with features, and the widths of its raw features."""

    audio_dim: int = param(ge=1)
    video_dim: int = param(ge=1)


# Every real-release variant that a registered dataset's synthetic writer knows, in registry order.
SYNTHETIC_VARIANTS: tuple[str, ...] = tuple(dict.fromkeys(
    variant for dataset in REGISTRY.values() for variant in dataset.synthetic_variants))


def _one_key_per_dataset(cls: type[T]) -> type[T]:
    """Give the config class `cls` one required field per registered dataset, after its own and in
    registry order: SyntheticSizes, or SyntheticSplits for a text-only dataset (no feature kind)."""
    for name, dataset in REGISTRY.items():
        cls.__annotations__[name] = SyntheticSizes if dataset.feature_kind else SyntheticSplits
        setattr(cls, name, param(help=f"{dataset.title}: utterances per split"
                                      f"{'' if dataset.feature_kind is None else ', raw feature widths'}"))
    return cls


@dataclass(frozen=True)
@_one_key_per_dataset
class SyntheticConfig:
    """`synthetic`: the deterministic generator of raw files in the real formats; after the keys
    below, `synthetic.<dataset>` holds the sizes of each registered dataset (`sizes`)."""

    seed: int = param(ge=0)
    msa_layout: Literal["authors", "mmsa"] = param(help="layout of the MOSI/MOSEI feature pickle")
    max_frames: int = param(ge=4, help="longest audio/video sequence; MSA pickles are padded to it")
    missing_features: float = param(ge=0.0, lt=1.0, help="share of utterances without features")
    nan_frames: float = param(ge=0.0, lt=1.0, help="share of utterances with a NaN frame")
    variants: tuple[Literal[SYNTHETIC_VARIANTS], ...] = param(  # type: ignore[valid-type]
        unique=True, help="real-release variants to write (docs/synthetic.md); [] writes none")

    def sizes(self, dataset: str) -> SyntheticSplits:
        """`synthetic.<dataset>`: the sizes of one registered dataset."""
        return getattr(self, dataset)


@dataclass(frozen=True)
class FetchConfig:
    """`fetch`: download, hash and verify the raw files."""

    retries: int = param(ge=0, help="extra attempts per download after a network error")
    timeout_s: float = param(gt=0, help="socket timeout of one download request")
    unmatched_ids: Literal["report", "error"] = param(
        help="ids in a label table without features, or the reverse: count them in the report, or fail")
    score_tolerance: float = param(
        ge=0.0, help="MOSI/MOSEI: largest |pickle label - label.csv label| accepted on a matched row")
    c1_controls: Literal["keep", "repair"] = param(
        help="C1 control characters in label text (cp1252 read as latin-1, e.g. U+0092): keep as published, "
             "or repair to the cp1252 character")


@dataclass(frozen=True)
class TextConfig:
    """`text`: the model's input and target strings (unimse_core/text.py, docs/inputs-and-targets.md)."""

    prefix: str = param(help="put verbatim in front of every input text (the reference: T5's 'sst2 sentence: ')")
    window: int = param(ge=0, help="MELD/IEMOCAP: context utterances before, and unless causal after, the target one")
    causal: bool = param(help="MELD/IEMOCAP: context from previous utterances only")
    iemocap_context: Literal["dialogue", "speaker"] = param(
        help="IEMOCAP window from the whole dialogue, or from the same speaker's turns only (the reference)")
    score_decimals: int = param(ge=0, le=6, help="decimal places of the score in target strings")


@dataclass(frozen=True)
class EmbedConfig:
    """`embed`: the sentence encoder whose cosine similarities drive the universal-label transfer."""

    encoder: str = param(
        help="tfidf (scikit-learn, no weights) | minilm (offline all-MiniLM-L6-v2, extra `minilm`)"
             " | a Hugging Face model id or local folder (the paper: princeton-nlp/sup-simcse-bert-base-uncased)")
    pooling: Literal["pooler", "cls", "mean"] = param(
        help="Hugging Face encoders: pooler_output (the paper), the first token, or the masked mean")
    batch_size: int = param(ge=1, help="sentences per forward pass (length-sorted batches)")
    max_length: int = param(ge=2, help="tokens per sentence after truncation")
    device: Literal["auto", "cpu", "cuda"] = param(help="auto: CUDA when available, else CPU")
    deterministic: bool = param(
        help="pin the CPU kernels (AVX2 code paths of ATen, MKL and oneDNN) and torch's deterministic algorithms, "
             "so that any x86-64 machine gives the same bytes; costs speed (unimse_core/determinism.py, "
             "docs/training.md)")
    cpu_threads: int = param(ge=0, help="torch's intra-op threads on the CPU; large reductions depend on it "
                                        "(0: torch's default, one per core: results then depend on the machine)")

    def check(self) -> str | None:
        if not self.encoder.strip():
            return "encoder: must name tfidf, minilm, a Hugging Face model id or a local folder"
        if self.encoder == "minilm" and self.pooling != "mean":
            return f"pooling: the minilm encoder was trained with mean pooling; set mean, got {self.pooling!r}"
        return None


@dataclass(frozen=True)
class LabelsConfig:
    """`labels`: the universal-label transfer (docs/labels.md)."""

    neighbour_splits: tuple[Literal["train", "valid", "test"], ...] = param(
        min_len=1, unique=True,
        help="splits a neighbour may come from: [train] (no test leakage) or [train, valid, test] (the paper)")
    chunk_size: int = param(
        ge=1, help="query rows per similarity block; memory about chunk_size x candidates x 5 bytes")
    iemocap_other_codes: Literal["exclude", "include"] = param(
        help="IEMOCAP rows outside the six classes: left out (no sample can receive their codes), or "
             "candidates as in the reference (training samples that receive one are then dropped)")


@dataclass(frozen=True)
class LoaderConfig:
    """`loader`: batches of a merged split (unimse_core/data.py, docs/hdf5-schema.md)."""

    batch_size: int = param(ge=1, help="training utterances per batch (per process under DDP)")
    eval_batch_size: int = param(ge=1, help="utterances per batch when evaluating or generating")
    max_input_tokens: int = param(ge=2, help="input token ids per utterance after truncation, EOS included")
    max_target_tokens: int = param(ge=2, help="target token ids per utterance after truncation, EOS included")
    bucket_size: int = param(
        ge=0, help="0: random batches; k: sort each chunk of k batches by input length, then shuffle the batches")
    drop_last: bool = param(help="training: drop the last, incomplete batch of an epoch")
    num_workers: int = param(ge=0, help="DataLoader worker processes; 0 loads in the training process")
    mmap_over_mib: int = param(ge=0, help="memory-map a feature array bigger than this many MiB; 0: never")

    @property
    def mmap_over_bytes(self) -> int | None:
        """The `read_h5` threshold: None (never memory-map) for 0, else the size in bytes."""
        return None if self.mmap_over_mib == 0 else self.mmap_over_mib * 2**20


@dataclass(frozen=True)
class FeaturesConfig:
    """`features`: how raw acoustic and visual sequences become model inputs (preprocess stage)."""

    dim: int = param(ge=1, help="every feature vector is zero-padded or truncated to this width (paper: 64)")
    missing: Literal["zero", "drop", "error"] = param(
        help="utterances without features, or without one modality: zero (empty sequences, as the reference's "
             "zeros), drop them, or fail")
    padding: Literal["auto", "left", "right"] = param(
        help="MOSI/MOSEI padding side: auto (the side most rows agree with), left (the reference) or right")


@dataclass(frozen=True)
class MergeConfig:
    """`merge`: which datasets train together (docs/reproducing.md)."""

    combination: str = param(
        help="mos = MOSI+MOSEI, moseld = +MELD, moseldmp = +IEMOCAP (the paper), a dataset name, or names and "
             "combinations joined by + (moseldmp+emorynlp)")
    seed: int = param(ge=0, help="seed of the shuffle of the merged training set")

    @property
    def datasets(self) -> tuple[str, ...]:
        return combination_datasets(self.combination)

    def check(self) -> str | None:
        try:
            combination_datasets(self.combination)
        except KeyError as err:
            return (f"combination: unknown part {err.args[0]!r} of {self.combination!r} (expected one of "
                    f"{', '.join(COMBINATIONS)}, or several joined by +)")
        return None


@dataclass(frozen=True)
class TrainConfig:
    """`train`: optimisation, model selection on the dev set, checkpoints (docs/training.md)."""

    seed: int = param(ge=0)
    epochs: int = param(ge=1)
    max_steps: int = param(ge=0, help="stop after this many optimiser steps in all (0: no limit)")
    max_minutes: float = param(ge=0, help="stop after this many minutes of optimiser steps in all, dev "
                                          "evaluation not counted (0: no limit); a run stopped by it is "
                                          "not reproducible step for step")
    trainable_blocks: Literal["all"] | tuple[int, ...] = param(
        help="T5 blocks that train, in encoder and decoder (negative: from the end; the reference: [10, 11] "
             "of t5-base); all: every T5 weight trains")
    lr_t5: float = param(gt=0, help="learning rate of the trainable T5 weights (reference 3e-4)")
    lr_other: float = param(gt=0, help="learning rate of PMF, LSTMs and projections (reference 1e-4)")
    weight_decay: float = param(ge=0, help="Adam L2 penalty of every group (reference 1e-4)")
    grad_clip: float = param(ge=0, help="max gradient norm (0: no clipping)")
    select_on: Literal["dev_metric", "dev_loss"] = param(
        help="dev_metric: mean over datasets of Acc-7 (MOSI/MOSEI) and weighted F1 (MELD/IEMOCAP) of "
             "greedy generations; dev_loss: the training loss on the dev set")
    patience: int = param(ge=0, help="epochs without a better dev scalar before stopping (0: never stop early)")
    max_new_tokens: int = param(ge=1, help="generation length limit for dev evaluation")
    log_every: int = param(ge=1, help="optimiser steps between two logged losses")
    device: Literal["auto", "cpu", "cuda"] = param(help="auto: CUDA when available")
    devices: int = param(ge=1, help="processes on this machine, one per device: N > 1 makes the stage start N "
                                    "DistributedDataParallel ranks itself (ignored under torchrun)")
    bf16: bool = param(help="bf16 autocast on CUDA (ignored on the CPU)")
    deterministic: bool = param(
        help="pin the CPU kernels (AVX2 code paths of ATen, MKL and oneDNN) and torch's deterministic algorithms, "
             "so that any x86-64 machine gives the same bytes; costs speed (unimse_core/determinism.py, "
             "docs/training.md)")
    cpu_threads: int = param(ge=0, help="torch's intra-op threads on the CPU; large reductions depend on it "
                                        "(0: torch's default, one per core: results then depend on the machine)")
    compile: bool = param(help="torch.compile the model for training (falls back to eager, saying why)")


@dataclass(frozen=True)
class TokenizerConfig:
    """`tokenizer`: the BPE tokenizer trained on the training inputs and targets for `model.backbone: scratch`
    (unimse_core/tokenizer.py, docs/model.md)."""

    vocab_size: int = param(ge=16, help="upper bound on the vocabulary, special tokens included")
    split_digits: bool = param(help="every digit a token of its own (scores are generated digit by digit)")


@dataclass(frozen=True)
class ModelConfig:
    """`model`: T5 + pre-trained modality fusion + inter-modality contrastive learning (docs/model.md,
    unimse_core/model.py, docs/model.md)."""

    backbone: str = param(help="scratch (a T5 of the sizes below) | a Hugging Face id or local folder (the paper: t5-base)")
    d_model: int = param(ge=1, help="scratch only: hidden width")
    d_ff: int = param(ge=1, help="scratch only: feed-forward width")
    num_layers: int = param(ge=1, help="scratch only: encoder blocks")
    num_decoder_layers: int = param(ge=1, help="scratch only: decoder blocks")
    num_heads: int = param(ge=1, help="scratch only: attention heads")
    d_kv: int = param(ge=1, help="scratch only: width of one head")
    dropout_rate: float = param(ge=0.0, lt=1.0, help="scratch only: T5's dropout")
    feature_dim: int = param(ge=1, help="width of the audio and video frames; must equal features.dim (SAME_VALUE)")
    lstm_hidden: int = param(ge=1, help="LSTM hidden size; also the width of the utterance vectors a and v")
    lstm_layers: int = param(ge=1)
    bidirectional: bool = param()
    modality_dropout: float = param(ge=0.0, lt=1.0, help="dropout on the LSTM's last hidden state (and between layers)")
    fusion: Literal["both", "audio", "video", "none"] = param(
        help="modalities fused by PMF: both (the paper) | audio | video | none (no PMF modules)")
    fusion_blocks: int = param(
        ge=0, help="PMF after the LAST this many blocks of encoder and decoder (paper: 3); 0: no PMF, as fusion: none")
    pmf_bottleneck: int = param(ge=1, help="width of Z in PMF (paper: 64)")
    pmf_init: Literal["identity", "random"] = param(
        help="W_o of PMF: identity = [I | 0] (ours: T5 intact at step 0) | random (the reference)")
    contrastive: bool = param(help="add the InfoNCE text->audio and text->video losses")
    contrastive_weight_audio: float = param(ge=0.0, help="weight of L_ta (encoder + decoder); 0 drops it")
    contrastive_weight_video: float = param(ge=0.0, help="weight of L_tv (encoder + decoder); 0 drops it")
    temperature: float = param(gt=0.0, help="InfoNCE temperature (paper: 0.1)")
    contrastive_dim: int = param(ge=1, help="width of the contrastive projections (reference: 30)")

    def check(self) -> str | None:
        if not self.backbone.strip():
            return "backbone: must be scratch, a Hugging Face model id or a local folder"
        if self.backbone == "scratch":
            depth = min(self.num_layers, self.num_decoder_layers)
            if self.fusion != "none" and self.fusion_blocks > depth:
                return (f"fusion_blocks: {self.fusion_blocks} blocks asked, but the scratch model has "
                        f"{self.num_layers} encoder and {self.num_decoder_layers} decoder blocks")
        return None


@dataclass(frozen=True)
class EvaluateConfig:
    """`evaluate`: greedy generation on the test sets with the selected model (unimse_core/evaluation.py,
    unimse_core/constrained.py)."""

    constrained: bool = param(
        help="true: decoding within the universal-label grammar, so that every output parses (ours); "
             "false: free greedy decoding (the reference); unparsable outputs are counted either way")
    max_new_tokens: int = param(
        ge=1, help="generated tokens per utterance at most; constrained decoding needs >= 17, one token per "
                   "character of the shortest label")
    device: Literal["auto", "cpu", "cuda"] = param(help="auto: CUDA when available")
    bf16: bool = param(help="bf16 autocast on CUDA (ignored on the CPU)")
    deterministic: bool = param(
        help="pin the CPU kernels (AVX2 code paths of ATen, MKL and oneDNN) and torch's deterministic algorithms, "
             "so that any x86-64 machine gives the same bytes; costs speed (unimse_core/determinism.py, "
             "docs/training.md)")
    cpu_threads: int = param(ge=0, help="torch's intra-op threads on the CPU; large reductions depend on it "
                                        "(0: torch's default, one per core: results then depend on the machine)")

    # Characters of the shortest label, neutral,0,joy,joy (= constrained.LabelGrammar(...).shortest_label(), tested).
    SHORTEST_LABEL = 17

    def check(self) -> str | None:
        if self.constrained and self.max_new_tokens < self.SHORTEST_LABEL:
            return (f"max_new_tokens: constrained decoding needs at least {self.SHORTEST_LABEL} (one token per "
                    f"character of the shortest label), got {self.max_new_tokens}")
        return None


@dataclass(frozen=True)
class ReportConfig:
    """`report`: the bootstrap interval beside each test metric and the model card (unimse_core/report.py)."""

    bootstrap_resamples: int = param(ge=100, help="resamples of the test rows for each metric's interval")
    bootstrap_seed: int = param(help="seed of the resamples")
    confidence: float = param(ge=0.5, lt=1.0, help="coverage of the interval (0.95: 2.5 % and 97.5 % percentiles)")
    card_license: str = param(help="the license in the model card's header (a Hugging Face license id)")


# Every params.yaml group and its config: what the `check` stage loads before any other stage runs.
GROUPS: dict[str, type] = {"data": DataConfig, "synthetic": SyntheticConfig, "fetch": FetchConfig,
                           "embed": EmbedConfig, "labels": LabelsConfig, "text": TextConfig,
                           "features": FeaturesConfig, "merge": MergeConfig, "tokenizer": TokenizerConfig,
                           "model": ModelConfig, "train": TrainConfig, "evaluate": EvaluateConfig,
                           "loader": LoaderConfig, "report": ReportConfig}


# Keys of two groups that must hold the same value (the first names the one to change).
SAME_VALUE: tuple[tuple[str, str], ...] = (
    ("model.feature_dim", "features.dim"),  # the model's LSTMs read frames of the width preprocessing writes
)


def check_across(configs: Mapping[str, Any]) -> None:
    """ConfigError naming both keys where two groups' keys of SAME_VALUE differ; `configs`: {group: config}."""
    for key, other in SAME_VALUE:
        (group, name), (other_group, other_name) = key.split("."), other.split(".")
        if group in configs and other_group in configs:
            value, expected = getattr(configs[group], name), getattr(configs[other_group], other_name)
            if value != expected:
                raise ConfigError(f"{key}: must equal {other} ({expected!r}), got {value!r}")


def check_params(params: str | Path | Mapping[str, Any] = "params.yaml") -> dict[str, Any]:
    """The config of every group of GROUPS, checked as each stage checks its own, then the keys of
    SAME_VALUE against each other; a group that no stage reads (a misspelt group name) fails too,
    naming the known groups."""
    if not isinstance(params, Mapping):
        params = read_params(params)
    unknown = sorted(set(params) - set(GROUPS))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown group in params.yaml (known groups: {', '.join(GROUPS)})")
    configs = {group: load_config(cls, group, params) for group, cls in GROUPS.items()}
    check_across(configs)
    return configs
