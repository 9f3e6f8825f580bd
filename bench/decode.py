"""Benchmark of constrained decoding: its cost next to free decoding, same rows and model, one run.

    python -m bench.decode [--rows 8] [--max-new-tokens 24] [--repeats 3] [--threads N] [--device auto]

The model is the t5-base stand-in (bench/standins.py: t5-base's configuration, random weights,
vocabulary 32,128) inside UniMSE with the params.yaml `model` group's fusion; the tokenizer is the
SentencePiece stand-in (32,000 pieces and 100 extra ids), trained here on the rows' texts. The rows
are MOSI-style inputs with audio and video frames, one batch. Free and constrained greedy
generation (unimse_core/constrained.py) alternate, `--repeats` times each after one untimed call of
each, so that load from other processes weighs on both alike.

Figures: `constrained_overhead` = median constrained time / median free time (goal <= 1.3);
since a random model decoding freely may stop at another length than the grammar lets it,
`step_overhead` is the same ratio per generated step; `constraint_build_s` is the one-off cost of
the automaton and its tables for the 32k vocabulary (once per evaluation, not per batch);
`processor_ms_per_step` times the logits processor alone over a walk on random scores. The last
line printed is one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import click
import numpy as np
import torch

GOAL = 1.3
ROOT = Path(__file__).resolve().parents[1]
WORDS = ("the movie was good", "a plain and boring plot", "what a wonderful surprise", "i hated every minute",
         "it was fine i guess", "the actors did well", "not my kind of story", "we laughed a lot")


def rows_texts(rows: int) -> list[str]:
    return [f"sst2 sentence: {WORDS[i % len(WORDS)]} {i}" for i in range(rows)]


def batch_of(tokenizer, texts: list[str], feature_dim: int, seed: int = 0) -> dict[str, torch.Tensor]:
    from unimse_core.data import collate

    rng = np.random.default_rng(seed)
    items = []
    for i, text in enumerate(texts):
        items.append({"index": i, "input_ids": np.asarray(tokenizer(text)["input_ids"], dtype=np.int32),
                      "labels": np.asarray([tokenizer.eos_token_id], dtype=np.int32),
                      "audio": rng.standard_normal((int(rng.integers(20, 40)), feature_dim), dtype=np.float32),
                      "video": rng.standard_normal((int(rng.integers(5, 15)), feature_dim), dtype=np.float32)})
    return collate(items, pad_token_id=tokenizer.pad_token_id)


@click.command()
@click.option("--rows", type=click.IntRange(1), default=8, show_default=True, help="rows of the batch")
@click.option("--max-new-tokens", type=click.IntRange(17), default=24, show_default=True)
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True, help="timed calls of each")
@click.option("--threads", type=click.IntRange(1), default=None, help="torch threads (default: torch's)")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
def main(rows: int, max_new_tokens: int, repeats: int, threads: int | None, device: str) -> None:
    from transformers import T5Config, T5ForConditionalGeneration, T5TokenizerFast

    from bench.standins import T5_BASE_CONFIG, write_t5_tokenizer
    from unimse_core.config import ModelConfig, load_config
    from unimse_core.constrained import LabelConstraint
    from unimse_core.model import UniMSE
    from unimse_core.training import to_device

    if threads:
        torch.set_num_threads(threads)
    dev = torch.device("cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu")
    texts = rows_texts(rows)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        write_t5_tokenizer(tmp, texts)
        tokenizer = T5TokenizerFast.from_pretrained(tmp)
        click.echo(f"tokenizer: {len(tokenizer)} tokens in {time.perf_counter() - started:.1f} s")
    config = load_config(ModelConfig, "model", ROOT / "params.yaml")
    torch.manual_seed(0)
    model = UniMSE(T5ForConditionalGeneration(T5Config(**T5_BASE_CONFIG)), config).to(dev).eval()
    batch = to_device(batch_of(tokenizer, texts, config.feature_dim), dev)

    started = time.perf_counter()
    constraint = LabelConstraint(tokenizer, score_decimals=2, max_new_tokens=max_new_tokens)
    build = time.perf_counter() - started
    click.echo(f"constraint: {constraint.transitions.shape[0]} automaton states x {constraint.transitions.shape[1]} "
               f"tokens in {build:.2f} s")

    def run(constrained: bool) -> tuple[float, int]:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        started = time.perf_counter()
        out = model.generate(batch, max_new_tokens=max_new_tokens, constrained=constraint if constrained else None)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return time.perf_counter() - started, out.shape[1] - 1

    times: dict[bool, list[float]] = {False: [], True: []}
    steps: dict[bool, int] = {}
    with torch.inference_mode():
        run(False), run(True)  # untimed: first-call costs, the tables moved to the device
        for i in range(repeats):
            for constrained in ((False, True) if i % 2 == 0 else (True, False)):
                seconds, steps[constrained] = run(constrained)
                times[constrained].append(seconds)
                click.echo(f"{'constrained' if constrained else 'free':>11}: {seconds:.3f} s, "
                           f"{steps[constrained]} steps")
        # the constraint alone: a walk of max_new_tokens steps on random scores as wide as T5's
        generator = torch.Generator().manual_seed(0)
        ids = torch.zeros((rows, 1), dtype=torch.long, device=dev)
        started = time.perf_counter()
        for _ in range(max_new_tokens):
            scores = constraint(ids, torch.randn((rows, T5_BASE_CONFIG["vocab_size"]), generator=generator).to(dev))
            ids = torch.cat([ids, scores.argmax(dim=1, keepdim=True)], dim=1)
        processor_ms = 1000 * (time.perf_counter() - started) / max_new_tokens
    free, constrained = statistics.median(times[False]), statistics.median(times[True])
    out = {"constrained_overhead": round(constrained / free, 3),
           "step_overhead": round((constrained / steps[True]) / (free / steps[False]), 3),
           "goal": GOAL, "free_s": round(free, 4), "constrained_s": round(constrained, 4),
           "free_steps": steps[False], "constrained_steps": steps[True], "constraint_build_s": round(build, 3),
           "processor_ms_per_step": round(processor_ms, 3),
           # the processor's own time per call over a free call: robust to other processes' load
           "processor_overhead": round(1 + processor_ms * steps[True] / 1000 / free, 4),
           "automaton_states": int(constraint.transitions.shape[0]), "tokenizer_tokens": len(tokenizer),
           "vocab": T5_BASE_CONFIG["vocab_size"], "rows": rows, "max_new_tokens": max_new_tokens,
           "repeats": repeats, "device": dev.type, "threads": torch.get_num_threads(),
           "load_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    click.echo(json.dumps(out))


if __name__ == "__main__":
    main()
