"""Ablation on the synthetic default: does the full model use the planted audio and video signal?

    python -m bench.ablation [--epochs N] [--merged data/merged.h5] [--tokenizer models/tokenizer]
                             [--params params.yaml]

Trains two models on the embedded default's merged data (run `dvc repro tokenizer` first), with
params.yaml as it is except for the ablation switches, side by side (two processes, one thread
each, so that 2 cores serve both alike):
- `full`: params.yaml (PMF on audio and video, contrastive terms);
- `text`: `model.fusion: none`, `model.contrastive: false` (the text-only ablation).
Early stopping is off so that both run every epoch. The synthetic labels mix text with audio and
video (docs/synthetic.md), so a model that fuses them should do better on the dev set.

Reports, from the dvclive logs of each run, the dev selection scalar at its best epoch and on
average over the last half of the epochs (less noisy than one epoch), and the per-dataset dev
figures (MAE for MOSI/MOSEI, weighted F1 for MELD/IEMOCAP) at the best epoch. The last line
printed is one JSON object; `select_gain` = best select of full minus that of text.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import yaml

from unimse_core.config import read_params

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"full": {}, "text": {"fusion": "none", "contrastive": False}}
FIGURES = {"mosi": "MAE", "mosei": "MAE", "meld": "weighted_f1", "iemocap": "weighted_f1"}


def series(live: Path, name: str) -> list[float]:
    path = live / "plots" / "metrics" / f"{name}.tsv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [float(row[name.rsplit("/", 1)[-1]]) for row in csv.DictReader(f, delimiter="\t")]


@click.command()
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="default: train.epochs of params.yaml")
@click.option("--merged", type=click.Path(path_type=Path), default=ROOT / "data" / "merged.h5", show_default=True)
@click.option("--tokenizer", type=click.Path(path_type=Path), default=ROOT / "models" / "tokenizer",
              show_default=True)
@click.option("--params", "params_path", type=click.Path(path_type=Path), default=ROOT / "params.yaml",
              show_default=True)
def main(epochs: int | None, merged: Path, tokenizer: Path, params_path: Path) -> None:
    for path in (merged, tokenizer):
        if not path.exists():
            raise click.ClickException(f"{path} is missing: run `dvc repro tokenizer` first")
    params = read_params(params_path)
    epochs = epochs or params["train"]["epochs"]
    with tempfile.TemporaryDirectory(prefix="ablation-") as tmp:
        runs, started = {}, time.perf_counter()
        for name, changes in VARIANTS.items():
            folder = Path(tmp) / name
            folder.mkdir()
            variant = {**params, "model": {**params["model"], **changes},
                       "train": {**params["train"], "epochs": epochs, "patience": 0}}
            (folder / "params.yaml").write_text(yaml.safe_dump(variant, sort_keys=False))
            command = [sys.executable, "-m", "stages.cli", "train", "--merged", merged, "--tokenizer", tokenizer,
                       "--checkpoints", folder / "checkpoints", "--out", folder / "selected",
                       "--summary", folder / "train.json", "--live", folder / "live",
                       "--params", folder / "params.yaml"]
            runs[name] = subprocess.Popen([str(c) for c in command], cwd=ROOT, stdout=subprocess.DEVNULL,
                                          env={**os.environ, "OMP_NUM_THREADS": "1"})
        for name, process in runs.items():
            if process.wait() != 0:
                raise click.ClickException(f"the {name} run failed (exit {process.returncode})")
        seconds = time.perf_counter() - started
        out: dict[str, object] = {"epochs": epochs, "seconds": round(seconds, 1)}
        for name in VARIANTS:
            folder = Path(tmp) / name
            summary = json.loads((folder / "train.json").read_text())
            select = series(folder / "live", "dev/select")
            late = select[len(select) // 2:]
            out[f"select_{name}"] = round(summary["best_select"], 4)
            out[f"best_epoch_{name}"] = summary["best_epoch"]
            out[f"select_late_mean_{name}"] = round(sum(late) / len(late), 4)
            for dataset, figure in FIGURES.items():
                if dataset in summary["dev"]:
                    out[f"dev_{dataset}_{figure.lower()}_{name}"] = round(summary["dev"][dataset][figure], 4)
            out[f"select_series_{name}"] = [round(v, 4) for v in select]
    out["select_gain"] = round(out["select_full"] - out["select_text"], 4)
    out["select_late_gain"] = round(out["select_late_mean_full"] - out["select_late_mean_text"], 4)
    click.echo(json.dumps(out))


if __name__ == "__main__":
    main()
