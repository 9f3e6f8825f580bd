"""What every stage command shares: path options and loading its params groups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from unimse_core.config import ConfigError, load_config, read_params

PathOption = click.Path(path_type=Path)

params_option = click.option("--params", type=PathOption, default=Path("params.yaml"), show_default=True,
                             help="parameters file (one group per stage)")


def load_groups(params: Path, **groups: type) -> tuple[Any, ...]:
    """The configs of the named params groups, in the order given (`data=DataConfig, ...`); a bad
    value stops the command with the key's full name."""
    try:
        values = read_params(params)
        return tuple(load_config(cls, group, values) for group, cls in groups.items())
    except ConfigError as err:
        raise click.ClickException(str(err)) from None
