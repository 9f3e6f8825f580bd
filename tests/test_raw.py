"""The raw readers on tiny hand-written files, one per format and per error; then the real label files."""

from __future__ import annotations

import csv
import dataclasses
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from unimse_core import datasets
from unimse_core.datasets import iemocap, meld, msa
from unimse_core.io import raw
from unimse_core.io.errors import RawDataError
from unimse_core.io.safe_pickle import UnsafePickleError

MSA_HEADER = ["video_id", "clip_id", "text", "label", "annotation", "mode", "label_by"]
MELD_HEADER = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID",
               "Season", "Episode", "StartTime", "EndTime"]
IEMOCAP_HEADER = ["start_stop", "vid_cid", "label", "VAD", "text", "vid", "i", "path"]

# Three MOSI rows: a video id with underscores, a text over two lines (lines 3-4), one row per split.
MSA_ROWS = [
    ["a_b_c", "3", "hello there", "-1.5", "Negative", "train", "0"],
    ["vid", "1", "two\nlines", "0.0", "Neutral", "valid", "0"],
    ["vid", "2", "good", "2.8", "Positive", "test", "0"],
]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def dump(obj: object, path: Path) -> Path:
    with path.open("wb") as handle:
        pickle.dump(obj, handle)
    return path


def msa_row(video: str, clip: str, split: str, label: str = "0.5", text: str = "some words") -> list[str]:
    return [video, clip, text, label, "Positive", split, "0"]


def meld_row(dialogue: int, utterance: int, text: str = "Hi.", speaker: str = "Joey",
             emotion: str = "joy", sentiment: str = "positive") -> list[str]:
    return ["1", text, speaker, emotion, sentiment, str(dialogue), str(utterance), "1", "1",
            "00:00:01,000", "00:00:02,000"]


def iemocap_row(uid: str, code: str, text: str = "Hello.") -> list[str]:
    return ["[1.0-2.0]", uid, code, "[2.5, 2.5, 2.5]", text, uid.rpartition("_")[0], "0", "x.wav"]


def write_meld(tmp_path: Path, rows: dict[str, list[list[str]]]) -> dict[str, Path]:
    return {split: write_csv(tmp_path / f"{split}_sent_emo.csv", MELD_HEADER, split_rows)
            for split, split_rows in rows.items()}


def authors_block(ids: list[bytes], audio: np.ndarray, vision: np.ndarray, labels: list[float]) -> dict:
    return {"id": np.array([[i] for i in ids]), "audio": audio, "vision": vision,
            "labels": np.array(labels, dtype=np.float32).reshape(-1, 1, 1)}


def ones_block(ids: list[bytes], labels: list[float] | None = None) -> dict:
    n = len(ids)
    return authors_block(ids, np.ones((n, 2, 3), np.float32), np.ones((n, 2, 1), np.float32),
                         labels if labels is not None else [0.0] * n)


# --- MOSI/MOSEI label.csv --------------------------------------------------------------------------


def test_msa_labels_read_ids_splits_scores_and_start_lines(tmp_path):
    table = msa.read_msa_labels(write_csv(tmp_path / "label.csv", MSA_HEADER, MSA_ROWS), "mosi")
    assert table.dataset == "mosi"
    assert table.ids == ["a_b_c_3", "vid_1", "vid_2"]
    assert table.splits == ["train", "valid", "test"]
    assert table.texts == ["hello there", "two\nlines", "good"]
    assert table.scores.tolist() == [-1.5, 0.0, 2.8]
    assert table.annotations == ["Negative", "Neutral", "Positive"]
    assert table.lines == [2, 3, 5]
    assert table.split_counts() == {"train": 1, "valid": 1, "test": 1}
    assert table.where(2).endswith("label.csv line 5")


def test_msa_labels_accept_a_byte_order_mark(tmp_path):
    path = write_csv(tmp_path / "label.csv", MSA_HEADER, MSA_ROWS)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert msa.read_msa_labels(path, "mosi").ids == ["a_b_c_3", "vid_1", "vid_2"]


def test_missing_column_is_named_with_the_header_found(tmp_path):
    header = [c for c in MSA_HEADER if c != "annotation"]
    path = write_csv(tmp_path / "label.csv", header, [r[:4] + r[5:] for r in MSA_ROWS])
    with pytest.raises(RawDataError, match=r"missing column 'annotation' \(header found: 'video_id', "
                                           r"'clip_id', 'text', 'label', 'mode', 'label_by'\)"):
        msa.read_msa_labels(path, "mosi")


def test_non_utf8_byte_names_the_line_and_byte_offset(tmp_path):
    header = b"video_id,clip_id,text,label,annotation,mode,label_by\n"  # 53 bytes
    line2 = b"v,1,ok,0.5,Positive,train,0\n"                             # 28 bytes
    line3 = b"v,2,caf\xe9,0.5,Positive,valid,0\n"                        # 0xe9 is byte 7 of the line
    path = tmp_path / "label.csv"
    path.write_bytes(header + line2 + line3)
    with pytest.raises(RawDataError) as err:
        msa.read_msa_labels(path, "mosi", encoding="utf-8")  # declared UTF-8: no cp1252 fallback
    assert err.value.record == "line 3"
    assert err.value.path == str(path)
    assert "byte 0xe9 at byte offset 88 (byte 7 of the line" in err.value.problem
    assert '"encoding" to cp1252' in err.value.problem
    # undeclared: 0xe9 is cp1252 e-acute; 0x81 is neither UTF-8 nor cp1252
    line4 = b"v,3,x\x81,0.5,Positive,test,0\n"
    path.write_bytes(header + line2 + line3 + line4)
    with pytest.raises(RawDataError, match=r"not cp1252 either \(byte 0x81") as err:
        msa.read_msa_labels(path, "mosi")
    assert err.value.record == "line 4"


@pytest.mark.parametrize("label", ["abc", "3.5", "-3.01", "nan", "inf", "", "1_0"])
def test_bad_score_names_line_column_and_range(tmp_path, label):
    rows = [msa_row("v", "1", "train"), msa_row("v", "2", "valid", label=label), msa_row("v", "3", "test")]
    path = write_csv(tmp_path / "label.csv", MSA_HEADER, rows)
    with pytest.raises(RawDataError) as err:
        msa.read_msa_labels(path, "mosi")
    assert err.value.record == "line 3"
    assert err.value.problem == f"column 'label': expected a number in [-3, 3], got {label!r}"


def test_scores_at_the_bounds_are_accepted(tmp_path):
    rows = [msa_row("v", "1", "train", "-3"), msa_row("v", "2", "valid", "3.0"), msa_row("v", "3", "test", "+1e0")]
    table = msa.read_msa_labels(write_csv(tmp_path / "label.csv", MSA_HEADER, rows), "mosi")
    assert table.scores.tolist() == [-3.0, 3.0, 1.0]


@pytest.mark.parametrize("column,value,expected", [
    (4, "positive", "one of Positive, Negative, Neutral"),
    (5, "dev", "one of train, valid, test"),
    (0, "", "a video id (non-empty, no spaces)"),
])
def test_bad_category_lists_the_expected_values(tmp_path, column, value, expected):
    rows = [msa_row("v", "1", "train"), msa_row("v", "2", "valid"), msa_row("v", "3", "test")]
    rows[2][column] = value
    path = write_csv(tmp_path / "label.csv", MSA_HEADER, rows)
    with pytest.raises(RawDataError) as err:
        msa.read_msa_labels(path, "mosi")
    assert err.value.record == "line 4"
    assert err.value.problem == f"column {MSA_HEADER[column]!r}: expected {expected}, got {value!r}"


def test_duplicate_id_names_both_lines(tmp_path):
    rows = [msa_row("v_x", "1", "train"), msa_row("w", "2", "valid"), msa_row("v_x", "1", "test")]
    with pytest.raises(RawDataError, match=r"line 4: duplicate id 'v_x_1': also on line 2"):
        msa.read_msa_labels(write_csv(tmp_path / "label.csv", MSA_HEADER, rows), "mosi")


def test_empty_text_names_the_line(tmp_path):
    rows = [msa_row("v", "1", "train"), msa_row("v", "2", "valid", text="  "), msa_row("v", "3", "test")]
    with pytest.raises(RawDataError, match=r"line 3: column 'text': expected a non-empty utterance"):
        msa.read_msa_labels(write_csv(tmp_path / "label.csv", MSA_HEADER, rows), "mosi")


def test_empty_split_names_dataset_and_split(tmp_path):
    rows = [msa_row("v", "1", "train"), msa_row("v", "2", "test")]
    with pytest.raises(RawDataError, match=r"mosei: split 'valid' has no rows \(rows per split: "
                                           r"train 1, valid 0, test 1\)"):
        msa.read_msa_labels(write_csv(tmp_path / "label.csv", MSA_HEADER, rows), "mosei")


def test_wrong_field_count_and_bad_quoting_name_the_line(tmp_path):
    path = tmp_path / "label.csv"
    path.write_text(",".join(MSA_HEADER) + "\nv,1,text,0.5,Positive,train\n", encoding="utf-8")
    with pytest.raises(RawDataError, match=r"line 2: expected 7 fields as in the header, found 6"):
        msa.read_msa_labels(path, "mosi")
    path.write_text(",".join(MSA_HEADER) + '\nv,1,"a"b,0.5,Positive,train,0\n', encoding="utf-8")
    with pytest.raises(RawDataError, match=r"line 2: malformed CSV"):
        msa.read_msa_labels(path, "mosi")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(RawDataError, match="file not found"):
        msa.read_msa_labels(tmp_path / "absent.csv", "mosi")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(RawDataError, match="empty file, expected a header"):
        msa.read_msa_labels(tmp_path / "empty.csv", "mosi")


# --- MELD ------------------------------------------------------------------------------------------


def test_meld_ids_are_unique_across_splits_and_keep_the_feature_key(tmp_path):
    paths = write_meld(tmp_path, {
        "train": [meld_row(0, 0, "Hi."), meld_row(0, 1, "Hey.", "Ross", "neutral", "neutral"),
                  meld_row(3, 0, "Yo.")],
        "dev": [meld_row(0, 0, "Again.", "Monica", "anger", "negative")],
        "test": [meld_row(0, 0, "Bye.")],
    })
    table = meld.read_meld_labels(paths)
    assert table.ids == ["train/0_0", "train/0_1", "train/3_0", "valid/0_0", "test/0_0"]
    assert table.feature_keys == ["0_0", "0_1", "3_0", "0_0", "0_0"]
    assert table.dialogues == ["train/0", "train/0", "train/3", "valid/0", "test/0"]
    assert table.utterances.tolist() == [0, 1, 0, 0, 0]
    assert table.splits == ["train", "train", "train", "valid", "test"]
    assert table.speakers == ["Joey", "Ross", "Joey", "Monica", "Joey"]
    assert table.emotions == ["joy", "neutral", "joy", "anger", "joy"]
    assert table.sentiments == ["positive", "neutral", "positive", "negative", "positive"]
    assert table.lines == [2, 3, 4, 2, 2]
    assert table.where(3) == f"{paths['dev']} line 2"


def test_meld_mojibake_is_valid_utf8_and_loads_unchanged(tmp_path):
    mojibake = "Thatâ€™s Â nice Ã©"  # UTF-8 bytes once decoded as cp1252, then written as UTF-8 again
    paths = write_meld(tmp_path, {"train": [meld_row(0, 0, mojibake)], "valid": [meld_row(0, 0)],
                                  "test": [meld_row(0, 0)]})
    assert meld.read_meld_labels(paths).texts[0] == mojibake


def test_meld_errors(tmp_path):
    good = {"train": [meld_row(0, 0)], "dev": [meld_row(0, 0)], "test": [meld_row(0, 0)]}
    paths = write_meld(tmp_path, {**good, "test": [meld_row(0, 0, emotion="happy")]})
    with pytest.raises(RawDataError, match=r"test_sent_emo.csv: line 2: column 'Emotion': expected one of "
                                           r"neutral, joy, surprise, anger, sadness, disgust, fear, got 'happy'"):
        meld.read_meld_labels(paths)
    bad_id = meld_row(0, 0)
    bad_id[5] = "x1"
    paths = write_meld(tmp_path, {**good, "train": [meld_row(0, 0), bad_id]})
    with pytest.raises(RawDataError, match=r"line 3: column 'Dialogue_ID': expected a non-negative integer"):
        meld.read_meld_labels(paths)
    paths = write_meld(tmp_path, {**good, "dev": []})
    with pytest.raises(RawDataError, match=r"dev_sent_emo.csv: meld: split 'valid' has no rows"):
        meld.read_meld_labels(paths)
    paths = write_meld(tmp_path, {**good, "train": [meld_row(0, 0), meld_row(0, 1), meld_row(0, 0)]})
    with pytest.raises(RawDataError, match=r"line 4: duplicate id 'train/0_0': also on line 2"):
        meld.read_meld_labels(paths)
    with pytest.raises(RawDataError, match=r"meld: no label file for split\(s\) valid \(given: train "
                                           r"train_sent_emo.csv, test test_sent_emo.csv\)"):
        meld.read_meld_labels({"train": paths["train"], "test": paths["test"]})


# --- IEMOCAP ---------------------------------------------------------------------------------------

IEMOCAP_ROWS = [
    iemocap_row("Ses01F_impro01_F000", "hap"),
    iemocap_row("Ses01F_impro01_M001", "xxx", text=""),   # outside the classes: empty text tolerated
    iemocap_row("Ses05M_script01_1_M002", "exc"),
    iemocap_row("Ses02F_impro03_F003", "sur"),
    iemocap_row("Ses02F_impro03_M004", "neu"),
]


def test_iemocap_labels_keep_other_codes_flagged(tmp_path):
    table = iemocap.read_iemocap_labels(write_csv(tmp_path / "IEMOCAP_all.csv", IEMOCAP_HEADER, IEMOCAP_ROWS))
    assert table.ids == ["Ses01F_impro01_F000", "Ses01F_impro01_M001", "Ses05M_script01_1_M002",
                         "Ses02F_impro03_F003", "Ses02F_impro03_M004"]
    assert table.splits == [""] * 5
    assert table.dialogues == ["Ses01F_impro01", "Ses01F_impro01", "Ses05M_script01_1", "Ses02F_impro03",
                               "Ses02F_impro03"]
    assert table.speakers == ["F", "M", "M", "F", "M"]
    assert table.sessions.tolist() == [1, 1, 5, 2, 2]
    assert table.codes == ["hap", "xxx", "exc", "sur", "neu"]
    assert table.in_classes.tolist() == [True, False, True, False, True]
    assert table.other_codes == {"xxx": 1, "sur": 1}
    assert table.starts.tolist() == [1.0] * 5


def test_iemocap_start_times(tmp_path):
    rows = [iemocap_row("Ses01F_impro01_F000", "hap"), iemocap_row("Ses01F_impro01_M001", "sad")]
    rows[0][0], rows[1][0] = "[6.2901 - 8.2357]", " [10.0-11.5] "
    table = iemocap.read_iemocap_labels(write_csv(tmp_path / "IEMOCAP_all.csv", IEMOCAP_HEADER, rows))
    assert table.starts.tolist() == [6.2901, 10.0]
    rows[1][0] = "6.2"
    with pytest.raises(RawDataError, match=r"line 3: column 'start_stop': expected .*got '6.2'"):
        iemocap.read_iemocap_labels(write_csv(tmp_path / "bad.csv", IEMOCAP_HEADER, rows))


def test_iemocap_errors(tmp_path):
    path = tmp_path / "IEMOCAP_all.csv"
    cases = [
        (iemocap_row("Ses01F_impro01_F000", "ang", text=" "), "column 'text': expected a non-empty utterance"),
        (iemocap_row("Ses01F_impro01_X000", "ang"), "column 'vid_cid': expected an id like Ses01F_impro01_F000"),
        (iemocap_row("Ses06F_impro01_F000", "ang"), "column 'vid_cid': expected Session 01 to 05"),
        (iemocap_row("Ses01F_impro01_F000", "Angry"), "column 'label': expected a three-letter code"),
        (iemocap_row("Ses01F_impro01_F000", "ang")[:5] + ["Ses01F_impro02", "0", "x"],
         "column 'vid': expected the dialogue part of vid_cid 'Ses01F_impro01_F000'"),
    ]
    for row, message in cases:
        write_csv(path, IEMOCAP_HEADER, [IEMOCAP_ROWS[0], row])
        with pytest.raises(RawDataError) as err:
            iemocap.read_iemocap_labels(path)
        assert err.value.record == "line 3"
        assert err.value.problem.startswith(message)


def iemocap_features(tmp_path: Path) -> raw.Features:
    frames = np.ones((2, 4), np.float32)
    train = {"Ses01F_impro01_F000": frames}
    valid = {"Ses05M_script01_1_M002": frames}                 # Session 5 outside test: breaks the rule
    test = {"Ses03M_impro01_F001": frames}                     # no label row
    data = {"audio": [train, valid, test], "video": [dict(train), dict(valid), dict(test)]}
    return raw.read_erc_features(dump(data, tmp_path / "iemocap.pkl"), "iemocap")


def test_iemocap_splits_from_features_or_sessions(tmp_path):
    table = iemocap.read_iemocap_labels(write_csv(tmp_path / "IEMOCAP_all.csv", IEMOCAP_HEADER, IEMOCAP_ROWS))
    features = iemocap_features(tmp_path)
    # row 2 has no features: its dialogue's split (train); rows 4-5: no utterance of their dialogue
    # has features, so the session rule (Session 2 -> train)
    assert iemocap.assign_iemocap_splits(table, features).splits == ["train", "train", "valid", "train", "train"]
    assert iemocap.assign_iemocap_splits(table).splits == ["train", "train", "test", "train", "train"]
    assert table.splits == [""] * 5  # a copy is returned


def test_iemocap_match_expects_features_only_for_the_six_classes(tmp_path):
    table = iemocap.read_iemocap_labels(write_csv(tmp_path / "IEMOCAP_all.csv", IEMOCAP_HEADER, IEMOCAP_ROWS))
    match = raw.match_ids(table, iemocap_features(tmp_path))
    assert match.feature_index.tolist() == [0, -1, 1, -1, -1]
    assert match.labels_without_features == ["Ses02F_impro03_M004"]  # not the xxx and sur rows
    assert match.features_without_labels == ["Ses03M_impro01_F001"]
    assert match.split_mismatch == ["Ses05M_script01_1_M002"]
    # labels: hap (train), exc (valid, from its features), neu (train by session)
    assert match.counts == {"train": {"labels": 2, "features": 1, "matched": 1},
                            "valid": {"labels": 1, "features": 1, "matched": 1},
                            "test": {"labels": 0, "features": 1, "matched": 0}}


# --- MOSI/MOSEI feature pickles --------------------------------------------------------------------

NAN = np.nan
INF = np.inf


def authors_pickle() -> tuple[dict, dict]:
    """A left-padded authors' pickle (L = 4) and the true frames of each utterance."""
    train_audio = np.array([[[0, 0], [0, 0], [1, 2], [3, 4]],        # 2 leading zero frames
                            [[0, 0], [5, 6], [0, 0], [7, 8]]],       # 1 leading; the inside zero stays
                           np.float32)
    train_vision = np.array([[[0], [0], [0], [9]],
                             [[0], [1], [0], [0]]], np.float32)     # zeros at both ends: not padding
    valid_audio = np.array([[[0, 0], [NAN, 1], [2, 2], [3, 3]]], np.float32)  # a NaN frame is not padding
    valid_vision = np.array([[[1], [2], [3], [4]]], np.float32)
    test_audio = np.zeros((1, 4, 2), np.float32)                        # all padding: no frame
    test_vision = np.array([[[0], [0], [INF], [1]]], np.float32)
    data = {
        "train": authors_block([b"a_b_c_3", b"vid_1"], train_audio, train_vision, [-1.5, 0.0]),
        "valid": authors_block([b"vid_2"], valid_audio, valid_vision, [2.8]),
        "test": authors_block([b"x_y_9"], test_audio, test_vision, [1.0]),
    }
    expected = {
        "audio": [[[1, 2], [3, 4]], [[5, 6], [0, 0], [7, 8]], [[NAN, 1], [2, 2], [3, 3]], np.zeros((0, 2))],
        "video": [[[9]], [[1], [0], [0]], [[1], [2], [3], [4]], [[INF], [1]]],
    }
    return data, expected


def test_authors_layout_left_padding_views_and_nan_frames(tmp_path):
    data, expected = authors_pickle()
    features = raw.read_msa_features(dump(data, tmp_path / "mosi.pkl"), "mosi")
    assert (features.layout, features.padding) == ("authors", "left")
    assert features.ids == ["a_b_c_3", "vid_1", "vid_2", "x_y_9"]
    assert features.splits == ["train", "train", "valid", "test"]
    assert (features.audio_dim, features.video_dim) == (2, 1)
    assert features.ids_parsed
    np.testing.assert_allclose(features.scores, [-1.5, 0.0, 2.8, 1.0], rtol=1e-6)
    for name in ("audio", "video"):
        got = getattr(features, name)
        assert len(got) == 4
        for sequence, want in zip(got, expected[name]):
            np.testing.assert_array_equal(sequence, np.asarray(want, np.float32))
    assert features.nan_frames == {"audio": 1, "video": 1}
    # Views into the loaded array, not copies.
    assert not features.audio[0].flags.owndata
    assert features.audio[0].base is features.audio[1].base


def test_right_padding_detected(tmp_path):
    audio = np.array([[[1, 1], [2, 2], [0, 0]],        # 1 trailing zero frame
                      [[3, 3], [0, 0], [4, 4]]], np.float32)  # a zero frame inside only: kept
    vision = np.array([[[1], [0], [0]], [[2], [3], [4]]], np.float32)
    data = {split: authors_block([b"v_1", b"v_2"] if split == "train" else [], audio if split == "train" else
                                 audio[:0], vision if split == "train" else vision[:0], [0, 0] if split == "train"
                                 else []) for split in raw.SPLITS}
    features = raw.read_msa_features(dump(data, tmp_path / "mosi.pkl"), "mosi")
    assert features.padding == "right"
    assert [len(a) for a in features.audio] == [2, 3]
    assert [len(v) for v in features.video] == [1, 3]


def test_leading_and_trailing_runs_in_one_file_are_ambiguous(tmp_path):
    data = {
        "train": authors_block([b"v_1"], np.array([[[0.0], [1.0]]]), np.ones((1, 2, 1)), [0]),   # leading
        "valid": authors_block([b"v_2"], np.ones((1, 2, 1)), np.array([[[1.0], [0.0]]]), [0]),   # trailing
        "test": authors_block([b"v_3"], np.ones((1, 2, 1)), np.ones((1, 2, 1)), [0]),
    }
    path = dump(data, tmp_path / "mosi.pkl")
    with pytest.raises(RawDataError) as err:
        raw.read_msa_features(path, "mosi")
    assert err.value.record == "train/audio row 0, valid/vision row 0"
    assert "train/audio row 0 (id 'v_1') has 1 leading and 0 trailing all-zero frames" in err.value.problem
    assert "valid/vision row 0 (id 'v_2') has 0 leading and 1 trailing all-zero frames" in err.value.problem
    assert err.value.problem.endswith("set features.padding: left or right")
    # An explicit side settles it.
    features = raw.read_msa_features(path, "mosi", padding="left")
    assert [len(a) for a in features.audio] == [1, 2, 2]
    assert [len(v) for v in features.video] == [2, 2, 2]


def test_no_one_sided_zero_run_means_no_padding(tmp_path):
    data = {split: ones_block([f"v_{i}".encode()]) for i, split in enumerate(raw.SPLITS)}
    data["train"]["audio"][0, :, :] = [[0, 0, 0], [0, 0, 0]]  # an all-zero row says nothing
    features = raw.read_msa_features(dump(data, tmp_path / "mosi.pkl"), "mosi")
    assert features.padding == "none"
    assert [len(a) for a in features.audio] == [2, 2, 2]


def mmsa_pickle(audio_rows: list[list[list[float]]], audio_lengths: list[int]) -> dict:
    n = len(audio_rows)
    return {split: {"raw_text": ["t"] * n, "id": [f"a_{split}$_${i}" for i in range(n)],
                    "audio": np.array(audio_rows, np.float32), "vision": np.ones((n, 2, 3), np.float32),
                    "audio_lengths": np.array(audio_lengths), "vision_lengths": np.full(n, 2),
                    "regression_labels": np.zeros(n, np.float32)} for split in raw.SPLITS}


def test_mmsa_layout_lengths_are_used(tmp_path):
    # Row 0 keeps a zero frame that the lengths count as true; row 1 is right-padded by 1 frame.
    data = mmsa_pickle([[[1.0], [0.0], [0.0]], [[2.0], [3.0], [0.0]]], [2, 2])
    features = raw.read_msa_features(dump(data, tmp_path / "mosi.pkl"), "mosi")
    assert (features.layout, features.padding) == ("mmsa", "right")
    assert features.ids[:3] == ["a_train_0", "a_train_1", "a_valid_0"]
    np.testing.assert_array_equal(features.audio[0], [[1.0], [0.0]])
    np.testing.assert_array_equal(features.audio[1], [[2.0], [3.0]])
    assert [len(v) for v in features.video] == [2] * 6


def test_mmsa_lengths_left_padding(tmp_path):
    data = mmsa_pickle([[[0.0], [0.0], [5.0]], [[0.0], [4.0], [0.0]]], [1, 2])
    features = raw.read_msa_features(dump(data, tmp_path / "mosi.pkl"), "mosi")
    assert features.padding == "left"
    np.testing.assert_array_equal(features.audio[0], [[5.0]])
    np.testing.assert_array_equal(features.audio[1], [[4.0], [0.0]])


def test_mmsa_lengths_contradicted_by_frames(tmp_path):
    data = mmsa_pickle([[[1.0], [2.0], [3.0]], [[1.0], [1.0], [1.0]]], [3, 2])
    with pytest.raises(RawDataError) as err:
        raw.read_msa_features(dump(data, tmp_path / "mosi.pkl"), "mosi")
    assert err.value.record == "train/audio row 1, train/audio row 1"
    assert "audio_lengths 2 of 3 but frames 2..2 are not all zero" in err.value.problem
    assert "audio_lengths 2 of 3 but frames 0..0 are not all zero" in err.value.problem
    data = mmsa_pickle([[[1.0], [2.0], [0.0]], [[1.0], [1.0], [1.0]]], [2, 4])
    with pytest.raises(RawDataError, match=r"train/audio_lengths: expected 2 integer frame counts in \[0, 3\]"):
        raw.read_msa_features(dump(data, tmp_path / "mosi.pkl"), "mosi")


def test_explicit_padding_never_overrides_lengths(tmp_path):
    data = mmsa_pickle([[[1.0], [0.0], [0.0]], [[2.0], [3.0], [0.0]]], [2, 2])
    path = dump(data, tmp_path / "mosi.pkl")
    with pytest.raises(RawDataError) as err:
        raw.read_msa_features(path, "mosi", padding="left")
    assert err.value.record == "train/audio row 0"
    assert "padding 'left' was asked for, but train/audio row 0 (id 'a_train_0') has audio_lengths 2 of 3 " \
           "but frames 0..0 are not all zero" in err.value.problem
    with pytest.raises(RawDataError, match=r"padding 'none' was asked for, but train/audio row 0 has "
                                           r"audio_lengths 2 of 3 frames"):
        raw.read_msa_features(path, "mosi", padding="none")


def test_id_pairs_and_unparsable_ids(tmp_path):
    data = {split: ones_block([b"x_1"]) for split in raw.SPLITS}
    data["train"]["id"] = np.array([["a_b", "3"]], dtype=object)
    data["valid"]["id"] = np.array([[b"c", 4]], dtype=object)
    data["test"]["id"] = np.array([["d_5"]])
    features = raw.read_msa_features(dump(data, tmp_path / "mosi.pkl"), "mosi")
    assert features.ids == ["a_b_3", "c_4", "d_5"] and features.ids_parsed
    data["test"]["id"] = np.array([["d", "5", "x"]])
    assert not raw.read_msa_features(dump(data, tmp_path / "mosi.pkl"), "mosi").ids_parsed
    data["test"]["id"] = np.array(["nounderscore"])
    assert not raw.read_msa_features(dump(data, tmp_path / "mosi.pkl"), "mosi").ids_parsed


def test_msa_feature_errors(tmp_path):
    def fails(data: dict, pattern: str) -> None:
        with pytest.raises(RawDataError, match=pattern):
            raw.read_msa_features(dump(data, tmp_path / "mosi.pkl"), "mosi")

    def good() -> dict:
        return {split: ones_block([f"v_{i}".encode()]) for i, split in enumerate(raw.SPLITS)}

    fails({"train": {}, "test": {}}, r"missing split\(s\) valid: expected keys train, valid, test, "
                                     r"found 'train', 'test'")
    data = good()
    del data["valid"]["labels"]
    fails(data, r"valid: missing key\(s\) 'labels': expected the authors' layout \(id, audio, vision, labels\) "
                r"or the MMSA layout .*found 'id', 'audio', 'vision'")
    data = good()
    data["test"]["vision"] = np.ones((1, 2), np.float32)
    fails(data, r"test/vision: expected a 3-D float array .* found a 2-D float32 array of shape \(1, 2\)")
    data = good()
    data["train"]["audio"] = np.ones((1, 2, 3), np.int64)
    fails(data, r"train/audio: expected a 3-D float array")
    data = good()
    data["train"]["audio"] = np.ones((2, 2, 3), np.float32)
    fails(data, r"train: row counts differ: id 1, audio 2 \(shape \(2, 2, 3\)\), vision 1 \(shape \(1, 2, 1\)\), "
                r"labels 1 \(shape \(1, 1, 1\)\)")
    data = good()
    data["test"]["audio"] = np.ones((1, 2, 5), np.float32)
    fails(data, r"test/audio: 5 features per frame \(shape \(1, 2, 5\)\), but train/audio has 3")
    data = good()
    data["test"]["id"] = np.array([[b"v_0"]])
    fails(data, r"test/id row 0: duplicate id 'v_0': also train/id row 0")
    data = good()
    data["valid"] = mmsa_pickle([[[1.0]]], [1])["valid"]
    fails(data, "splits mix the authors' and the MMSA layouts")


def test_pickles_are_loaded_safely(tmp_path):
    with pytest.raises(UnsafePickleError, match="collections.Counter"):
        raw.read_msa_features(dump({"train": Counter()}, tmp_path / "evil.pkl"), "mosi")


# --- MELD/IEMOCAP feature pickles ------------------------------------------------------------------


def erc_pickle() -> dict:
    audio = [{"0_0": np.ones((3, 2), np.float32), "0_1": np.array([NAN, 1.0], np.float32)},  # [D] is T = 1
             {"0_0": np.zeros((2, 2), np.float32)},
             {"0_0": np.ones((1, 2), np.float32)}]
    video = [{"0_0": np.ones((4, 3)), "0_1": np.ones((2, 3))},
             {"0_0": np.array([[1.0, INF, 0.0], [NAN, NAN, NAN]])},
             {"0_0": np.ones((1, 3))}]
    return {"audio": audio, "video": video}


def test_erc_features(tmp_path):
    features = raw.read_erc_features(dump(erc_pickle(), tmp_path / "meld.pkl"), "meld")
    assert (features.layout, features.padding) == ("erc", "none")
    assert features.ids == ["0_0", "0_1", "0_0", "0_0"]
    assert features.splits == ["train", "train", "valid", "test"]
    assert (features.audio_dim, features.video_dim) == (2, 3)
    assert [a.shape for a in features.audio] == [(3, 2), (1, 2), (2, 2), (1, 2)]
    assert [v.shape for v in features.video] == [(4, 3), (2, 3), (2, 3), (1, 3)]
    assert features.nan_frames == {"audio": 1, "video": 2}


def test_erc_feature_errors(tmp_path):
    def fails(data: dict, pattern: str, dataset: str = "meld") -> None:
        with pytest.raises(RawDataError, match=pattern):
            raw.read_erc_features(dump(data, tmp_path / "erc.pkl"), dataset)

    fails({"audio": erc_pickle()["audio"]}, r"missing key 'video': expected keys 'audio', 'video', found 'audio'")
    data = erc_pickle()
    data["video"] = data["video"][:2]
    fails(data, r"video: expected a list of 3 dicts \(train, dev, test\), found a list of length 2")
    data = erc_pickle()
    data["audio"][1]["0_0"] = np.ones((1, 2, 2))
    fails(data, r"audio\[1\]\['0_0'\]: expected a float array \[frames, features\] \(or \[features\]\), "
                r"found a 3-D float64 array")
    data = erc_pickle()
    data["video"][2]["0_0"] = np.ones((1, 4))
    fails(data, r"video\[2\]\['0_0'\]: 4 features per frame, but video\[0\]\['0_0'\] has 3")
    data = {"audio": [{"Ses01F_a_F000": np.ones((1, 2))}, {}, {"Ses01F_a_F000": np.ones((1, 2))}],
            "video": [{"Ses01F_a_F000": np.ones((1, 2))}, {}, {"Ses01F_a_F000": np.ones((1, 2))}]}
    fails(data, r"key 'Ses01F_a_F000' is in both the train and the test dicts", "iemocap")


# --- matching --------------------------------------------------------------------------------------


def msa_labels(tmp_path: Path) -> raw.LabelTable:
    return msa.read_msa_labels(write_csv(tmp_path / "label.csv", MSA_HEADER, MSA_ROWS), "mosi")


def test_match_msa_by_id(tmp_path):
    data = {"train": ones_block([b"a_b_c_3", b"vid_2"], [-1.5, 2.0]),  # vid_2 is a test row in label.csv
            "valid": ones_block([b"extra_9"]),
            "test": ones_block([b"x_y_5"])}
    features = raw.read_msa_features(dump(data, tmp_path / "mosi.pkl"), "mosi")
    match = raw.match_ids(msa_labels(tmp_path), features)
    assert match.matched_by == "id"
    assert match.feature_index.tolist() == [0, -1, 1]
    assert match.labels_without_features == ["vid_1"]
    assert match.features_without_labels == ["extra_9", "x_y_5"]
    assert match.split_mismatch == ["vid_2"]
    assert match.score_mismatch == ["vid_2"]  # 2.0 in the pickle, 2.8 in label.csv
    assert match.counts == {"train": {"labels": 1, "features": 2, "matched": 2},
                            "valid": {"labels": 1, "features": 1, "matched": 0},
                            "test": {"labels": 1, "features": 1, "matched": 0}}


def test_match_msa_by_position_when_ids_cannot_be_read(tmp_path):
    data = {split: ones_block([b"u"]) for split in raw.SPLITS}
    for split, block in data.items():
        block["id"] = np.array([[f"{split}-clip", "0", "1"]])  # [N, 3]: not label ids
    features = raw.read_msa_features(dump(data, tmp_path / "mosi.pkl"), "mosi")
    match = raw.match_ids(msa_labels(tmp_path), features)
    assert match.matched_by == "position"
    assert match.feature_index.tolist() == [0, 1, 2]
    assert match.labels_without_features == match.features_without_labels == []
    # Ids that parse but name no label row are never paired by position: they are unmatched.
    other = {split: ones_block([f"other_{i}".encode()]) for i, split in enumerate(raw.SPLITS)}
    other_features = raw.read_msa_features(dump(other, tmp_path / "other.pkl"), "mosi")
    assert other_features.ids_parsed
    other_match = raw.match_ids(msa_labels(tmp_path), other_features)
    assert other_match.matched_by == "id" and other_match.feature_index.tolist() == [-1, -1, -1]
    assert other_match.features_without_labels == ["other_0", "other_1", "other_2"]
    data["test"] = {key: value.repeat(2, axis=0) for key, value in data["test"].items()}
    features = raw.read_msa_features(dump(data, tmp_path / "mosi.pkl"), "mosi")
    with pytest.raises(RawDataError, match=r"no test id can be read as a .* the counts differ: 1 labels vs 2 "
                                           r"features"):
        raw.match_ids(msa_labels(tmp_path), features)


def test_match_meld_keys_within_their_split(tmp_path):
    paths = write_meld(tmp_path, {"train": [meld_row(0, 0), meld_row(0, 1)], "dev": [meld_row(0, 0)],
                                  "test": [meld_row(0, 0), meld_row(1, 0)]})
    frames = np.ones((1, 2))
    data = {"audio": [{"0_0": frames, "0_1": frames}, {"0_0": frames}, {"0_0": frames, "5_5": frames}]}
    data["video"] = [dict(part) for part in data["audio"]]
    features = raw.read_erc_features(dump(data, tmp_path / "meld.pkl"), "meld")
    match = raw.match_ids(meld.read_meld_labels(paths), features)
    assert match.feature_index.tolist() == [0, 1, 2, 3, -1]  # "0_0" of each split goes to its own split
    assert match.labels_without_features == ["test/1_0"]
    assert match.features_without_labels == ["test/5_5"]
    assert match.split_mismatch == []
    assert match.counts["test"] == {"labels": 2, "features": 2, "matched": 1}


def test_match_rejects_other_datasets(tmp_path):
    data = {split: ones_block([f"v_{i}".encode()]) for i, split in enumerate(raw.SPLITS)}
    features = raw.read_msa_features(dump(data, tmp_path / "mosei.pkl"), "mosei")
    with pytest.raises(ValueError, match="labels of 'mosi' cannot be matched with features of 'mosei'"):
        raw.match_ids(msa_labels(tmp_path), features)


def test_only_a_dataset_with_unique_feature_keys_refuses_a_key_in_two_splits(tmp_path):
    frames = np.ones((1, 2))
    data = {"audio": [{"Ses01F_a_F000": frames}, {}, {"Ses01F_a_F000": frames}]}
    data["video"] = [dict(part) for part in data["audio"]]
    path = dump(data, tmp_path / "erc.pkl")
    assert not datasets.get("meld").feature_keys_unique and datasets.get("iemocap").feature_keys_unique
    # keys repeat across splits: two utterances, one per split
    assert datasets.get("meld").read_features(path).splits == ["train", "test"]
    with pytest.raises(RawDataError, match=r"key 'Ses01F_a_F000' is in both the train and the test dicts") as err:
        datasets.get("iemocap").read_features(path)
    assert err.value.record == "audio[2]['Ses01F_a_F000']"


def test_the_default_match_pairs_by_id_and_compares_the_splits():
    labels = raw.LabelTable(dataset="toy", paths=(Path("toy.csv"),), ids=["a", "b", "c"],
                            splits=["train", "valid", "test"], texts=["x"] * 3, lines=[2, 3, 4], files=[0] * 3)
    features = raw.Features(dataset="toy", path=Path("toy.pkl"), layout="erc", padding="none",
                            ids=["c", "z", "b"], splits=["test", "train", "test"], audio=[None] * 3,
                            video=[None] * 3, audio_dim=0, video_dim=0, nan_frames={})
    toy = datasets.Dataset(name="toy", title="Toy", kind="emotion", card_name="toy", label_kinds=(),
                           feature_kind=None)
    index, names, how = toy.match_features(labels, features)
    assert index.tolist() == [-1, 2, 0] and names == ["c", "z", "b"]
    assert how == {"train": "id", "valid": "id", "test": "id"}
    # "b" is valid in the labels but test in the features
    assert toy.check_feature_splits(labels, features, index) == (["b"], ["train", "valid", "test"])
    with pytest.raises(ValueError, match=r"Toy has no feature file \(text-only\): x.pkl"):
        toy.read_features(Path("x.pkl"))


def test_the_session_rule_judges_rows_whose_split_the_csv_does_not_give(tmp_path):
    table = iemocap.read_iemocap_labels(write_csv(tmp_path / "IEMOCAP_all.csv", IEMOCAP_HEADER, IEMOCAP_ROWS))
    features = iemocap_features(tmp_path)
    index = np.array([0, -1, 1, -1, -1])
    mismatch, splits = datasets.get("iemocap").check_feature_splits(table, features, index)
    # Session 5 in the valid dict breaks the rule; the rows without features take their session's split
    assert mismatch == ["Ses05M_script01_1_M002"]
    assert splits == ["train", "train", "valid", "train", "train"]
    # a row whose split is known (from the reference split) and differs from its features' is a mismatch
    known = dataclasses.replace(table, splits=["valid", "train", "test", "train", "train"])
    mismatch, splits = datasets.get("iemocap").check_feature_splits(known, features, index)
    assert mismatch == ["Ses01F_impro01_F000", "Ses05M_script01_1_M002"]
    assert splits == ["valid", "train", "test", "train", "train"]


# --- files no manifest entry names (unimse_core.release) -------------------------------------------


def test_an_unlisted_label_file_is_read_by_the_dataset_its_header_and_name_point_to(tmp_path):
    from unimse_core.release import inspect_unlisted

    (tmp_path / "mosei").mkdir()
    record, problems = inspect_unlisted(write_csv(tmp_path / "mosei" / "label.csv", MSA_HEADER, MSA_ROWS))
    assert problems == [] and record["read_as"] == "mosei"
    assert record["label_counts"] == {"train": 1, "valid": 1, "test": 1}
    record, problems = inspect_unlisted(write_csv(tmp_path / "label.csv", MSA_HEADER, MSA_ROWS))
    assert problems == [] and record["read_as"] == "mosi"  # no name in the path: the first registered
    # no split column: the reference split (Session 5 test, Ses01F_impro01 train)
    record, problems = inspect_unlisted(write_csv(tmp_path / "all.csv", IEMOCAP_HEADER, IEMOCAP_ROWS))
    assert problems == [] and record["read_as"] == "iemocap"
    assert record["label_counts"] == {"train": 4, "valid": 0, "test": 1}
    meld_csv = write_csv(tmp_path / "train_sent_emo.csv", MELD_HEADER, [meld_row(0, 0)])
    record, problems = inspect_unlisted(meld_csv)
    assert "read_as" not in record
    assert problems == [f"{meld_csv}: not listed in the manifest, and its header {','.join(MELD_HEADER)[:80]!r} fits "
                        "no label reader (MOSI/MOSEI by its column video_id; IEMOCAP by its column vid_cid; the label "
                        "files of MELD, EmoryNLP must be listed: add them to the manifest)"]


def test_an_unlisted_pickle_is_read_by_the_reader_its_structure_fits(tmp_path):
    from unimse_core.release import inspect_unlisted

    (tmp_path / "iemocap").mkdir()
    frames = np.ones((1, 2))
    data = {"audio": [{"Ses01F_a_F000": frames}, {"Ses01F_a_F001": frames}, {"Ses05F_a_F000": frames}]}
    data["video"] = [dict(part) for part in data["audio"]]
    record, problems = inspect_unlisted(dump(data, tmp_path / "iemocap" / "features.pkl"))
    assert problems == [] and (record["kind"], record["read_as"]) == ("erc_features", "iemocap")
    assert record["feature_counts"] == {"train": 1, "valid": 1, "test": 1}
    # read as the dataset its name says, with that dataset's rules: keys that repeat across splits
    path = dump(erc_pickle(), tmp_path / "iemocap" / "repeats.pkl")
    record, problems = inspect_unlisted(path)
    assert problems == [f"{path}: audio[1]['0_0']: key '0_0' is in both the train and the valid dicts (the file is "
                        "not listed in the manifest; read as iemocap)"]
    record, problems = inspect_unlisted(dump(erc_pickle(), tmp_path / "features.pkl"))
    assert problems == [] and (record["kind"], record["read_as"]) == ("erc_features", "meld")
    data = {split: ones_block([f"v_{i}".encode()]) for i, split in enumerate(raw.SPLITS)}
    record, problems = inspect_unlisted(dump(data, tmp_path / "mosei_mosi.pkl"))  # the longer name wins
    assert problems == [] and (record["kind"], record["read_as"]) == ("msa_features", "mosei")


def test_a_feature_file_listed_under_another_kind_is_a_problem_naming_it(tmp_path):
    from unimse_core.io.manifest import ManifestEntry
    from unimse_core.release import Located, _read_features

    path = dump(erc_pickle(), tmp_path / "meld.pkl")
    entry = ManifestEntry(path="meld/meld.pkl", dataset="meld", kind="msa_features")
    with pytest.raises(RawDataError, match=r"meld.pkl: the manifest lists it as msa_features of meld, but MELD's "
                                           r"feature file is of kind erc_features"):
        _read_features("meld", Located(entry, path))
    assert _read_features("meld", Located(dataclasses.replace(entry, kind="erc_features"), path)).splits == [
        "train", "train", "valid", "test"]


# --- real label files ------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset,counts", [("mosi", (1284, 229, 686)), ("mosei", (16326, 1871, 4659))])
def test_real_msa_labels(shared_data, dataset, counts):
    table = msa.read_msa_labels(shared_data / dataset / "label.csv", dataset)
    assert tuple(table.split_counts().values()) == counts
    assert len(set(table.ids)) == len(table)
    assert table.scores.min() == -3.0 and table.scores.max() == 3.0
    assert any("_" in uid.rpartition("_")[0] for uid in table.ids)  # video ids with underscores exist


def test_real_meld_labels(shared_data):
    table = meld.read_meld_labels({split: shared_data / "meld" / f"{name}_sent_emo.csv"
                                  for split, name in (("train", "train"), ("valid", "dev"), ("test", "test"))})
    assert tuple(table.split_counts().values()) == (9989, 1109, 2610)
    assert len(set(table.ids)) == len(table)
    assert len(set(table.feature_keys)) < len(table)  # the bare keys collide across splits
    assert any("\u2019" in text for text in table.texts)  # non-ASCII text decoded, not mangled
