"""Metrics, identical to the community's MMSA definitions so that numbers compare (docs/results.md).

MOSI/MOSEI (regression on [-3, 3]):
  MAE, Corr        on the unclipped predictions;
  Mult_acc_7       round(clip(p, -3, 3)) == round(clip(y, -3, 3)), numpy rounding (half to even);
  Mult_acc_5       the same with clip to [-2, 2];
  Has0_acc_2/F1    y >= 0 vs p >= 0 over all samples (weighted F1);
  Non0_acc_2/F1    samples with y != 0 only, y > 0 vs p > 0.
MELD, IEMOCAP: accuracy and weighted F1 over the fixed class list of the dataset.

Generated labels that do not parse are counted (`unparsable`); a regression prediction that does
not parse counts as 0.0 (neutral) and a class prediction as wrong, so that every test sample is
always scored and a model cannot improve its numbers by emitting garbage on hard samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import f1_score

from unimse_core import datasets
from unimse_core.universal import DEFAULT_SCHEMA, UNPARSABLE, LabelSchema

# Per emotion dataset, the class list its predictions are scored over (the target words).
CLASSES: dict[str, tuple[str, ...]] = {n: d.words for n, d in datasets.REGISTRY.items() if d.kind == "emotion"}
MSA_DATASETS: tuple[str, ...] = datasets.of_kind("score")


def msa_metrics(pred: Sequence[float], truth: Sequence[float]) -> dict[str, float]:
    p = np.asarray(pred, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    if p.shape != y.shape or p.ndim != 1 or len(p) == 0:
        raise ValueError(f"predictions {p.shape} and truths {y.shape} must be equal, non-empty 1-D arrays")
    non0 = y != 0
    corr = float(np.corrcoef(p, y)[0, 1]) if np.std(p) > 0 and np.std(y) > 0 else 0.0
    out = {
        "MAE": float(np.mean(np.abs(p - y))),
        "Corr": corr,
        "Mult_acc_7": float(np.mean(np.round(np.clip(p, -3, 3)) == np.round(np.clip(y, -3, 3)))),
        "Mult_acc_5": float(np.mean(np.round(np.clip(p, -2, 2)) == np.round(np.clip(y, -2, 2)))),
        "Has0_acc_2": float(np.mean((p >= 0) == (y >= 0))),
        "Has0_F1_score": float(f1_score(y >= 0, p >= 0, average="weighted")),
    }
    if non0.any():
        out["Non0_acc_2"] = float(np.mean((p[non0] > 0) == (y[non0] > 0)))
        out["Non0_F1_score"] = float(f1_score(y[non0] > 0, p[non0] > 0, average="weighted"))
    else:
        out["Non0_acc_2"] = out["Non0_F1_score"] = float("nan")
    return out


def classification_metrics(pred: Sequence[str], truth: Sequence[str], classes: Sequence[str]) -> dict[str, float]:
    if len(pred) != len(truth) or not len(pred):
        raise ValueError(f"{len(pred)} predictions for {len(truth)} truths")
    unknown = sorted(set(truth) - set(classes))
    if unknown:
        raise ValueError(f"gold labels outside the class list {list(classes)}: {unknown}")
    correct = np.mean([p == t for p, t in zip(pred, truth)])
    return {"acc": float(correct),
            "weighted_f1": float(f1_score(list(truth), list(pred), labels=list(classes), average="weighted",
                                          zero_division=0))}


def dataset_metrics(dataset: str, generated: Sequence[str], gold_score: Sequence[float],
                    gold_emotion: Sequence[str], schema: LabelSchema = DEFAULT_SCHEMA) -> dict[str, float]:
    """The metrics of one dataset from its generated texts (parsed with the run's label layout), plus
    `unparsable` (a count)."""
    parsed = [schema.parse(text).prediction(dataset) for text in generated]
    unparsable = sum(p is None for p in parsed)
    if datasets.get(dataset).kind == "score":
        scores = [0.0 if p is None else p for p in parsed]
        out = msa_metrics(scores, gold_score)
    else:
        labels = [UNPARSABLE if p is None else p for p in parsed]
        out = classification_metrics(labels, gold_emotion, CLASSES[dataset])
    out[UNPARSABLE] = unparsable
    return out


def primary(dataset: str, metrics: dict[str, float]) -> float:
    """The one number per dataset that model selection averages: Acc-7 for score datasets, weighted F1 else."""
    return metrics["Mult_acc_7"] if datasets.get(dataset).kind == "score" else metrics["weighted_f1"]


# ----------------------------------------------------------------------------------------------
# the same metrics on many resamples at once (the paired bootstrap of unimse_core/compare.py)
#
# Row b of each [B, n] argument is one resample of the test rows; each function returns, per metric,
# a [B] array whose entry b equals what the function above gives on row b (tests/test_compare.py
# checks it against msa_metrics and classification_metrics). Weighted F1 is sklearn's:
# sum over classes of support/N * 2tp / (2tp + fp + fn), 0 where a class has no support.


def _weighted_f1(truth: np.ndarray, pred: np.ndarray, classes: Sequence[object], keep: np.ndarray | None = None
                 ) -> np.ndarray:
    """Weighted F1 of each row of truth/pred [B, n] over `classes` (only where `keep` [B, n] is True)."""
    keep = np.ones(truth.shape, dtype=bool) if keep is None else keep
    total = keep.sum(axis=1)
    out = np.zeros(truth.shape[0], dtype=np.float64)
    for k in classes:
        is_true = (truth == k) & keep
        is_pred = (pred == k) & keep
        tp = (is_true & is_pred).sum(axis=1)
        support = is_true.sum(axis=1)
        denominator = 2 * tp + (is_pred.sum(axis=1) - tp) + (support - tp)
        f1 = np.divide(2.0 * tp, denominator, out=np.zeros(len(tp)), where=denominator > 0)
        out += np.divide(support * f1, total, out=np.zeros(len(tp)), where=total > 0)
    return out


def batch_msa_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """`msa_metrics` of every row of pred/truth [B, n] (float64), vectorised."""
    p = np.asarray(pred, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    if p.shape != y.shape or p.ndim != 2 or p.shape[1] == 0:
        raise ValueError(f"predictions {p.shape} and truths {y.shape} must be equal [resamples, rows] arrays")
    pc, yc = p - p.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    sp, sy = np.sqrt((pc * pc).sum(axis=1)), np.sqrt((yc * yc).sum(axis=1))
    defined = (p.std(axis=1) > 0) & (y.std(axis=1) > 0)
    corr = np.divide((pc * yc).sum(axis=1), sp * sy, out=np.zeros(len(p)), where=defined)
    non0 = y != 0
    n_non0 = non0.sum(axis=1)
    non0_acc = np.divide((((p > 0) == (y > 0)) & non0).sum(axis=1), n_non0, out=np.full(len(p), np.nan),
                         where=n_non0 > 0)
    non0_f1 = np.where(n_non0 > 0, _weighted_f1(y > 0, p > 0, (False, True), non0), np.nan)
    return {
        "MAE": np.abs(p - y).mean(axis=1),
        "Corr": corr,
        "Mult_acc_7": (np.round(np.clip(p, -3, 3)) == np.round(np.clip(y, -3, 3))).mean(axis=1),
        "Mult_acc_5": (np.round(np.clip(p, -2, 2)) == np.round(np.clip(y, -2, 2))).mean(axis=1),
        "Has0_acc_2": ((p >= 0) == (y >= 0)).mean(axis=1),
        "Has0_F1_score": _weighted_f1(y >= 0, p >= 0, (False, True)),
        "Non0_acc_2": non0_acc,
        "Non0_F1_score": non0_f1,
    }


def batch_classification_metrics(pred: np.ndarray, truth: np.ndarray, n_classes: int) -> dict[str, np.ndarray]:
    """`classification_metrics` of every row of pred/truth [B, n]: class indices into the class list,
    a prediction outside it (an unparsable output) any other value such as -1."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape or pred.ndim != 2 or pred.shape[1] == 0:
        raise ValueError(f"predictions {pred.shape} and truths {truth.shape} must be equal [resamples, rows] arrays")
    if truth.min() < 0 or truth.max() >= n_classes:
        raise ValueError(f"gold class indices outside 0..{n_classes - 1}")
    return {"acc": (pred == truth).mean(axis=1), "weighted_f1": _weighted_f1(truth, pred, range(n_classes))}
