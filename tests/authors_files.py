"""A small raw release written the way the authors' scripts name and lay out their files.

Written here by hand from the conventions docs/raw-data.md describes (never by unimse_core's own
generator), so that the readers are tested against the real layouts:
- MOSI `MOSI-label.csv` + `mosi_data_0610.pkl`: {split: {'vision', 'audio', 'labels', 'id'}}, sequences
  left-padded with all-zero frames, ids `[N, 1]` of b"<video_id>_<clip_id>"; one audio row padded
  on the right (the padding item);
- MOSEI `MOSEI-label.csv` + `mosei_data_0610.pkl`: the same keys, ids that do not parse (CMU-SDK
  style "<video_id>[<clip_id>]"), rows in label.csv order within each split (the reference pairs
  them by position);
- MELD: train/dev/test_sent_emo.csv as the authors' copies (UTF-8 with U+0092 and LF; dev a cp1252
  copy; test UTF-8 with CRLF) + `meld_data_0424.pkl`, a list of three audio-only dicts, missing
  one training key (the 9,988-vs-9,989 case);
- IEMOCAP `IEMOCAP_all.csv` with real dialogue names (valid = dialogues of the reference split) +
  `iemocap_data_0610.pkl` {'audio': [3 dicts], 'video': [3 dicts]}, carrying the key of a row
  outside the six classes, a key the CSV lacks, and one key with audio but no video.

`EXPECTED` holds the counts each item must produce, worked out by hand from the rows below.
"""

from __future__ import annotations

import csv
import io
import pickle
from pathlib import Path

import numpy as np

WORDS = ("good", "bad", "great", "awful", "fine", "movie", "story", "boring", "funny", "sad", "happy", "okay",
         "love", "hate", "nice", "terrible", "really", "quite", "the", "plot")

MSA_HEADER = ("video_id", "clip_id", "text", "label", "annotation", "mode", "label_by")
MELD_HEADER = ("Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID", "Season",
               "Episode", "StartTime", "EndTime")
IEMOCAP_HEADER = ("start_stop", "vid_cid", "label", "VAD", "text", "vid", "i", "path")
MSA_COUNTS = {"train": 12, "valid": 4, "test": 4}
FRAMES = 6

# IEMOCAP dialogues: (vid, split by the reference, six-class codes, other codes)
IEMOCAP_DIALOGUES = (
    ("Ses01F_impro01", "train", ("hap", "sad", "neu"), ("xxx",)),
    ("Ses02M_impro01", "train", ("fru", "ang", "exc"), ()),
    ("Ses03F_script01_1", "train", ("neu", "hap", "sad"), ()),
    ("Ses04M_impro02", "train", ("ang", "exc", "fru"), ("oth",)),
    ("Ses01F_script01_1", "valid", ("hap", "neu", "sad"), ()),      # a reference valid dialogue
    ("Ses04F_impro08", "valid", ("exc", "ang"), ("sur",)),           # another one
    ("Ses05F_impro01", "test", ("sad", "hap", "neu"), ()),
    ("Ses05M_script01_1", "test", ("fru", "exc"), ("xxx",)),
)
IEMOCAP_EXTRA_KEY = "Ses01F_impro01_M099"   # in the pickle, not in the CSV
IEMOCAP_AUDIO_ONLY = "Ses02M_impro01_M001"  # audio but no video
MELD_DROPPED_KEY = "1_5"                      # in train_sent_emo.csv, not in the pickle

EXPECTED = {
    "iemocap_label_counts": {"train": 12, "valid": 5, "test": 5},
    "meld_label_counts": {"train": 12, "valid": 4, "test": 4},
    "meld_feature_counts": {"train": 11, "valid": 4, "test": 4},
    "mosi_padding_votes": {"left": 39, "right": 1},
    "iemocap_features_outside_classes": ["Ses01F_impro01_M003", "Ses05M_script01_1_F002"],
}


def _text(rng: np.random.Generator, n: int = 6) -> str:
    return " ".join(WORDS[k] for k in rng.integers(len(WORDS), size=n))


def _csv_text(header, rows, line_end: str = "\n") -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_end)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _left_padded(rng: np.random.Generator, lengths: list[int], dim: int) -> np.ndarray:
    x = np.zeros((len(lengths), FRAMES, dim), dtype=np.float32)
    for i, n in enumerate(lengths):
        x[i, FRAMES - n:] = rng.uniform(0.5, 1.5, (n, dim))
    return x


def _msa(root: Path, rng: np.random.Generator, dataset: str, audio_dim: int, video_dim: int) -> None:
    folder = root / dataset
    folder.mkdir(parents=True)
    rows, by_split = [], {}
    for split, n in MSA_COUNTS.items():
        by_split[split] = []
        for k in range(n):
            # MOSI video ids sometimes hold "_"; MOSEI's here never do, so that no MOSEI id parses
            if k % 2 and dataset == "mosi":
                video = f"{split[:2]}_{dataset}{k // 3}"
            else:
                video = f"{dataset.upper()}{split}{k // 3}x{k % 2}"
            clip = k % 3 + 1
            score = round(float(rng.uniform(-3, 3)) * 3) / 3
            score = float(np.float32(score))
            annotation = "Positive" if score > 0 else "Negative" if score < 0 else "Neutral"
            rows.append((video, clip, _text(rng), repr(score), annotation, split, 0))
            by_split[split].append((video, clip, score))
    (folder / f"{dataset.upper()}-label.csv").write_text(_csv_text(MSA_HEADER, rows), encoding="utf-8")
    data = {}
    for split, items in by_split.items():
        lengths = [int(rng.integers(2, FRAMES)) for _ in items]  # always < FRAMES: every row shows its side
        audio = _left_padded(rng, lengths, audio_dim)
        vision = _left_padded(rng, [int(rng.integers(2, FRAMES)) for _ in items], video_dim)
        if dataset == "mosi":
            ids = np.array([[f"{v}_{c}".encode()] for v, c, _ in items], dtype=object)
            if split == "valid":  # one row padded on the other side
                n = lengths[1]
                audio[1] = 0.0
                audio[1, :n] = rng.uniform(0.5, 1.5, (n, audio_dim))
        else:
            ids = np.array([[f"{v}[{c}]"] for v, c, _ in items], dtype=object)
        data[split] = {"vision": vision, "audio": audio,
                       "labels": np.array([s for _, _, s in items], dtype=np.float32).reshape(-1, 1, 1), "id": ids}
    with open(folder / f"{dataset}_data_0610.pkl", "wb") as handle:
        pickle.dump(data, handle, protocol=4)


def _meld(root: Path, rng: np.random.Generator) -> None:
    folder = root / "meld"
    folder.mkdir(parents=True)
    emotions = ("neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear")
    sentiment = {"neutral": "neutral", "joy": "positive", "surprise": "positive", "anger": "negative",
                 "sadness": "negative", "disgust": "negative", "fear": "negative"}
    dialogues = {"train": (6, 6), "valid": (4,), "test": (4,)}
    audio: list[dict[str, np.ndarray]] = []
    for split, sizes in dialogues.items():
        rows, part = [], {}
        for dialogue, n in enumerate(sizes):
            for utterance in range(n):
                emotion = emotions[int(rng.integers(len(emotions)))]
                text = _text(rng, 5)
                if utterance == 0:
                    text = "I\u0092m " + text  # the authors' copies: cp1252's right quote read as latin-1
                rows.append((len(rows) + 1, text, ("Ross", "Rachel")[utterance % 2], emotion, sentiment[emotion],
                             dialogue, utterance, 1, 1, "00:00:01,000", "00:00:02,000"))
                key = f"{dialogue}_{utterance}"
                if not (split == "train" and key == MELD_DROPPED_KEY):
                    part[key] = rng.normal(size=(int(rng.integers(3, 8)), 64)).astype(np.float32)
        audio.append(part)
        name = {"train": "train", "valid": "dev", "test": "test"}[split]
        if split == "valid":   # a cp1252 copy: U+0092 becomes byte 0x92
            data = _csv_text(MELD_HEADER, rows).replace("\u0092", "\u2019").encode("cp1252")
        elif split == "test":  # UTF-8 with CRLF, no C1 controls
            data = _csv_text(MELD_HEADER, rows, "\r\n").replace("\u0092", "'").encode("utf-8")
        else:                  # the authors' copy: UTF-8 holding U+0092, LF
            data = _csv_text(MELD_HEADER, rows).encode("utf-8")
        (folder / f"{name}_sent_emo.csv").write_bytes(data)
    with open(folder / "meld_data_0424.pkl", "wb") as handle:
        pickle.dump(audio, handle, protocol=4)


def _iemocap(root: Path, rng: np.random.Generator) -> None:
    folder = root / "iemocap"
    folder.mkdir(parents=True)
    rows = []
    audio: list[dict[str, np.ndarray]] = [{}, {}, {}]
    video: list[dict[str, np.ndarray]] = [{}, {}, {}]
    position = {"train": 0, "valid": 1, "test": 2}
    for vid, split, six, other in IEMOCAP_DIALOGUES:
        session = int(vid[3:5])
        clock = 1.0
        for k, code in enumerate(six + other):
            uid = f"{vid}_{'FM'[k % 2]}{k:03d}"
            rows.append((f"[{clock:.4f} - {clock + 2:.4f}]", uid, code, "[2.5000, 2.5000, 2.5000]", _text(rng), vid,
                         k, f"Session{session}/sentences/wav/{vid}/{uid}.wav"))
            clock += 3.0
            if code in six or code == "xxx":  # real pickles carry some keys outside the six classes
                audio[position[split]][uid] = rng.normal(size=(4, 64)).astype(np.float32)
                if uid != IEMOCAP_AUDIO_ONLY:
                    video[position[split]][uid] = rng.normal(size=(3, 64)).astype(np.float32)
    audio[0][IEMOCAP_EXTRA_KEY] = np.ones((2, 64), dtype=np.float32)
    video[0][IEMOCAP_EXTRA_KEY] = np.ones((2, 64), dtype=np.float32)
    (folder / "IEMOCAP_all.csv").write_text(_csv_text(IEMOCAP_HEADER, rows), encoding="utf-8")
    with open(folder / "iemocap_data_0610.pkl", "wb") as handle:
        pickle.dump({"audio": audio, "video": video}, handle, protocol=4)


def write_release(root: Path, seed: int = 0) -> Path:
    """Write the whole release into `root` (the raw folder); return it."""
    rng = np.random.default_rng(seed)
    _msa(root, rng, "mosi", 5, 20)
    _msa(root, rng, "mosei", 74, 35)
    _meld(root, rng)
    _iemocap(root, rng)
    return root
