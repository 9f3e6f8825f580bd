"""What every stage command shares: path options, loading its params groups, writing its timings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from unimse_core.config import ConfigError, check_across, load_config, read_params

PathOption = click.Path(path_type=Path)

timings_option = click.option(
    "--timings", type=PathOption, default=None,
    help="JSON file of this run's wall-clock times; untracked (no tracked output holds a time)")

params_option = click.option("--params", type=PathOption, default=Path("params.yaml"), show_default=True,
                             help="parameters file (one group per stage)")


def load_groups(params: Path, **groups: type) -> tuple[Any, ...]:
    """The configs of the named params groups, in the order given (`data=DataConfig, ...`); a bad
    value, or two loaded keys that must agree and do not (config.SAME_VALUE), stops the command with
    the key's full name."""
    try:
        values = read_params(params)
        configs = {group: load_config(cls, group, values) for group, cls in groups.items()}
        check_across(configs)  # keys of two groups that must agree, where both are loaded
        return tuple(configs.values())
    except ConfigError as err:
        raise click.ClickException(str(err)) from None


def write_timings(path: Path | None, seconds: dict[str, float]) -> None:
    """Write this run's wall-clock `seconds` to `path` (nothing when None).

    Times change on every run, so they live in these untracked files only (dvc.yaml passes
    `timings/<stage>.json`, which git ignores and no stage declares), never in a DVC output.
    """
    from unimse_core.io.atomic import write_json

    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, seconds)
