"""`unimse predict` through click's CliRunner on a tiny random model: text only, .npy features,
JSON output, where the text settings come from, and the errors for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from stages.predict import command as predict
from test_evaluate import LOADER, TEXT, save_tiny_model
from tiny_training import FEATURE_DIM
from unimse_core.model import UniMSE
from unimse_core.datasets import get as get_dataset
from unimse_core.datasets.meld import EMOTIONS as MELD_EMOTIONS
from unimse_core.text import POLARITIES

IEMOCAP_EMOTIONS = get_dataset("iemocap").words  # the target words of its codes
TEXTS = ["sst2 sentence: what a good movie", "sst2 sentence: a bad and boring plot", "positive,1.25,joy,joy",
         "negative,-2.4,sadness,anger", "neutral,0.0,neutral,neutral", "positive,0.6,surprise,excited"]
JSON_KEYS = {"input", "generated", "valid", "reason", "polarity", "score", "meld_emotion", "iemocap_emotion",
             "constrained"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("predict")
    save_tiny_model(root / "model", TEXTS)
    (root / "params.yaml").write_text(yaml.safe_dump({"text": TEXT, "loader": LOADER}))
    return root


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def run(folder: Path, *args, model: Path | None = None, ok: bool = True):
    result = CliRunner().invoke(predict, ["--model", str(model or folder / "model"),
                                          "--params", str(folder / "params.yaml"), *map(str, args)])
    if ok:
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def as_json(result) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_text_only_prints_the_four_fields(folder):
    lines = run(folder, "--text", "What a GOOD movie").stdout.strip().splitlines()
    fields = {line[:16].strip(): line[16:] for line in lines}
    assert list(fields) == ["polarity", "score", "MELD emotion", "IEMOCAP emotion"]
    assert fields["polarity"] in POLARITIES and -3 <= float(fields["score"]) <= 3
    assert fields["MELD emotion"] in MELD_EMOTIONS and fields["IEMOCAP emotion"] in IEMOCAP_EMOTIONS


def test_json_output_and_the_input_built_as_preprocessing_does(folder):
    label = as_json(run(folder, "--text", "  What a\tGOOD movie ", "--json"))
    assert set(label) == JSON_KEYS
    assert label["input"] == "sst2 sentence: what a good movie"  # text.prefix of --params, cleaned, lower-cased
    assert label["valid"] and label["reason"] == "" and label["constrained"] is True
    assert label["polarity"] in POLARITIES and label["iemocap_emotion"] in IEMOCAP_EMOTIONS


def test_free_decoding_may_not_parse_and_says_so(folder):
    result = run(folder, "--text", "what a good movie", "--no-constrained", "--json")
    label = as_json(result)
    assert label["constrained"] is False and set(label) == JSON_KEYS
    assert label["valid"] == (label["reason"] == "")


def test_npy_features_reach_the_model_with_nan_as_zero(folder, tmp_path, monkeypatch):
    audio = np.random.default_rng(0).normal(size=(5, FEATURE_DIM))
    audio[1, 2] = np.nan
    np.save(tmp_path / "a.npy", audio)
    np.save(tmp_path / "v.npy", np.ones((3, FEATURE_DIM), dtype=np.float32))
    seen = {}
    original = UniMSE.generate

    def spy(self, batch, max_new_tokens, constrained=None):
        seen.update({k: v.clone() for k, v in batch.items()})
        return original(self, batch, max_new_tokens, constrained)

    monkeypatch.setattr(UniMSE, "generate", spy)
    label = as_json(run(folder, "--text", "fine", "--audio", tmp_path / "a.npy", "--video", tmp_path / "v.npy",
                        "--json"))
    assert label["valid"]
    assert seen["audio_lengths"].tolist() == [5] and seen["video_lengths"].tolist() == [3]
    assert torch.isfinite(seen["audio"]).all() and seen["audio"][0, 1, 2] == 0
    expected = np.nan_to_num(audio).astype(np.float32)
    assert np.array_equal(seen["audio"][0].numpy(), expected)


def test_a_wrong_feature_width_names_the_file_and_both_widths(folder, tmp_path):
    np.save(tmp_path / "wide.npy", np.zeros((4, FEATURE_DIM + 3), dtype=np.float32))
    result = run(folder, "--text", "x", "--video", tmp_path / "wide.npy", ok=False)
    assert result.exit_code != 0
    assert "wide.npy" in result.output and f"width {FEATURE_DIM + 3}" in result.output
    assert f"expects {FEATURE_DIM}" in result.output
    np.save(tmp_path / "flat.npy", np.zeros(FEATURE_DIM))
    result = run(folder, "--text", "x", "--audio", tmp_path / "flat.npy", ok=False)
    assert result.exit_code != 0 and "flat.npy" in result.output and "2-d" in result.output
    result = run(folder, "--text", "x", "--audio", tmp_path / "absent.npy", ok=False)
    assert result.exit_code != 0 and "absent.npy" in result.output and "not found" in result.output


@pytest.mark.parametrize("missing", ["config.json", "unimse.safetensors", "unimse.json", "tokenizer_config.json"])
def test_a_missing_model_file_is_named(folder, tmp_path, missing):
    model = tmp_path / "model"
    shutil.copytree(folder / "model", model)
    (model / missing).unlink()
    result = run(folder, "--text", "x", model=model, ok=False)
    assert result.exit_code != 0 and str(model / missing) in result.output


def test_the_settings_of_the_models_run_come_first(folder, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(folder / "model", model)
    (model / "run.json").write_text(json.dumps({"configs": {"text": {**TEXT, "prefix": "rate: "}, "loader": LOADER}}))
    result = CliRunner().invoke(predict, ["--model", str(model), "--params", str(tmp_path / "absent.yaml"),
                                          "--text", "Fine", "--json"])
    assert result.exit_code == 0, result.output
    assert as_json(result)["input"] == "rate: fine"
    (model / "run.json").unlink()
    result = CliRunner().invoke(predict, ["--model", str(model), "--params", str(tmp_path / "absent.yaml"),
                                          "--text", "Fine"])
    assert result.exit_code != 0 and "absent.yaml" in result.output and "text" in result.output


def test_constrained_decoding_needs_room_for_the_shortest_label(folder):
    result = run(folder, "--text", "x", "--max-new-tokens", "8", ok=False)
    assert result.exit_code != 0 and "--max-new-tokens" in result.output and "17" in result.output
    run(folder, "--text", "x", "--max-new-tokens", "8", "--no-constrained")


def test_a_cuda_device_that_is_absent_names_the_option_read(folder, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = run(folder, "--text", "a film", "--device", "cuda", ok=False)
    assert result.exit_code != 0
    assert "--device: cuda, but torch sees no CUDA device" in result.output
    assert "train.device" not in result.output and "evaluate.device" not in result.output


FIVE = ["mosi", "mosei", "meld", "iemocap", "emorynlp"]


def test_the_models_label_layout_gives_the_fields(folder, tmp_path):
    """run.json's label_layout is the layout predict parses and constrains to, whatever --params lists."""
    model = tmp_path / "model"
    shutil.copytree(folder / "model", model)
    (model / "run.json").write_text(json.dumps({"run_id": "r5", "label_layout": FIVE,
                                                "configs": {"text": TEXT, "loader": LOADER}}))
    label = as_json(run(folder, "--text", "what a good movie", "--json", model=model))
    assert set(label) == JSON_KEYS | {"emorynlp_emotion"}
    assert label["valid"] and len(label["generated"].split(",")) == 5
    assert label["emorynlp_emotion"] == label["generated"].split(",")[4]
    result = run(folder, "--text", "what a good movie", model=model)
    lines = result.stdout.strip().splitlines()
    assert [line[:16].strip() for line in lines] == ["polarity", "score", "MELD emotion", "IEMOCAP emotion",
                                                     "EmoryNLP emotion"]
    assert "note:" not in result.output


def test_a_folder_without_a_layout_holds_the_papers_and_says_so(folder, tmp_path):
    result = run(folder, "--text", "fine", "--json")
    assert len(as_json(result)["generated"].split(",")) == 4
    assert f"{folder / 'model' / 'run.json'}: no run.json; assuming the paper's label layout " \
           "polarity,score,meld_emotion,iemocap_emotion" in result.stderr
    model = tmp_path / "model"
    shutil.copytree(folder / "model", model)
    (model / "run.json").write_text(json.dumps({"run_id": "old", "configs": {"text": TEXT, "loader": LOADER}}))
    result = run(folder, "--text", "fine", "--json", model=model)
    assert set(as_json(result)) == JSON_KEYS
    assert f"{model / 'run.json'}: no label_layout in it; assuming the paper's label layout" in result.stderr


@pytest.mark.parametrize("layout, expected", [(["mosi", "nope"], "unknown dataset 'nope'"),
                                              ("mosi", "must be a list of dataset names")])
def test_a_bad_label_layout_names_run_json(folder, tmp_path, layout, expected):
    model = tmp_path / "model"
    shutil.copytree(folder / "model", model)
    (model / "run.json").write_text(json.dumps({"label_layout": layout, "configs": {"text": TEXT, "loader": LOADER}}))
    result = run(folder, "--text", "fine", model=model, ok=False)
    assert result.exit_code != 0 and str(model / "run.json") in result.output and expected in result.output
