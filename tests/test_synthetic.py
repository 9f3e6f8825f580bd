"""The synthetic generator: same seed, same bytes; the real raw formats with their nuisances; a
manifest that tells the truth; and labels that need all three modalities.

Expected values come from reading the written files (the csv module, the restricted unpickler)
and from the labels themselves (chance levels), never from the generator's internals.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from stages.synthesize import command
from unimse_core.config import SyntheticConfig, from_dict
from unimse_core.io.manifest import read_manifest
from unimse_core.io.safe_pickle import load_pickle
from unimse_core.synthetic import generate

SPLITS = ("train", "valid", "test")
MSA_PICKLES = {"mosi": "mosi_data_noalign.pkl", "mosei": "mosei_senti_data_noalign.pkl"}
MELD_FILES = {"train": "train_sent_emo.csv", "valid": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
MELD_EMOTIONS = {"neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear"}
IEMOCAP_CLASSES = {"hap", "sad", "neu", "fru", "ang", "exc"}
YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")

SMALL = {
    "seed": 0, "msa_layout": "authors", "max_frames": 12, "missing_features": 0.02, "nan_frames": 0.05,
    "variants": [],
    "mosi": {"train": 40, "valid": 10, "test": 12, "audio_dim": 5, "video_dim": 20},
    "mosei": {"train": 40, "valid": 10, "test": 12, "audio_dim": 74, "video_dim": 35},
    "meld": {"train": 40, "valid": 10, "test": 12, "audio_dim": 64, "video_dim": 64},
    "iemocap": {"train": 40, "valid": 10, "test": 12, "audio_dim": 64, "video_dim": 64},
}
# Large enough for per-modality classifiers to be measured on a few hundred test utterances.
MODERATE = {
    **SMALL, "max_frames": 24,
    "mosi": {"train": 1500, "valid": 60, "test": 600, "audio_dim": 5, "video_dim": 20},
    "mosei": {"train": 1500, "valid": 60, "test": 600, "audio_dim": 74, "video_dim": 35},
    "meld": {"train": 2000, "valid": 60, "test": 800, "audio_dim": 64, "video_dim": 64},
    "iemocap": {"train": 2000, "valid": 100, "test": 800, "audio_dim": 64, "video_dim": 64},
}


def config(values: dict, **changes) -> SyntheticConfig:
    return from_dict(SyntheticConfig, {**values, **changes}, "synthetic")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    generate(config(MODERATE), out)
    return out


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


def true_frames(seq: np.ndarray) -> np.ndarray:
    """The frames of one padded sequence that are not all-zero padding."""
    return seq[~np.all(seq == 0, axis=-1)]


# ----------------------------------------------------------------------------------------------
# determinism


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    first, second = generate(config(SMALL), tmp_path / "a"), generate(config(SMALL), tmp_path / "b")
    generate(config(SMALL, seed=1), tmp_path / "c")
    a, b, c = hashes(tmp_path / "a"), hashes(tmp_path / "b"), hashes(tmp_path / "c")
    assert a == b and first == second
    assert len(a) == 11 and "manifest.json" in a
    assert set(c) == set(a)
    assert all(c[name] != a[name] for name in a)


def test_changing_one_dataset_leaves_the_others_alone(tmp_path):
    generate(config(SMALL), tmp_path / "a")
    generate(config(SMALL, meld={**SMALL["meld"], "train": 50}), tmp_path / "b")
    a, b = hashes(tmp_path / "a"), hashes(tmp_path / "b")
    changed = {name for name in a if a[name] != b[name]}
    assert changed == {"manifest.json", "meld/train_sent_emo.csv", "meld/dev_sent_emo.csv",
                       "meld/test_sent_emo.csv", "meld/meld_features.pkl"}


# ----------------------------------------------------------------------------------------------
# the manifest


def observed_counts(raw: Path, path: str, kind: str) -> dict[str, int]:
    """Utterances per split that a file holds, counted from the file itself."""
    if kind == "msa_labels":
        return dict(Counter(row["mode"] for row in read_csv(raw / path)[1]))
    if kind == "msa_features":
        return {split: len(part["labels"]) for split, part in load_pickle(raw / path).items()}
    if kind == "meld_labels":
        split = next(s for s, name in MELD_FILES.items() if path.endswith(name))
        return {split: len(read_csv(raw / path)[1])}
    if kind == "erc_features":
        return dict(zip(SPLITS, (len(d) for d in load_pickle(raw / path)["audio"])))
    # iemocap_labels: six-class rows; a dialogue's split is where the pickle holds its utterances
    features = load_pickle(raw / "iemocap" / "iemocap_features.pkl")["audio"]
    split_of_vid = {key.rsplit("_", 1)[0]: split for split, d in zip(SPLITS, features) for key in d}
    rows = read_csv(raw / path)[1]
    return dict(Counter(split_of_vid[r["vid"]] for r in rows if r["label"] in IEMOCAP_CLASSES))


def test_manifest_lists_every_file_with_its_true_size_hash_and_counts(raw):
    manifest = read_manifest(raw / "manifest.json")
    assert manifest.name == "synthetic"
    on_disk = {p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file()}
    assert {e.path for e in manifest.files} == on_disk - {"manifest.json"}
    cfg = config(MODERATE)
    for entry in manifest.files:
        path = raw / entry.path
        assert entry.size == path.stat().st_size and entry.sha256 == digest(path), entry.path
        assert entry.url == ""
        assert entry.splits == observed_counts(raw, entry.path, entry.kind), entry.path
        sizes = getattr(cfg, entry.dataset)
        if entry.kind in ("msa_labels", "iemocap_labels"):
            assert entry.splits == {s: getattr(sizes, s) for s in SPLITS}
        if entry.kind == "meld_labels":
            assert entry.splits == {entry.split: getattr(sizes, entry.split)}
    kinds = Counter((e.dataset, e.kind) for e in manifest.files)
    assert kinds == {("mosi", "msa_labels"): 1, ("mosi", "msa_features"): 1, ("mosei", "msa_labels"): 1,
                     ("mosei", "msa_features"): 1, ("meld", "meld_labels"): 3, ("meld", "erc_features"): 1,
                     ("iemocap", "iemocap_labels"): 1, ("iemocap", "erc_features"): 1}
    assert {e.split for e in manifest.files if e.kind == "meld_labels"} == set(SPLITS)


# ----------------------------------------------------------------------------------------------
# MOSI / MOSEI


@pytest.mark.parametrize("dataset", ["mosi", "mosei"])
def test_msa_label_table_looks_like_the_real_one(raw, dataset):
    columns, rows = read_csv(raw / dataset / "label.csv")
    assert columns == ["video_id", "clip_id", "text", "label", "annotation", "mode", "label_by"]
    labels = [float(r["label"]) for r in rows]
    assert all(-3.0 <= x <= 3.0 for x in labels)
    for r, x in zip(rows, labels):
        assert r["annotation"] == ("Positive" if x > 0 else "Negative" if x < 0 else "Neutral")
        assert r["clip_id"].isdigit() and r["label_by"] == "0"
    assert any(r["label"] == "0.0" for r in rows)
    assert any(len(r["label"].split(".")[1]) >= 10 for r in rows)  # float32 reprs: 0.6666666865348816
    assert {r["mode"] for r in rows} == set(SPLITS)
    videos = {r["video_id"] for r in rows}
    youtube = [v for v in videos if YOUTUBE_ID.fullmatch(v)]
    assert len(youtube) >= 0.9 * len(videos) and all(YOUTUBE_ID.fullmatch(v) or v.isdigit() for v in videos)
    assert any("_" in v for v in videos) and any("-" in v for v in videos)
    clips = Counter(r["video_id"] for r in rows)
    assert max(clips.values()) >= 5 and sum(clips.values()) / len(clips) >= 3
    modes = defaultdict(set)
    for r in rows:
        modes[r["video_id"]].add(r["mode"])
    assert all(len(m) == 1 for m in modes.values())  # a video's clips share one split


@pytest.mark.parametrize("dataset", ["mosi", "mosei"])
def test_msa_pickle_authors_layout(raw, dataset):
    cfg = getattr(config(MODERATE), dataset)
    _, rows = read_csv(raw / dataset / "label.csv")
    by_id = {f"{r['video_id']}_{r['clip_id']}": r for r in rows}
    data = load_pickle(raw / dataset / MSA_PICKLES[dataset])
    assert set(data) == set(SPLITS)
    missing = padded = nan_rows = 0
    lengths = set()
    for split, part in data.items():
        assert set(part) == {"vision", "audio", "labels", "id"}
        n = len(part["labels"])
        assert part["audio"].dtype == part["vision"].dtype == part["labels"].dtype == np.float32
        assert part["audio"].shape == (n, MODERATE["max_frames"], cfg.audio_dim)
        assert part["vision"].shape == (n, MODERATE["max_frames"], cfg.video_dim)
        assert part["labels"].shape == (n, 1, 1)
        if dataset == "mosi":
            assert part["id"].shape == (n, 1) and part["id"].dtype.kind == "S"
            ids = [x.decode() for x in part["id"][:, 0]]
        else:
            assert part["id"].shape == (n, 2) and part["id"].dtype.kind == "U"
            ids = [f"{vid}_{cid}" for vid, cid in part["id"]]
        for i, uid in enumerate(ids):
            row = by_id[uid]  # every feature row has a label row, in the same split, same label
            assert row["mode"] == split and float(np.float32(row["label"])) == float(part["labels"][i, 0, 0])
        missing += sum(1 for r in rows if r["mode"] == split) - n
        for seq in (*part["audio"], *part["vision"]):
            real = ~np.all(seq == 0, axis=-1)
            first = int(np.argmax(real))
            assert real[first:].all(), "zero frames after the first real frame: not left padding"
            padded += first > 0
            lengths.add(int(real.sum()))
            assert not np.isnan(seq[:first]).any(), "NaN in the padding"
            nan_rows += bool(np.isnan(seq).any())
    assert missing > 0 and padded > 0 and len(lengths) > 5 and nan_rows > 0


def test_msa_pickle_mmsa_layout(tmp_path):
    generate(config(SMALL, msa_layout="mmsa"), tmp_path)
    assert not (tmp_path / "mosi" / MSA_PICKLES["mosi"]).exists()
    for dataset in ("mosi", "mosei"):
        _, rows = read_csv(tmp_path / dataset / "label.csv")
        by_id = {f"{r['video_id']}$_${r['clip_id']}": r for r in rows}
        data = load_pickle(tmp_path / dataset / "unaligned_50.pkl")
        assert set(data) == set(SPLITS)
        for split, part in data.items():
            assert set(part) == {"raw_text", "id", "audio", "vision", "audio_lengths", "vision_lengths",
                                 "regression_labels"}
            n = len(part["id"])
            assert part["regression_labels"].shape == (n,) and part["regression_labels"].dtype == np.float32
            for i, uid in enumerate(part["id"]):
                assert by_id[str(uid)]["mode"] == split and by_id[str(uid)]["text"] == part["raw_text"][i]
            for key in ("audio", "vision"):
                assert part[key].dtype == np.float32 and part[key].shape[:2] == (n, SMALL["max_frames"])
                for seq, length in zip(part[key], part[f"{key}_lengths"]):
                    real = ~np.all(seq == 0, axis=-1)
                    assert real[:length].all() and not real[length:].any()  # right padding


# ----------------------------------------------------------------------------------------------
# MELD


def test_meld_tables_and_features(raw):
    cfg = config(MODERATE).meld
    raw_bytes = (raw / "meld" / "train_sent_emo.csv").read_bytes()
    assert raw_bytes.startswith(b"Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,"
                                b"Season,Episode,StartTime,EndTime\n")
    assert re.search(rb',"\d\d:\d\d:\d\d,\d\d\d","\d\d:\d\d:\d\d,\d\d\d"\n', raw_bytes)
    features = load_pickle(raw / "meld" / "meld_features.pkl")
    assert set(features) == {"audio", "video"} and all(len(features[m]) == 3 for m in features)
    keys_per_split = []
    for position, (split, name) in enumerate(MELD_FILES.items()):
        _, rows = read_csv(raw / "meld" / name)
        assert [int(r["Sr No."]) for r in rows] == list(range(1, len(rows) + 1))
        sentiments = {"joy": {"positive"}, "neutral": {"neutral"}, "surprise": {"positive", "negative"},
                      **{e: {"negative"} for e in ("anger", "sadness", "disgust", "fear")}}
        for r in rows:
            assert r["Sentiment"] in sentiments[r["Emotion"]]
            assert re.fullmatch(r"\d\d:\d\d:\d\d,\d\d\d", r["StartTime"]) and r["StartTime"] < r["EndTime"]
        dialogues = defaultdict(list)
        for r in rows:
            dialogues[int(r["Dialogue_ID"])].append(r)
        assert min(dialogues) == 0
        for utts in dialogues.values():
            assert [int(r["Utterance_ID"]) for r in utts] == list(range(len(utts)))
            assert 1 <= len(utts) <= 12 and len({(r["Season"], r["Episode"]) for r in utts}) == 1
        speakers = [len({r["Speaker"] for r in utts}) for utts in dialogues.values()]
        assert max(speakers) >= 3 and max(speakers) <= 4
        assert {r["Emotion"] for r in rows} == MELD_EMOTIONS or split != "train"
        ids = {f"{r['Dialogue_ID']}_{r['Utterance_ID']}" for r in rows}
        audio, video = features["audio"][position], features["video"][position]
        assert set(audio) == set(video) and set(audio) < ids  # some utterances have no features
        for key, seq in audio.items():
            assert seq.dtype == np.float32 and seq.shape[1] == cfg.audio_dim and seq.ndim == 2
            assert video[key].shape[1] == cfg.video_dim and not np.all(seq == 0, axis=-1).any()
        assert len({seq.shape[0] for seq in audio.values()}) > 5  # variable length, no padding
        assert any(np.isnan(seq).any() for seq in (*audio.values(), *video.values()))
        keys_per_split.append(ids)
    assert "0_0" in keys_per_split[0] & keys_per_split[1] & keys_per_split[2]  # ids repeat across splits


# ----------------------------------------------------------------------------------------------
# IEMOCAP


def test_iemocap_table_and_features(raw):
    columns, rows = read_csv(raw / "iemocap" / "IEMOCAP_all.csv")
    assert columns == ["start_stop", "vid_cid", "label", "VAD", "text", "vid", "i", "path"]
    session = re.compile(r"Ses0([1-5])[FM]_(impro\d\d[ab]?|script\d\d_\d)")
    for r in rows:
        assert re.fullmatch(r"\[\d+\.\d{4} - \d+\.\d{4}\]", r["start_stop"])
        assert re.fullmatch(r"\[\d\.\d{4}, \d\.\d{4}, \d\.\d{4}\]", r["VAD"])
        assert session.fullmatch(r["vid"]) and re.fullmatch(re.escape(r["vid"]) + r"_[FM]\d{3}", r["vid_cid"])
        number = session.fullmatch(r["vid"]).group(1)
        assert r["path"] == f"Session{number}/sentences/wav/{r['vid']}/{r['vid_cid']}.wav"
        assert r["i"].isdigit()
    assert len({r["vid_cid"] for r in rows}) == len(rows)
    labels = Counter(r["label"] for r in rows)
    other = {code for code in labels if code not in IEMOCAP_CLASSES}
    assert set(labels) >= IEMOCAP_CLASSES and other and other <= {"xxx", "oth", "sur", "fea", "dis"}
    assert 0.02 < sum(labels[c] for c in other) / len(rows) < 0.1

    features = load_pickle(raw / "iemocap" / "iemocap_features.pkl")
    audio = features["audio"]
    assert [set(d) for d in audio] == [set(d) for d in features["video"]]
    label_of = {r["vid_cid"]: r["label"] for r in rows}
    for position, d in enumerate(audio):
        assert all(label_of[key] in IEMOCAP_CLASSES for key in d)  # other codes never have features
        assert all((key.startswith("Ses05")) == (position == 2) for key in d)  # Session 5 = test, only
    vids = [{key.rsplit("_", 1)[0] for key in d} for d in audio]
    assert not vids[0] & vids[1] and vids[1]  # valid holds whole dialogues
    six_class = {r["vid_cid"] for r in rows if r["label"] in IEMOCAP_CLASSES}
    assert six_class - set().union(*audio)  # some six-class utterances have no features
    assert any(np.isnan(seq).any() for d in audio for seq in d.values())


def test_some_text_is_not_ascii(raw):
    texts = {
        "mosi": [r["text"] for r in read_csv(raw / "mosi" / "label.csv")[1]],
        "mosei": [r["text"] for r in read_csv(raw / "mosei" / "label.csv")[1]],
        "meld": [r["Utterance"] for r in read_csv(raw / "meld" / "train_sent_emo.csv")[1]],
        "iemocap": [r["text"] for r in read_csv(raw / "iemocap" / "IEMOCAP_all.csv")[1]],
    }
    for dataset, lines in texts.items():
        odd = [t for t in lines if not t.isascii()]
        assert 0 < len(odd) < 0.1 * len(lines), dataset


# ----------------------------------------------------------------------------------------------
# the signal: each modality alone beats chance, all three together beat each one alone


def mean_frames(seq: np.ndarray) -> np.ndarray:
    return np.nanmean(true_frames(seq), axis=0)


def msa_parts(raw: Path, dataset: str) -> dict[str, tuple[list[str], np.ndarray, np.ndarray, np.ndarray]]:
    _, rows = read_csv(raw / dataset / "label.csv")
    text = {f"{r['video_id']}_{r['clip_id']}": r["text"] for r in rows}
    data = load_pickle(raw / dataset / MSA_PICKLES[dataset])
    parts = {}
    for split in ("train", "test"):
        part = data[split]
        ids = ([x.decode() for x in part["id"][:, 0]] if dataset == "mosi"
               else [f"{vid}_{cid}" for vid, cid in part["id"]])
        parts[split] = ([text[i] for i in ids], np.stack([mean_frames(s) for s in part["audio"]]),
                        np.stack([mean_frames(s) for s in part["vision"]]), part["labels"].reshape(-1).astype(float))
    return parts


def erc_parts(raw: Path, dataset: str) -> dict[str, tuple[list[str], np.ndarray, np.ndarray, np.ndarray]]:
    if dataset == "meld":
        features = load_pickle(raw / "meld" / "meld_features.pkl")
        tables = {split: read_csv(raw / "meld" / MELD_FILES[split])[1] for split in ("train", "test")}
        keyed = {split: [(f"{r['Dialogue_ID']}_{r['Utterance_ID']}", r["Utterance"], r["Emotion"]) for r in rows]
                 for split, rows in tables.items()}
    else:
        features = load_pickle(raw / "iemocap" / "iemocap_features.pkl")
        rows = read_csv(raw / "iemocap" / "IEMOCAP_all.csv")[1]
        keyed = {split: [(r["vid_cid"], r["text"], r["label"]) for r in rows] for split in ("train", "test")}
    parts = {}
    for split, position in (("train", 0), ("test", 2)):
        audio, video = features["audio"][position], features["video"][position]
        items = [item for item in keyed[split] if item[0] in audio]
        parts[split] = ([t for _k, t, _y in items], np.stack([mean_frames(audio[k]) for k, _t, _y in items]),
                        np.stack([mean_frames(video[k]) for k, _t, _y in items]), np.array([y for *_, y in items]))
    return parts


def design(parts, modalities: str) -> tuple[np.ndarray, np.ndarray]:
    """Train and test matrices: bag of words (t), mean audio frame (a), mean video frame (v)."""
    words = CountVectorizer().fit(parts["train"][0])
    def matrix(part):
        blocks = {"t": lambda: words.transform(part[0]).toarray(), "a": lambda: part[1], "v": lambda: part[2]}
        return np.hstack([blocks[m]() for m in modalities])
    return matrix(parts["train"]), matrix(parts["test"])


def scores(parts, regression: bool) -> dict[str, float]:
    y_train, y_test = parts["train"][3], parts["test"][3]
    if regression:  # MAE; chance: always predict the training mean
        result = {"chance": float(np.mean(np.abs(y_test - y_train.mean())))}
    else:  # accuracy; chance: always predict the training majority class
        values, counts = np.unique(y_train, return_counts=True)
        result = {"chance": float(np.mean(y_test == values[np.argmax(counts)]))}
    for modalities in ("t", "a", "v", "tav"):
        x_train, x_test = design(parts, modalities)
        if regression:
            model = make_pipeline(StandardScaler(), Ridge(alpha=10.0)).fit(x_train, y_train)
            result[modalities] = float(np.mean(np.abs(model.predict(x_test) - y_test)))
        else:
            model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000)).fit(x_train, y_train)
            result[modalities] = float(np.mean(model.predict(x_test) == y_test))
    return result


@pytest.mark.parametrize("dataset", ["mosi", "mosei"])
def test_msa_score_needs_all_three_modalities(raw, dataset):
    mae = scores(msa_parts(raw, dataset), regression=True)
    for single in "tav":
        assert mae[single] < 0.97 * mae["chance"], (single, mae)
    assert mae["tav"] < 0.85 * min(mae[m] for m in "tav"), mae


@pytest.mark.parametrize("dataset", ["meld", "iemocap"])
def test_erc_emotion_needs_all_three_modalities(raw, dataset):
    accuracy = scores(erc_parts(raw, dataset), regression=False)
    for single in "tav":
        assert accuracy[single] > accuracy["chance"] + 0.03, (single, accuracy)
    assert accuracy["tav"] > max(accuracy[m] for m in "tav") + 0.1, accuracy


# ----------------------------------------------------------------------------------------------
# the stage


def write_params(path: Path, synthetic: dict) -> Path:
    path.write_text(yaml.safe_dump({"synthetic": synthetic}), encoding="utf-8")
    return path


def test_stage_replaces_the_output_folder_whole(tmp_path):
    out = tmp_path / "synthetic"
    (out / "stale").mkdir(parents=True)
    (out / "stale" / "old.csv").write_text("left over")
    params = write_params(tmp_path / "params.yaml", SMALL)
    result = CliRunner().invoke(command, ["--out", str(out), "--params", str(params)])
    assert result.exit_code == 0, result.output
    assert "mosi 62" in result.output and "iemocap 62" in result.output
    assert not (out / "stale").exists()
    manifest = read_manifest(out / "manifest.json")
    assert hashes(out) == {**{e.path: e.sha256 for e in manifest.files}, "manifest.json": digest(out / "manifest.json")}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_stage_reports_a_bad_param_by_its_key(tmp_path):
    params = write_params(tmp_path / "params.yaml", {**SMALL, "nan_frames": 1.5})
    result = CliRunner().invoke(command, ["--out", str(tmp_path / "out"), "--params", str(params)])
    assert result.exit_code == 1
    assert "synthetic.nan_frames" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
