"""`preprocess.preprocess` and `preprocess.merge` on hand-built tables, against hand-written rows."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from unimse_core.config import FeaturesConfig, TextConfig
from unimse_core.io.errors import RawDataError
from unimse_core.io.hdf5 import SplitArrays
from unimse_core.io.raw import Features, LabelTable
from unimse_core.io.tables import write_table
from unimse_core.io.universal_labels import UniversalLabels, read_universal_labels
from unimse_core.preprocess import merge, preprocess

TEXT = TextConfig(prefix="sst2 sentence: ", window=2, causal=False, iemocap_context="dialogue", score_decimals=2)
DIM = 4


def features_config(missing: str = "zero", dim: int = DIM) -> FeaturesConfig:
    return FeaturesConfig(dim=dim, missing=missing, padding="auto")


def frames(value: float, n: int, width: int) -> np.ndarray:
    """n frames of `width` values, each frame k holding value + k (easy to recognise after packing)."""
    return (value + np.arange(n, dtype=np.float32)[:, None]) * np.ones((1, width), dtype=np.float32)


def universal(rows: list[tuple[str, str, str, float, str, str]], path: str = "labels/x.csv") -> UniversalLabels:
    """(id, split, polarity, score, meld_emotion, iemocap_code) per row."""
    return UniversalLabels(path=Path(path), row={r[0]: i for i, r in enumerate(rows)}, split=[r[1] for r in rows],
                           polarity=[r[2] for r in rows],
                           values={"score": np.array([r[3] for r in rows], dtype=np.float64),
                                   "meld_emotion": [r[4] for r in rows], "iemocap_emotion": [r[5] for r in rows]})


# --- MOSI -----------------------------------------------------------------------------------------

MOSI_ROWS = [  # id, split, raw text, score, annotation
    ("vA_1", "train", "I LOVED  this\tMovie", 2.3333332538604736, "Positive"),
    ("vA_2", "train", "It was Bad", -0.6666666865348816, "Negative"),
    ("vB_1", "valid", "OK I guess", 0.0, "Neutral"),
    ("vC_1", "test", "Quite Good", 1.2, "Positive"),
    ("vC_2", "test", "  Terrible. ", -2.5, "Negative"),
]


def mosi_table() -> LabelTable:
    return LabelTable(dataset="mosi", paths=(Path("raw/mosi/label.csv"),), ids=[r[0] for r in MOSI_ROWS],
                      splits=[r[1] for r in MOSI_ROWS], texts=[r[2] for r in MOSI_ROWS],
                      lines=list(range(2, 2 + len(MOSI_ROWS))), files=[0] * len(MOSI_ROWS),
                      scores=np.array([r[3] for r in MOSI_ROWS]), annotations=[r[4] for r in MOSI_ROWS])


def mosi_universal(iemocap: dict[str, str] | None = None) -> UniversalLabels:
    slots = {"vA_1": ("joy", "hap"), "vA_2": ("anger", "fru"), "vB_1": ("neutral", "neu"),
             "vC_1": ("surprise", "exc"), "vC_2": ("sadness", "sad")}
    polarity = {"vA_1": "positive", "vA_2": "negative", "vB_1": "neutral", "vC_1": "positive", "vC_2": "negative"}
    iemocap = iemocap or {}
    return universal([(uid, split, polarity[uid], score, slots[uid][0], iemocap.get(uid, slots[uid][1]))
                      for uid, split, _, score, _ in MOSI_ROWS], "labels/mosi.csv")


def mosi_features(without: tuple[str, ...] = ()) -> Features:
    """Audio 2 wide (padded to 4), video 6 wide (cut to 4); `without`: ids left out of the file."""
    rows = [(r[0], r[1]) for r in MOSI_ROWS if r[0] not in without]
    audio = [frames(10.0 * (k + 1), k + 1, 2) for k in range(len(rows))]
    video = [frames(-10.0 * (k + 1), 2, 6) for k in range(len(rows))]
    return Features(dataset="mosi", path=Path("raw/mosi/mosi.pkl"), layout="authors", padding="left",
                    ids=[r[0] for r in rows], splits=[r[1] for r in rows], audio=audio, video=video,
                    audio_dim=2, video_dim=6, nan_frames={"audio": 0, "video": 0})


def test_mosi_inputs_targets_and_gold_fields():
    groups, stats = preprocess(mosi_table(), mosi_universal(), None, text_config=TEXT,
                               features_config=features_config())
    assert list(groups) == ["train", "valid", "test"]
    train, valid, test = groups["train"], groups["valid"], groups["test"]
    assert train.ids == ["vA_1", "vA_2"] and valid.ids == ["vB_1"] and test.ids == ["vC_1", "vC_2"]
    assert train.inputs == ["sst2 sentence: i loved this movie", "sst2 sentence: it was bad"]
    assert valid.inputs == ["sst2 sentence: ok i guess"]
    assert test.inputs == ["sst2 sentence: quite good", "sst2 sentence: terrible."]
    assert train.targets == ["positive,2.33,joy,joy", "negative,-0.67,anger,frustrated"]
    assert valid.targets == ["neutral,0.0,neutral,neutral"]
    assert test.targets == ["positive,1.2,surprise,excited", "negative,-2.5,sadness,sadness"]
    np.testing.assert_array_equal(train.gold_score, np.float32([2.3333332538604736, -0.6666666865348816]))
    assert train.gold_emotion == ["", ""] and train.dataset == ["mosi", "mosi"]
    assert train.polarity == ["positive", "negative"] and test.polarity == ["positive", "negative"]
    # text-only: every sequence is empty, widths are dim
    for arrays in groups.values():
        assert arrays.audio.shape == (0, DIM) and arrays.video.shape == (0, DIM)
        assert not arrays.audio_length.any() and not arrays.video_length.any()
    assert stats["rows"] == {"train": 2, "valid": 1, "test": 2}
    assert stats["text_only"] is True and stats["dim"] == DIM
    assert stats["iemocap_slot_dropped"] == {} and stats["iemocap_slot_reset"] == {}


@pytest.mark.parametrize("decimals, expected", [(0, ["2.0", "-1.0"]), (1, ["2.3", "-0.7"]),
                                                (3, ["2.333", "-0.667"])])
def test_score_decimals_round_the_target_score(decimals, expected):
    config = TextConfig(prefix="", window=2, causal=False, iemocap_context="dialogue", score_decimals=decimals)
    groups, _ = preprocess(mosi_table(), mosi_universal(), None, text_config=config, features_config=features_config())
    assert [t.split(",")[1] for t in groups["train"].targets] == expected
    assert groups["train"].inputs[0] == "i loved this movie"  # the prefix is a param, used verbatim


def test_features_are_matched_by_id_brought_to_dim_and_packed():
    feats = mosi_features()
    groups, stats = preprocess(mosi_table(), mosi_universal(), feats, text_config=TEXT,
                               features_config=features_config())
    train = groups["train"]
    np.testing.assert_array_equal(train.audio_length, [1, 2])
    np.testing.assert_array_equal(train.audio_offset, [0, 1])
    np.testing.assert_array_equal(train.audio_of(0), [[10, 10, 0, 0]])
    np.testing.assert_array_equal(train.audio_of(1), [[20, 20, 0, 0], [21, 21, 0, 0]])
    np.testing.assert_array_equal(train.video_of(1), [[-20, -20, -20, -20], [-19, -19, -19, -19]])
    test = groups["test"]
    np.testing.assert_array_equal(test.audio_length, [4, 5])
    np.testing.assert_array_equal(test.audio_of(1)[0], [50, 50, 0, 0])
    assert stats["missing_features"] == {} and stats["text_only"] is False
    assert stats["raw_dims"] == {"audio": 2, "video": 6} and stats["padding"] == "left"


def test_nonfinite_feature_values_are_zeroed_and_counted():
    feats = mosi_features()
    feats.audio[0] = raw = np.array([[np.nan, 1.0]], dtype=np.float32)    # train vA_1
    feats.video[4] = np.array([[np.inf, 1, 1, 1, 1, 1], [1, 1, -np.inf, 1, 1, np.nan]], dtype=np.float32)  # test vC_2
    groups, stats = preprocess(mosi_table(), mosi_universal(), feats, text_config=TEXT,
                               features_config=features_config())
    np.testing.assert_array_equal(groups["train"].audio_of(0), [[0, 1, 0, 0]])
    # the NaN in column 5 lies beyond dim 4: cut, not counted
    np.testing.assert_array_equal(groups["test"].video_of(1), [[0, 1, 1, 1], [1, 1, 0, 1]])
    assert stats["nonfinite_values"] == {"audio": 1, "video": 2}
    assert stats["nonfinite_utterances"] == {"audio": 1, "video": 1}
    assert np.isnan(raw[0, 0])  # the raw arrays are untouched


def padded_features(without: tuple[str, ...] = ()) -> tuple[Features, dict[str, np.ndarray]]:
    """MOSI features as the pickle reader returns them: views into one [N, L, D] array per split
    and modality; the arrays are returned too, keyed "<split>/<modality>"."""
    rows = [(r[0], r[1]) for r in MOSI_ROWS if r[0] not in without]
    arrays, views = {}, {"audio": [], "video": []}
    for split in ("train", "valid", "test"):
        members = [k for k, (_, s) in enumerate(rows) if s == split]
        for modality, width in (("audio", 2), ("video", 6)):
            x = np.stack([frames(100.0 * k, 3, width) for k in members])  # [n, 3, width]
            arrays[f"{split}/{modality}"] = x
            views[modality] += [x[m, 1:] for m in range(len(members))]  # frame 0 is "padding"
    feats = Features(dataset="mosi", path=Path("raw/mosi/mosi.pkl"), layout="authors", padding="left",
                     ids=[r[0] for r in rows], splits=[r[1] for r in rows], audio=views["audio"],
                     video=views["video"], audio_dim=2, video_dim=6, nan_frames={"audio": 0, "video": 0})
    return feats, arrays


def same_groups(a: dict[str, SplitArrays], b: dict[str, SplitArrays]) -> None:
    assert list(a) == list(b)
    for split in a:
        assert a[split].ids == b[split].ids and a[split].targets == b[split].targets
        for name in ("audio", "audio_offset", "audio_length", "video", "video_offset", "video_length"):
            np.testing.assert_array_equal(getattr(a[split], name), getattr(b[split], name))


@pytest.mark.parametrize("missing", ["zero", "drop"])
def test_released_and_kept_features_give_the_same_rows(missing):
    kept_features, _ = padded_features()
    kept, kept_stats = preprocess(mosi_table(), mosi_universal(), kept_features, text_config=TEXT,
                                  features_config=features_config(missing), release_features=False)
    assert all(s is not None for s in kept_features.audio + kept_features.video)
    released_features, _ = padded_features()
    released, released_stats = preprocess(mosi_table(), mosi_universal(), released_features, text_config=TEXT,
                                          features_config=features_config(missing))
    same_groups(kept, released)
    assert kept_stats == released_stats
    assert released_features.audio == [None] * 5 and released_features.video == [None] * 5
    np.testing.assert_array_equal(kept["train"].audio_of(1), [[101, 101, 0, 0], [102, 102, 0, 0]])


def test_each_raw_array_is_freed_once_its_split_and_modality_are_packed(monkeypatch):
    import weakref

    import unimse_core.preprocess as module

    # vA_2's training slot is out of class: its row is dropped, its features are never read
    labels = mosi_universal(iemocap={"vA_2": "xxx"})
    feats, arrays = padded_features()
    alive = {name: weakref.ref(x) for name, x in arrays.items()}
    del arrays
    seen = []
    real_pack = module.pack

    def spy(sequences, dim):
        seen.append({name for name, ref in alive.items() if ref() is not None})
        return real_pack(sequences, dim)

    monkeypatch.setattr(module, "pack", spy)
    groups, _ = preprocess(mosi_table(), labels, feats, text_config=TEXT, features_config=features_config())
    everything = set(alive)
    assert seen == [everything,                                          # train audio
                    everything - {"train/audio"},                        # train video
                    everything - {"train/audio", "train/video"},         # valid audio
                    {"valid/video", "test/audio", "test/video"},         # valid video
                    {"test/audio", "test/video"},                        # test audio
                    {"test/video"}]                                      # test video
    assert all(ref() is None for ref in alive.values())
    assert groups["train"].ids == ["vA_1"]
    np.testing.assert_array_equal(groups["test"].video_of(1), [[401] * 4, [402] * 4])


def test_missing_features_zero_gives_empty_sequences():
    groups, stats = preprocess(mosi_table(), mosi_universal(), mosi_features(without=("vA_2", "vC_1")),
                               text_config=TEXT, features_config=features_config("zero"))
    assert groups["train"].ids == ["vA_1", "vA_2"] and groups["test"].ids == ["vC_1", "vC_2"]
    np.testing.assert_array_equal(groups["train"].audio_length, [1, 0])
    np.testing.assert_array_equal(groups["train"].video_length, [2, 0])
    np.testing.assert_array_equal(groups["test"].audio_length, [0, 3])  # vC_2 is the 3rd row of the file
    assert groups["train"].targets[1] == "negative,-0.67,anger,frustrated"
    assert stats["missing_features"] == {"train": 1, "test": 1} and stats["missing_policy"] == "zero"
    assert stats["rows"] == {"train": 2, "valid": 1, "test": 2}


def test_missing_features_drop_removes_the_rows():
    groups, stats = preprocess(mosi_table(), mosi_universal(), mosi_features(without=("vA_2", "vC_1")),
                               text_config=TEXT, features_config=features_config("drop"))
    assert groups["train"].ids == ["vA_1"] and groups["test"].ids == ["vC_2"]
    assert groups["test"].targets == ["negative,-2.5,sadness,sadness"]
    np.testing.assert_array_equal(groups["test"].audio_length, [3])
    assert stats["missing_features"] == {"train": 1, "test": 1} and stats["missing_policy"] == "drop"
    assert stats["rows"] == {"train": 1, "valid": 1, "test": 1}


def test_missing_features_error_names_the_id():
    with pytest.raises(RawDataError) as err:
        preprocess(mosi_table(), mosi_universal(), mosi_features(without=("vA_2", "vC_1")),
                   text_config=TEXT, features_config=features_config("error"))
    message = str(err.value)
    assert "'vA_2'" in message and "raw/mosi/mosi.pkl" in message and "2 utterance(s)" in message
    assert "raw/mosi/label.csv line 3" in message


def test_an_out_of_class_iemocap_slot_drops_a_training_row_and_resets_dev_and_test():
    labels = mosi_universal(iemocap={"vA_2": "xxx", "vB_1": "oth", "vC_1": "xxx"})
    groups, stats = preprocess(mosi_table(), labels, None, text_config=TEXT, features_config=features_config())
    assert groups["train"].ids == ["vA_1"]
    assert groups["valid"].targets == ["neutral,0.0,neutral,neutral"]
    assert groups["test"].ids == ["vC_1", "vC_2"]
    assert groups["test"].targets[0] == "positive,1.2,surprise,neutral"
    assert stats["iemocap_slot_dropped"] == {"train": 1}
    assert stats["iemocap_slot_reset"] == {"valid": 1, "test": 1}
    assert stats["rows"] == {"train": 1, "valid": 1, "test": 2}


def test_a_split_left_empty_names_dataset_and_split():
    with pytest.raises(RawDataError, match=r"mosi: split valid holds no utterance.*missing features: 1"):
        preprocess(mosi_table(), mosi_universal(), mosi_features(without=("vB_1",)),
                   text_config=TEXT, features_config=features_config("drop"))
    labels = mosi_universal(iemocap={"vA_1": "xxx", "vA_2": "sur"})
    with pytest.raises(RawDataError, match=r"mosi: split train holds no utterance.*IEMOCAP slot: 2"):
        preprocess(mosi_table(), labels, None, text_config=TEXT, features_config=features_config())


def test_a_row_missing_from_the_universal_labels_names_the_id():
    rows = [r for r in MOSI_ROWS if r[0] != "vC_1"]
    labels = universal([(uid, split, "positive", 1.0, "joy", "hap") for uid, split, *_ in rows], "labels/mosi.csv")
    with pytest.raises(RawDataError) as err:
        preprocess(mosi_table(), labels, None, text_config=TEXT, features_config=features_config())
    assert "'vC_1'" in str(err.value) and "labels/mosi.csv" in str(err.value)


def test_a_split_disagreement_with_the_universal_labels_is_an_error():
    labels = mosi_universal()
    labels.split[labels.row["vB_1"]] = "test"
    with pytest.raises(RawDataError, match=r"vB_1.*split 'test', but the raw data says 'valid'"):
        preprocess(mosi_table(), labels, None, text_config=TEXT, features_config=features_config())


def test_universal_labels_read_from_the_labels_stage_table(tmp_path):
    path = tmp_path / "mosi.csv"
    # extra columns (text, neighbours, cosines) are allowed; scores keep their full repr in the file
    write_table(path, {"id": ["vA_1", "vB_1"], "split": ["train", "valid"], "text": ["a", "b"],
                       "polarity": ["positive", "neutral"], "score": [2.3333332538604736, 0.0],
                       "meld_emotion": ["joy", "neutral"], "iemocap_emotion": ["hap", "neu"],
                       "meld_emotion_neighbour": ["train/1_2", ""], "meld_emotion_cosine": [0.5, float("nan")]})
    slots = ("score", "meld_emotion", "iemocap_emotion")
    labels = read_universal_labels(path, slots)
    assert labels.row == {"vA_1": 0, "vB_1": 1} and labels.split == ["train", "valid"]
    assert labels.score[0] == 2.3333332538604736 and labels.values["iemocap_emotion"] == ["hap", "neu"]
    # a table of another label layout (data.datasets without IEMOCAP) names the missing column
    with pytest.raises(RawDataError, match="missing column.*emorynlp_emotion"):
        read_universal_labels(path, ("score", "meld_emotion", "emorynlp_emotion"))
    write_table(path, {"id": ["x", "x"], "split": ["train", "test"], "polarity": ["neutral"] * 2, "score": [0.0] * 2,
                       "meld_emotion": ["neutral"] * 2, "iemocap_emotion": ["neu"] * 2})
    with pytest.raises(RawDataError, match=r"duplicate id 'x' \(first on line 2\)"):
        read_universal_labels(path, slots)


# --- MELD -----------------------------------------------------------------------------------------

# split, Dialogue_ID, Utterance_ID, speaker, text, emotion, sentiment (train dialogue 0 given out of order)
MELD_ROWS = [
    ("train", 0, 2, "Joey", "Bye!", "joy", "positive"),
    ("train", 0, 0, "Joey", "Hi  there", "neutral", "neutral"),
    ("train", 0, 1, "Ross", "Hello,\nJoey", "surprise", "negative"),
    ("train", 1, 0, "Monica", "Alone", "sadness", "negative"),
    ("valid", 0, 0, "Rachel", "Oh", "anger", "negative"),
    ("test", 0, 0, "Chandler", "Could it BE", "disgust", "negative"),
    ("test", 0, 1, "Phoebe", "Sure", "fear", "negative"),
]


def meld_table() -> LabelTable:
    return LabelTable(
        dataset="meld", paths=(Path("raw/meld/train_sent_emo.csv"), Path("raw/meld/dev_sent_emo.csv"),
                               Path("raw/meld/test_sent_emo.csv")),
        ids=[f"{s}/{d}_{u}" for s, d, u, *_ in MELD_ROWS], splits=[r[0] for r in MELD_ROWS],
        texts=[r[4] for r in MELD_ROWS], lines=[2, 3, 4, 5, 2, 2, 3], files=[0, 0, 0, 0, 1, 2, 2],
        speakers=[r[3] for r in MELD_ROWS], dialogues=[f"{r[0]}/{r[1]}" for r in MELD_ROWS],
        feature_keys=[f"{d}_{u}" for _, d, u, *_ in MELD_ROWS], emotions=[r[5] for r in MELD_ROWS],
        sentiments=[r[6] for r in MELD_ROWS], utterances=np.array([r[2] for r in MELD_ROWS], dtype=np.int64))


def meld_universal() -> UniversalLabels:
    return universal([(f"{s}/{d}_{u}", s, sentiment, -1.5 if sentiment == "negative" else 0.5 if
                       sentiment == "positive" else 0.0, emotion, "sad" if sentiment == "negative" else "neu")
                      for s, d, u, _, _, emotion, sentiment in MELD_ROWS], "labels/meld.csv")


def test_meld_inputs_are_windows_over_the_dialogue_with_speakers():
    groups, _ = preprocess(meld_table(), meld_universal(), None, text_config=TEXT, features_config=features_config())
    train = groups["train"]
    assert train.ids == ["train/0_2", "train/0_0", "train/0_1", "train/1_0"]
    assert train.inputs == [
        "sst2 sentence: Joey Hi there Ross Hello, Joey </s> Joey Bye! </s>",
        "sst2 sentence: </s> Joey Hi there </s> Ross Hello, Joey Joey Bye!",
        "sst2 sentence: Joey Hi there </s> Ross Hello, Joey </s> Joey Bye!",
        "sst2 sentence: </s> Monica Alone </s>",
    ]
    # the valid and test dialogues share Dialogue_ID 0 with the training one: never mixed
    assert groups["valid"].inputs == ["sst2 sentence: </s> Rachel Oh </s>"]
    assert groups["test"].inputs == ["sst2 sentence: </s> Chandler Could it BE </s> Phoebe Sure",
                                     "sst2 sentence: Chandler Could it BE </s> Phoebe Sure </s>"]
    assert train.targets[:3] == ["positive,0.5,joy,neutral", "neutral,0.0,neutral,neutral",
                                 "negative,-1.5,surprise,sadness"]
    assert train.gold_emotion == ["joy", "neutral", "surprise", "sadness"]
    assert all(math.isnan(s) for s in train.gold_score)


def test_meld_causal_window_of_one():
    config = TextConfig(prefix="sst2 sentence: ", window=1, causal=True, iemocap_context="dialogue", score_decimals=2)
    groups, _ = preprocess(meld_table(), meld_universal(), None, text_config=config, features_config=features_config())
    assert groups["train"].inputs[:3] == ["sst2 sentence: Ross Hello, Joey </s> Joey Bye! </s>",
                                          "sst2 sentence: </s> Joey Hi there </s>",
                                          "sst2 sentence: Joey Hi there </s> Ross Hello, Joey </s>"]


def test_meld_features_are_looked_up_in_the_dict_of_the_rows_own_split():
    # "0_0" is a key of the train, dev and test dicts alike: each row must get its own split's
    keys = [("train", "0_0", 1.0), ("train", "0_1", 2.0), ("train", "0_2", 3.0), ("train", "1_0", 4.0),
            ("valid", "0_0", 5.0), ("test", "0_0", 6.0), ("test", "0_1", 7.0)]
    feats = Features(dataset="meld", path=Path("raw/meld/meld.pkl"), layout="erc", padding="none",
                     ids=[k for _, k, _ in keys], splits=[s for s, _, _ in keys],
                     audio=[frames(v, 1, 4) for *_, v in keys], video=[frames(-v, 2, 4) for *_, v in keys],
                     audio_dim=4, video_dim=4, nan_frames={"audio": 0, "video": 0})
    groups, _ = preprocess(meld_table(), meld_universal(), feats, text_config=TEXT, features_config=features_config())
    assert groups["train"].audio[:, 0].tolist() == [3.0, 1.0, 2.0, 4.0]
    assert groups["valid"].audio[:, 0].tolist() == [5.0]
    assert groups["test"].audio[:, 0].tolist() == [6.0, 7.0]
    np.testing.assert_array_equal(groups["valid"].video_of(0), [[-5] * 4, [-4] * 4])


# --- IEMOCAP --------------------------------------------------------------------------------------

# id, split, start, code, text; "xxx" rows are outside the six classes (context only)
IEMOCAP_ROWS = [
    ("Ses01F_impro01_F000", "train", 0.5, "hap", "I'm so happy"),
    ("Ses01F_impro01_M000", "train", 2.0, "xxx", "Really?"),
    ("Ses01F_impro01_F001", "train", 4.0, "exc", "Yes!"),
    ("Ses02F_impro02_F000", "valid", 1.0, "neu", "Okay"),
    ("Ses05F_impro01_M000", "test", 1.0, "ang", "Go away"),
    ("Ses05F_impro01_F000", "test", 3.0, "fru", "Why"),
]


def iemocap_table() -> LabelTable:
    codes = [r[3] for r in IEMOCAP_ROWS]
    return LabelTable(
        dataset="iemocap", paths=(Path("raw/iemocap/IEMOCAP_all.csv"),), ids=[r[0] for r in IEMOCAP_ROWS],
        splits=[r[1] for r in IEMOCAP_ROWS], texts=[r[4] for r in IEMOCAP_ROWS],
        lines=list(range(2, 2 + len(IEMOCAP_ROWS))), files=[0] * len(IEMOCAP_ROWS),
        speakers=[r[0].rsplit("_", 1)[1][0] for r in IEMOCAP_ROWS],
        dialogues=[r[0].rsplit("_", 1)[0] for r in IEMOCAP_ROWS], codes=codes,
        sessions=np.array([int(r[0][3:5]) for r in IEMOCAP_ROWS], dtype=np.int64),
        starts=np.array([r[2] for r in IEMOCAP_ROWS]),
        in_classes=np.array([c != "xxx" for c in codes]), other_codes={"xxx": 1})


def iemocap_universal() -> UniversalLabels:
    rows = [(uid, split, "positive" if code in ("hap", "exc") else "neutral" if code == "neu" else "negative",
             1.0 if code in ("hap", "exc") else 0.0 if code == "neu" else -2.0,
             "joy" if code in ("hap", "exc") else "neutral" if code == "neu" else "anger", code)
            for uid, split, _, code, _ in IEMOCAP_ROWS if code != "xxx"]
    return universal(rows, "labels/iemocap.csv")


def test_iemocap_gold_emotion_is_the_word_and_out_of_class_rows_are_context_only():
    groups, stats = preprocess(iemocap_table(), iemocap_universal(), None, text_config=TEXT,
                               features_config=features_config())
    train = groups["train"]
    assert train.ids == ["Ses01F_impro01_F000", "Ses01F_impro01_F001"]
    assert train.gold_emotion == ["joy", "excited"]
    assert groups["valid"].gold_emotion == ["neutral"]
    assert groups["test"].gold_emotion == ["anger", "frustrated"]
    assert train.targets == ["positive,1.0,joy,joy", "positive,1.0,joy,excited"]
    assert groups["test"].targets == ["negative,-2.0,anger,anger", "negative,-2.0,anger,frustrated"]
    # the xxx turn is no row, but its text is context; no speakers in IEMOCAP inputs
    assert train.inputs == ["sst2 sentence: </s> I'm so happy </s> Really? Yes!",
                            "sst2 sentence: I'm so happy Really? </s> Yes! </s>"]
    assert groups["test"].inputs == ["sst2 sentence: </s> Go away </s> Why", "sst2 sentence: Go away </s> Why </s>"]
    assert stats["rows_in"] == 5 and stats["other_codes_skipped"] == 1
    assert stats["rows"] == {"train": 2, "valid": 1, "test": 2}


def test_iemocap_same_speaker_context():
    config = TextConfig(prefix="", window=2, causal=False, iemocap_context="speaker", score_decimals=2)
    groups, _ = preprocess(iemocap_table(), iemocap_universal(), None, text_config=config,
                           features_config=features_config())
    assert groups["train"].inputs == ["</s> I'm so happy </s> Yes!", "I'm so happy </s> Yes! </s>"]
    assert groups["test"].inputs == ["</s> Go away </s>", "</s> Why </s>"]


# --- merge ----------------------------------------------------------------------------------------


def split_arrays(dataset: str, split: str, n: int, base: float) -> SplitArrays:
    """n rows `<dataset>/<split>/<k>`; row k has k + 1 audio frames of value base + k and one video frame."""
    lengths = np.arange(1, n + 1, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    audio = np.concatenate([np.full((k + 1, 2), base + k, dtype=np.float32) for k in range(n)])
    return SplitArrays(ids=[f"{dataset}/{split}/{k}" for k in range(n)], dataset=[dataset] * n,
                       inputs=[f"in {dataset} {k}" for k in range(n)], targets=[f"t {k}" for k in range(n)],
                       gold_score=np.arange(n, dtype=np.float32) + base, gold_emotion=[""] * n,
                       polarity=["neutral"] * n, audio=audio, audio_offset=offsets, audio_length=lengths,
                       video=np.full((n, 3), -base, dtype=np.float32), video_offset=np.arange(n, dtype=np.int64),
                       video_length=np.ones(n, dtype=np.int64))


@pytest.fixture
def parts() -> dict:
    sizes = {"mosi": (5, 2, 3), "mosei": (7, 3, 4), "meld": (6, 1, 2)}
    return {d: {split: split_arrays(d, split, n, 100.0 * (i + 1) + 10 * j)
                for j, (split, n) in enumerate(zip(("train", "valid", "test"), ns))}
            for i, (d, ns) in enumerate(sizes.items())}


def test_merge_concatenates_shuffles_train_and_keeps_tests(parts):
    merged = merge(parts, ["mosi", "mosei"], seed=0)
    assert list(merged) == ["train", "valid", "test/mosi", "test/mosei"]
    train_ids = parts["mosi"]["train"].ids + parts["mosei"]["train"].ids
    assert len(merged["train"]) == 12 and Counter(merged["train"].ids) == Counter(train_ids)
    assert merged["train"].ids != train_ids  # shuffled
    assert merged["valid"].ids == ["mosi/valid/0", "mosi/valid/1", "mosei/valid/0", "mosei/valid/1", "mosei/valid/2"]
    assert merged["test/mosi"].ids == parts["mosi"]["test"].ids
    assert merged["test/mosei"].ids == parts["mosei"]["test"].ids
    assert merged["train"].dataset_counts() == {"mosi": 5, "mosei": 7}


def test_merge_rows_keep_their_own_fields_and_features(parts):
    merged = merge(parts, ["mosi", "mosei", "meld"], seed=3)
    source = {uid: (d, k) for d in parts for k, uid in enumerate(parts[d]["train"].ids)}
    train = merged["train"]
    for i, uid in enumerate(train.ids):
        d, k = source[uid]
        original = parts[d]["train"]
        assert train.dataset[i] == d and train.inputs[i] == original.inputs[k] and train.targets[i] == original.targets[k]
        assert train.gold_score[i] == original.gold_score[k]
        np.testing.assert_array_equal(train.audio_of(i), original.audio_of(k))
        np.testing.assert_array_equal(train.video_of(i), original.video_of(k))
    valid = merged["valid"]
    np.testing.assert_array_equal(valid.audio_of(2), parts["mosei"]["valid"].audio_of(0))
    np.testing.assert_array_equal(valid.video_of(5), parts["meld"]["valid"].video_of(0))


def test_merge_shuffle_is_seeded(parts):
    first = merge(parts, ["mosi", "mosei", "meld"], seed=7)["train"].ids
    again = merge(parts, ["mosi", "mosei", "meld"], seed=7)["train"].ids
    other = merge(parts, ["mosi", "mosei", "meld"], seed=8)["train"].ids
    assert first == again
    assert other != first and sorted(other) == sorted(first)
    concatenated = [uid for d in ("mosi", "mosei", "meld") for uid in parts[d]["train"].ids]
    expected = [concatenated[i] for i in np.random.default_rng(7).permutation(len(concatenated))]
    assert first == expected


def test_merge_of_one_dataset_keeps_its_valid_and_test(parts):
    merged = merge(parts, ["meld"], seed=0)
    assert list(merged) == ["train", "valid", "test/meld"]
    assert sorted(merged["train"].ids) == sorted(parts["meld"]["train"].ids)
    assert merged["valid"].ids == parts["meld"]["valid"].ids


def test_merge_needs_every_dataset_of_the_combination(parts):
    with pytest.raises(ValueError, match="iemocap"):
        merge(parts, ["mosi", "mosei", "meld", "iemocap"], seed=0)
