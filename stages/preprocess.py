"""Stage `preprocess` (one per dataset): raw labels + universal labels + features -> one HDF5 file.

Reads params `data.text_only`, `data.datasets` (the label layout), groups `text` and `features`; the raw files come from the
verification report, the universal labels from the labels stage. Writes every split of the
dataset (schema in docs/hdf5-schema.md) and prints what each policy dropped or changed.
"""

from __future__ import annotations

from pathlib import Path

import click

from stages.common import PathOption, load_groups, params_option
from unimse_core.config import DataConfig, FeaturesConfig, TextConfig, to_dict
from unimse_core.io.errors import RawDataError
from unimse_core.io.hdf5 import write_h5
from unimse_core.io.manifest import sha256_file
from unimse_core.datasets import NAMES
from unimse_core.io.universal_labels import read_universal_labels
from unimse_core.io.verification import read_report
from unimse_core.preprocess import preprocess
from unimse_core.release import dataset_sources, open_dataset
from unimse_core.universal import LabelSchema



@click.command()
@click.option("--dataset", type=click.Choice(list(NAMES)), required=True)
@click.option("--report", type=PathOption, required=True, help="verification report of the fetch stage")
@click.option("--labels", type=PathOption, required=True, help="universal-label table of the dataset")
@click.option("--out", type=PathOption, required=True, help="HDF5 file to write")
@params_option
def command(dataset: str, report: Path, labels: Path, out: Path, params: Path) -> None:
    """Turn one dataset's raw features and universal labels into an HDF5 file of model rows."""
    data, text_config, features_config = load_groups(params, data=DataConfig, text=TextConfig,
                                                     features=FeaturesConfig)
    try:
        verified = read_report(report)
        table, features = open_dataset(verified, dataset, features=not data.text_only, source=str(report))
        schema = LabelSchema.of(data.datasets)
        universal = read_universal_labels(labels, schema.slots)
        groups, stats = preprocess(table, universal, features, text_config=text_config,
                                   features_config=features_config, schema=schema)
    except RawDataError as err:
        raise click.ClickException(str(err)) from None
    sources = {**dataset_sources(verified, dataset), labels.as_posix(): sha256_file(labels)}
    write_h5(out, groups, {"dataset": dataset, "config": {"text": to_dict(text_config),
                                                          "features": to_dict(features_config),
                                                          "label_layout": list(schema.datasets)},
                           "sources": sources, "stats": stats})
    dropped = sum(stats["iemocap_slot_dropped"].values())
    missing = sum(stats["missing_features"].values())
    one_modality = {split: {m: n for m, n in per.items() if n} for split, per in stats["missing_modality"].items()}
    click.echo(f"preprocess {dataset}: rows {stats['rows']}; without features {missing}, without one modality "
               f"{one_modality or 0} ({stats['missing_policy']}); NaN/inf values set to 0 {stats['nonfinite_values']}; "
               f"training rows dropped for an IEMOCAP slot outside the six classes {dropped} -> {out}")
