"""EmoryNLP, the fifth dataset (unimse_core/datasets/emorynlp.py): reader, pool rule, input, label layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHARED_DATA
from unimse_core.config import TextConfig, load_config
from unimse_core.datasets import LabelFile, get
from unimse_core.datasets.emorynlp import speaker_names
from unimse_core.io.errors import RawDataError
from unimse_core.universal import LabelSchema

HEADER = "Utterance,Speaker,Emotion,Scene_ID,Utterance_ID,Season,Episode,Start_Time,End_Time\n"
ROOT = Path(__file__).resolve().parents[1]


def write_split(folder: Path, name: str, rows: list[str]) -> Path:
    path = folder / f"emorynlp_{name}_final.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def files(folder: Path, train: list[str], dev: list[str] | None = None, test: list[str] | None = None):
    one = ["\"Hi.\",['Ross Geller'],Neutral,1,1,1,1,00:00:01.000,00:00:02.000"]
    return [LabelFile("train", write_split(folder, "train", train)),
            LabelFile("valid", write_split(folder, "dev", dev or one)),
            LabelFile("test", write_split(folder, "test", test or one))]


def test_reader_ids_speakers_and_emotions(tmp_path):
    table = get("emorynlp").read_labels(files(tmp_path, [
        "\"Oh, hi!\",['Monica Geller'],Joyful,3,0,1,2,00:00:02.877,00:00:07.548",
        "\"Hey.\",\"['Joey Tribbiani', 'Chandler Bing']\",Mad,3,1,1,2,00:00:08.000,00:00:09.000",
    ]), "keep")
    assert table.ids[:2] == ["train/1_2_3_0", "train/1_2_3_1"]
    assert table.dialogues[:2] == ["train/1_2_3", "train/1_2_3"]
    assert table.speakers[:2] == ["Monica Geller", "Joey Tribbiani and Chandler Bing"]
    assert table.emotions[:2] == ["joyful", "mad"]
    assert table.splits == ["train", "train", "valid", "test"]
    assert table.ids[2] == "valid/1_1_1_1"  # the same tuple in another split stays distinct


def test_reader_errors_name_the_file_line_and_column(tmp_path):
    with pytest.raises(RawDataError, match=r"emorynlp_train_final.csv.*line 2.*'Emotion'.*'Happy'"):
        get("emorynlp").read_labels(files(tmp_path, ["\"a\",['A'],Happy,1,1,1,1,x,y"]), "keep")
    with pytest.raises(RawDataError, match=r"line 2.*'Speaker'.*Monica"):
        get("emorynlp").read_labels(files(tmp_path, ["\"a\",Monica,Sad,1,1,1,1,x,y"]), "keep")
    with pytest.raises(RawDataError, match="duplicate id 'train/1_1_1_1'"):
        get("emorynlp").read_labels(files(tmp_path, ["\"a\",['A'],Sad,1,1,1,1,x,y"] * 2), "keep")


def test_speaker_names_parse_the_list_string_only():
    assert speaker_names("['Monica Geller']") == "Monica Geller"
    assert speaker_names("[]") == ""
    assert speaker_names("Monica") is None and speaker_names("[1]") is None
    assert speaker_names("__import__('os')") is None  # a literal, never evaluated code


def test_pool_rule():
    dataset = get("emorynlp")
    assert {e: dataset.pool("", e) for e in ("Joyful", "Peaceful", "Powerful", "Mad", "Sad", "Scared", "Neutral")} == {
        "Joyful": "positive", "Peaceful": "positive", "Powerful": "positive", "Mad": "negative", "Sad": "negative",
        "Scared": "negative", "Neutral": "neutral"}
    with pytest.raises(ValueError, match="unknown EmoryNLP emotion 'joy'"):
        dataset.pool("", "joy")


def test_input_is_the_meld_window_with_speakers(tmp_path):
    table = get("emorynlp").read_labels(files(tmp_path, [
        "\"Second.\",['B'],Neutral,1,1,1,1,x,y",     # rows out of order: the window follows Utterance_ID
        "\"First.\",['A'],Neutral,1,0,1,1,x,y",
        "\"Other scene.\",['C'],Neutral,2,0,1,1,x,y",
    ]), "keep")
    config = load_config(TextConfig, "text", ROOT / "params.yaml")
    inputs = get("emorynlp").input_texts(table, config)
    assert inputs[0] == "sst2 sentence: A First. </s> B Second. </s>"
    assert inputs[1] == "sst2 sentence: </s> A First. </s> B Second."
    assert inputs[2] == "sst2 sentence: </s> C Other scene. </s>"


def test_label_layout_gains_a_slot_only_when_listed():
    paper = LabelSchema.of(("mosi", "mosei", "meld", "iemocap"))
    assert paper.fields == ("polarity", "score", "meld_emotion", "iemocap_emotion")
    five = LabelSchema.of(("mosi", "mosei", "meld", "iemocap", "emorynlp"))
    assert five.fields[-1] == "emorynlp_emotion"
    text = five.target("positive", {"score": 0.4, "meld_emotion": "joy", "iemocap_emotion": "hap",
                                    "emorynlp_emotion": "joyful"}, 2)
    assert text == "positive,0.4,joy,joy,joyful"
    parsed = five.parse(text)
    assert parsed.valid and parsed.prediction("emorynlp") == "joyful"
    assert not paper.parse(text).valid  # 5 fields where the paper's layout has 4
    assert five.neutral_default["emorynlp_emotion"] == "neutral"


def test_real_files_have_the_published_counts():
    folder = SHARED_DATA / "emorynlp"
    if not folder.is_dir():
        pytest.skip(f"real EmoryNLP files absent at {folder} (set UNIMSE_SHARED_DATA)")
    table = get("emorynlp").read_labels(
        [LabelFile(s, folder / f"emorynlp_{n}_final.csv") for s, n in (("train", "train"), ("valid", "dev"),
                                                                          ("test", "test"))], "keep")
    assert table.split_counts() == {"train": 7551, "valid": 954, "test": 984}
    assert set(table.emotions) == set(get("emorynlp").codes)
