"""Checks to run before a long training run (`unimse preflight`, docs/reproducing.md).

Each check returns `Check` rows: a name, a status (`ok`, `warn`, `blocker`), what was found, and
for a blocker the param (or option) to change. Cheap by design: configs and tokenizers load offline,
weights are never downloaded, and the timed probe runs a few training steps and one dev generation
batch on the real rows, then scales them to the whole run (epochs x steps + dev evaluation).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from unimse_core.config import EmbedConfig, EvaluateConfig, FeaturesConfig, LoaderConfig, ModelConfig, TrainConfig
from unimse_core.universal import DEFAULT_SCHEMA, POLARITIES, LabelSchema

Status = Literal["ok", "warn", "blocker"]
FLOAT32 = 4
ADAM_BYTES = 2 * FLOAT32  # exp_avg and exp_avg_sq per trained parameter


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    param: str = ""


def spelling_labels(score_decimals: int, schema: LabelSchema = DEFAULT_SCHEMA) -> list[str]:
    """Labels of the layout `schema` that together use every word of every field, both signs, every digit
    and the point."""
    decimals = max(1, score_decimals)
    scores = [f"-{d}.{'0' * decimals}" if d == 3 else f"-{d}.{str(d + 4) * decimals}" for d in range(4)]
    scores += [f"{d}.{'9' * decimals}" if d < 3 else "3" for d in range(4)] + ["0.8", "1.7", "2.6"]
    fields = [POLARITIES, scores, *(schema.words(slot) for slot in schema.slots[1:])]
    n = max(len(words) for words in fields)
    return [",".join(words[i % len(words)] for words in fields) for i in range(n)]


def check_backbone(model: ModelConfig) -> tuple[list[Check], Any]:
    """The backbone's config and tokenizer load offline; returns the checks and the T5 config (None: scratch)."""
    if model.backbone == "scratch":
        return [Check("backbone", "ok", f"scratch T5, d_model {model.d_model}, {model.num_layers} + "
                                        f"{model.num_decoder_layers} blocks")], None
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(model.backbone, local_files_only=True)
    except (OSError, ValueError) as err:
        return [Check("backbone", "blocker", f"{model.backbone} does not load offline: {str(err).splitlines()[0]}",
                      "model.backbone")], None
    return [Check("backbone", "ok", f"{model.backbone}: {config.model_type}, d_model {config.d_model}, "
                                    f"{config.num_layers} + {config.num_decoder_layers} blocks, vocab "
                                    f"{config.vocab_size}")], config


def check_encoder(embed: EmbedConfig) -> list[Check]:
    if embed.encoder == "tfidf":
        return [Check("encoder", "ok", "tfidf (no weights)")]
    from unimse_core.encoders import EncoderUnavailable, model_source

    try:
        source, offline = model_source(embed.encoder)
        from transformers import AutoConfig, AutoTokenizer

        config = AutoConfig.from_pretrained(source, local_files_only=True)
        AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (EncoderUnavailable, OSError, ValueError) as err:
        return [Check("encoder", "blocker", f"{embed.encoder} does not load offline: {str(err).splitlines()[0]}",
                      "embed.encoder")]
    return [Check("encoder", "ok", f"{embed.encoder}: {config.model_type}, hidden {config.hidden_size}, "
                                   f"pooling {embed.pooling}")]


def check_tokenizer(tokenizer: Any, *, score_decimals: int, evaluate: EvaluateConfig, train: TrainConfig,
                    loader: LoaderConfig, param: str, schema: LabelSchema = DEFAULT_SCHEMA) -> list[Check]:
    """Every label of the grammar of the layout `schema` can be spelt (tokenized without unknown pieces and
    decoded back), fits in loader.max_target_tokens, and constrained decoding can finish one in the tokens
    it is given."""
    from unimse_core.constrained import LabelConstraint

    checks = []
    unk = tokenizer.unk_token_id
    longest, bad = 0, []
    for label in spelling_labels(score_decimals, schema):
        ids = tokenizer(label)["input_ids"]
        longest = max(longest, len(ids))
        if (unk is not None and unk in ids) or tokenizer.decode(ids, skip_special_tokens=True) != label:
            bad.append(label)
    if bad:
        checks.append(Check("tokenizer spells labels", "blocker", f"cannot spell {bad[0]!r} "
                            f"({len(bad)} labels)", param))
    else:
        checks.append(Check("tokenizer spells labels", "ok", f"{len(tokenizer)} tokens; the longest label takes "
                                                             f"{longest} tokens with EOS"))
    if longest > loader.max_target_tokens:
        checks.append(Check("target length", "blocker", f"labels take up to {longest} tokens, more than "
                            f"{loader.max_target_tokens}: targets would be cut", "loader.max_target_tokens"))
    if evaluate.constrained:
        for name, max_new_tokens in (("evaluate.max_new_tokens", evaluate.max_new_tokens),
                                     ("train.max_new_tokens", train.max_new_tokens)):
            if max_new_tokens < EvaluateConfig.SHORTEST_LABEL:
                continue  # refused at load time where constrained decoding uses it
            need = int(LabelConstraint(tokenizer, score_decimals=score_decimals, max_new_tokens=max_new_tokens,
                                       schema=schema).need[0])
            if need > max_new_tokens:
                checks.append(Check("constrained decoding", "blocker", f"no label can be finished in "
                                    f"{max_new_tokens} tokens (shortest: {need})", name))
    return checks


def check_features(features: FeaturesConfig, model: ModelConfig, merged_width: int | None) -> list[Check]:
    checks = []
    if features.dim != model.feature_dim:
        checks.append(Check("feature width", "blocker", f"features.dim {features.dim} but model.feature_dim "
                            f"{model.feature_dim}", "model.feature_dim"))
    elif merged_width is not None and merged_width != model.feature_dim:
        checks.append(Check("feature width", "blocker", f"the merged file's frames are {merged_width} wide, "
                            f"model.feature_dim is {model.feature_dim}", "model.feature_dim"))
    else:
        checks.append(Check("feature width", "ok", f"{model.feature_dim}"))
    return checks


def check_device(train: TrainConfig, evaluate: EvaluateConfig) -> list[Check]:
    checks = []
    cuda = torch.cuda.is_available()
    for group, config in (("train", train), ("evaluate", evaluate)):
        wants_cuda = config.device == "cuda" or (config.device == "auto" and cuda)
        if config.device == "cuda" and not cuda:
            checks.append(Check(f"{group} device", "blocker", "cuda requested, torch sees no CUDA device",
                                f"{group}.device"))
        elif wants_cuda and config.bf16 and not torch.cuda.is_bf16_supported():
            checks.append(Check(f"{group} device", "blocker", f"bf16 requested, {torch.cuda.get_device_name()} "
                                "does not support it", f"{group}.bf16"))
        else:
            where = f"cuda ({torch.cuda.get_device_name()})" if wants_cuda else "cpu"
            checks.append(Check(f"{group} device", "ok", where + (", bf16" if wants_cuda and config.bf16 else "")))
    return checks


def checkpoint_bytes(parameters: int, trainable: int) -> int:
    """Disk of a run's kept checkpoints: last.pt (weights and Adam's moments), best/ and the selected copy."""
    return FLOAT32 * parameters + ADAM_BYTES * trainable + 2 * FLOAT32 * parameters


def check_disk(folder: Path, parameters: int, trainable: int) -> list[Check]:
    need = checkpoint_bytes(parameters, trainable)
    probe = folder
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    detail = f"{need / 2**30:.2f} GiB needed (weights x 3 + Adam state), {free / 2**30:.1f} GiB free at {probe}"
    if free < need:
        return [Check("disk", "blocker", detail, "--checkpoints (another disk) or train.trainable_blocks")]
    return [Check("disk", "ok", detail)]


def probe_time(step: Callable[[], None], generate: Callable[[], None], *, steps: int) -> tuple[float, float]:
    """Seconds per training step (median of `steps` after one untimed) and of one generation batch."""
    step()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    generate()
    return sorted(times)[len(times) // 2], time.perf_counter() - started


def estimate_seconds(*, step_s: float, generate_s: float, train_rows: int, dev_rows: int, train: TrainConfig,
                     loader: LoaderConfig, world_size: int = 1) -> float:
    """The whole run: epochs x steps per epoch (or max_steps) + one dev evaluation per epoch."""
    per_epoch = -(-train_rows // (loader.batch_size * world_size))
    steps = train.epochs * per_epoch
    if train.max_steps > 0:
        steps = min(steps, train.max_steps)
    epochs = -(-steps // per_epoch)
    dev_batches = -(-dev_rows // loader.eval_batch_size)
    return steps * step_s + epochs * dev_batches * generate_s


__all__ = ["Check", "check_backbone", "check_device", "check_disk", "check_encoder", "check_features",
           "check_tokenizer", "checkpoint_bytes", "estimate_seconds", "probe_time", "spelling_labels"]
