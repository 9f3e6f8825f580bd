"""Real-text benchmark: does the pipeline learn from the real MOSI, MOSEI and MELD texts?

    python -m bench.realtext [--minutes 30] [--data ../shared/data] [--workdir DIR] [--variant emorynlp]

Runs the whole pipeline, stage by stage as `dvc repro` would, on the real texts and labels of
../shared/data in text-only mode (no audio or video exists there), with the params of
params.yaml changed by `REALTEXT` below and nothing else (docs/realtext.md gives the same change
as `dvc exp run -S` overrides): fetch and verify, universal labels (TF-IDF neighbours), preprocess,
merge (MOSELD: MOSI + MOSEI + MELD), the scratch tokenizer and T5, training for `--minutes` of
optimiser steps (`train.max_minutes`; dev evaluation not counted), then the test evaluation.
`--variant emorynlp` adds EmoryNLP (text-only, a fifth dataset: data.datasets and
merge.combination moseld+emorynlp, `EMORYNLP` below) and reports it beside its baselines.

Baselines on the same splits, computed in the same run:
- the mean predictor (MOSI, MOSEI: the training mean) and the majority class (MELD, EmoryNLP);
- TF-IDF of the utterance (word 1-2 grams) with ridge regression (MOSI, MOSEI) or multinomial
  logistic regression (MELD, EmoryNLP), the regularisation picked on the dev split from a small grid.
All numbers use the metric code of the evaluation (unimse_core.metrics).

Without the data folder it prints why and a JSON line with `skipped`, and exits 0. The last line
printed is one JSON object.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import yaml

from unimse_core.config import read_params

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DATASETS = ("mosi", "mosei", "meld")
# raw-folder layout of docs/raw-data.md: path in the raw folder -> path in the data folder
FILES = {"mosi/label.csv": "mosi/label.csv", "mosei/label.csv": "mosei/label.csv",
         **{f"meld/{name}_sent_emo.csv": f"meld/{name}_sent_emo.csv" for name in ("train", "dev", "test")}}
EMORYNLP_FILES = {f"emorynlp/emorynlp_{name}_final.csv": f"emorynlp/emorynlp_{name}_final.csv"
                  for name in ("train", "dev", "test")}

# The variant: params.yaml with these values (group -> key -> value). `train.max_minutes` comes
# from --minutes. Kept in step with docs/realtext.md (a test checks that every key exists).
REALTEXT: dict[str, dict[str, Any]] = {
    "data": {"source": "local", "datasets": list(DATASETS), "text_only": True},
    "embed": {"encoder": "tfidf"},
    "merge": {"combination": "moseld"},
    "tokenizer": {"vocab_size": 4000},
    "model": {"fusion": "none", "contrastive": False},
    "train": {"epochs": 100, "patience": 0},
    "loader": {"bucket_size": 8},  # MOSEI utterances vary a lot in length: less padding, faster steps
}

# The EmoryNLP variant: REALTEXT plus these values (docs/realtext.md).
EMORYNLP: dict[str, dict[str, Any]] = {
    "data": {"datasets": [*DATASETS, "emorynlp"]},
    "merge": {"combination": "moseld+emorynlp"},
}
VARIANTS: dict[str, tuple[dict[str, dict[str, Any]], ...]] = {"moseld": (REALTEXT,), "emorynlp": (REALTEXT, EMORYNLP)}

RIDGE_ALPHAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
LOGISTIC_CS = (1.0, 3.0, 10.0, 30.0, 100.0)


def variant_params(minutes: float, variant: str = "moseld") -> dict[str, Any]:
    params = read_params(ROOT / "params.yaml")
    for change in VARIANTS[variant]:
        for group, values in change.items():
            params[group].update(values)
    params["train"]["max_minutes"] = minutes
    return params


def run_stage(name: str, *args: Any) -> None:
    """One stage command, in this process, as `unimse <name> ...` runs it."""
    from stages.cli import main as cli

    started = time.perf_counter()
    try:
        cli.main(args=[name, *(str(a) for a in args)], standalone_mode=False)
    except click.ClickException as err:
        raise SystemExit(f"bench.realtext: stage {name} failed: {err.format_message()}") from None
    click.echo(f"[{name}: {time.perf_counter() - started:.0f} s]", err=True)


def variant_files(variant: str) -> dict[str, str]:
    return {**FILES, **(EMORYNLP_FILES if variant == "emorynlp" else {})}


def pipeline(work: Path, data: Path, minutes: float, variant: str = "moseld") -> dict[str, Any]:
    params = variant_params(minutes, variant)
    raw = work / "raw"
    for rel, source in variant_files(variant).items():
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data / source, raw / rel)
    p = work / "params.yaml"
    p.write_text(yaml.safe_dump(params, sort_keys=False))
    report = work / "verified.json"
    run_stage("fetch", "--synthetic-dir", work / "unused", "--synthetic-manifest", work / "unused.json",
              "--local-dir", raw, "--manifest", ROOT / "manifests" / "authors.json", "--report", report,
              "--params", p)
    run_stage("embed", "--report", report, "--out", work / "embeddings", "--params", p)
    run_stage("labels", "--report", report, "--embeddings", work / "embeddings", "--out", work / "labels",
              "--summary", work / "labels.json", "--params", p)
    for dataset in params["data"]["datasets"]:
        run_stage("preprocess", "--dataset", dataset, "--report", report, "--labels",
                  work / "labels" / f"{dataset}.csv", "--out", work / "processed" / f"{dataset}.h5", "--params", p)
    merged = work / "merged.h5"
    run_stage("merge", "--processed", work / "processed", "--out", merged, "--summary", work / "merge.json",
              "--params", p)
    run_stage("tokenizer", "--merged", merged, "--out", work / "tokenizer", "--params", p)
    run_stage("train", "--merged", merged, "--tokenizer", work / "tokenizer", "--checkpoints", work / "checkpoints",
              "--out", work / "selected", "--summary", work / "train.json", "--live", work / "dvclive",
              "--timings", work / "timings.json", "--params", p)
    started = time.perf_counter()
    run_stage("evaluate", "--model", work / "selected", "--merged", merged, "--predictions", work / "predictions",
              "--metrics", work / "test.json", "--params", p)
    return {"test": json.loads((work / "test.json").read_text()), "train": json.loads((work / "train.json").read_text()),
            # the optimiser-step time that train.max_minutes budgets: in the untracked timings file
            "train_seconds": json.loads((work / "timings.json").read_text()).get("train_seconds", 0.0),
            "evaluate_seconds": time.perf_counter() - started}


def utterance(text: str, prefix: str) -> str:
    """The utterance itself out of a model input: MOSI/MOSEI inputs are prefix + utterance; a MELD
    input is a context window with the utterance between the two `</s>` markers."""
    body = text[len(prefix):] if text.startswith(prefix) else text
    parts = body.split("</s>")
    return parts[1].strip() if len(parts) == 3 else body.strip()


def baselines(merged: Path, prefix: str, datasets: tuple[str, ...] = DATASETS) -> dict[str, float]:
    """Mean/majority and TF-IDF baselines, trained on the merged training split of each dataset,
    tuned on its dev rows, scored on its test group."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge

    from unimse_core.datasets import get as dataset_of
    from unimse_core.io.hdf5 import read_h5
    from unimse_core.metrics import CLASSES, classification_metrics, msa_metrics

    train, valid = read_h5(merged, "train"), read_h5(merged, "valid")
    out: dict[str, float] = {}
    for dataset in datasets:
        rows = [np.flatnonzero(np.asarray(a.dataset) == dataset) for a in (train, valid)]
        test = read_h5(merged, f"test/{dataset}")
        texts = [[utterance(a.inputs[i], prefix) for i in r] for a, r in zip((train, valid), rows)]
        test_texts = [utterance(t, prefix) for t in test.inputs]
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        x_train = vectorizer.fit_transform(texts[0])
        x_dev, x_test = vectorizer.transform(texts[1]), vectorizer.transform(test_texts)
        if dataset_of(dataset).kind == "score":
            y_train, y_dev = (np.asarray(a.gold_score, dtype=np.float64)[r] for a, r in zip((train, valid), rows))
            y_test = np.asarray(test.gold_score, dtype=np.float64)
            mean = np.full(len(y_test), y_train.mean())
            out[f"{dataset}_mae_mean"] = msa_metrics(mean, y_test)["MAE"]
            alpha = min(RIDGE_ALPHAS, key=lambda a: np.abs(Ridge(alpha=a).fit(x_train, y_train).predict(x_dev)
                                                           - y_dev).mean())
            predicted = Ridge(alpha=alpha).fit(x_train, y_train).predict(x_test)
            scores = msa_metrics(predicted, y_test)
            out[f"{dataset}_mae_tfidf"], out[f"{dataset}_acc7_tfidf"] = scores["MAE"], scores["Mult_acc_7"]
            out[f"{dataset}_ridge_alpha"] = alpha
        else:
            y_train, y_dev = (np.asarray(a.gold_emotion)[r] for a, r in zip((train, valid), rows))
            y_test = np.asarray(test.gold_emotion)
            labels, counts = np.unique(y_train, return_counts=True)
            majority = np.full(len(y_test), labels[np.argmax(counts)])
            out[f"{dataset}_weighted_f1_majority"] = classification_metrics(list(majority), list(y_test), CLASSES[dataset])["weighted_f1"]

            def fit(c: float) -> LogisticRegression:
                return LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)

            c = max(LOGISTIC_CS, key=lambda c: classification_metrics(list(fit(c).predict(x_dev)), list(y_dev),
                                                                       CLASSES[dataset])["weighted_f1"])
            out[f"{dataset}_weighted_f1_tfidf"] = classification_metrics(list(fit(c).predict(x_test)),
                                                                         list(y_test), CLASSES[dataset])["weighted_f1"]
            out[f"{dataset}_logistic_c"] = c
    return out


@click.command()
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="minutes of optimiser steps (train.max_minutes)")
@click.option("--data", type=click.Path(path_type=Path), default=DATA, show_default=True,
              help="folder of the real label files")
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="keep every output here (default: a temporary folder, removed)")
@click.option("--variant", type=click.Choice(list(VARIANTS)), default="moseld", show_default=True,
              help="moseld: MOSI + MOSEI + MELD; emorynlp: the same plus EmoryNLP")
def main(minutes: float, data: Path, workdir: Path | None, variant: str) -> None:
    missing = [rel for rel in variant_files(variant).values() if not (data / rel).is_file()]
    if missing:
        reason = f"real data absent: {', '.join(str(data / m) for m in missing)} (see docs/realtext.md)"
        click.echo(f"bench.realtext skipped: {reason}")
        click.echo(json.dumps({"skipped": reason}))
        return
    import torch

    click.echo(f"bench.realtext: {minutes:g} minutes of training on {torch.get_num_threads()} threads", err=True)
    with tempfile.TemporaryDirectory(prefix="realtext-") as tmp:
        work = workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        ours = pipeline(work, data, minutes, variant)
        base = baselines(work / "merged.h5", variant_params(minutes)["text"]["prefix"],
                         (*DATASETS, "emorynlp") if variant == "emorynlp" else DATASETS)
        total = time.perf_counter() - started
    test, train = ours["test"], ours["train"]
    figures = {
        "mosei_mae": test["mosei"]["MAE"], "mosei_mae_tfidf": base["mosei_mae_tfidf"],
        "mosei_mae_mean": base["mosei_mae_mean"],
        "mosi_mae": test["mosi"]["MAE"], "mosi_mae_tfidf": base["mosi_mae_tfidf"], "mosi_mae_mean": base["mosi_mae_mean"],
        "meld_weighted_f1": test["meld"]["weighted_f1"], "meld_weighted_f1_tfidf": base["meld_weighted_f1_tfidf"],
        "meld_weighted_f1_majority": base["meld_weighted_f1_majority"],
        **({"emorynlp_weighted_f1": test["emorynlp"]["weighted_f1"],
            "emorynlp_weighted_f1_tfidf": base["emorynlp_weighted_f1_tfidf"],
            "emorynlp_weighted_f1_majority": base["emorynlp_weighted_f1_majority"],
            "emorynlp_acc": test["emorynlp"]["acc"]} if variant == "emorynlp" else {}),
        "unparsable": sum(int(t["unparsable"]) for t in test.values()),
        "mosi_acc7": test["mosi"]["Mult_acc_7"], "mosei_acc7": test["mosei"]["Mult_acc_7"],
        "mosi_acc7_tfidf": base["mosi_acc7_tfidf"], "mosei_acc7_tfidf": base["mosei_acc7_tfidf"],
        "mosi_corr": test["mosi"]["Corr"], "mosei_corr": test["mosei"]["Corr"], "meld_acc": test["meld"]["acc"],
        "train_minutes": round(ours["train_seconds"] / 60, 2), "steps": train["steps"],
        "epochs_run": train["epochs_run"], "best_epoch": train["best_epoch"], "train_rows": train["train_rows"],
        "evaluate_seconds": round(ours["evaluate_seconds"], 1), "total_seconds": round(total, 1),
        "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "ridge_alpha": {d: base[f"{d}_ridge_alpha"] for d in ("mosi", "mosei")},
        "logistic_c": base["meld_logistic_c"],
    }
    click.echo(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
