"""Compare two runs honestly: paired bootstrap over test rows, and a test over seeds (docs/results.md).

Each side is one run or several (seeds), each run its prediction tables {dataset: table} as the
evaluate stage writes them (columns id, prediction, gold). Per dataset and metric:

- the difference B − A of the metric, each side's value being the mean over its runs;
- a paired bootstrap: the same resampled test rows (drawn with replacement, seeded) are scored for
  every run of both sides, so the interval reflects which rows happen to be in the test set, not
  noise between two independent draws. The interval is the percentile one (2.5 % and 97.5 % for
  95 %); the two-sided p-value is 2 min(P*(d <= 0), P*(d >= 0)), each share counted as
  (1 + hits) / (1 + resamples) so that it is never 0, capped at 1. Identical runs give d = 0 in
  every resample, hence the interval [0, 0] and p = 1;
- with at least two runs on each side, each side's mean and sample standard deviation (ddof 1) over
  its runs and Welch's t-test of the two means (unequal variances): the seed-to-seed noise that a
  single-run comparison cannot see.

Metrics are those of unimse_core/metrics.py: the point values by `msa_metrics` and
`classification_metrics`, the resamples by their vectorised twins `batch_msa_metrics` and
`batch_classification_metrics`. An output that does not parse is scored as metrics.dataset_metrics
scores it (0.0 for a score, wrong for a class).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from unimse_core import datasets as registry
from unimse_core.metrics import (CLASSES, MSA_DATASETS, batch_classification_metrics, batch_msa_metrics,
                                 classification_metrics, msa_metrics)

# per resample chunk, at most this many gathered values per run (bounds memory: about 8 bytes each)
CHUNK_VALUES = 4_000_000


@dataclass(frozen=True)
class Scored:
    """One dataset's test rows, aligned over runs: pred [runs, n] (scores, or class indices with -1
    for an output outside the class list), gold [n] (scores or class indices)."""

    dataset: str
    ids: list[str]
    pred: np.ndarray
    gold: np.ndarray


def scored(dataset: str, tables: Sequence[Mapping[str, Sequence[str]]], names: Sequence[str]) -> Scored:
    """Align the prediction tables of several runs (columns id, prediction, gold) on the first one's ids.

    Every table must hold the same test rows (same ids, same gold values): ValueError names the run.
    """
    first = tables[0]
    ids = list(first["id"])
    if len(set(ids)) != len(ids):
        raise ValueError(f"{names[0]}: {dataset}: repeated ids in the prediction table")
    order = {uid: i for i, uid in enumerate(ids)}
    gold_cells = list(first["gold"])
    preds = []
    for table, name in zip(tables, names):
        if sorted(table["id"]) != sorted(ids):
            extra = sorted(set(table["id"]) - set(ids))[:3]
            missing = sorted(set(ids) - set(table["id"]))[:3]
            raise ValueError(f"{name}: {dataset}: not the test rows of {names[0]} (extra ids {extra}, missing "
                             f"{missing}); runs compare only on the same test set")
        position = np.array([order[uid] for uid in table["id"]])
        cells = [""] * len(ids)
        for j, (uid, value, gold) in enumerate(zip(table["id"], table["prediction"], table["gold"])):
            if gold != gold_cells[position[j]]:
                raise ValueError(f"{name}: {dataset}: id {uid!r} has gold {gold!r}, but {gold_cells[position[j]]!r} "
                                 f"in {names[0]}")
            cells[position[j]] = value
        preds.append(cells)
    if dataset in MSA_DATASETS:
        pred = np.array([[_score(v) for v in cells] for cells in preds], dtype=np.float64)
        gold = np.array([float(g) for g in gold_cells], dtype=np.float64)
    else:
        classes = CLASSES[dataset]
        index = {c: i for i, c in enumerate(classes)}
        # gold may be written as codes (IEMOCAP's hap) or words (joy)
        spec = registry.get(dataset)
        index.update({code: index[word] for code, word in zip(spec.codes, spec.words)})
        unknown = sorted({g for g in gold_cells if g not in index})
        if unknown:
            raise ValueError(f"{names[0]}: {dataset}: gold labels outside the class list: {unknown[:5]}")
        gold = np.array([index[g] for g in gold_cells], dtype=np.int64)
        pred = np.array([[index.get(v, -1) if v in classes else -1 for v in cells] for cells in preds],
                        dtype=np.int64)
    return Scored(dataset, ids, pred, gold)


def sides(dataset: str, a_tables: Sequence[Mapping[str, Sequence[str]]],
          b_tables: Sequence[Mapping[str, Sequence[str]]],
          a_names: Sequence[str], b_names: Sequence[str]) -> tuple[Scored, Scored]:
    """Both sides of a comparison aligned on the same test rows (those of A's first run)."""
    both = scored(dataset, [*a_tables, *b_tables], [*a_names, *b_names])
    k = len(a_tables)
    return (Scored(dataset, both.ids, both.pred[:k], both.gold), Scored(dataset, both.ids, both.pred[k:], both.gold))


def _score(cell: str) -> float:
    """A score cell; empty or not a finite number (an unparsable output) counts as 0.0, as the metrics do."""
    try:
        value = float(cell)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) else 0.0


def point_metrics(data: Scored, run: int) -> dict[str, float]:
    """The metrics of one run on all its rows (metrics.msa_metrics or classification_metrics)."""
    if data.dataset in MSA_DATASETS:
        return msa_metrics(data.pred[run], data.gold)
    classes = CLASSES[data.dataset]
    labels = ["<outside>" if k < 0 else classes[k] for k in data.pred[run]]
    return classification_metrics(labels, [classes[k] for k in data.gold], classes)


def batch_metrics(data: Scored, run: int, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The metrics of one run on each resample: rows [B, n] are row indices."""
    if data.dataset in MSA_DATASETS:
        return batch_msa_metrics(data.pred[run][rows], data.gold[rows])
    return batch_classification_metrics(data.pred[run][rows], data.gold[rows], len(CLASSES[data.dataset]))


def resample_rows(n: int, resamples: int, seed: int, chunk: int):
    """Chunks of resampled row indices [b, n] (with replacement), `resamples` rows in all, from one seeded stream."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        yield rng.integers(0, n, size=(b, n))
        done += b


def bootstrap_differences(a: Scored, b: Scored, *, resamples: int, seed: int) -> dict[str, np.ndarray]:
    """Per metric, [resamples] differences (mean over B's runs − mean over A's runs) on paired resamples."""
    if a.ids != b.ids:
        raise ValueError(f"{a.dataset}: the two sides hold different test rows")
    n = len(a.ids)
    runs = a.pred.shape[0] + b.pred.shape[0]
    chunk = max(1, CHUNK_VALUES // max(1, n * runs))
    parts: dict[str, list[np.ndarray]] = {}
    for rows in resample_rows(n, resamples, seed, chunk):
        sides = []
        for side in (a, b):
            values = [batch_metrics(side, r, rows) for r in range(side.pred.shape[0])]
            sides.append({m: np.mean([v[m] for v in values], axis=0) for m in values[0]})
        for metric in sides[0]:
            parts.setdefault(metric, []).append(sides[1][metric] - sides[0][metric])
    return {m: np.concatenate(p) for m, p in parts.items()}


@dataclass(frozen=True)
class Comparison:
    """One dataset and metric: each side's value (mean over runs), the difference B − A, its paired
    bootstrap interval and p-value; with >= 2 runs per side, the per-run values, std and Welch's test."""

    dataset: str
    metric: str
    a: float
    b: float
    difference: float
    low: float
    high: float
    p_value: float
    a_runs: list[float]
    b_runs: list[float]
    a_std: float | None = None
    b_std: float | None = None
    welch_t: float | None = None
    welch_p: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: _finite(v) for k, v in self.__dict__.items()}


def _finite(value: Any) -> Any:
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def interval(differences: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile interval of the bootstrap values (NaN ones, undefined resamples, left out)."""
    d = differences[np.isfinite(differences)]
    if not len(d):
        return math.nan, math.nan
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(d, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_p(differences: np.ndarray) -> float:
    """Two-sided p-value of "no difference": 2 min(P*(d <= 0), P*(d >= 0)), shares as (1 + k) / (1 + B), at most 1."""
    d = differences[np.isfinite(differences)]
    if not len(d):
        return math.nan
    below = (1 + np.count_nonzero(d <= 0)) / (1 + len(d))
    above = (1 + np.count_nonzero(d >= 0)) / (1 + len(d))
    return float(min(1.0, 2 * min(below, above)))


def welch(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Welch's t statistic and two-sided p-value of mean(b) − mean(a); NaN where undefined."""
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.nan, math.nan
    if np.var(a) == 0 and np.var(b) == 0:  # no spread on either side: the test is undefined
        return (0.0, 1.0) if a.mean() == b.mean() else (math.nan, math.nan)
    with warnings.catch_warnings():  # nearly equal values: scipy warns of precision, the numbers stand
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(b, a, equal_var=False)
    return float(result.statistic), float(result.pvalue)


def compare_dataset(a: Scored, b: Scored, *, resamples: int, seed: int, confidence: float) -> list[Comparison]:
    """Every metric of one dataset, A against B."""
    differences = bootstrap_differences(a, b, resamples=resamples, seed=seed)
    a_points = [point_metrics(a, r) for r in range(a.pred.shape[0])]
    b_points = [point_metrics(b, r) for r in range(b.pred.shape[0])]
    out = []
    for metric in differences:
        a_runs = [float(p[metric]) for p in a_points]
        b_runs = [float(p[metric]) for p in b_points]
        a_mean, b_mean = float(np.mean(a_runs)), float(np.mean(b_runs))
        low, high = interval(differences[metric], confidence)
        seeds: dict[str, float | None] = {}
        if len(a_runs) >= 2 and len(b_runs) >= 2:
            t, p = welch(a_runs, b_runs)
            seeds = {"a_std": float(np.std(a_runs, ddof=1)), "b_std": float(np.std(b_runs, ddof=1)),
                     "welch_t": t, "welch_p": p}
        out.append(Comparison(a.dataset, metric, a_mean, b_mean, b_mean - a_mean, low, high,
                              bootstrap_p(differences[metric]), a_runs, b_runs, **seeds))
    return out


def metric_intervals(data: Scored, *, resamples: int, seed: int, confidence: float
                     ) -> dict[str, tuple[float, float]]:
    """The bootstrap interval of each metric of one run (the report's interval beside each test metric)."""
    n = len(data.ids)
    parts: dict[str, list[np.ndarray]] = {}
    for rows in resample_rows(n, resamples, seed, max(1, CHUNK_VALUES // max(1, n))):
        for metric, values in batch_metrics(data, 0, rows).items():
            parts.setdefault(metric, []).append(values)
    return {m: interval(np.concatenate(p), confidence) for m, p in parts.items()}
