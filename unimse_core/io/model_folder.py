"""The model folder: the one owner of its layout (what the train stage writes to `models/selected`,
what `save_model` writes, and what evaluation, `unimse predict`, `unimse package` and the report read).

A model folder holds
- T5's own files, written by `save_pretrained` (loadable by `T5ForConditionalGeneration.from_pretrained`):
  `config.json` and the weights (`model.safetensors`, or a sharded index, or an older `pytorch_model.bin`);
- `unimse.safetensors`: the weights that are not T5's (PMF, LSTM encoders, contrastive projections);
- `unimse.json`: `{"format": "unimse-model", "schema_version": 1, "model": <the model params>,
  "versions": {...}}`, checked when the model loads;
- the tokenizer's files (`tokenizer_config.json`, and `tokenizer.json` or `spiece.model`);
- from the train stage only, `run.json`: `{"configs": {"model", "train", "loader", "text"},
  "label_layout", "world_size", "numerics", "versions", "run_id"}` (the text settings the inputs were
  built with, so that `unimse predict` builds them the same way; `label_layout` the datasets whose
  universal-label layout the model generates, as the merged file records it; `run_id` names the run in
  the model card).

Every caller goes through the names and functions here; nothing else spells a file name of the folder.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FORMAT = "unimse-model"
SCHEMA_VERSION = 1
EXTRA_WEIGHTS = "unimse.safetensors"  # PMF, LSTM encoders and contrastive projections
EXTRA_CONFIG = "unimse.json"  # the resolved ModelConfig, schema version and library versions
RUN_FILE = "run.json"  # the train stage's record of the run
T5_CONFIG = "config.json"
T5_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")

# What a complete folder holds (one name of each tuple), in the order a missing file is reported.
REQUIRED_FILES: tuple[tuple[str, ...], ...] = (
    (EXTRA_CONFIG,), (EXTRA_WEIGHTS,), (T5_CONFIG,), T5_WEIGHTS,
    ("tokenizer_config.json",), ("tokenizer.json", "spiece.model"))


def check_model_folder(folder: str | Path) -> None:
    """FileNotFoundError naming the first file of a saved model (weights, configs, tokenizer) that is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: model folder not found")
    for names in REQUIRED_FILES:
        if not any((folder / name).is_file() for name in names):
            raise FileNotFoundError(f"{folder / names[0]}: missing model file"
                                    + (f" (or {', '.join(names[1:])})" if len(names) > 1 else "")
                                    + "; expected a folder written by the train stage")


def write_extra_config(folder: str | Path, model: Mapping[str, Any], versions: Mapping[str, Any]) -> None:
    """unimse.json: the model params (plain data), this layout's format and schema, the library versions."""
    meta = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "model": dict(model), "versions": dict(versions)}
    (Path(folder) / EXTRA_CONFIG).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_extra_config(folder: str | Path) -> dict[str, Any]:
    """unimse.json of `folder`, checked: a ValueError naming the file when it is another format or schema."""
    path = Path(folder) / EXTRA_CONFIG
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("schema_version") != SCHEMA_VERSION:
        found = meta if isinstance(meta, dict) else {}
        raise ValueError(f"{path}: not a {FORMAT} checkpoint of schema {SCHEMA_VERSION} (format "
                         f"{found.get('format')!r}, schema {found.get('schema_version')!r})")
    if not isinstance(meta.get("model"), dict):
        raise ValueError(f"{path}: expected the model params under \"model\", got {meta.get('model')!r}")
    return meta


def write_run(folder: str | Path, run: Mapping[str, Any]) -> None:
    """run.json (the train stage's record: configs, label_layout, world_size, numerics, versions, run_id)."""
    (Path(folder) / RUN_FILE).write_text(json.dumps(dict(run), indent=2) + "\n")


def read_run(folder: str | Path, *, required: bool = False) -> dict[str, Any] | None:
    """run.json of `folder` as a mapping; None where the folder has none (a model saved outside the train
    stage) unless `required`. A file that is not a JSON object is a ValueError naming it."""
    path = Path(folder) / RUN_FILE
    if not path.is_file():
        if required:
            raise FileNotFoundError(errno.ENOENT, "no run record (expected a folder written by the train stage)",
                                    str(path))
        return None
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a run description: {err}") from None
    if not isinstance(run, dict):
        raise ValueError(f"{path}: not a run description: expected a JSON object, got {type(run).__name__}")
    if not isinstance(run.get("configs", {}), dict):
        raise ValueError(f"{path}: not a run description: \"configs\" must be an object")
    layout = run.get("label_layout", [])
    if not isinstance(layout, list) or not all(isinstance(name, str) for name in layout):
        raise ValueError(f"{path}: not a run description: \"label_layout\" must be a list of dataset names, "
                         f"got {layout!r}")
    return run


def run_label_layout(run: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    """The datasets of the universal-label layout a run's model generates (run.json's `label_layout`, a run
    read by `read_run`); None where the folder has no run.json or its run.json predates the record."""
    if run is None or "label_layout" not in run:
        return None
    return tuple(run["label_layout"])


def weight_files(folder: str | Path) -> list[Path]:
    """The weight files that identify a model without a run record (T5's, then UniMSE's own)."""
    folder = Path(folder)
    return [folder / T5_WEIGHTS[0], folder / EXTRA_WEIGHTS]


__all__ = ["EXTRA_CONFIG", "EXTRA_WEIGHTS", "FORMAT", "REQUIRED_FILES", "RUN_FILE", "SCHEMA_VERSION", "T5_CONFIG",
           "T5_WEIGHTS", "check_model_folder", "read_extra_config", "read_run", "run_label_layout", "weight_files",
           "write_extra_config", "write_run"]
