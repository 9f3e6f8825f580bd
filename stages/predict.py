"""Command `predict` (no DVC stage): the universal label of one utterance, from a trained model folder.

The input is built as preprocessing builds a MOSI/MOSEI row: the text cleaned and lower-cased behind
the `text.prefix`. Audio and video are optional .npy files of shape [frames, feature_dim] (the
model's `model.feature_dim`; NaN/inf become 0 as in preprocessing); without them the utterance has
no frames, as text-only data. The text and loader settings come from the folder's run.json (written
by the train stage) where it records them, otherwise from the `text` and `loader` groups of --params.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from unimse_core.config import ConfigError, EvaluateConfig, LoaderConfig, TextConfig, from_dict, read_params

PathOption = click.Path(path_type=Path)
RUN_FILE = "run.json"


@click.command()
@click.option("--model", "model_dir", type=PathOption, required=True, help="model folder (train stage --out)")
@click.option("--text", required=True, help="the utterance")
@click.option("--audio", type=PathOption, default=None, help=".npy audio frames [frames, feature_dim]")
@click.option("--video", type=PathOption, default=None, help=".npy video frames [frames, feature_dim]")
@click.option("--json", "as_json", is_flag=True, help="print a JSON object instead of a table")
@click.option("--constrained/--no-constrained", default=True, show_default=True,
              help="decode within the universal-label grammar (every output parses)")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--params", type=PathOption, default=Path("params.yaml"), show_default=True,
              help="text and loader settings where the model folder's run.json has none")
def command(model_dir: Path, text: str, audio: Path | None, video: Path | None, as_json: bool, constrained: bool,
            max_new_tokens: int, device: str, params: Path) -> None:
    """Print the universal label of one utterance (text, optional audio and video .npy files)."""
    from unimse_core.evaluation import (check_model_folder, predict_split, single_worker, universal_label,
                                        utterance_arrays)
    from unimse_core.model import load_model  # heavy imports at run time only
    from unimse_core.tokenizer import load_tokenizer
    from unimse_core.training import runtime

    from transformers.utils import logging as transformers_logging

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
    try:
        tokenizer = load_tokenizer(model_dir)
        model = load_model(model_dir)
    except (OSError, ValueError) as err:
        raise click.ClickException(f"{model_dir}: cannot load the model: {err}") from None
    dim = model.config.feature_dim
    arrays = utterance_arrays(text, prefix=text_config.prefix, audio=_frames(audio, "audio", dim),
                              video=_frames(video, "video", dim), feature_dim=dim)
    try:
        generated = predict_split(model, arrays, tokenizer, single_worker(loader_config), runtime(config),
                                  max_new_tokens=config.max_new_tokens, constrained=config.constrained,
                                  score_decimals=text_config.score_decimals)[0]
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    label = {"input": arrays.inputs[0], **universal_label(generated), "constrained": constrained}
    if as_json:
        click.echo(json.dumps(label, ensure_ascii=False))
        return
    for name, key in (("polarity", "polarity"), ("score", "score"), ("MELD emotion", "meld_emotion"),
                      ("IEMOCAP emotion", "iemocap_emotion")):
        click.echo(f"{name:<16}{'?' if label[key] is None else label[key]}")
    if not label["valid"]:
        click.echo(f"the output {generated!r} does not parse: {label['reason']}", err=True)


def _settings(model_dir: Path, params: Path) -> tuple[TextConfig, LoaderConfig]:
    """The `text` and `loader` configs of the model's run (run.json), else of `params`."""
    configs: dict[str, Any] = {}
    run_file = model_dir / RUN_FILE
    if run_file.is_file():
        try:
            configs = json.loads(run_file.read_text(encoding="utf-8")).get("configs", {})
        except (ValueError, AttributeError) as err:
            raise click.ClickException(f"{run_file}: not a run description: {err}") from None
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
