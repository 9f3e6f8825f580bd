"""Stage `merge`: the datasets of `merge.combination` in one HDF5 file (train, valid, test/<dataset>)."""

from __future__ import annotations

from pathlib import Path

import click

from stages.common import PathOption, load_groups, params_option
from unimse_core.config import DataConfig, MergeConfig, to_dict
from unimse_core.io.atomic import write_json
from unimse_core.io.errors import RawDataError
from unimse_core.io.hdf5 import list_groups, read_attrs, read_h5, write_h5
from unimse_core.preprocess import SPLITS, merge



@click.command()
@click.option("--processed", type=PathOption, required=True, help="folder of the per-dataset HDF5 files")
@click.option("--out", type=PathOption, required=True, help="merged HDF5 file to write")
@click.option("--summary", type=PathOption, required=True, help="counts per dataset and split (JSON)")
@params_option
def command(processed: Path, out: Path, summary: Path, params: Path) -> None:
    """Merge the preprocessed datasets of merge.combination into one training file."""
    data, config = load_groups(params, data=DataConfig, merge=MergeConfig)
    excluded = [d for d in config.datasets if d not in data.datasets]
    if excluded:
        raise click.ClickException(f"merge.combination: {config.combination} needs {', '.join(excluded)}, "
                                   f"which data.datasets leaves out")
    try:
        # memory-mapped: the merge copies each row once into the merged arrays
        parts = {d: {split: read_h5(processed / f"{d}.h5", split, mmap_over_bytes=1) for split in SPLITS}
                 for d in config.datasets}
        sources = {d: read_attrs(processed / f"{d}.h5") for d in config.datasets}
    except RawDataError as err:
        raise click.ClickException(str(err)) from None
    merged = merge(parts, config.datasets, config.seed)
    write_h5(out, merged, {"combination": config.combination, "config": {"merge": to_dict(config)},
                           "sources": {d: {"config": a["config"], "sources": a["sources"]} for d, a in sources.items()}})
    counts = {group: merged[group].dataset_counts() for group in list_groups(out)}
    write_json(summary, {"combination": config.combination, "datasets": list(config.datasets), "counts": counts,
                         "totals": {group: len(arrays) for group, arrays in merged.items()}})
    click.echo(f"merge {config.combination}: " + ", ".join(f"{g} {len(a)}" for g, a in merged.items()) + f" -> {out}")
