"""A tiny training setup shared by tests/test_training.py, tests/test_ddp.py and tests/ddp_worker.py.

`write_inputs(folder)` writes what the train stage reads: a merged HDF5 file of a few dozen rows
(MOSI and MELD rows, a planted word per label, features of width FEATURE_DIM) and a scratch
tokenizer trained on its training texts. `params(**groups)` is a params.yaml with a model small
enough that an epoch takes a fraction of a second on one CPU core. Not a test module (no `test_`
prefix); pytest puts tests/ on sys.path, and so does running tests/ddp_worker.py as a script.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
import yaml

from unimse_core.config import TokenizerConfig, from_dict
from unimse_core.io.hdf5 import SplitArrays, pack_sequences, write_h5
from unimse_core.model import EXTRA_WEIGHTS
from unimse_core.text import score_polarity, target
from unimse_core.tokenizer import train_tokenizer

FEATURE_DIM = 4
SCORES = (-2.0, -1.0, 0.0, 1.0, 2.0)
SCORE_WORDS = ("awful", "bad", "plain", "good", "superb")
EMOTIONS = ("neutral", "joy", "anger", "sadness")

TEXT = dict(prefix="sst2 sentence: ", window=2, causal=False, iemocap_context="dialogue", score_decimals=2)
MODEL = dict(backbone="scratch", d_model=16, d_ff=32, num_layers=2, num_decoder_layers=2, num_heads=2, d_kv=8,
             dropout_rate=0.1, feature_dim=FEATURE_DIM, lstm_hidden=4, lstm_layers=1, bidirectional=False,
             modality_dropout=0.1, fusion="both", fusion_blocks=1, pmf_bottleneck=8, pmf_init="identity",
             contrastive=True, contrastive_weight_audio=0.5, contrastive_weight_video=0.5, temperature=0.1,
             contrastive_dim=4)
TRAIN = dict(seed=0, epochs=3, max_steps=0, max_minutes=0, trainable_blocks="all", lr_t5=0.003, lr_other=0.003,
             weight_decay=0.0001, grad_clip=1.0, select_on="dev_metric", patience=0, max_new_tokens=12,
             log_every=1, device="cpu", devices=1, bf16=False, compile=False, deterministic=True,
             cpu_threads=1)
LOADER = dict(batch_size=4, eval_batch_size=16, max_input_tokens=24, max_target_tokens=20, bucket_size=0,
              drop_last=False, num_workers=0, mmap_over_mib=0)


def split(rows: dict[str, int], seed: int) -> SplitArrays:
    """`rows[d]` utterances of each dataset d (mosi, meld): the input names the label with a planted
    word, each row has 0-5 audio and 1-3 video frames whose mean also carries the label."""
    rng = np.random.default_rng(seed)
    fields: dict[str, list[Any]] = {k: [] for k in ("ids", "dataset", "inputs", "targets", "gold_score",
                                                     "gold_emotion", "polarity", "audio", "video")}
    for dataset, n in rows.items():
        for i in range(n):
            k = int(rng.integers(len(SCORES)))
            if dataset == "meld":
                emotion, score = EMOTIONS[k % len(EMOTIONS)], 0.0
                word, gold_score, gold_emotion = emotion + "ish", np.nan, emotion
            else:
                emotion, score = "neutral", SCORES[k]
                word, gold_score, gold_emotion = SCORE_WORDS[k], score, ""
            polarity = score_polarity(score)
            fields["ids"].append(f"{dataset}/{seed}/{i}")
            fields["dataset"].append(dataset)
            fields["inputs"].append(f"{TEXT['prefix']}the {word} thing {i % 3}")
            fields["targets"].append(target(polarity, score, emotion, "neu", TEXT["score_decimals"]))
            fields["gold_score"].append(gold_score)
            fields["gold_emotion"].append(gold_emotion)
            fields["polarity"].append(polarity)
            fields["audio"].append(rng.normal(k, 1.0, (int(rng.integers(0, 6)), FEATURE_DIM)).astype(np.float32))
            fields["video"].append(rng.normal(-k, 1.0, (int(rng.integers(1, 4)), FEATURE_DIM)).astype(np.float32))
    audio, audio_offset, audio_length = pack_sequences(fields.pop("audio"), FEATURE_DIM)
    video, video_offset, video_length = pack_sequences(fields.pop("video"), FEATURE_DIM)
    return SplitArrays(**fields, audio=audio, audio_offset=audio_offset, audio_length=audio_length, video=video,
                       video_offset=video_offset, video_length=video_length)


def write_inputs(folder: Path, *, train_rows: int = 24, dev_rows: int = 8, test_groups: bool = True) -> Path:
    """`folder`/merged.h5 (train, valid and, with `test_groups`, test/mosi and test/meld) and
    `folder`/tokenizer; returns `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    groups = {"train": split({"mosi": train_rows, "meld": train_rows}, seed=1),
              "valid": split({"mosi": dev_rows, "meld": dev_rows}, seed=2)}
    if test_groups:
        groups["test/mosi"] = split({"mosi": 4}, seed=3)
        groups["test/meld"] = split({"meld": 4}, seed=4)
    # the root attributes the merge stage writes, as far as the train stage reads them
    sources = {d: {"config": {"text": TEXT}, "sources": {}} for d in ("mosi", "meld")}
    write_h5(folder / "merged.h5", groups, {"combination": "tiny", "sources": sources})
    train = groups["train"]
    tokenizer = train_tokenizer([*train.inputs, *train.targets],
                                from_dict(TokenizerConfig, {"vocab_size": 200, "split_digits": True}, "tokenizer"))
    tokenizer.save_pretrained(folder / "tokenizer")
    return folder


def params(**groups: dict[str, Any]) -> dict[str, Any]:
    """The model, train and loader groups of a tiny run, each updated with `groups[name]`."""
    values = {"model": dict(MODEL), "train": dict(TRAIN), "loader": dict(LOADER)}
    for name, changes in groups.items():
        values[name].update(changes)
    return values


def write_params(path: Path, **groups: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(params(**groups), sort_keys=False))
    return path


def stage_options(inputs: Path, work: Path, params_file: Path) -> list[str]:
    """The options of dvc.yaml's train stage, with every path inside `work` (inputs from `inputs`)."""
    return ["--merged", str(inputs / "merged.h5"), "--tokenizer", str(inputs / "tokenizer"),
            "--checkpoints", str(work / "checkpoints"), "--out", str(work / "selected"),
            "--summary", str(work / "train.json"), "--live", str(work / "live"), "--params", str(params_file)]


def unimse_script() -> Path:
    """The `unimse` console script of this environment (next to the interpreter)."""
    return Path(sys.executable).with_name("unimse")


def quiet_env(**extra: str) -> dict[str, str]:
    """The environment of a training subprocess: one thread (runs share two cores), no progress bar
    escape codes, loopback-only gloo."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TERM="dumb", TOKENIZERS_PARALLELISM="false",
               PYTHONUNBUFFERED="1")
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"
    env.update(extra)
    return env


# ----------------------------------------------------------------------------------------------
# comparing runs


def selected_weights(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a selected-model folder: the T5 safetensors files and our extra weights."""
    tensors = {}
    for path in sorted(folder.glob("*.safetensors")):
        tensors.update({f"{path.name}:{k}": v for k, v in safetensors.torch.load_file(str(path)).items()})
    assert f"{EXTRA_WEIGHTS}:" in " ".join(tensors) and len(tensors) > 10, sorted(folder.iterdir())
    return tensors


def assert_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def comparable(state: dict) -> dict:
    """A training state without its wall-clock times (`train_seconds`, epoch seconds in the history)."""
    history = [{k: v for k, v in event.items() if k != "train/epoch_seconds"} for event in state["history"]]
    return {**{k: v for k, v in state.items() if k != "train_seconds"}, "history": history}
