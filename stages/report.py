"""Stage `report`: reports/report.md, the run in one page, and its figures (PNG, readable offline).

Our test metrics beside the paper's on the same scale, with a bootstrap interval over the test rows
beside each (from the prediction tables; `report` params), the run's settings and seed, dataset
sizes, universal-label statistics, unparsable outputs, training summary and figures; the comparison
is also printed as a table in the terminal. Every input but the test metrics is optional: its
section is left out when its option is not given.

`--card` also writes the model card (Hugging Face format: a YAML header with the test metrics,
then intended use, data, results, deviations, limitations) for the model folder `--model`, whose
run.json gives the run's id. The card is this stage's output, not a file inside the train stage's
`models/selected`; `unimse package` puts the two together for upload (docs/results.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from stages.common import PathOption, load_groups, params_option
from unimse_core.config import DATASETS, DataConfig, ReportConfig, TrainConfig, read_params
from unimse_core.io.atomic import atomic_dir, write_text
from unimse_core.io.errors import RawDataError
from unimse_core.io.model_folder import read_run
from unimse_core.io.tables import read_table
from unimse_core.io.verification import read_report
from unimse_core.report import (DATASET_NAMES, METRIC_NAMES, ReportInputs, comparison, format_value,
                                read_json, read_predictions, render_model_card, render_report, synthetic,
                                write_figures)
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
@click.option("--model", "model_dir", type=PathOption, help="the selected model folder (its run.json names the run)")
@click.option("--card", type=PathOption, help="the model card to write (Markdown with a YAML header)")
@params_option
def command(metrics: Path, train_summary: Path | None, labels_summary: Path | None, merge_summary: Path | None,
            verification: Path | None, predictions: Path | None, live: Path | None, figures: Path, out: Path,
            model_dir: Path | None, card: Path | None, params: Path) -> None:
    """Write the run's report: test metrics beside the paper's, data, labels, training, figures."""
    # the groups the report relies on, checked
    _data, _train, report_config = load_groups(params, data=DataConfig, train=TrainConfig, report=ReportConfig)
    values = read_params(params)  # the whole file: the report prints every setting
    try:
        test = read_json(metrics)
        if not isinstance(test, dict):
            raise RawDataError(metrics, "expected an object {dataset: {metric: value}}")
        optional = {name: None if path is None else read_json(path)
                    for name, path in (("train", train_summary), ("labels", labels_summary), ("merge", merge_summary))}
        optional["verification"] = None if verification is None else read_report(verification)
        rows = {d: len(read_predictions(predictions / f"{d}.csv")["gold"]) for d in DATASETS
                if predictions is not None and (predictions / f"{d}.csv").is_file()}
        intervals = _intervals(predictions, report_config)
        run = None
        if card is not None:
            if model_dir is None:
                raise click.UsageError("--card needs --model (the model folder the card describes)")
            try:
                run = read_run(model_dir, required=True)
            except FileNotFoundError as err:
                raise RawDataError(err.filename, "file not found") from None
            except ValueError as err:
                raise click.ClickException(str(err)) from None
        with atomic_dir(figures) as tmp:
            drawn = write_figures(tmp, predictions=predictions, live=live)
    except RawDataError as err:
        raise click.ClickException(str(err)) from None
    links = [(f.title, Path(os.path.relpath(figures / f.path.name, out.parent)).as_posix()) for f in drawn]
    inputs = ReportInputs(test=test, params=values, prediction_rows=rows, figures=links, intervals=intervals,
                          versions=package_versions(),
                          confidence=report_config.confidence, resamples=report_config.bootstrap_resamples,
                          **optional)
    write_text(out, render_report(inputs))
    if card is not None:
        write_text(card, render_model_card(inputs, run, report_config.card_license))
    _print(test, synthetic(values))
    click.echo(f"report: {len(links)} figure(s) -> {out}")


def _intervals(predictions: Path | None, config: ReportConfig) -> dict[str, dict[str, tuple[float, float]]]:
    """{dataset: {metric: (low, high)}}: the bootstrap interval of each test metric, from the prediction tables."""
    from unimse_core.compare import metric_intervals, scored

    out = {}
    for d in DATASETS:
        path = None if predictions is None else predictions / f"{d}.csv"
        if path is None or not path.is_file():
            continue
        table = read_table(path, ("id", "prediction", "gold"))
        if not table["id"]:
            continue
        try:
            data = scored(d, [table], [str(path)])
        except ValueError as err:
            raise RawDataError(path, str(err)) from None
        out[d] = metric_intervals(data, resamples=config.bootstrap_resamples, seed=config.bootstrap_seed,
                                  confidence=config.confidence)
    return out


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
