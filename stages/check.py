"""Stage `check`: every params.yaml group checked before any other stage runs (docs/training.md).

`dvc repro` removes a stage's outputs just before it runs that stage, so a typo that only the train
stage would catch used to cost the previous run's uncached dvclive/train. This stage is upstream of
every other (dvc.yaml: `synthesize` depends on its output) and reruns on any params change; a bad
key stops `dvc repro` here, with nothing removed. Its output names the groups checked and nothing
else, so that it is the same file after every params change and reruns nothing downstream.
"""

from __future__ import annotations

from pathlib import Path

import click

from stages.common import PathOption, params_option
from unimse_core.config import ConfigError, check_params
from unimse_core.io.atomic import write_json



@click.command()
@click.option("--out", type=PathOption, required=True, help="the record of the groups checked (JSON)")
@params_option
def command(out: Path, params: Path) -> None:
    """Check every params.yaml group before any stage runs; a bad key stops `dvc repro` with nothing removed."""
    try:
        configs = check_params(params)
    except ConfigError as err:
        raise click.ClickException(f"{err} (checked before any stage ran: no output was removed)") from None
    write_json(out, {"checked": list(configs)})
    click.echo(f"check: {len(configs)} params groups valid -> {out}")
