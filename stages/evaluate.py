"""Stage `evaluate`: the selected model on every test set of the merged file, once (docs/results.md).

Reads only the `test/<dataset>` groups. Writes `<predictions>/<dataset>.csv` (one row per test
utterance: id, input, target, generated text, parsed fields, prediction, gold) and `--metrics`, a
JSON `{dataset: {metric: value}}` with MMSA's names for score datasets, acc and weighted_f1 for
emotion datasets, and `unparsable` (outputs whose dataset field does not parse) for each.
Before the model runs, the model folder and the merged file must agree: the same label layout
(run.json's `label_layout`, where the run records one) and the same feature width.
`evaluate.constrained: true` (our default) decodes within the label grammar so that unparsable is 0;
false decodes freely, as the reference does.
"""

from __future__ import annotations

from pathlib import Path

import click

from stages.common import PathOption, load_groups, params_option
from unimse_core.config import EvaluateConfig, LoaderConfig, TextConfig
from unimse_core.io.atomic import atomic_dir, write_json
from unimse_core.io.errors import RawDataError
from unimse_core.io.hdf5 import list_groups, read_attrs, read_h5
from unimse_core.io.model_folder import EXTRA_CONFIG, RUN_FILE, check_model_folder, read_extra_config, read_run, \
    run_label_layout
from unimse_core.io.tables import write_table
from unimse_core.universal import LabelSchema



@click.command()
@click.option("--model", "model_dir", type=PathOption, required=True, help="folder of the selected model and tokenizer")
@click.option("--merged", type=PathOption, required=True, help="merged HDF5 file (only its test/* groups are read)")
@click.option("--predictions", type=PathOption, required=True, help="folder of the per-dataset prediction tables")
@click.option("--metrics", "metrics_path", type=PathOption, required=True, help="test metrics (JSON)")
@params_option
def command(model_dir: Path, merged: Path, predictions: Path, metrics_path: Path, params: Path) -> None:
    """Evaluate the selected model on every test set: predictions and test metrics."""
    from transformers.utils import logging as transformers_logging

    from unimse_core.determinism import pin_numerics
    from unimse_core.evaluation import evaluate_tests, select_test_groups
    from unimse_core.model import load_model  # heavy imports at run time only
    from unimse_core.tokenizer import load_tokenizer
    from unimse_core.runtime import DeviceError, runtime

    config, loader_config, text_config = load_groups(params, evaluate=EvaluateConfig, loader=LoaderConfig,
                                                     text=TextConfig)
    # before any tensor operation: torch and MKL choose their CPU kernels once
    pin_numerics(config.deterministic, config.cpu_threads, device=config.device, group="evaluate")
    score_decimals = text_config.score_decimals
    try:
        groups = select_test_groups(list_groups(merged))
        if not groups:
            raise RawDataError(merged, "no test/<dataset> group to evaluate")
        tests = {d: read_h5(merged, g, mmap_over_bytes=loader_config.mmap_over_bytes) for d, g in groups.items()}
        attrs = read_attrs(merged)
        schema = LabelSchema.of_merged(attrs)
        check_model_folder(model_dir)
        _check_agreement(model_dir, merged, attrs, schema, tests)
    except (RawDataError, FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    transformers_logging.disable_progress_bar()  # "Loading weights" would bury the table
    try:
        tokenizer = load_tokenizer(model_dir)
        model = load_model(model_dir)
        rt = runtime(config, group="evaluate")
        results = evaluate_tests(model, tests, tokenizer, loader_config, rt,
                                 max_new_tokens=config.max_new_tokens, constrained=config.constrained,
                                 score_decimals=score_decimals, schema=schema)
    except (ValueError, DeviceError) as err:
        raise click.ClickException(str(err)) from None
    with atomic_dir(predictions) as tmp:
        for dataset, table in results.tables.items():
            write_table(tmp / f"{dataset}.csv", table)
    write_json(metrics_path, results.metrics)
    _print_metrics(results.metrics, config.constrained)
    click.echo(f"evaluate: {', '.join(f'{d} {len(t)}' for d, t in tests.items())} test rows -> {metrics_path}, "
               f"{predictions}")


def _check_agreement(model_dir: Path, merged: Path, attrs: dict, schema: LabelSchema, tests: dict) -> None:
    """ValueError naming both files where the model was trained on another label layout or feature width
    (the merged file's: the `features.dim` its frames were built with, as the train stage checks it, else
    the width of its test frames)."""
    run_file = model_dir / RUN_FILE
    layout = run_label_layout(read_run(model_dir))
    if layout is not None and layout != schema.datasets:
        try:
            fields = ",".join(LabelSchema.of(layout).fields)
        except ValueError as err:
            raise ValueError(f"{run_file}: label_layout {list(layout)}: {err}") from None
        raise ValueError(f"{run_file}: the model generates the label layout {fields} (label_layout "
                         f"{', '.join(layout)}), but {merged} holds rows of the layout {','.join(schema.fields)} "
                         f"(label_layout {', '.join(schema.datasets)}); evaluate the model on the merged file it "
                         "was trained with")
    model_dim = read_extra_config(model_dir)["model"].get("feature_dim")
    configs = [source.get("config", {}) for source in attrs.get("sources", {}).values()]
    built = sorted({c["features"]["dim"] for c in configs if "dim" in c.get("features", {})})
    widths = built or sorted({a.audio_dim for a in tests.values()} | {a.video_dim for a in tests.values()})
    if model_dim is not None and widths != [model_dim]:
        what = "were built with features.dim" if built else "have width"
        raise ValueError(f"{model_dir / EXTRA_CONFIG}: the model's feature_dim is {model_dim} (model.feature_dim), "
                         f"but {merged}'s frames {what} {', '.join(map(str, widths))}; evaluate the model on a merged "
                         "file of its feature width")


def _print_metrics(metrics: dict[str, dict[str, float | int | None]], constrained: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"test metrics ({'constrained' if constrained else 'free'} decoding)")
    for column in ("dataset", "metric", "value"):
        table.add_column(column)
    for dataset, values in metrics.items():
        for i, (name, value) in enumerate(values.items()):
            shown = "-" if value is None else str(value) if isinstance(value, int) else f"{value:.4f}"
            table.add_row(dataset if i == 0 else "", name, shown)
    Console(stderr=True).print(table)
