"""The synthetic generator: same seed, same bytes (pinned for the default); the real raw formats
with their nuisances; a manifest that tells the truth; labels that need all three modalities; the
writers of exactly the datasets listed in data.datasets, EmoryNLP's among them.

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

from conftest import SHARED_DATA
from stages.synthesize import command
from unimse_core.config import ConfigError, SyntheticConfig, from_dict, read_params
from unimse_core.datasets import NAMES, PAPER_DATASETS, LabelFile, get
from unimse_core.io.manifest import read_manifest
from unimse_core.io.safe_pickle import load_pickle
from unimse_core.synthetic import generate

ROOT = Path(__file__).resolve().parents[1]

SPLITS = ("train", "valid", "test")
MSA_PICKLES = {"mosi": "mosi_data_noalign.pkl", "mosei": "mosei_senti_data_noalign.pkl"}
MELD_FILES = {"train": "train_sent_emo.csv", "valid": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
MELD_EMOTIONS = {"neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear"}
IEMOCAP_CLASSES = {"hap", "sad", "neu", "fru", "ang", "exc"}
EMORYNLP_FILES = {"train": "emorynlp_train_final.csv", "valid": "emorynlp_dev_final.csv",
                  "test": "emorynlp_test_final.csv"}
EMORYNLP_HEADER = "Utterance,Speaker,Emotion,Scene_ID,Utterance_ID,Season,Episode,Start_Time,End_Time"
EMORYNLP_EMOTIONS = {"Neutral", "Joyful", "Peaceful", "Powerful", "Scared", "Mad", "Sad"}
SPEAKER_LIST = re.compile(r"\[(?:'[^']+'|\"[^\"]+\")(?:, (?:'[^']+'|\"[^\"]+\"))*\]")  # Python's list repr
YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")

SMALL = {
    "seed": 0, "msa_layout": "authors", "max_frames": 12, "missing_features": 0.02, "nan_frames": 0.05,
    "variants": [],
    "mosi": {"train": 40, "valid": 10, "test": 12, "audio_dim": 5, "video_dim": 20},
    "mosei": {"train": 40, "valid": 10, "test": 12, "audio_dim": 74, "video_dim": 35},
    "meld": {"train": 40, "valid": 10, "test": 12, "audio_dim": 64, "video_dim": 64},
    "iemocap": {"train": 40, "valid": 10, "test": 12, "audio_dim": 64, "video_dim": 64},
    "emorynlp": {"train": 40, "valid": 10, "test": 12},
}
# Large enough for per-modality classifiers to be measured on a few hundred test utterances.
MODERATE = {
    **SMALL, "max_frames": 24,
    "mosi": {"train": 1500, "valid": 60, "test": 600, "audio_dim": 5, "video_dim": 20},
    "mosei": {"train": 1500, "valid": 60, "test": 600, "audio_dim": 74, "video_dim": 35},
    "meld": {"train": 2000, "valid": 60, "test": 800, "audio_dim": 64, "video_dim": 64},
    "iemocap": {"train": 2000, "valid": 100, "test": 800, "audio_dim": 64, "video_dim": 64},
    "emorynlp": {"train": 2000, "valid": 60, "test": 800},
}


def config(values: dict, **changes) -> SyntheticConfig:
    return from_dict(SyntheticConfig, {**values, **changes}, "synthetic")


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    generate(config(MODERATE), out, NAMES)  # every registered dataset
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


# The default's files (params.yaml: its synthetic group and data.datasets), as the generator wrote
# them before each dataset's writer moved into its module; the stage's output must keep these bytes.
DEFAULT_SHA256 = {
    "iemocap/IEMOCAP_all.csv": "d07f631a6efc4183b729ce4c50a0e2c935e0f3874c6c6045bcc9ed450cec64f5",
    "iemocap/iemocap_features.pkl": "2d743ecc025f931a4ba9d56e05c4e1076a3715bc57aa9953d5a2872e114acd73",
    "manifest.json": "d108f16364889eed2d0bd3b594df87ace6a1d1d7ad9fc91c95c055f8426d5339",
    "meld/dev_sent_emo.csv": "d1b333f0704e98700ddf7523ad7306ebc80b232ea3fd18f4ca0f2a1d4f00b2a4",
    "meld/meld_features.pkl": "0da1e3e9588befe2cce6523829814c7f300d6eb086bef79dd49022aec0543be0",
    "meld/test_sent_emo.csv": "0165bb86de8db629ff207d881c6e7b2c3e36fd1f94886c0314fe7e6756401321",
    "meld/train_sent_emo.csv": "3c69fe4a528ca6ccb02cf71a1a9d4e23775197715e9aae720ddd0a39c1808fec",
    "mosei/label.csv": "b410d432cdbda7c05025c9c90c1fb1627606f1dcfb0c997237af8c302ce0e579",
    "mosei/mosei_senti_data_noalign.pkl": "aa9c61a8ff5af3e2a8ae4e580b3c21846715993f906818c7a778b76b90b4b952",
    "mosi/label.csv": "04c93badbf9a1f78841a4d0f137cfd4ff54fef56f00ed98846260f7fecf2520a",
    "mosi/mosi_data_noalign.pkl": "bf6a942bbe83f31539dd4d51160c135ef3436b07739d9da7dc9bfd80f6eb52aa",
}
# sha256 of manifest.json (which holds every file's sha256) for SMALL with the real-release variants.
ALL_VARIANTS = ["authors_names", "meld_0424", "missing_modality", "count_mismatch", "meld_cp1252", "meld_c1_lf",
                "mixed_padding", "mosei_unparsed_ids"]
VARIANT_MANIFESTS = [
    ({"variants": ALL_VARIANTS}, "ac1ab2610a3eda64006fb9d250d5d0d13ee128b1ab2b04e954048752a93eb2c6"),
    ({"variants": ALL_VARIANTS, "msa_layout": "mmsa"},
     "949e024ffd9ae9c704888199b27e5212ceb72fa49788c8a6c66a5357871ffc2e"),
    ({"variants": ["meld_0424", "missing_modality", "count_mismatch"]},
     "3b233be94673c808edb9f3f2f3adabd581142a00b1e650151ab1313e52484dbd"),
]


def test_the_default_files_keep_their_bytes(tmp_path):
    params = read_params(ROOT / "params.yaml")
    assert tuple(params["data"]["datasets"]) == PAPER_DATASETS  # the pin is the paper's four
    generate(config(params["synthetic"]), tmp_path, params["data"]["datasets"])
    assert hashes(tmp_path) == DEFAULT_SHA256


@pytest.mark.parametrize("changes, manifest_sha256", VARIANT_MANIFESTS)
def test_the_variants_keep_their_bytes(tmp_path, changes, manifest_sha256):
    generate(config(SMALL, **changes), tmp_path)
    manifest = read_manifest(tmp_path / "manifest.json")
    assert {e.names[0] if e.names else e.path: e.sha256 for e in manifest.files} == {
        name: sha for name, sha in hashes(tmp_path).items() if name != "manifest.json"}
    assert digest(tmp_path / "manifest.json") == manifest_sha256


def test_writers_run_for_the_listed_datasets_only_and_leave_the_others_alone(tmp_path):
    four = generate(config(SMALL), tmp_path / "four")  # the default: the paper's four
    five = generate(config(SMALL), tmp_path / "five", ["emorynlp", *PAPER_DATASETS])
    one = generate(config(SMALL), tmp_path / "one", ["mosei"])
    assert {e.dataset for e in four.files} == set(PAPER_DATASETS)
    assert [e.dataset for e in five.files][:len(four.files)] == [e.dataset for e in four.files]  # registry order
    assert five.files[:len(four.files)] == four.files  # the same bytes: EmoryNLP draws from its own generator
    assert [e.path for e in five.files[len(four.files):]] == [f"emorynlp/{n}" for n in EMORYNLP_FILES.values()]
    assert one.files == tuple(e for e in four.files if e.dataset == "mosei")
    assert {p.parent.name for p in (tmp_path / "one").rglob("*.*") if p.name != "manifest.json"} == {"mosei"}
    with pytest.raises(ValueError, match="unknown dataset 'meld2'"):
        generate(config(SMALL), tmp_path / "bad", ["meld2"])


def test_a_text_only_dataset_has_no_feature_widths():
    with pytest.raises(ConfigError, match=r"synthetic\.emorynlp\.audio_dim: unknown key"):
        config(SMALL, emorynlp={**SMALL["emorynlp"], "audio_dim": 5, "video_dim": 5})
    with pytest.raises(ConfigError, match=r"synthetic\.emorynlp: missing key"):
        config({k: v for k, v in SMALL.items() if k != "emorynlp"})
    assert config(SMALL).sizes("emorynlp").test == 12 and config(SMALL).sizes("mosi").audio_dim == 5


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
    if kind == "emorynlp_labels":
        split = next(s for s, name in EMORYNLP_FILES.items() if path.endswith(name))
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
        if entry.kind in ("meld_labels", "emorynlp_labels"):
            assert entry.splits == {entry.split: getattr(sizes, entry.split)}
    kinds = Counter((e.dataset, e.kind) for e in manifest.files)
    assert kinds == {("mosi", "msa_labels"): 1, ("mosi", "msa_features"): 1, ("mosei", "msa_labels"): 1,
                     ("mosei", "msa_features"): 1, ("meld", "meld_labels"): 3, ("meld", "erc_features"): 1,
                     ("iemocap", "iemocap_labels"): 1, ("iemocap", "erc_features"): 1,
                     ("emorynlp", "emorynlp_labels"): 3}
    for kind in ("meld_labels", "emorynlp_labels"):
        assert {e.split for e in manifest.files if e.kind == kind} == set(SPLITS)


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


# ----------------------------------------------------------------------------------------------
# EmoryNLP


def test_emorynlp_files_look_like_the_real_ones_and_read_back_through_its_reader(raw):
    sizes = config(MODERATE).emorynlp
    header = EMORYNLP_HEADER
    real = SHARED_DATA / "emorynlp" / EMORYNLP_FILES["train"]
    if real.is_file():  # the real header, where the real files are at hand (UNIMSE_SHARED_DATA)
        header = real.read_text(encoding="utf-8").split("\n", 1)[0]
    episodes = {}
    for split, name in EMORYNLP_FILES.items():
        text = (raw / "emorynlp" / name).read_bytes().decode("utf-8")
        assert text.split("\n", 1)[0] == header and "\r" not in text and text.endswith("\n")
        columns, rows = read_csv(raw / "emorynlp" / name)
        assert len(rows) == getattr(sizes, split)
        assert {r["Emotion"] for r in rows} == EMORYNLP_EMOTIONS
        for r in rows:
            assert SPEAKER_LIST.fullmatch(r["Speaker"]), r["Speaker"]
            assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d\d\d", r["Start_Time"]) and r["Start_Time"] < r["End_Time"]
        keys = [tuple(int(r[c]) for c in ("Season", "Episode", "Scene_ID", "Utterance_ID")) for r in rows]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)  # sorted and unique, as the real files
        scenes = Counter(k[:3] for k in keys)
        assert max(scenes.values()) >= 10 and sum(scenes.values()) / len(scenes) >= 4  # scenes are dialogues
        assert any(k[3] > 1 for k in keys) and any(k[2] > 1 for k in keys)
        episodes[split] = {k[:2] for k in keys}
    assert not (episodes["train"] & episodes["valid"] or episodes["train"] & episodes["test"]
                or episodes["valid"] & episodes["test"])  # an episode lies in one file
    speakers = {r["Speaker"] for r in read_csv(raw / "emorynlp" / EMORYNLP_FILES["train"])[1]}
    assert "['Monica Geller']" in speakers and '["Joey\'s Co-Star"]' in speakers
    assert any(", " in s for s in speakers)  # a few turns spoken by two at once

    manifest = read_manifest(raw / "manifest.json")
    table = get("emorynlp").read_labels([LabelFile(e.split, raw / e.path) for e in manifest.for_dataset("emorynlp")],
                                        "keep")
    assert table.split_counts() == {s: getattr(sizes, s) for s in SPLITS}
    assert set(table.emotions) == set(get("emorynlp").codes)
    assert "Joey's Co-Star" in table.speakers and any(" and " in s for s in table.speakers)


def test_emorynlp_text_tells_the_emotion_only_partly(raw):
    """Text-only: its words carry t, so a bag of words beats the majority class, and predicts the
    pool far better than the emotion within it."""
    parts = {split: read_csv(raw / "emorynlp" / EMORYNLP_FILES[split])[1] for split in ("train", "test")}
    words = CountVectorizer().fit([r["Utterance"] for r in parts["train"]])
    x = {split: words.transform([r["Utterance"] for r in rows]).toarray() for split, rows in parts.items()}
    y = {split: np.array([r["Emotion"] for r in rows]) for split, rows in parts.items()}
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000)).fit(x["train"], y["train"])
    predicted = model.predict(x["test"])
    values, counts = np.unique(y["train"], return_counts=True)
    chance = float(np.mean(y["test"] == values[np.argmax(counts)]))
    accuracy = float(np.mean(predicted == y["test"]))
    pool = get("emorynlp").pool
    pool_accuracy = float(np.mean([pool("", p) == pool("", g) for p, g in zip(predicted, y["test"])]))
    assert chance + 0.03 < accuracy < 0.5 and pool_accuracy > accuracy + 0.2, (chance, accuracy, pool_accuracy)


def test_some_text_is_not_ascii(raw):
    texts = {
        "mosi": [r["text"] for r in read_csv(raw / "mosi" / "label.csv")[1]],
        "mosei": [r["text"] for r in read_csv(raw / "mosei" / "label.csv")[1]],
        "meld": [r["Utterance"] for r in read_csv(raw / "meld" / "train_sent_emo.csv")[1]],
        "iemocap": [r["text"] for r in read_csv(raw / "iemocap" / "IEMOCAP_all.csv")[1]],
        "emorynlp": [r["Utterance"] for r in read_csv(raw / "emorynlp" / EMORYNLP_FILES["train"])[1]],
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


def write_params(path: Path, synthetic: dict, datasets: tuple[str, ...] = PAPER_DATASETS) -> Path:
    data = {"source": "synthetic", "datasets": list(datasets), "text_only": False}
    path.write_text(yaml.safe_dump({"synthetic": synthetic, "data": data}), encoding="utf-8")
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


def test_stage_writes_the_datasets_that_data_datasets_lists(tmp_path):
    out = tmp_path / "synthetic"
    params = write_params(tmp_path / "params.yaml", SMALL, ("emorynlp", "meld"))
    result = CliRunner().invoke(command, ["--out", str(out), "--params", str(params)])
    assert result.exit_code == 0, result.output
    assert "labelled utterances: meld 62, emorynlp 62" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["emorynlp", "manifest.json", "meld"]


# ----------------------------------------------------------------------------------------------
# the five datasets through the pipeline


def test_five_synthetic_datasets_run_through_labels_preprocess_and_merge(tmp_path):
    from stages.embed import command as embed
    from stages.fetch import command as fetch
    from stages.labels import command as labels
    from stages.merge import command as merge
    from stages.preprocess import command as preprocess
    from unimse_core.io.hdf5 import list_groups, read_h5

    def invoke(stage, *args):
        result = CliRunner().invoke(stage, [str(a) for a in (*args, "--params", tmp_path / "params.yaml")])
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"

    params = read_params(ROOT / "params.yaml")
    small = {"train": 24, "valid": 8, "test": 8}
    for name in NAMES:
        params["synthetic"][name].update(small)
    params["data"]["datasets"] = list(NAMES)
    params["embed"]["encoder"] = "tfidf"
    params["merge"]["combination"] = "+".join(NAMES)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    raw, report = tmp_path / "synthetic", tmp_path / "verified.json"
    invoke(command, "--out", raw)
    invoke(fetch, "--synthetic-dir", raw, "--synthetic-manifest", raw / "manifest.json", "--local-dir",
           tmp_path / "raw", "--manifest", tmp_path / "unused.json", "--report", report)
    invoke(embed, "--report", report, "--out", tmp_path / "embeddings")
    invoke(labels, "--report", report, "--embeddings", tmp_path / "embeddings", "--out", tmp_path / "labels",
           "--summary", tmp_path / "labels.json")
    for name in NAMES:
        invoke(preprocess, "--dataset", name, "--report", report, "--labels", tmp_path / "labels" / f"{name}.csv",
               "--out", tmp_path / "processed" / f"{name}.h5")
    invoke(merge, "--processed", tmp_path / "processed", "--out", tmp_path / "merged.h5", "--summary",
           tmp_path / "merge.json")
    merged = tmp_path / "merged.h5"
    assert list_groups(merged) == ["train", "valid", *(f"test/{name}" for name in NAMES)]
    test = read_h5(merged, "test/emorynlp")
    assert len(test) == small["test"] and not test.audio_length.any() and not test.video_length.any()
    # five fields: polarity, score, then the emotion slots of MELD, IEMOCAP and EmoryNLP
    assert all(len(t.split(",")) == 5 for t in test.targets)
    assert {t.split(",")[4] for t in test.targets} <= set(get("emorynlp").codes)
    assert read_h5(merged, "train").dataset_counts()["emorynlp"] == small["train"]
