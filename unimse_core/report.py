"""The run's report (our test metrics beside the paper's, data, labels, training, figures) and the
aggregate of several runs (mean and standard deviation over seeds).

Scales: our metrics files hold fractions (0.4868); the paper prints accuracies and F1 scores in
percent (48.68). Every table here shows both on the paper's scale: percent for accuracies and F1
scores, MAE and Pearson r as they are.

The paper's numbers (docs/results.md, single model trained on MOSELDMP). Its MOSI/MOSEI tables
print Acc-2 and F1 as "has-0 / non-0" pairs (MMSA's convention): MOSI Acc-2 85.85/86.90 and F1
85.83/86.42; for MOSEI the section keeps the non-0 values (Acc-2 87.50, F1 87.46). The non-0 values
are the ones quoted on their own elsewhere (Papers with Code: MOSI Acc-2 86.9, F1 86.42).
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from unimse_core import datasets as registry
from unimse_core.config import DATASETS
from unimse_core.io.errors import RawDataError
from unimse_core.io.model_folder import run_label_layout
from unimse_core.io.tables import read_table
from unimse_core.metrics import CLASSES, MSA_DATASETS
from unimse_core.release import policy_notes
from unimse_core.universal import DEFAULT_SCHEMA, LabelSchema

# The paper's numbers, on its scale, from each dataset's module (unimse_core/datasets).
PAPER: dict[str, dict[str, float]] = {n: dict(d.paper) for n, d in registry.REGISTRY.items() if d.paper}
MSA_METRICS: tuple[str, ...] = ("MAE", "Corr", "Mult_acc_7", "Mult_acc_5", "Has0_acc_2", "Has0_F1_score",
                                "Non0_acc_2", "Non0_F1_score")
CLASS_METRICS: tuple[str, ...] = ("acc", "weighted_f1")
METRIC_NAMES: dict[str, str] = {
    "MAE": "MAE (lower is better)", "Corr": "Corr", "Mult_acc_7": "Acc-7", "Mult_acc_5": "Acc-5",
    "Has0_acc_2": "Acc-2 has-0", "Has0_F1_score": "F1 has-0", "Non0_acc_2": "Acc-2 non-0",
    "Non0_F1_score": "F1 non-0", "acc": "Acc", "weighted_f1": "weighted F1", "unparsable": "unparsable outputs",
}
RAW_SCALE = frozenset({"MAE", "Corr", "unparsable"})  # every other metric is a share, shown in percent
DATASET_NAMES = {n: d.title for n, d in registry.REGISTRY.items()}
PRIMARY = {n: "Mult_acc_7" if d.kind == "score" else "weighted_f1" for n, d in registry.REGISTRY.items()}
MISSING = "—"

# The paper's setting, key by key (docs/reproducing.md). A model or encoder given as a local folder
# matches by its folder name.
PAPER_SETTINGS: dict[str, Any] = {
    "data.source": "local", "data.text_only": False, "merge.combination": "moseldmp",
    "embed.encoder": "princeton-nlp/sup-simcse-bert-base-uncased", "embed.pooling": "pooler",
    "labels.neighbour_splits": ["train", "valid", "test"], "model.backbone": "t5-base", "model.fusion": "both",
    "model.fusion_blocks": 3, "model.pmf_init": "random", "model.contrastive": True,
    "model.contrastive_weight_audio": 0.5, "model.contrastive_weight_video": 0.5,
    "train.trainable_blocks": [-2, -1], "train.lr_t5": 3e-4, "train.lr_other": 1e-4, "loader.batch_size": 32,
    "evaluate.constrained": False,
}
NAMED_BY_FOLDER = frozenset({"embed.encoder", "model.backbone"})


def metrics_of(dataset: str) -> tuple[str, ...]:
    return MSA_METRICS if dataset in MSA_DATASETS else CLASS_METRICS


def on_paper_scale(metric: str, value: float | None) -> float | None:
    """A value of our metrics files on the paper's scale (percent for shares)."""
    if value is None or metric in RAW_SCALE:
        return value
    return 100.0 * value


def format_value(metric: str, value: float | None, *, signed: bool = False) -> str:
    """A value already on the paper's scale, with the paper's decimals (3 for MAE and Corr, 2 else)."""
    if value is None:
        return MISSING
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if metric == "unparsable":
        return f"{value:+g}" if signed else f"{value:g}"
    decimals = 3 if metric in RAW_SCALE else 2
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


@dataclass(frozen=True)
class Row:
    """One line of the comparison, both values on the paper's scale (None: absent)."""

    dataset: str
    metric: str
    ours: float | None
    paper: float | None

    @property
    def delta(self) -> float | None:
        if self.ours is None or self.paper is None or math.isnan(self.ours):
            return None
        return self.ours - self.paper


def comparison(test: Mapping[str, Mapping[str, Any]]) -> list[Row]:
    """Every metric of every dataset that we evaluated or the paper reports, in a fixed order.

    A dataset that was not evaluated keeps the paper's rows (ours absent); a metric the paper does
    not report keeps ours (paper absent).
    """
    rows = []
    for dataset in DATASETS:
        ours = test.get(dataset) or {}
        paper = PAPER.get(dataset, {})
        for metric in metrics_of(dataset):
            value = ours.get(metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = float(value)
            else:  # null in test.json is a metric that is not defined for this run (NaN): shown as n/a
                value = math.nan if metric in ours else None
            if value is None and metric not in paper:
                continue
            rows.append(Row(dataset, metric, on_paper_scale(metric, value), paper.get(metric)))
    return rows


# ----------------------------------------------------------------------------------------------
# reading the run's files


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RawDataError(path, "file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RawDataError(path, f"not valid JSON: {err}") from None


def read_live(folder: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """dvclive's curves: `<folder>/plots/metrics/<name>.tsv` (columns `step` and the metric) ->
    {"train/loss": (steps, values), "dev/mosi/Mult_acc_7": ...}. Empty files are left out."""
    root = Path(folder) / "plots" / "metrics"
    curves = {}
    for path in sorted(root.rglob("*.tsv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        column = path.stem
        if not rows or "step" not in rows[0] or column not in rows[0]:
            continue
        try:
            steps = np.array([float(r["step"]) for r in rows])
            values = np.array([float(r[column]) if r[column] not in ("", None) else np.nan for r in rows])
        except (TypeError, ValueError) as err:
            raise RawDataError(path, f"not a dvclive curve (numbers in columns step, {column}): {err}") from None
        curves[path.relative_to(root).with_suffix("").as_posix()] = (steps, values)
    return curves


def read_predictions(path: str | Path) -> dict[str, list[str]]:
    """A prediction table of the evaluate stage: at least the columns `prediction` and `gold`."""
    return read_table(path, required=("prediction", "gold"))


def as_float(value: str) -> float:
    """A score cell: the number, or NaN where it is empty or not a number (an unparsable output)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# ----------------------------------------------------------------------------------------------
# figures


@dataclass(frozen=True)
class FigureFile:
    title: str
    path: Path


def write_figures(folder: Path, *, predictions: Path | None, live: Path | None) -> list[FigureFile]:
    """Write the PNGs of whatever exists into `folder`: a confusion matrix per MELD/IEMOCAP table,
    a scatter per MOSI/MOSEI table, the loss curves and the dev-metric curves."""
    from unimse_core import plots  # matplotlib only where figures are drawn

    figures = []
    for dataset in DATASETS:
        table_path = None if predictions is None else predictions / f"{dataset}.csv"
        if table_path is None or not table_path.is_file():
            continue
        table = read_predictions(table_path)
        if not table["gold"]:
            continue
        name = DATASET_NAMES[dataset]
        if dataset in MSA_DATASETS:
            title = f"{name} test: predicted vs true score"
            path = plots.save_scatter([as_float(v) for v in table["prediction"]], [as_float(v) for v in table["gold"]],
                                      folder / f"scatter_{dataset}.png", title=title)
        else:
            # gold may be written as codes (IEMOCAP's hap) or words (joy)
            words = dict(zip(registry.get(dataset).codes, registry.get(dataset).words))
            gold = [words.get(g, g) for g in table["gold"]]
            try:
                counts, rows, columns = plots.confusion_matrix(table["prediction"], gold, CLASSES[dataset])
            except ValueError as err:
                raise RawDataError(table_path, str(err)) from None
            title = f"{name} test: confusion (rows sum to 100%)"
            path = plots.save_confusion(counts, rows, columns, folder / f"confusion_{dataset}.png", title=title)
        figures.append(FigureFile(title, path))
    curves = read_live(live) if live is not None and live.is_dir() else {}
    losses = {name: curves[name] for name in ("train/loss", "dev/loss") if name in curves}
    if losses:
        figures.append(FigureFile("Training and dev loss", plots.save_curves(
            losses, folder / "curves_loss.png", title="loss", ylabel="loss")))
    dev = {f"{DATASET_NAMES[d]} {METRIC_NAMES[PRIMARY[d]]}": curves[f"dev/{d}/{PRIMARY[d]}"]
           for d in DATASETS if f"dev/{d}/{PRIMARY[d]}" in curves}
    if dev:
        figures.append(FigureFile("Dev metrics per epoch (shares, 0..1)", plots.save_curves(
            dev, folder / "curves_dev.png", title="dev metrics", ylabel="share")))
    return figures


# ----------------------------------------------------------------------------------------------
# the report


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"seed": 0}} -> {"train.seed": 0}; lists stay values."""
    out = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def paper_differences(params: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, ours, the paper's) for every setting of PAPER_SETTINGS that differs; absent keys are skipped."""
    flat = flatten(params)
    out = []
    for key, expected in PAPER_SETTINGS.items():
        if key not in flat:
            continue
        value = flat[key]
        if key in NAMED_BY_FOLDER:
            same = isinstance(value, str) and Path(value.rstrip("/")).name == Path(expected).name
        elif isinstance(expected, list):
            same = isinstance(value, (list, tuple)) and sorted(value) == sorted(expected)
        elif isinstance(expected, float):
            same = isinstance(value, (int, float)) and math.isclose(value, expected)
        else:
            same = value == expected
        if not same:
            out.append((key, value, expected))
    return out


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: Sequence[str] | None = None) -> list[str]:
    align = align or ["l"] + ["r"] * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _yaml_value(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def test_counts(dataset: str, merge: Mapping[str, Any] | None, predictions: Mapping[str, int]) -> int | None:
    """Test samples of a dataset: rows of its prediction table, else the merge summary's count."""
    if dataset in predictions:
        return predictions[dataset]
    totals = (merge or {}).get("totals") or {}
    value = totals.get(f"test/{dataset}")
    return int(value) if isinstance(value, int) else None


@dataclass
class ReportInputs:
    """Everything the report shows; every part but `test` and `params` may be absent."""

    test: Mapping[str, Mapping[str, Any]]
    params: Mapping[str, Any]
    train: Mapping[str, Any] | None = None
    labels: Mapping[str, Any] | None = None
    merge: Mapping[str, Any] | None = None
    verification: Mapping[str, Any] | None = None  # data/verified.json: what the raw-data policies let through
    prediction_rows: Mapping[str, int] = field(default_factory=dict)
    figures: Sequence[tuple[str, str]] = ()  # (title, link relative to the report)
    versions: Mapping[str, str] = field(default_factory=dict)  # unimse_core.versions.package_versions()
    # {dataset: {metric: (low, high)}}: bootstrap interval of each test metric (unimse_core/compare.py)
    intervals: Mapping[str, Mapping[str, tuple[float, float]]] = field(default_factory=dict)
    confidence: float = 0.95
    resamples: int = 0


def synthetic(params: Mapping[str, Any]) -> bool:
    return (params.get("data") or {}).get("source") == "synthetic"


def render_report(inputs: ReportInputs) -> str:
    """The report as Markdown."""
    p = inputs.params
    flat = flatten(p)
    lines = ["# UniMSE: run report", ""]
    if synthetic(p):
        lines += ["> **SYNTHETIC DATA: these numbers are not comparable to the paper's.** This run used the "
                  "embedded synthetic data (`data.source: synthetic`), made to exercise the pipeline, not to "
                  "measure the method. Reproduce the paper with the real features: docs/reproducing.md.", ""]
    lines += ["## Run", ""]
    run = [("data", f"{flat.get('data.source', MISSING)}: {', '.join(flat.get('data.datasets', []) or []) or MISSING}"
                    + (" (text only)" if flat.get("data.text_only") else "")),
           ("training set", f"merge.combination {flat.get('merge.combination', MISSING)}"),
           ("backbone", str(flat.get("model.backbone", MISSING))),
           ("decoding", MISSING if "evaluate.constrained" not in flat else
            "greedy, constrained to the label grammar" if flat["evaluate.constrained"] else "greedy, free"),
           ("seed", f"train.seed {flat.get('train.seed', MISSING)} (merge.seed {flat.get('merge.seed', MISSING)}"
                    + (f", synthetic.seed {flat.get('synthetic.seed')}" if synthetic(p) else "") + ")")]
    t = inputs.train or {}
    if t:
        run.append(("selected checkpoint",
                    f"epoch {t.get('best_epoch', MISSING)} of {t.get('epochs_run', MISSING)} on "
                    f"{t.get('select_on', MISSING)} ({_number(t.get('best_select'))}), {t.get('steps', MISSING)} steps"
                    + (", stopped early" if t.get("stopped_early") else "")))
    lines += _table(["", ""], run, align=["l", "l"]) + [""]
    differences = paper_differences(p)
    if differences:
        lines += ["Settings that differ from the paper's (docs/reproducing.md, docs/deviations.md):", ""]
        lines += [f"- `{key}`: {_yaml_value(ours)} (paper: {_yaml_value(paper)})" for key, ours, paper in differences]
        lines += [""]

    lines += ["## Test results beside the paper's", "",
              "Accuracies and F1 scores in percent, as the paper prints them; MAE and Pearson r (Corr) as they "
              f"are. Δ = ours − paper. {MISSING}: not reported by the paper, or not evaluated in this run. "
              f"Paper: UniMSE trained on MOSELDMP ({'+'.join(DATASET_NAMES[d] for d in registry.PAPER_DATASETS)}), "
              "single model."
              + (f" Last column: the {100 * inputs.confidence:g}% bootstrap interval of ours over the test rows "
                 f"({inputs.resamples} resamples of predictions/, report.bootstrap_*): how much the number "
                 "would move on another test set of the same size; it does not cover seed-to-seed noise "
                 "(docs/results.md)." if inputs.intervals else ""), ""]
    lines += _results_table(inputs) + [""]

    evaluated = [d for d in DATASETS if d in inputs.test]
    if evaluated:
        scored = [f"as {how} ({'/'.join(DATASET_NAMES[d] for d in registry.of_kind(kind, evaluated))})"
                  for kind, how in (("score", "a neutral 0.0"), ("emotion", "wrong"))
                  if registry.of_kind(kind, evaluated)]
        lines += ["## Unparsable outputs", "",
                  f"Generated labels that do not parse; they are scored {' or '.join(scored)}, never left out.", ""]
        unparsable = []
        for d in evaluated:
            count = inputs.test[d].get("unparsable")
            n = test_counts(d, inputs.merge, inputs.prediction_rows)
            share = f"{100 * count / n:.1f}%" if isinstance(count, (int, float)) and n else MISSING
            unparsable.append((DATASET_NAMES[d], MISSING if count is None else f"{count:g}",
                               MISSING if n is None else n, share))
        lines += _table(["dataset", "unparsable", "test samples", "share"], unparsable) + [""]

    if inputs.merge:
        lines += _data_section(inputs.merge)
    if inputs.verification is not None:
        lines += _raw_data_section(inputs.verification)
    if inputs.labels:
        lines += _labels_section(inputs.labels)
    if t:
        lines += _training_section(t)
    lines += ["## Figures", ""]
    if inputs.figures:
        for title, link in inputs.figures:
            lines += [f"### {title}", "", f"![{title}]({link})", ""]
    else:
        lines += ["No figure: no prediction table and no training curve was found.", ""]
    if inputs.versions:
        lines += ["## Versions", "", "The packages that can change a number of this run (`constraints.txt` pins "
                  "those of the committed baseline):", ""]
        lines += _table(["package", "version"], sorted(inputs.versions.items()), align=["l", "l"]) + [""]
    lines += ["## Configuration", "", "<details><summary>params.yaml of this run</summary>", "", "```yaml",
              yaml.safe_dump(dict(p), sort_keys=False, allow_unicode=True).rstrip(), "```", "", "</details>", ""]
    return "\n".join(lines)


def _results_table(inputs: ReportInputs) -> list[str]:
    """Ours beside the paper's, with the bootstrap interval of ours as the last column when there is one."""
    header = ["dataset", "metric", "ours", "paper", "Δ"]
    if inputs.intervals:
        header.append(f"ours, {100 * inputs.confidence:g}% CI")
    rows = []
    for r in comparison(inputs.test):
        row = [DATASET_NAMES[r.dataset], METRIC_NAMES[r.metric], format_value(r.metric, r.ours),
               format_value(r.metric, r.paper), format_value(r.metric, r.delta, signed=True)]
        if inputs.intervals:
            low, high = (inputs.intervals.get(r.dataset) or {}).get(r.metric, (None, None))
            row.append(MISSING if low is None else
                       f"[{format_value(r.metric, on_paper_scale(r.metric, low))}, "
                       f"{format_value(r.metric, on_paper_scale(r.metric, high))}]")
        rows.append(row)
    return _table(header, rows, align=["l", "l"] + ["r"] * (len(header) - 2))


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else (MISSING if value is None else str(value))


def _data_section(merge: Mapping[str, Any]) -> list[str]:
    counts = merge.get("counts") or {}
    datasets = [d for d in DATASETS if d in (merge.get("datasets") or DATASETS)]
    rows = []
    for d in datasets:
        cells = [(counts.get(group) or {}).get(d) for group in ("train", "valid", f"test/{d}")]
        if any(c is not None for c in cells):
            rows.append([DATASET_NAMES[d]] + [MISSING if c is None else c for c in cells])
    if not rows:
        return []
    totals = merge.get("totals") or {}
    test_total = sum(v for k, v in totals.items() if k.startswith("test/") and isinstance(v, int))
    rows.append(["all", totals.get("train", MISSING), totals.get("valid", MISSING), test_total or MISSING])
    return ["## Data", "", f"Samples per split after preprocessing and merging (`merge.combination: "
                           f"{merge.get('combination', MISSING)}`).", ""] + \
        _table(["dataset", "train", "valid", "test"], rows) + [""]


def _raw_data_section(verification: Mapping[str, Any]) -> list[str]:
    notes = policy_notes(verification)
    lines = ["## Raw data", "", "What the raw-data policies let through (docs/raw-data.md, \"Policies and where their "
             "counts appear\"; every id is listed in data/verified.json):", ""]
    return lines + ([f"- {n}" for n in notes] if notes else ["- nothing: every count as the manifest expects"]) + [""]


def _labels_section(labels: Mapping[str, Any]) -> list[str]:
    encoder = labels.get("encoder") or {}
    encoder_text = encoder.get("encoder", MISSING) if isinstance(encoder, Mapping) else str(encoder)
    splits = labels.get("neighbour_splits") or (labels.get("config") or {}).get("neighbour_splits") or []
    lines = ["## Universal labels", "",
             f"Missing slots are copied from the cosine-nearest sample of the same polarity pool (encoder "
             f"`{encoder_text}`, neighbours from {', '.join(splits) or MISSING}). "
             "Counts over all splits. own: the dataset's own label; matched: copied from a neighbour; neutral: "
             "a neutral sample keeps score 0 / neutral; no candidate: an empty pool.", ""]
    pools = labels.get("pools") or {}
    if pools:
        rows = [[DATASET_NAMES.get(d, d), v.get("positive", 0), v.get("negative", 0), v.get("neutral", 0)]
                for d, v in pools.items()]
        lines += _table(["dataset", "positive", "negative", "neutral"], rows) + [""]
    status = labels.get("status") or {}
    cosine = labels.get("cosine") or {}
    rows = []
    for d, slots in status.items():
        for slot, s in slots.items():
            c = (cosine.get(d) or {}).get(slot) or {}
            cos = (f"{c['median']:.3f} [{c['q05']:.3f}, {c['q95']:.3f}]"
                   if all(isinstance(c.get(k), (int, float)) for k in ("median", "q05", "q95")) else MISSING)
            rows.append([DATASET_NAMES.get(d, d), slot, s.get("own", 0), s.get("matched", 0), s.get("neutral", 0),
                         s.get("no_candidate", 0), cos])
    if rows:
        lines += _table(["dataset", "slot", "own", "matched", "neutral", "no candidate",
                         "cosine median [5%, 95%]"], rows, align=["l", "l", "r", "r", "r", "r", "r"]) + [""]
    notes = []
    mismatch = {d: n for d, n in (labels.get("pool_polarity_mismatch") or {}).items() if n}
    if mismatch:
        notes.append(f"samples whose polarity disagrees with their pool: {mismatch}")
    if labels.get("empty_pools"):
        notes.append(f"empty pools: {labels['empty_pools']}")
    if labels.get("zero_vectors"):
        notes.append(f"utterances with an all-zero embedding: {labels['zero_vectors']}")
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    return lines


def _training_section(train: Mapping[str, Any]) -> list[str]:
    keys = ("select_on", "best_epoch", "best_select", "epochs_run", "steps", "stopped_early", "train_rows",
            "dev_rows", "world_size", "trainable_parameters", "total_parameters",
            "optimizer_state_bytes")
    facts = [(k, _number(train[k]) if k == "best_select" else str(train[k])) for k in keys if k in train]
    lines = ["## Training", ""] + _table(["", ""], facts, align=["l", "r"]) + [""]
    dev = train.get("dev") or {}
    rows = [[DATASET_NAMES.get(d, d), METRIC_NAMES.get(m, m), format_value(m, on_paper_scale(m, float(v)))]
            for d in DATASETS for m, v in (dev.get(d) or {}).items() if isinstance(v, (int, float))]
    if rows:
        lines += ["Dev metrics of the selected checkpoint (same scales as above):", ""]
        lines += _table(["dataset", "metric", "dev"], rows, align=["l", "l", "r"]) + [""]
    return lines


# ----------------------------------------------------------------------------------------------
# several runs (seeds)


@dataclass(frozen=True)
class Run:
    """One finished run: a label (experiment name, revision or file), its params (flat) and test metrics."""

    name: str
    metrics: Mapping[str, Mapping[str, Any]]
    params: Mapping[str, Any] = field(default_factory=dict)
    rev: str = ""


def runs_from_exp_show(entries: Any, metrics_file: str = "metrics/test.json") -> tuple[list[Run], list[str]]:
    """The committed runs in the output of `dvc exp show --json`: baseline commits and their
    experiments, not the workspace (a copy of one of them). Returns (runs, why others were skipped)."""
    if not isinstance(entries, list):
        raise ValueError("not the output of `dvc exp show --json`: expected a JSON list of revisions")
    runs, skipped = [], []

    def visit(state: Mapping[str, Any]) -> None:
        rev = str(state.get("rev", ""))
        name = state.get("name") or rev[:7]
        data = state.get("data") or {}
        metrics = ((data.get("metrics") or {}).get(metrics_file) or {}).get("data")
        if state.get("error") or not isinstance(metrics, Mapping):
            skipped.append(f"{name}: no {metrics_file}" + (" (the run failed)" if state.get("error") else ""))
            return
        params = {}
        for file, result in (data.get("params") or {}).items():
            prefix = "" if file == "params.yaml" else f"{file}:"
            params.update(flatten((result or {}).get("data") or {}, prefix))
        runs.append(Run(name=str(name), metrics=metrics, params=params, rev=rev))

    for entry in entries:
        if not isinstance(entry, Mapping):
            raise ValueError("not the output of `dvc exp show --json`: an entry is not an object")
        if entry.get("rev") == "workspace":
            continue
        visit(entry)
        for exp_range in entry.get("experiments") or []:
            for state in exp_range.get("revs") or []:
                visit(state)
    return runs, skipped


def select_seed_runs(runs: Sequence[Run], seed_key: str = "train.seed") -> tuple[list[Run], list[str]]:
    """Check that runs differ only by their seed, so that their spread is the seed's.

    Runs with the same seed AND the same metrics are one result seen twice (an experiment of the
    baseline's seed): the first is kept. Raises ValueError where other params differ, or where one
    seed gave different metrics. Returns (runs kept, notes).
    """
    if not runs or not any(r.params for r in runs):
        return list(runs), []
    keys = sorted({k for r in runs for k in r.params} - {seed_key})
    differing = [k for k in keys if len({json.dumps(r.params.get(k), sort_keys=True) for r in runs}) > 1]
    if differing:
        detail = "; ".join(f"{k}: " + ", ".join(f"{r.name}={_yaml_value(r.params.get(k))}" for r in runs)
                           for k in differing[:3])
        raise ValueError(f"the runs differ in more than {seed_key}: {detail}. Pick the runs of one setting "
                         "with --name")
    kept, notes, by_seed = [], [], {}
    for run in runs:
        seed = run.params.get(seed_key)
        if seed in by_seed:
            first = by_seed[seed]
            if json.dumps(first.metrics, sort_keys=True) != json.dumps(run.metrics, sort_keys=True):
                raise ValueError(f"{seed_key} {seed}: runs {first.name} and {run.name} have different metrics; "
                                 "pick one with --name")
            notes.append(f"{run.name}: same {seed_key} ({seed}) and metrics as {first.name}, counted once")
            continue
        by_seed[seed] = run
        kept.append(run)
    return kept, notes


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (ddof = 1; NaN for n < 2) over n finite values."""

    mean: float
    std: float
    n: int


def summarize_seeds(values: Sequence[float]) -> Summary:
    finite = [float(v) for v in values if math.isfinite(v)]
    if not finite:
        return Summary(math.nan, math.nan, 0)
    std = statistics.stdev(finite) if len(finite) > 1 else math.nan
    return Summary(statistics.fmean(finite), std, len(finite))


def aggregate(metrics: Sequence[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Summary]]:
    """{dataset: {metric: Summary}} over several `metrics/test.json` contents, raw scale.
    A metric missing or not finite in a run is left out of that metric's n."""
    out: dict[str, dict[str, Summary]] = {}
    for dataset in DATASETS:
        names = [m for m in (*metrics_of(dataset), "unparsable") if any(m in (r.get(dataset) or {}) for r in metrics)]
        for name in names:
            values = [(r.get(dataset) or {}).get(name) for r in metrics]
            numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
            out.setdefault(dataset, {})[name] = summarize_seeds(numbers)
    return out


def aggregate_rows(summary: Mapping[str, Mapping[str, Summary]]) -> list[tuple[str, str, str, str, str, str]]:
    """(dataset, metric, mean, std, n, paper) on the paper's scale, for tables."""
    rows = []
    for dataset, metrics in summary.items():
        for metric, s in metrics.items():
            rows.append((DATASET_NAMES[dataset], METRIC_NAMES.get(metric, metric),
                         format_value(metric, on_paper_scale(metric, s.mean)),
                         format_value(metric, on_paper_scale(metric, s.std)), str(s.n),
                         format_value(metric, PAPER.get(dataset, {}).get(metric))))
    return rows


def render_aggregate(summary: Mapping[str, Mapping[str, Summary]], runs: Sequence[Run],
                     notes: Sequence[str] = (), seed_key: str = "train.seed") -> str:
    lines = ["# UniMSE: results over several runs", "",
             f"Mean and sample standard deviation (ddof = 1, the n - 1 denominator) over n = {len(runs)} run(s); "
             "a metric that is missing or not finite in a run is left out of its n. Accuracies and F1 scores in "
             f"percent, MAE and Corr as they are; std {MISSING} where n < 2.", ""]
    if any(r.params for r in runs) and any(r.params.get("data.source") == "synthetic" for r in runs):
        lines += ["> **SYNTHETIC DATA: these numbers are not comparable to the paper's.**", ""]
    lines += _table(["dataset", "metric", "mean", "std", "n", "paper"],
                    [r[:3] + (r[3].replace("n/a", MISSING),) + r[4:] for r in aggregate_rows(summary)],
                    align=["l", "l", "r", "r", "r", "r"]) + [""]
    lines += ["## Runs", ""]
    with_seed = any(seed_key in r.params for r in runs)
    header = ["run", "revision"] + ([seed_key] if with_seed else [])
    lines += _table(header, [[r.name, r.rev[:7] or MISSING] + ([r.params.get(seed_key, MISSING)] if with_seed else [])
                             for r in runs], align=["l"] * len(header)) + [""]
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    return "\n".join(lines)


def aggregate_json(summary: Mapping[str, Mapping[str, Summary]]) -> dict[str, dict[str, dict[str, float | int | None]]]:
    """The summary as JSON data on the metrics files' scale (fractions), NaN as null."""
    def clean(v: float) -> float | None:
        return None if math.isnan(v) else v

    return {d: {m: {"mean": clean(s.mean), "std": clean(s.std), "n": s.n} for m, s in metrics.items()}
            for d, metrics in summary.items()}


# ----------------------------------------------------------------------------------------------
# comparing two runs (`unimse compare`, statistics in unimse_core/compare.py)


def _compare_cells(c: Any, confidence: float) -> list[str]:
    def show(value: float | None, signed: bool = False) -> str:
        return format_value(c.metric, on_paper_scale(c.metric, value), signed=signed)

    low, high = show(c.low, True), show(c.high, True)
    excludes = math.isfinite(c.low) and (c.low > 0 or c.high < 0)
    cells = [DATASET_NAMES.get(c.dataset, c.dataset), METRIC_NAMES.get(c.metric, c.metric), show(c.a), show(c.b),
             show(c.difference, True), f"[{low}, {high}]", _p(c.p_value) + (" *" if excludes else "")]
    if c.a_std is not None:
        cells += [f"{show(c.a)} ± {show(c.a_std)}", f"{show(c.b)} ± {show(c.b_std)}", _p(c.welch_p)]
    return cells


def _p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.4f}" if value >= 1e-4 else f"{value:.1e}"


def render_comparison(results: Sequence[Any], a_names: Sequence[str], b_names: Sequence[str], *, resamples: int,
                      seed: int, confidence: float, notes: Sequence[str] = ()) -> str:
    """The Markdown of a comparison: per dataset and metric, A, B, B − A, its paired-bootstrap interval
    and p-value; with several runs per side, mean ± sample std per side and Welch's p over runs."""
    seeds = any(c.a_std is not None for c in results)
    level = f"{100 * confidence:g}%"
    lines = ["# Comparison of two runs", "",
             f"A: {', '.join(f'`{n}`' for n in a_names)}; B: {', '.join(f'`{n}`' for n in b_names)}"
             + (" (values are means over each side's runs)" if len(a_names) > 1 or len(b_names) > 1 else ""), "",
             f"B − A per metric, with its {level} paired-bootstrap interval over test rows ({resamples} resamples, "
             f"seed {seed}) and the two-sided bootstrap p-value of no difference; * marks an interval that "
             "excludes 0. Accuracies and F1 in percent (differences in points); MAE (lower is better) and Corr "
             "as they are. The bootstrap sees which test rows were drawn, not seed-to-seed noise"
             + (": the last three columns do (mean ± sample std over runs, Welch's t-test)." if seeds else
                "; give several seeds per side (--a/--b repeated) for a test over seeds."), ""]
    header = ["dataset", "metric", "A", "B", "B − A", f"{level} CI", "p"]
    align = ["l", "l", "r", "r", "r", "r", "r"]
    if seeds:
        header += ["A runs", "B runs", "Welch p"]
        align += ["r", "r", "r"]
    lines += _table(header, [_compare_cells(c, confidence) for c in results], align=align) + [""]
    if any(c.metric in ("Has0_acc_2", "Non0_acc_2") for c in results):
        lines += ["Acc-2 and F1 come in two kinds that are not comparable: has-0 (all rows, y >= 0 against "
                  "p >= 0) and non-0 (rows with y != 0 only, y > 0 against p > 0). Compare like with like "
                  "(docs/results.md).", ""]
    lines += [f"- {note}" for note in notes] + ([""] if notes else [])
    return "\n".join(lines)


def comparison_json(results: Sequence[Any], a_names: Sequence[str], b_names: Sequence[str], *, resamples: int,
                    seed: int, confidence: float) -> dict[str, Any]:
    """The comparison on the metrics files' scale (fractions), NaN as null."""
    out: dict[str, Any] = {"a": list(a_names), "b": list(b_names), "resamples": resamples, "seed": seed,
                           "confidence": confidence, "difference": "b - a", "metrics": {}}
    for c in results:
        out["metrics"].setdefault(c.dataset, {})[c.metric] = {k: v for k, v in c.as_json().items()
                                                            if k not in ("dataset", "metric")}
    return out


def difference_panels(results: Sequence[Any]) -> dict[str, list[tuple[str, float, float, float]]]:
    """The figure's rows, one panel per unit: percentage points for shares, raw units for MAE and Corr."""
    panels: dict[str, list[tuple[str, float, float, float]]] = {
        "B − A, accuracy and F1 (percentage points)": [], "B − A, MAE (lower is better) and Corr": []}
    names = list(panels)
    for c in results:
        scale = 1.0 if c.metric in RAW_SCALE else 100.0
        label = f"{DATASET_NAMES.get(c.dataset, c.dataset)} {METRIC_NAMES.get(c.metric, c.metric)}"
        panels[names[c.metric in RAW_SCALE]].append((label, scale * c.difference, scale * c.low, scale * c.high))
    return panels


# ----------------------------------------------------------------------------------------------
# the model card (reports/model-card.md; `unimse package` puts it in the model folder as README.md)

CARD_DATASETS = {n: d.card_name for n, d in registry.REGISTRY.items()}
# the model-index task of a dataset's kind, and its name there
TASK_OF_KIND = {"score": "Multimodal sentiment analysis", "emotion": "Emotion recognition in conversation"}
CARD_TASKS = {n: (TASK_OF_KIND[d.kind], d.card_title or d.title) for n, d in registry.REGISTRY.items()}
# Hugging Face metric ids of our metrics (https://hf.co/metrics): MAE, Pearson r, accuracies, F1
CARD_METRIC_TYPES = {"MAE": "mae", "Corr": "pearsonr", "weighted_f1": "f1", "Has0_F1_score": "f1",
                     "Non0_F1_score": "f1"}
RUN_ID_KEY = "unimse_run_id"


def card_metadata(inputs: ReportInputs, run: Mapping[str, Any] | None, license: str) -> dict[str, Any]:
    """The model card's YAML header (Hugging Face model-card metadata with a model-index of the test
    metrics, values exactly those of metrics/test.json, shares as fractions)."""
    flat = flatten(inputs.params)
    datasets = [d for d in DATASETS if d in (flat.get("data.datasets") or DATASETS)]
    is_synthetic = synthetic(inputs.params)
    run_id = (run or {}).get("run_id") if isinstance((run or {}).get("run_id"), str) else None
    results = []
    for d in datasets:
        values = inputs.test.get(d) or {}
        metrics = [{"type": CARD_METRIC_TYPES.get(m, "accuracy"), "name": METRIC_NAMES[m], "value": values[m]}
                   for m in metrics_of(d) if isinstance(values.get(m), (int, float))]
        if not metrics:
            continue
        task, name = CARD_TASKS[d]
        results.append({"task": {"type": "text2text-generation", "name": task},
                        "dataset": {"name": f"{name} (synthetic stand-in)" if is_synthetic else name,
                                    "type": f"synthetic-{CARD_DATASETS[d]}" if is_synthetic else CARD_DATASETS[d],
                                    "split": "test"},
                        "metrics": metrics})
    backbone = flat.get("model.backbone")
    meta: dict[str, Any] = {
        "license": license, "library_name": "unimse", "language": ["en"],
        "tags": ["unimse", "multimodal-sentiment-analysis", "emotion-recognition-in-conversation", "t5",
                 "text2text-generation", *(["synthetic-data"] if is_synthetic else [])],
        "datasets": [f"synthetic-{CARD_DATASETS[d]}" if is_synthetic else CARD_DATASETS[d] for d in datasets],
        "metrics": ["mae", "pearsonr", "accuracy", "f1"],
    }
    if isinstance(backbone, str) and backbone != "scratch":
        meta["base_model"] = backbone
    meta[RUN_ID_KEY] = run_id
    meta["model-index"] = [{"name": f"unimse-{run_id[:12]}" if run_id else "unimse", "results": results}]
    return meta


def card_schema(params: Mapping[str, Any], run: Mapping[str, Any] | None) -> LabelSchema:
    """The label layout a card describes: the model's (run.json's `label_layout`), else that of
    `data.datasets`, else the paper's."""
    layout = run_label_layout(run) or flatten(params).get("data.datasets")
    return LabelSchema.of(layout) if layout else DEFAULT_SCHEMA


def family_titles(titles: Sequence[str]) -> str:
    """Titles joined by `/`, a prefix up to a `-` that they share written once (CMU-MOSI/MOSEI)."""
    head = titles[0].split("-")[0] + "-" if "-" in titles[0] else ""
    if head and all(t.startswith(head) for t in titles):
        return head + "/".join(t[len(head):] for t in titles)
    return "/".join(titles)


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def card_use(schema: LabelSchema) -> str:
    """The card's sentence on what the model is for, from the datasets of its layout."""
    score = [CARD_TASKS[d][1] for d in registry.of_kind("score", schema.datasets)]
    emotion = [f"{DATASET_NAMES[d]}'s {len(registry.get(d).words)}" for d in schema.emotion_datasets]
    uses = ([f"multimodal sentiment analysis (a score in [-3, 3], as {family_titles(score)})"] if score else []) + \
        ([f"emotion recognition in conversation ({_and(emotion)} emotions)"] if emotion else [])
    return f"Research on {' and '.join(uses)} in English."


def render_model_card(inputs: ReportInputs, run: Mapping[str, Any] | None, license: str) -> str:
    """The model card: a YAML header (`card_metadata`), then intended use, training data and universal-label
    settings, test metrics beside the paper's, deviations and limitations. Every number comes from the inputs."""
    meta = card_metadata(inputs, run, license)
    flat = flatten(inputs.params)
    schema = card_schema(inputs.params, run)
    conversation = next((d for d in schema.datasets if registry.get(d).conversation_input), None)
    licensed = [DATASET_NAMES[d] for d in schema.datasets if registry.get(d).licence_agreement]
    is_synthetic = synthetic(inputs.params)
    datasets = ", ".join(DATASET_NAMES.get(d, d) for d in flat.get("data.datasets") or [])
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
             "# UniMSE: one generative model for sentiment and emotion", ""]
    if is_synthetic:
        lines += ["> **Trained on SYNTHETIC data** (`data.source: synthetic`): this model proves the pipeline, "
                  "it has learnt nothing about real people. Do not use it on real data; its numbers are not "
                  "comparable to the paper's.", ""]
    lines += ["A UniMSE model (Hu et al., EMNLP 2022) trained with the `unimse` pipeline: a T5 with "
              "pre-trained modality fusion of acoustic and visual features in its last blocks, which generates "
              f"a universal label `{','.join(schema.fields)}` for an utterance.", "",
              "## Intended use", "",
              f"{card_use(schema)} Inputs must be built "
              "as in training: the same text preprocessing and context windows, and audio/video features from "
              f"the same extractors, width {flat.get('model.feature_dim', MISSING)}. `unimse predict` does both:",
              "", "```bash",
              "unimse predict --model . --text \"what a great movie\"",
              "unimse predict --model . --input utterances.csv --output labels.csv",
              *([f"unimse predict --model . --input dialogues.csv --output labels.csv --conversations {conversation}"]
                if conversation else []),
              "```", "",
              "In Python: `unimse_core.model.load_model(folder)` and `unimse_core.tokenizer.load_tokenizer(folder)` "
              "(the `unimse` package); the folder is a stock transformers T5 plus the fusion weights "
              "(`unimse.safetensors`, `unimse.json`), so plain `transformers` loads the text part only.", "",
              "Not for decisions about individuals (hiring, health, surveillance): the labels are noisy and the "
              "training data cover a few TV shows, YouTube reviews and acted dialogues.", "",
              "## Training data and universal labels", ""]
    settings = [("data", f"{flat.get('data.source', MISSING)}: {datasets or MISSING}"
                         + (" (text only)" if flat.get("data.text_only") else "")),
                ("training set", f"merge.combination {flat.get('merge.combination', MISSING)}"),
                ("universal labels", f"encoder {flat.get('embed.encoder', MISSING)}, neighbours from "
                                     f"{_yaml_value(flat.get('labels.neighbour_splits'))} splits"
                                     + _dataset_settings("universal labels", flat)),
                ("inputs", f"prefix {flat.get('text.prefix', MISSING)!r}, context window "
                           f"{flat.get('text.window', MISSING)}, causal {flat.get('text.causal', MISSING)}"
                           + _dataset_settings("inputs", flat)),
                ("targets", f"scores with {flat.get('text.score_decimals', MISSING)} decimals"),
                ("backbone", str(flat.get("model.backbone", MISSING))),
                ("fusion", f"{flat.get('model.fusion', MISSING)}, "
                           f"contrastive {flat.get('model.contrastive', MISSING)}"),
                ("seed", f"train.seed {flat.get('train.seed', MISSING)}")]
    t = inputs.train or {}
    if t:
        settings.append(("selected checkpoint", f"epoch {t.get('best_epoch', MISSING)} of "
                                                f"{t.get('epochs_run', MISSING)} on {t.get('select_on', MISSING)}"))
    lines += _table(["", ""], settings, align=["l", "l"]) + [""]
    lines += ["## Test results beside the paper's", "",
              "Accuracies and F1 in percent, MAE and Corr as they are (the header above holds the same numbers "
              "as fractions, from metrics/test.json). Paper: UniMSE on MOSELDMP, single model."
              + (f" Last column: {100 * inputs.confidence:g}% bootstrap interval over the test rows."
                 if inputs.intervals else ""), ""]
    lines += _results_table(inputs) + [""]
    lines += ["## Deviations from the paper", "",
              "Settings of this run that differ from the paper's (the unimse repository's docs/deviations.md "
              "lists every deviation from the authors' code and the setting that restores it):", ""]
    differences = paper_differences(inputs.params)
    lines += [f"- `{key}`: {_yaml_value(ours)} (paper: {_yaml_value(paper)})" for key, ours, paper in differences]
    lines += (["- none"] if not differences else []) + [""]
    lines += ["## Limitations", "",
              "- One training run: differences between runs of a few points can be seed noise. Compare variants "
              "with several seeds and `unimse compare` (docs/results.md).",
              "- Acc-2 and F1 come as has-0 (all rows) and non-0 (rows with a non-zero label); papers mix them. "
              "Compare like with like.",
              "- The universal labels of the slots a dataset lacks are copied from nearest neighbours of another "
              "dataset: those slots are weak labels, not annotations.",
              "- Audio and video features must come from the extractors the training data used; other features "
              "of the right width run but mean nothing to the model.",
              f"- {_and([*licensed, 'the other corpora']) if licensed else 'The corpora'} have their own licences; "
              "check them before publishing weights trained on them.", ""]
    versions = (run or {}).get("versions")
    if isinstance(versions, Mapping) and versions:
        lines += ["## Software", "", ", ".join(f"{k} {v}" for k, v in sorted(versions.items())), ""]
    return "\n".join(lines)


def _dataset_settings(row: str, flat: Mapping[str, Any]) -> str:
    """`, <label><value>` for each param a dataset shows in this row of the card's settings (`card_settings`)."""
    return "".join(f", {label}{flat.get(key, MISSING)}" for d in registry.REGISTRY.values()
                   for key, label in d.card_settings.get(row, ()))


def split_card(text: str) -> tuple[dict[str, Any], str]:
    """(YAML header, body) of a model card; ValueError when there is no `---` header mapping."""
    if not text.startswith("---\n"):
        raise ValueError("a model card starts with a `---` line and its YAML header")
    end = text.find("\n---\n", 4)
    if end < 0:
        raise ValueError("the model card's YAML header has no closing `---` line")
    meta = yaml.safe_load(text[4:end])
    if not isinstance(meta, dict):
        raise ValueError("the model card's YAML header is not a mapping")
    return meta, text[end + 5:]
