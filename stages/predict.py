"""Command `predict` (no DVC stage): universal labels from a trained model folder, for one utterance
(`--text`) or for a file of them (`--input`, `--output`; docs/results.md, "Using a trained model").

One utterance: its input is built as preprocessing builds a score dataset's row (`msa_input`): the
text cleaned and lower-cased behind the `text.prefix`. Audio and video are optional .npy files of shape
[frames, feature_dim] (the model's `model.feature_dim`; NaN/inf become 0 as in preprocessing);
without them the utterance has no frames, as text-only data.

A file (.csv or .jsonl, by extension) holds one utterance per row (unimse_core/inference.py): `text`,
optionally `id`, `audio`, `video` (.npy paths), and with `--conversations <dataset>` (a registered
dataset whose input is a conversation window) also `dialogue_id`, `speaker` and `turn`, from which
each turn's context window is built exactly as preprocessing builds it for that dataset. Every row
is checked before the model runs, and the output (.csv or .jsonl) is written atomically: a bad row stops the command, naming the file and line, and leaves no
output file. The text and loader settings come from the folder's run.json (written by the train
stage) where it records them, otherwise from the `text` and `loader` groups of --params. The label
layout (which fields the output has, what constrained decoding allows) is the model's, run.json's
`label_layout`; a folder without it holds a model of the paper's layout, and a note says so.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from unimse_core.config import ConfigError, EvaluateConfig, LoaderConfig, TextConfig, from_dict, read_params
from unimse_core.inference import CONVERSATIONS, NO_CONVERSATIONS
from unimse_core.io.errors import RawDataError
from unimse_core.io.model_folder import RUN_FILE, check_model_folder, read_run, weight_files
from unimse_core.universal import LabelSchema

PathOption = click.Path(path_type=Path)


@click.command()
@click.option("--model", "model_dir", type=PathOption, required=True, help="model folder (train stage --out)")
@click.option("--text", default=None, help="one utterance (or --input FILE)")
@click.option("--input", "input_file", type=PathOption, default=None,
              help="a .csv or .jsonl of utterances (columns text; id, audio, video, dialogue_id, speaker, turn)")
@click.option("--output", "output_file", type=PathOption, default=None,
              help="with --input: the .csv or .jsonl of labels to write")
@click.option("--conversations", type=click.Choice(CONVERSATIONS), default=NO_CONVERSATIONS, show_default=True,
              help="with --input: build each turn's context window as preprocessing does for that dataset")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="with --input: utterances per batch [default: the run's loader.eval_batch_size]")
@click.option("--audio", type=PathOption, default=None, help=".npy audio frames [frames, feature_dim]")
@click.option("--video", type=PathOption, default=None, help=".npy video frames [frames, feature_dim]")
@click.option("--json", "as_json", is_flag=True, help="print a JSON object instead of a table")
@click.option("--constrained/--no-constrained", default=True, show_default=True,
              help="decode within the universal-label grammar (every output parses)")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--params", type=PathOption, default=Path("params.yaml"), show_default=True,
              help="text and loader settings where the model folder's run.json has none")
def command(model_dir: Path, text: str | None, input_file: Path | None, output_file: Path | None,
            conversations: str, batch_size: int | None, audio: Path | None, video: Path | None, as_json: bool,
            constrained: bool, max_new_tokens: int, device: str, params: Path) -> None:
    """Universal labels of one utterance (--text) or of a CSV/JSONL file of utterances or conversations."""
    from unimse_core.evaluation import predict_split, single_worker, universal_label, utterance_arrays
    from unimse_core.model import load_model  # heavy imports at run time only
    from unimse_core.tokenizer import load_tokenizer

    from transformers.utils import logging as transformers_logging

    _check_usage(text, input_file, output_file, conversations, batch_size, audio, video, as_json)
    if constrained and max_new_tokens < EvaluateConfig.SHORTEST_LABEL:
        raise click.BadParameter(f"constrained decoding needs at least {EvaluateConfig.SHORTEST_LABEL} (one token "
                                 f"per character of the shortest label), got {max_new_tokens}; or --no-constrained",
                                 param_hint="--max-new-tokens")
    config = from_dict(EvaluateConfig, {"constrained": constrained, "max_new_tokens": max_new_tokens,
                                        "device": device, "bf16": False,
                                        # one utterance: torch's own kernels (unimse_core/determinism.py)
                                        "deterministic": False, "cpu_threads": 0}, "predict")
    try:
        check_model_folder(model_dir)
    except FileNotFoundError as err:
        raise click.ClickException(str(err)) from None
    transformers_logging.disable_progress_bar()
    text_config, loader_config = _settings(model_dir, params)
    schema = _schema(model_dir)
    try:
        tokenizer = load_tokenizer(model_dir)
        model = load_model(model_dir)
    except (OSError, ValueError) as err:
        raise click.ClickException(f"{model_dir}: cannot load the model: {err}") from None
    dim = model.config.feature_dim
    if input_file is not None:
        _predict_file(model, tokenizer, model_dir, input_file, output_file, conversations=conversations,
                      batch_size=batch_size, text_config=text_config, loader_config=loader_config, config=config,
                      schema=schema)
        return
    arrays = utterance_arrays(text, prefix=text_config.prefix, audio=_frames(audio, "audio", dim),
                              video=_frames(video, "video", dim), feature_dim=dim)
    try:
        generated = predict_split(model, arrays, tokenizer, single_worker(loader_config), _runtime(config),
                                  max_new_tokens=config.max_new_tokens, constrained=config.constrained,
                                  score_decimals=text_config.score_decimals, schema=schema)[0]
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    label = {"input": arrays.inputs[0], **universal_label(generated, schema), "constrained": constrained}
    if as_json:
        click.echo(json.dumps(label, ensure_ascii=False))
        return
    names = {"polarity": "polarity", "score": "score",
             **{slot: f"{schema.owner(slot).title} emotion" for slot in schema.slots[1:]}}
    for key, name in names.items():
        click.echo(f"{name:<16}{'?' if label[key] is None else label[key]}")
    if not label["valid"]:
        click.echo(f"the output {generated!r} does not parse: {label['reason']}", err=True)


def _runtime(config: EvaluateConfig) -> Any:
    """The device of `--device` (an error names the option, not a params key: predict reads none)."""
    from unimse_core.runtime import DeviceError, runtime

    try:
        return runtime(config, group="predict", device_key="--device")
    except DeviceError as err:
        raise click.ClickException(str(err)) from None


def _check_usage(text: str | None, input_file: Path | None, output_file: Path | None, conversations: str,
                 batch_size: int | None, audio: Path | None, video: Path | None, as_json: bool) -> None:
    if (text is None) == (input_file is None):
        raise click.UsageError("give either --text (one utterance) or --input FILE (a .csv or .jsonl)")
    if input_file is None:
        for name, value in (("--output", output_file), ("--batch-size", batch_size)):
            if value is not None:
                raise click.UsageError(f"{name} goes with --input")
        if conversations != NO_CONVERSATIONS:
            raise click.UsageError("--conversations goes with --input (a file with dialogue_id, speaker, turn)")
        return
    if output_file is None:
        raise click.UsageError("--input needs --output (a .csv or .jsonl file to write)")
    if audio is not None or video is not None or as_json:
        raise click.UsageError("with --input, audio and video paths are columns of the file, and the output "
                               "format follows --output's extension (--audio, --video, --json are for --text)")
    from unimse_core.io.requests import file_format

    for name, path in (("--input", input_file), ("--output", output_file)):
        try:
            file_format(path)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint=name) from None


def _predict_file(model: Any, tokenizer: Any, model_dir: Path, input_file: Path, output_file: Path, *,
                  conversations: str, batch_size: int | None, text_config: TextConfig, loader_config: LoaderConfig,
                  config: EvaluateConfig, schema: LabelSchema) -> None:
    """Check every row, generate in batches, write every row's label (atomically)."""
    from unimse_core.evaluation import predict_split, single_worker
    from unimse_core.inference import model_id, output_rows, request_arrays, request_inputs
    from unimse_core.io.requests import read_rows, write_rows

    try:
        rows = read_rows(input_file)
        inputs = request_inputs(rows, conversations=conversations, text_config=text_config)
        arrays = request_arrays(rows, inputs, feature_dim=model.config.feature_dim)
    except RawDataError as err:
        raise click.ClickException(str(err)) from None
    loader = single_worker(loader_config)
    if batch_size is not None:
        loader = dataclasses.replace(loader, eval_batch_size=batch_size)
    try:
        generated = predict_split(model, arrays, tokenizer, loader, _runtime(config),
                                  max_new_tokens=config.max_new_tokens, constrained=config.constrained,
                                  score_decimals=text_config.score_decimals, schema=schema)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    identity = model_id(read_run(model_dir), weight_files(model_dir))
    columns, out = output_rows(rows, inputs, generated, conversations=conversations, model_id=identity,
                               schema=schema)
    write_rows(output_file, columns, out)
    unparsed = sum(not r["valid"] for r in out)
    click.echo(f"predict: {len(out)} row(s) of {input_file} -> {output_file}"
               + (f"; {unparsed} output(s) do not parse (column parse_error)" if unparsed else ""))


def _schema(model_dir: Path) -> LabelSchema:
    """The model's label layout (run.json's `label_layout`); a note on stderr where it is assumed."""
    from unimse_core.inference import model_schema

    try:
        schema, note = model_schema(read_run(model_dir), model_dir / RUN_FILE)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    if note:
        click.echo(f"note: {note}", err=True)
    return schema


def _settings(model_dir: Path, params: Path) -> tuple[TextConfig, LoaderConfig]:
    """The `text` and `loader` configs of the model's run (run.json), else of `params`."""
    run_file = model_dir / RUN_FILE
    try:
        configs: dict[str, Any] = (read_run(model_dir) or {}).get("configs", {})
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    out = []
    for group, cls in (("text", TextConfig), ("loader", LoaderConfig)):
        try:
            if group in configs:
                out.append(from_dict(cls, configs[group], f"{run_file}: {group}"))
                continue
            if not params.is_file():
                raise ConfigError(f"{params}: not found, and {run_file} records no `{group}` settings; "
                                  f"pass --params with a `{group}` group")
            out.append(from_dict(cls, read_params(params).get(group), f"{params}: {group}"))
        except ConfigError as err:
            raise click.ClickException(str(err)) from None
    return out[0], out[1]


def _frames(path: Path | None, name: str, feature_dim: int) -> np.ndarray | None:
    """The [frames, feature_dim] array of a .npy file (None without a file); errors name the file."""
    if path is None:
        return None
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise click.ClickException(f"{path}: {name} file not found") from None
    except (OSError, ValueError) as err:
        raise click.ClickException(f"{path}: not a .npy array of numbers: {err}") from None
    if array.ndim != 2:
        raise click.ClickException(f"{path}: {name} features must be a 2-d array [frames, {feature_dim}], "
                                   f"got shape {array.shape}")
    if array.shape[1] != feature_dim:
        raise click.ClickException(f"{path}: {name} features have width {array.shape[1]}, the model expects "
                                   f"{feature_dim} (model.feature_dim)")
    if array.dtype.kind not in "biuf":
        raise click.ClickException(f"{path}: {name} features must be numbers, got dtype {array.dtype}")
    return array
