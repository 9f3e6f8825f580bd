"""Stage `synthesize`: the embedded default data, written in the real raw formats.

Reads the params group `synthetic` and `data.datasets` (whose writers run), writes their raw files
and `manifest.json` into a temporary folder beside `--out` and swaps it in only once all of it is
written. The recipe is in docs/synthetic.md, the formats in docs/raw-data.md.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from stages.common import PathOption, load_groups, params_option
from unimse_core.config import DataConfig, SyntheticConfig
from unimse_core.datasets import get
from unimse_core.io.atomic import atomic_dir
from unimse_core.synthetic import generate


@click.command()
@click.option("--out", type=PathOption, required=True, help="raw folder to write (replaced whole)")
@params_option
def command(out: Path, params: Path) -> None:
    """Write the embedded synthetic raw data in the real file formats."""
    config, data = load_groups(params, synthetic=SyntheticConfig, data=DataConfig)
    with atomic_dir(out) as tmp:
        manifest = generate(config, tmp, data.datasets)
    utterances: Counter[str] = Counter()
    for entry in manifest.files:
        if entry.kind in get(entry.dataset).label_kinds and entry.splits:
            utterances[entry.dataset] += sum(entry.splits.values())
    counts = ", ".join(f"{dataset} {n}" for dataset, n in utterances.items())
    click.echo(f"synthesize: {len(manifest.files)} files + manifest.json in {out} "
               f"(seed {config.seed}, {config.msa_layout} layout); labelled utterances: {counts}")
