"""Stage `report`: reports/report.md, the run in one page, and its figures (PNG, readable offline).

Our test metrics beside the paper's on the same scale, the run's settings and seed, dataset sizes,
universal-label statistics, unparsable outputs, training summary and figures; the comparison is
also printed as a table in the terminal. Every input but the test metrics is optional: its section
is left out when its option is not given.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from stages.common import PathOption, load_groups, params_option
from unimse_core.config import DATASETS, DataConfig, TrainConfig, read_params
from unimse_core.io.atomic import atomic_dir, write_text
from unimse_core.io.errors import RawDataError
from unimse_core.report import (DATASET_NAMES, METRIC_NAMES, ReportInputs, comparison, format_value,
                                read_json, read_predictions, render_report, synthetic, write_figures)
from unimse_core.versions import package_versions



@click.command()
@click.option("--metrics", type=PathOption, required=True, help="test metrics of the evaluate stage (JSON)")
@click.option("--train", "train_summary", type=PathOption, help="training summary (metrics/train.json)")
@click.option("--labels-summary", type=PathOption, help="label statistics (metrics/labels.json)")
@click.option("--merge-summary", type=PathOption, help="dataset counts (metrics/merge.json)")
@click.option("--verification", type=PathOption, help="verification report of the fetch stage (data/verified.json)")
@click.option("--predictions", type=PathOption, help="folder of the prediction tables <dataset>.csv")
@click.option("--live", type=PathOption, help="dvclive folder of the training run")
@click.option("--figures", type=PathOption, required=True, help="folder of the PNG figures to write")
@click.option("--out", type=PathOption, required=True, help="the report to write (Markdown)")
@params_option
def command(metrics: Path, train_summary: Path | None, labels_summary: Path | None, merge_summary: Path | None,
            verification: Path | None, predictions: Path | None, live: Path | None, figures: Path, out: Path,
            params: Path) -> None:
    """Write the run's report: test metrics beside the paper's, data, labels, training, figures."""
    load_groups(params, data=DataConfig, train=TrainConfig)  # the two groups the report relies on, checked
    values = read_params(params)  # the whole file: the report prints every setting
    try:
        test = read_json(metrics)
        if not isinstance(test, dict):
            raise RawDataError(metrics, "expected an object {dataset: {metric: value}}")
        optional = {name: None if path is None else read_json(path)
                    for name, path in (("train", train_summary), ("labels", labels_summary), ("merge", merge_summary),
                                       ("verification", verification))}
        rows = {d: len(read_predictions(predictions / f"{d}.csv")["gold"]) for d in DATASETS
                if predictions is not None and (predictions / f"{d}.csv").is_file()}
        with atomic_dir(figures) as tmp:
            drawn = write_figures(tmp, predictions=predictions, live=live)
    except RawDataError as err:
        raise click.ClickException(str(err)) from None
    links = [(f.title, Path(os.path.relpath(figures / f.path.name, out.parent)).as_posix()) for f in drawn]
    write_text(out, render_report(ReportInputs(test=test, params=values, prediction_rows=rows, figures=links,
                                               versions=package_versions(), **optional)))
    _print(test, synthetic(values))
    click.echo(f"report: {len(links)} figure(s) -> {out}")


def _print(test: dict, is_synthetic: bool) -> None:
    table = Table(title="test metrics beside the paper's (accuracies and F1 in percent)")
    for column, justify in (("dataset", "left"), ("metric", "left"), ("ours", "right"), ("paper", "right"),
                            ("Δ", "right")):
        table.add_column(column, justify=justify)
    for r in comparison(test):
        table.add_row(DATASET_NAMES[r.dataset], METRIC_NAMES[r.metric], format_value(r.metric, r.ours),
                      format_value(r.metric, r.paper), format_value(r.metric, r.delta, signed=True))
    for d in DATASETS:
        if d in test and "unparsable" in test[d]:
            table.add_row(DATASET_NAMES[d], METRIC_NAMES["unparsable"], f"{test[d]['unparsable']:g}", "", "")
    console = Console(stderr=True)
    console.print(table)
    if is_synthetic:
        console.print("[bold red]synthetic data: these numbers are not comparable to the paper's[/bold red]")
