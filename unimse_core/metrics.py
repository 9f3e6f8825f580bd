"""Metrics, identical to the community's MMSA definitions so that numbers compare (UNIMSE.md section 5).

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

from unimse_core.text import IEMOCAP_EMOTIONS, MELD_EMOTIONS, parse_target

CLASSES: dict[str, tuple[str, ...]] = {"meld": MELD_EMOTIONS, "iemocap": IEMOCAP_EMOTIONS}
MSA_DATASETS = ("mosi", "mosei")
UNPARSABLE = "<unparsable>"


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
                    gold_emotion: Sequence[str]) -> dict[str, float]:
    """The metrics of one dataset from its generated texts, plus `unparsable` (a count)."""
    parsed = [parse_target(text).prediction(dataset) for text in generated]
    unparsable = sum(p is None for p in parsed)
    if dataset in MSA_DATASETS:
        scores = [0.0 if p is None else p for p in parsed]
        out = msa_metrics(scores, gold_score)
    else:
        labels = [UNPARSABLE if p is None else p for p in parsed]
        out = classification_metrics(labels, gold_emotion, CLASSES[dataset])
    out["unparsable"] = unparsable
    return out


def primary(dataset: str, metrics: dict[str, float]) -> float:
    """The one number per dataset that model selection averages: Acc-7 for MOSI/MOSEI, weighted F1 else."""
    return metrics["Mult_acc_7"] if dataset in MSA_DATASETS else metrics["weighted_f1"]
