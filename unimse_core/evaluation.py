"""Test-set evaluation and single-utterance prediction with a trained UniMSE (docs/inputs-and-targets.md, docs/results.md).

`predict_split` generates greedily, in batches, for every row of a split and returns the texts in
row order; `constrained=True` keeps decoding inside the universal-label grammar
(unimse_core/constrained.py) so that every output parses, `False` decodes freely as the reference
does. `evaluate_tests` runs it on each test set, scores it with `metrics.dataset_metrics` (which
never fails on garbage and counts unparsable outputs) and builds the per-row predictions table.
`utterance_arrays` turns one MSA-style utterance (text, optional audio and video frames) into a
one-row split exactly as preprocessing builds the rows of a score dataset, for `unimse predict`.

Pure functions of models, arrays and configs; reading and writing files is the stages' business.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from unimse_core.config import LoaderConfig
from unimse_core.constrained import LabelConstraint, decode_texts
from unimse_core.data import make_loader
from unimse_core.inference import request_split
from unimse_core.io.hdf5 import SplitArrays
from unimse_core import datasets
from unimse_core.datasets.base import CLASS_METRICS, SCORE_METRICS
from unimse_core.metrics import dataset_metrics
from unimse_core.model import UniMSE
from unimse_core.runtime import Runtime, generate_fitting, to_device
from unimse_core.datasets.msa import msa_input
from unimse_core.universal import DEFAULT_SCHEMA, UNPARSABLE, LabelSchema

# metrics/test.json: MMSA's names for MOSI/MOSEI, accuracy and weighted F1 for emotion datasets, then the count.
MSA_METRICS: tuple[str, ...] = SCORE_METRICS


def table_columns(schema: LabelSchema) -> tuple[str, ...]:
    """The prediction table's columns: the generated label's fields in the run's layout between the texts and
    the verdict."""
    return ("id", "input", "target", "generated", *schema.fields, "parse_error", "prediction", "gold")


TABLE_COLUMNS: tuple[str, ...] = table_columns(DEFAULT_SCHEMA)
TEST_PREFIX = "test/"

def metric_names(dataset: str) -> tuple[str, ...]:
    """The keys of a dataset's entry in metrics/test.json, in order."""
    return (*datasets.get(dataset).metrics, UNPARSABLE)


# ----------------------------------------------------------------------------------------------
# generation


def label_constraint(tokenizer: Any, *, score_decimals: int, max_new_tokens: int,
                     schema: LabelSchema = DEFAULT_SCHEMA) -> LabelConstraint:
    """The grammar constraint of a tokenizer (build once, reuse: it caches per generated prefix)."""
    return LabelConstraint(tokenizer, score_decimals=score_decimals, max_new_tokens=max_new_tokens, schema=schema)


def generate_texts(model: UniMSE, arrays: SplitArrays, tokenizer: Any, loader_config: LoaderConfig, rt: Runtime, *,
                   max_new_tokens: int, constraint: LabelConstraint | None = None) -> list[str]:
    """`predict_split` with a constraint already built (None: free decoding). Batches of similar input
    length, longest first (little padding, the largest batch first); the texts come back in row order."""
    loader = make_loader(arrays, tokenizer, loader_config, train=False, seed=0, by_length=True)
    model.to(rt.device).eval()
    texts: dict[int, str] = {}
    with torch.inference_mode(), rt.autocast():
        for batch in loader:
            batch = to_device(batch, rt.device)
            generated = generate_fitting(model, batch, max_new_tokens=max_new_tokens, constrained=constraint)
            decoded = [t for ids in generated for t in decode_texts(tokenizer, ids)]  # ids [b, 1 + n]
            for i, text in zip(batch["index"].tolist(), decoded):
                texts.setdefault(i, text)
    return [texts[i] for i in range(len(arrays))]


def predict_split(model: UniMSE, arrays: SplitArrays, tokenizer: Any, loader_config: LoaderConfig, rt: Runtime, *,
                  max_new_tokens: int, constrained: bool, score_decimals: int,
                  schema: LabelSchema = DEFAULT_SCHEMA) -> list[str]:
    """Greedy generations for every row of `arrays`, in row order, batched by `loader.eval_batch_size`.

    `constrained`: only universal labels with at most `score_decimals` decimals can come out (needs
    max_new_tokens >= 17). The model goes to `rt.device` in eval mode.
    """
    constraint = (label_constraint(tokenizer, score_decimals=score_decimals, max_new_tokens=max_new_tokens,
                                   schema=schema) if constrained else None)
    return generate_texts(model, arrays, tokenizer, loader_config, rt, max_new_tokens=max_new_tokens,
                          constraint=constraint)


# ----------------------------------------------------------------------------------------------
# test sets


@dataclass(frozen=True)
class EvalResults:
    """metrics: {dataset: {metric: value}} (`metric_names` order; a NaN metric is None);
    tables: {dataset: {column: values}} (TABLE_COLUMNS, one row per test row, in file order)."""

    metrics: dict[str, dict[str, float | int | None]]
    tables: dict[str, dict[str, list[Any]]]


def select_test_groups(groups: list[str]) -> dict[str, str]:
    """{dataset: group} of the `test/<dataset>` groups among a merged file's groups, in file order."""
    return {g[len(TEST_PREFIX):]: g for g in groups if g.startswith(TEST_PREFIX)}


def evaluate_tests(model: UniMSE, tests: Mapping[str, SplitArrays], tokenizer: Any, loader_config: LoaderConfig,
                   rt: Runtime, *, max_new_tokens: int, constrained: bool, score_decimals: int,
                   schema: LabelSchema = DEFAULT_SCHEMA) -> EvalResults:
    """Generate on each test set (`tests`: dataset -> its rows), score it and tabulate the predictions;
    `schema` is the label layout the model was trained on."""
    constraint = (label_constraint(tokenizer, score_decimals=score_decimals, max_new_tokens=max_new_tokens,
                                   schema=schema) if constrained else None)
    metrics, tables = {}, {}
    for dataset, arrays in tests.items():
        others = sorted(set(arrays.dataset) - {dataset})
        if others:
            raise ValueError(f"test set {dataset!r} holds rows of {', '.join(others)}")
        generated = generate_texts(model, arrays, tokenizer, loader_config, rt, max_new_tokens=max_new_tokens,
                                   constraint=constraint)
        metrics[dataset] = ordered_metrics(dataset, dataset_metrics(dataset, generated, arrays.gold_score,
                                                                    arrays.gold_emotion, schema))
        tables[dataset] = prediction_table(dataset, arrays, generated, schema)
    return EvalResults(metrics, tables)


def ordered_metrics(dataset: str, metrics: Mapping[str, float]) -> dict[str, float | int | None]:
    """`metrics` in the order of `metric_names` (exactly those keys), `unparsable` an int, NaN as None (JSON null)."""
    names = metric_names(dataset)
    if set(metrics) != set(names):
        raise ValueError(f"{dataset}: metrics {sorted(metrics)}, expected {list(names)}")
    out: dict[str, float | int | None] = {}
    for name in names:
        value = metrics[name]
        if name == UNPARSABLE:
            out[name] = int(value)
        else:
            out[name] = float(value) if math.isfinite(value) else None
    return out


def prediction_table(dataset: str, arrays: SplitArrays, generated: list[str],
                     schema: LabelSchema = DEFAULT_SCHEMA) -> dict[str, list[Any]]:
    """One row per utterance: id, input, target, generated text, its parsed fields (empty where they do
    not parse), the first parse problem (`parse_error`, empty when it parses), the field that counts for
    the dataset (`prediction`: score or emotion word; empty: unparsable) and the gold value."""
    if len(generated) != len(arrays):
        raise ValueError(f"{len(generated)} generated texts for {len(arrays)} rows")
    parsed = [schema.parse(text) for text in generated]
    gold = ([float(s) for s in arrays.gold_score] if datasets.get(dataset).kind == "score"
            else list(arrays.gold_emotion))
    return {"id": list(arrays.ids), "input": list(arrays.inputs), "target": list(arrays.targets),
            "generated": list(generated), "polarity": [p.polarity for p in parsed],
            **{slot: [p.slots[slot] for p in parsed] for slot in schema.slots},
            "parse_error": [p.reason for p in parsed], "prediction": [p.prediction(dataset) for p in parsed],
            "gold": gold}


# ----------------------------------------------------------------------------------------------
# one utterance


def utterance_arrays(text: str, *, prefix: str, audio: np.ndarray | None, video: np.ndarray | None,
                     feature_dim: int) -> SplitArrays:
    """One MSA-style row (as a score dataset's): input `msa_input(text, prefix)`, frames [T, feature_dim] with
    NaN/inf set to 0 as preprocessing does (None: no frames). A width other than `feature_dim` is a ValueError."""
    for name, value in (("audio", audio), ("video", video)):
        if value is not None:
            value = np.asarray(value)
            if value.ndim != 2 or value.shape[1] != feature_dim:
                raise ValueError(f"{name} frames: expected shape [frames, {feature_dim}], got {value.shape}")
            if value.dtype.kind not in "biuf":
                raise ValueError(f"{name} frames: expected numbers, got dtype {value.dtype}")
    audio, video = (None if v is None else np.asarray(v) for v in (audio, video))
    return request_split(["input"], [msa_input(text, prefix=prefix)], [audio], [video], feature_dim=feature_dim)


def universal_label(generated: str, schema: LabelSchema = DEFAULT_SCHEMA) -> dict[str, Any]:
    """The parsed universal label of a generated text: generated, valid, reason, polarity, then each slot
    of the layout (score, then one per emotion slot; None where a field does not parse)."""
    parsed = schema.parse(generated)
    return {"generated": generated, "valid": parsed.valid, "reason": parsed.reason, "polarity": parsed.polarity,
            **parsed.slots}


def single_worker(config: LoaderConfig) -> LoaderConfig:
    """`config` with no DataLoader worker processes (a handful of rows is faster in-process)."""
    return dataclasses.replace(config, num_workers=0)


__all__ = ["CLASS_METRICS", "MSA_METRICS", "TABLE_COLUMNS", "UNPARSABLE", "table_columns", "EvalResults", "evaluate_tests",
           "generate_texts", "label_constraint", "metric_names", "ordered_metrics", "predict_split",
           "prediction_table", "single_worker", "select_test_groups", "universal_label", "utterance_arrays"]
