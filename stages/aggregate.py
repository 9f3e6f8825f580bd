"""Command `aggregate`: mean and standard deviation of the test metrics over several runs (seeds).

Not a pipeline stage: it runs after the experiments (docs/reproducing.md, "Several seeds"). Input is
either the output of `dvc exp show --json` (`--exp-json FILE`, `-` for standard input), whose runs
must differ only in `train.seed`, or a list of metrics/test.json copies. The standard deviation is
the sample one (ddof = 1), as results over seeds are usually reported.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from unimse_core.io.atomic import write_json, write_text
from unimse_core.io.errors import RawDataError
from unimse_core.report import (Run, aggregate, aggregate_json, aggregate_rows, read_json, render_aggregate,
                                runs_from_exp_show, select_seed_runs)

PathOption = click.Path(path_type=Path)


@click.command()
@click.argument("metrics_files", nargs=-1, type=PathOption)
@click.option("--exp-json", type=PathOption, help="output of `dvc exp show --json` ('-': standard input)")
@click.option("--metrics-file", default="metrics/test.json", show_default=True,
              help="with --exp-json: the metrics file whose values are aggregated")
@click.option("--name", "names", multiple=True, help="with --exp-json: only these experiments or revisions (repeat)")
@click.option("--seed-key", default="train.seed", show_default=True,
              help="with --exp-json: the one param the runs may differ in")
@click.option("--out", type=PathOption, required=True, help="the summary to write (Markdown)")
@click.option("--json", "json_out", type=PathOption, help="also write the summary as JSON (fractions, as test.json)")
def command(metrics_files: tuple[Path, ...], exp_json: Path | None, metrics_file: str, names: tuple[str, ...],
            seed_key: str, out: Path, json_out: Path | None) -> None:
    """Mean and standard deviation of test metrics over several runs (seeds)."""
    if bool(exp_json) == bool(metrics_files):
        raise click.UsageError("give either --exp-json FILE or one or more metrics JSON files")
    notes: list[str] = []
    try:
        if exp_json is not None:
            entries = json.load(sys.stdin) if str(exp_json) == "-" else read_json(exp_json)
            runs, skipped = runs_from_exp_show(entries, metrics_file)
            notes += [f"skipped {s}" for s in skipped]
            if names:
                unknown = [n for n in names if not any(n in (r.name, r.rev) or r.rev.startswith(n) for r in runs)]
                if unknown:
                    raise click.ClickException(f"--name: no run with metrics is called {', '.join(unknown)}")
                runs = [r for r in runs if any(n in (r.name, r.rev) or r.rev.startswith(n) for n in names)]
            runs, more = select_seed_runs(runs, seed_key)
            notes += more
        else:
            runs = [Run(name=str(path), metrics=read_json(path)) for path in metrics_files]
    except (RawDataError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    bad = [r.name for r in runs if not isinstance(r.metrics, dict)]
    if bad:
        raise click.ClickException(f"not a metrics object {{dataset: {{metric: value}}}}: {', '.join(bad)}")
    if not runs:
        raise click.ClickException("no run with metrics to aggregate")
    summary = aggregate([r.metrics for r in runs])
    write_text(out, render_aggregate(summary, runs, notes, seed_key))
    if json_out is not None:
        write_json(json_out, {"n_runs": len(runs), "ddof": 1, "runs": [r.name for r in runs],
                              "metrics": aggregate_json(summary)})
    table = Table(title=f"test metrics over {len(runs)} run(s): mean and sample std (ddof 1)")
    for column in ("dataset", "metric", "mean", "std", "n", "paper"):
        table.add_column(column, justify="left" if column in ("dataset", "metric") else "right")
    for row in aggregate_rows(summary):
        table.add_row(*row)
    Console(stderr=True).print(table)
    click.echo(f"aggregate: {len(runs)} run(s) -> {out}")
