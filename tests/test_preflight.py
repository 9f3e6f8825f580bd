"""`unimse preflight` through click's CliRunner on the tiny setup: a clean run prints its table and an
estimate, and each blocker exits non-zero naming the param to change."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from stages.preflight import command as preflight
from tiny_training import FEATURE_DIM, params as tiny_params, write_inputs
from unimse_core import preflight as core
from unimse_core.config import LoaderConfig, TrainConfig, from_dict, read_params
from unimse_core.datasets import get as get_dataset
from unimse_core.datasets.meld import EMOTIONS as MELD_EMOTIONS
from unimse_core.text import POLARITIES
from unimse_core.universal import LabelSchema

IEMOCAP_EMOTIONS = get_dataset("iemocap").words  # the target words of its codes
ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return write_inputs(tmp_path_factory.mktemp("inputs"), train_rows=6, dev_rows=2, test_groups=False)


def write_params(path: Path, **changes: dict) -> Path:
    params = read_params(ROOT / "params.yaml")
    params.update(tiny_params())
    params["features"]["dim"] = FEATURE_DIM
    params["evaluate"].update(device="cpu")
    params["loader"]["max_target_tokens"] = 32  # the tiny tokenizer spells the longest labels in 24
    for group, values in changes.items():
        params[group].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def run(inputs: Path, tmp_path: Path, *extra: str, ok: bool = True, **changes: dict):
    params = write_params(tmp_path / "params.yaml", **changes)
    result = CliRunner().invoke(preflight, ["--merged", str(inputs / "merged.h5"), "--tokenizer",
                                            str(inputs / "tokenizer"), "--checkpoints", str(tmp_path / "ckpt"),
                                            "--params", str(params), *extra])
    if ok:
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    else:
        assert result.exit_code == 1, result.output
    return result


def test_a_clean_setup_passes_with_a_table_and_an_estimate(inputs, tmp_path):
    out = run(inputs, tmp_path).output
    names = [line.split("  ")[0].strip() for line in out.splitlines()]
    assert names == ["backbone", "encoder", "tokenizer spells labels", "feature width", "train device",
                     "evaluate device", "parameters", "disk", "time estimate"]
    assert "blocker" not in out and "for the whole run" in out


def test_a_missing_backbone_is_a_blocker_naming_model_backbone(inputs, tmp_path):
    out = run(inputs, tmp_path, ok=False, model={"backbone": str(tmp_path / "no-such-t5")}).output
    assert "backbone" in out and "change model.backbone" in out


def test_a_missing_encoder_is_a_blocker_naming_embed_encoder(inputs, tmp_path):
    out = run(inputs, tmp_path, ok=False, embed={"encoder": str(tmp_path / "no-such-bert")}).output
    assert "change embed.encoder" in out


def test_feature_widths_that_disagree_are_a_blocker(inputs, tmp_path):
    assert "change model.feature_dim" in run(inputs, tmp_path, ok=False, model={"feature_dim": 8},
                                             features={"dim": 8}).output  # the merged file's frames are 4 wide
    # two params that disagree stop the configs' loading, before any other check (config.SAME_VALUE)
    assert "model.feature_dim: must equal features.dim (5), got 4" in run(inputs, tmp_path, ok=False,
                                                                           features={"dim": 5}).output


def test_cuda_and_bf16_requested_without_them_are_blockers(inputs, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "change train.device" in run(inputs, tmp_path, ok=False, train={"device": "cuda"}).output
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Old GPU")
    out = run(inputs, tmp_path, ok=False, train={"device": "cuda", "bf16": True},
              evaluate={"device": "cpu", "bf16": True}).output
    assert "change train.bf16" in out and "Old GPU" in out and "evaluate.bf16" not in out


def test_too_little_disk_is_a_blocker_and_the_size_is_weights_three_times_plus_adam(inputs, tmp_path, monkeypatch):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**6, 10**6 - 1000, 1000))
    out = run(inputs, tmp_path, ok=False).output
    assert "disk" in out and "change --checkpoints" in out
    assert core.checkpoint_bytes(100, 10) == 4 * 100 + 8 * 10 + 2 * 4 * 100


def test_a_tokenizer_that_cannot_spell_a_label_is_a_blocker(inputs, tmp_path):
    from test_constrained import T5_PIECES, t5_style

    # a SentencePiece-style vocabulary without "x" (ours has every ASCII character): "excited" cannot be spelt
    tok = t5_style([p for p in T5_PIECES if "x" not in p])
    tok.save_pretrained(tmp_path / "tokenizer")
    params = write_params(tmp_path / "params.yaml")
    result = CliRunner().invoke(preflight, ["--merged", str(inputs / "merged.h5"), "--tokenizer",
                                            str(tmp_path / "tokenizer"), "--params", str(params),
                                            "--probe-steps", "0"])
    assert result.exit_code == 1 and "cannot spell" in result.output and "excited" in result.output
    assert "change tokenizer.vocab_size" in result.output


def test_labels_longer_than_max_target_tokens_are_a_blocker(inputs, tmp_path):
    assert "change loader.max_target_tokens" in run(inputs, tmp_path, ok=False,
                                                    loader={"max_target_tokens": 8}).output


def test_spelling_labels_use_every_word_and_digit():
    labels = core.spelling_labels(2)
    fields = [set(f) for f in zip(*(label.split(",") for label in labels))]
    assert fields[0] == set(POLARITIES) and fields[2] == set(MELD_EMOTIONS) and fields[3] == set(IEMOCAP_EMOTIONS)
    assert set("".join(fields[1])) == set("0123456789.-")


def test_spelling_labels_follow_the_layout_of_data_datasets(inputs, tmp_path):
    five = LabelSchema.of(("mosi", "mosei", "meld", "iemocap", "emorynlp"))
    labels = core.spelling_labels(2, five)
    fields = [set(f) for f in zip(*(label.split(",") for label in labels))]
    assert len(fields) == 5 and fields[2] == set(MELD_EMOTIONS) and fields[3] == set(IEMOCAP_EMOTIONS)
    assert fields[4] == {"neutral", "joyful", "peaceful", "powerful", "scared", "mad", "sad"}
    assert core.spelling_labels(2, LabelSchema.of(("mosi",))) == [",".join(label.split(",")[:2])
                                                                   for label in core.spelling_labels(2)]
    # a tokenizer without "w" spells every word of the paper's layout, not EmoryNLP's "powerful"
    from test_constrained import T5_PIECES, t5_style

    tok = t5_style([p for p in T5_PIECES if "w" not in p])
    tok.save_pretrained(tmp_path / "tokenizer")
    for datasets, spelt in ((["mosi", "mosei", "meld", "iemocap"], True), (["mosi", "emorynlp"], False)):
        params = write_params(tmp_path / "params.yaml", data={"datasets": datasets})
        result = CliRunner().invoke(preflight, ["--merged", str(inputs / "merged.h5"), "--tokenizer",
                                                str(tmp_path / "tokenizer"), "--params", str(params),
                                                "--probe-steps", "0"])
        assert ("cannot spell" not in result.output) == spelt, result.output
        assert spelt or "powerful" in result.output


def test_the_estimate_is_epochs_times_steps_plus_dev_batches():
    train = from_dict(TrainConfig, {**tiny_params()["train"], "epochs": 3, "max_steps": 0}, "train")
    loader = from_dict(LoaderConfig, {**tiny_params()["loader"], "batch_size": 4, "eval_batch_size": 16}, "loader")
    # 10 rows in batches of 4: 3 steps per epoch, 9 steps; 20 dev rows: 2 batches per epoch, 6 in all
    assert core.estimate_seconds(step_s=2.0, generate_s=5.0, train_rows=10, dev_rows=20, train=train,
                                 loader=loader) == 9 * 2.0 + 6 * 5.0
    capped = from_dict(TrainConfig, {**tiny_params()["train"], "epochs": 3, "max_steps": 4}, "train")
    # 4 steps: 2 epochs touched, each evaluated
    assert core.estimate_seconds(step_s=2.0, generate_s=5.0, train_rows=10, dev_rows=20, train=capped,
                                 loader=loader) == 4 * 2.0 + 2 * 2 * 5.0
