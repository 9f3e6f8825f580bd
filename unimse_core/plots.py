"""Figures of a run as PNG files: confusion matrices, predicted vs true scores, training curves.

Pure: arrays in, one PNG out per call. `dvc plots show` draws the same data from the prediction
tables and dvclive's files (dvc.yaml `plots:`), but the HTML it writes loads its chart libraries
from the internet and is blank offline; these PNGs keep the report complete without a network.

matplotlib is used through its object API (`Figure` + the Agg canvas), never pyplot: no global
backend is chosen and no window can open, so importing this module changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from unimse_core.io.atomic import atomic_path

UNPARSABLE_COLUMN = "(unparsable)"
DPI = 120


def confusion_matrix(pred: Sequence[str | None], gold: Sequence[str],
                     classes: Sequence[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """Counts[gold class, predicted class], rows and columns in the order of `classes`.

    A prediction outside `classes` (None, empty: the output did not parse) goes to one extra
    column, `(unparsable)`, present only where needed, so every test sample is counted once.
    Returns (counts [R, C] int64, row labels, column labels).
    """
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predictions for {len(gold)} gold labels")
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({g for g in gold if g not in index})
    if unknown:
        raise ValueError(f"gold labels outside the class list {list(classes)}: {unknown}")
    columns = list(classes)
    if any(p not in index for p in pred):
        columns.append(UNPARSABLE_COLUMN)
    counts = np.zeros((len(classes), len(columns)), dtype=np.int64)
    for p, g in zip(pred, gold):
        counts[index[g], index.get(p, len(classes))] += 1
    return counts, list(classes), columns


def row_normalise(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (the share of a gold class given each prediction); empty rows stay 0."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape, dtype=np.float64), where=totals > 0)


def save_confusion(counts: np.ndarray, rows: Sequence[str], columns: Sequence[str], path: str | Path, *,
                   title: str) -> Path:
    """A row-normalised confusion matrix: colour and first number = share of the row, second = count."""
    shares = row_normalise(counts)
    fig = Figure(figsize=(1.0 + 0.85 * len(columns), 1.2 + 0.7 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(columns)), labels=list(columns), rotation=40, ha="right")
    ax.set_yticks(range(len(rows)), labels=[f"{r} ({n})" for r, n in zip(rows, counts.sum(axis=1))])
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold (samples)")
    ax.set_title(title)
    for (i, j), share in np.ndenumerate(shares):
        ax.text(j, i, f"{100 * share:.0f}%\n{counts[i, j]}", ha="center", va="center", fontsize=7,
                color="white" if share > 0.6 else "black")
    fig.colorbar(image, ax=ax, fraction=0.05, label="share of the gold class")
    return _save(fig, path)


def save_scatter(pred: Sequence[float], gold: Sequence[float], path: str | Path, *, title: str,
                 limit: float = 3.0) -> Path:
    """Predicted against true scores with the line y = x. NaN predictions (unparsable) are left out
    and counted in the title; the axes cover [-limit, limit] and every plotted point."""
    p = np.asarray(pred, dtype=np.float64)
    y = np.asarray(gold, dtype=np.float64)
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError(f"predictions {p.shape} and gold scores {y.shape} must be equal 1-D arrays")
    keep = np.isfinite(p) & np.isfinite(y)
    p, y, dropped = p[keep], y[keep], int((~keep).sum())
    reach = max([limit, *np.abs(p), *np.abs(y)]) + 0.25
    fig = Figure(figsize=(4.8, 4.8), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([-reach, reach], [-reach, reach], color="grey", linewidth=1, linestyle="--", label="y = x")
    ax.scatter(y, p, s=10, alpha=0.5, edgecolors="none", label=f"{len(p)} samples")
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-reach, reach)
    ax.set_aspect("equal")
    ax.set_xlabel("true score")
    ax.set_ylabel("predicted score")
    ax.set_title(title + (f"\n({dropped} unparsable left out)" if dropped else ""))
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(True, linewidth=0.3)
    return _save(fig, path)


def save_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: str | Path, *,
                title: str, ylabel: str) -> Path:
    """One line per curve, name -> (steps, values), against the optimiser step."""
    if not curves:
        raise ValueError("no curve to draw")
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for name, (steps, values) in curves.items():
        marker = "o" if len(steps) < 30 else None  # per-epoch dev curves have few points: show them
        ax.plot(steps, values, marker=marker, markersize=3, linewidth=1.2, label=name)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, linewidth=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def save_differences(panels: Mapping[str, Sequence[tuple[str, float, float, float]]], path: str | Path, *,
                     title: str) -> Path:
    """A forest plot: per panel (one per unit), one row per (label, difference, low, high), the
    difference as a dot, its interval as a bar, a line at 0; rows whose interval excludes 0 in black."""
    panels = {name: rows for name, rows in panels.items() if rows}
    if not panels:
        raise ValueError("no difference to draw")
    heights = [max(1.0, 0.28 * len(rows) + 0.6) for rows in panels.values()]
    fig = Figure(figsize=(7.0, sum(heights) + 0.6), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, (name, rows) in zip(axes, panels.items()):
        y = np.arange(len(rows))[::-1]
        for yi, (_label, diff, low, high) in zip(y, rows):
            excludes = np.isfinite(low) and (low > 0 or high < 0)
            color = "black" if excludes else "tab:gray"
            if np.isfinite(low) and np.isfinite(high):
                ax.plot([low, high], [yi, yi], color=color, linewidth=1.6)
            ax.plot([diff], [yi], "o", color=color, markersize=4)
        ax.axvline(0.0, color="tab:red", linewidth=0.8)
        ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
        ax.set_xlabel(name, fontsize=9)
        ax.grid(True, axis="x", linewidth=0.3)
    axes[0].set_title(title, fontsize=10)
    return _save(fig, path)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        # no "Software" entry: the bytes then depend on the data, not on the matplotlib version string
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    return path
