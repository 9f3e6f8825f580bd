"""Benchmark of `unimse predict` on a file against one process call per utterance, in the same run.

    python -m bench.predict [--rows 1000] [--calls 10] [--batch-size 64] [--tmp DIR]

1. A model folder as the train stage writes it, with random weights: the `model` group of
   params.yaml (the embedded default's sizes), a scratch tokenizer trained with the `tokenizer`
   group on generated texts, and a run.json holding the `text` and `loader` groups.
2. `--rows` utterances of 3-12 words, written as a CSV.
3. The file path: one process, `unimse predict --input rows.csv --output labels.csv`, timed from
   start to exit (start-up, model loading, batched constrained decoding and writing included).
4. One process per utterance: `unimse predict --text ...` for the first `--calls` utterances, each
   timed from start to exit. Running all `--rows` of them would take far longer than the rest
   of the benchmark, so the per-call mean is extrapolated to `--rows` calls (per row, linear:
   each call does the same work). The labels these calls print are checked against the file's.

file_vs_calls = rows/s of the file path / rows/s of one call per utterance (goal, issue 16: >= 20).
Both use the same machine at the same time; absolute figures depend on its load. The last line
printed is one JSON object.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from unimse_core.config import LoaderConfig, ModelConfig, TextConfig, TokenizerConfig, load_config, read_params

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("the", "movie", "was", "really", "good", "bad", "boring", "great", "plot", "actor", "i", "loved", "hated",
         "it", "not", "so", "funny", "sad", "scene", "music", "okay", "terrible", "superb", "story")


def make_model(folder: Path, params: dict, texts: list[str]) -> None:
    """A random model of the params.yaml sizes, saved as the train stage saves it, with a run.json."""
    import torch

    from unimse_core.config import to_dict
    from unimse_core.io.model_folder import write_run
    from unimse_core.model import build_model, save_model
    from unimse_core.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(texts, load_config(TokenizerConfig, "tokenizer", params))
    torch.manual_seed(0)
    save_model(build_model(load_config(ModelConfig, "model", params), tokenizer), folder, tokenizer)
    configs = {"text": to_dict(load_config(TextConfig, "text", params)),
               "loader": to_dict(load_config(LoaderConfig, "loader", params))}
    write_run(folder, {"configs": configs, "run_id": "bench-random"})


def unimse(*args: str) -> tuple[float, str]:
    """Run `unimse ARGS` in a fresh process; (wall seconds, stdout)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "stages.cli", *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if result.returncode:
        raise click.ClickException(f"unimse {' '.join(args[:3])} ... failed:\n{result.stdout}\n{result.stderr}")
    return seconds, result.stdout


@click.command()
@click.option("--rows", "n_rows", type=click.IntRange(min=10), default=1000, show_default=True)
@click.option("--calls", type=click.IntRange(min=1), default=10, show_default=True,
              help="process calls timed (one utterance each), extrapolated to --rows")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--params", "params_path", type=click.Path(path_type=Path), default=ROOT / "params.yaml",
              show_default=True)
@click.option("--tmp", type=click.Path(path_type=Path), default=None, help="work folder (default: a temporary one)")
def main(n_rows: int, calls: int, batch_size: int, params_path: Path, tmp: Path | None) -> None:
    params = read_params(params_path)
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(3, 13)))) for _ in range(n_rows)]
    with tempfile.TemporaryDirectory(dir=tmp) as work:
        work_dir = Path(work)
        prefix = load_config(TextConfig, "text", params).prefix
        make_model(work_dir / "model", params, [prefix + t for t in texts] + ["positive,1.25,joy,joy",
                                                                               "negative,-2.4,sadness,anger"])
        with (work_dir / "rows.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text"])
            writer.writerows([[f"u{i}", t] for i, t in enumerate(texts)])
        model = str(work_dir / "model")
        file_seconds, _ = unimse("predict", "--model", model, "--input", str(work_dir / "rows.csv"),
                                 "--output", str(work_dir / "labels.csv"), "--batch-size", str(batch_size))
        with (work_dir / "labels.csv").open(encoding="utf-8", newline="") as handle:
            labels = list(csv.DictReader(handle))
        if len(labels) != n_rows:
            raise click.ClickException(f"the file path wrote {len(labels)} labels for {n_rows} rows")
        per_call, agree = [], 0
        for i in range(calls):
            seconds, out = unimse("predict", "--model", model, "--text", texts[i], "--json")
            per_call.append(seconds)
            agree += json.loads(out.strip().splitlines()[-1])["generated"] == labels[i]["generated"]
    file_rate = n_rows / file_seconds
    call_mean = statistics.fmean(per_call)
    call_rate = 1.0 / call_mean
    figures = {"rows": n_rows, "batch_size": batch_size, "file_seconds": round(file_seconds, 2),
               "file_rows_per_s": round(file_rate, 1), "calls_timed": calls,
               "call_seconds_mean": round(call_mean, 3), "call_seconds_median": round(statistics.median(per_call), 3),
               "calls_rows_per_s": round(call_rate, 3),
               "calls_seconds_for_all_rows_extrapolated": round(call_mean * n_rows, 1),
               "calls_agreeing_with_file": f"{agree}/{calls}",
               "file_vs_calls": round(file_rate / call_rate, 1), "goal": 20}
    click.echo(f"file path: {n_rows} rows in {file_seconds:.1f} s ({file_rate:.1f} rows/s); one process per "
               f"utterance: {call_mean:.2f} s each over {calls} calls ({call_rate:.3f} rows/s, about "
               f"{call_mean * n_rows / 60:.0f} min for {n_rows} rows, extrapolated); {agree}/{calls} calls gave "
               "the file's label")
    click.echo(json.dumps(figures))


if __name__ == "__main__":
    main()
