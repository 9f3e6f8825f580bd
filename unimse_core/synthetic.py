"""Synthetic raw data in the real file formats: the embedded default that the whole pipeline runs on.

`generate` writes MOSI, MOSEI, MELD and IEMOCAP files exactly as docs/raw-data.md describes the
real ones (label tables, feature pickles, ids, padding), with the nuisances of the real releases
(variable lengths, NaN frames, labelled utterances without features, non-ASCII text, MELD ids that
repeat across splits, IEMOCAP codes outside the six classes). Every label is recoverable only
partly from each modality, so that a model that fuses text, audio and video beats text alone. The
recipe and the numbers a simple model reaches are in docs/synthetic.md.

The signal, per utterance: three independent latent factors t, a, v ~ N(0, 1).
- text encodes t: the share of sentiment words grows with |t|, their polarity is positive with
  probability sigmoid(TEXT_POLARITY_GAIN * t); the rest of the words are neutral fillers.
- audio encodes a: on SIGNAL_DIMS dimensions every frame carries +-SIGNAL_WEIGHT * a, plus noise
  per utterance (CHANNEL_UTTERANCE_NOISE) and per frame (CHANNEL_FRAME_NOISE).
- video encodes v the same way on its own dimensions.
- MOSI/MOSEI score = clip(SCORE_WEIGHTS . (t, a, v) + N(0, SCORE_NOISE), -3, 3), rounded to an
  average of annotators (multiples of 1/3 or 1/5) and stored as float32, like the real labels.
- MELD/IEMOCAP emotion = the class whose prototype in (t, a, v) space is nearest: text gives the
  valence axis, audio the arousal axis, video a third axis, and only all three determine the class.

Determinism: every dataset draws from its own generator seeded by (seed, dataset index), so the
same config gives byte-identical files and changing one dataset's sizes leaves the others alone.
"""

from __future__ import annotations

import csv
import math
import os
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unimse_core.config import DATASETS, SyntheticConfig, SyntheticSizes
from unimse_core.io.manifest import SPLITS, Manifest, ManifestEntry, sha256_file, write_manifest
from unimse_core.io.raw import reference_iemocap_split

PICKLE_PROTOCOL = 4

# --- the signal -------------------------------------------------------------------------------
SCORE_WEIGHTS = (1.1, 0.8, 0.7)  # score = w . (t, a, v) + noise: std about 1.6, like MOSI; text leads
SCORE_NOISE = 0.35
TEXT_WORDS = (5, 18)        # word slots per utterance, both ends included
TEXT_POLARITY_GAIN = 3.0    # P(a sentiment word is positive) = sigmoid(gain * t)
TEXT_SENTIMENT_BASE = 0.25  # P(a word slot holds a sentiment word) = base + slope * min(|t|, 2)
TEXT_SENTIMENT_SLOPE = 0.2
SIGNAL_DIMS = 3             # feature dimensions that carry the factor, all below FEATURE_WIDTH
SIGNAL_WEIGHT = 1.0
CHANNEL_UTTERANCE_NOISE = 0.7  # per utterance and dimension: what averaging frames cannot remove
CHANNEL_FRAME_NOISE = 1.0
FEATURE_WIDTH = 64          # the pipeline truncates features to this width: the signal stays below

# Emotion prototypes in (t, a, v) space: text ~ valence, audio ~ arousal, video ~ a third axis.
MELD_PROTOTYPES: dict[str, tuple[float, float, float]] = {
    "neutral": (0.0, 0.0, 0.0),
    "joy": (1.5, 0.2, 0.2),
    "surprise": (0.3, 1.5, -0.3),
    "anger": (-1.3, 1.1, 0.6),
    "sadness": (-0.9, -1.3, -0.2),
    "disgust": (-0.6, 0.0, 1.5),
    "fear": (-0.6, 0.2, -1.5),
}
IEMOCAP_PROTOTYPES: dict[str, tuple[float, float, float]] = {
    "neu": (0.0, 0.0, 0.0),
    "hap": (1.3, -0.5, 0.8),
    "exc": (1.1, 1.2, -0.4),
    "sad": (-0.9, -1.3, -0.3),
    "ang": (-1.0, 1.2, 1.0),
    "fru": (-0.6, 0.2, -1.5),
}
MELD_SENTIMENT = {"neutral": "neutral", "joy": "positive", "anger": "negative", "sadness": "negative",
                  "disgust": "negative", "fear": "negative"}  # surprise: the sign of t
IEMOCAP_OTHER_CODES = ("xxx", "oth", "sur", "fea", "dis")
IEMOCAP_OTHER_SHARE = 0.05   # extra rows with a code outside the six classes (never in the pickle)
NON_ASCII_SHARE = 0.04       # utterances with a non-ASCII token

# --- words ------------------------------------------------------------------------------------
POSITIVE_WORDS = ("good", "great", "love", "amazing", "wonderful", "funny", "enjoyed", "best",
                  "brilliant", "happy", "nice", "fantastic", "perfect", "beautiful", "awesome", "fun",
                  "liked", "excellent", "sweet", "glad", "lovely", "cool")
NEGATIVE_WORDS = ("bad", "terrible", "hate", "boring", "awful", "worst", "stupid", "sad", "horrible",
                  "annoying", "disappointed", "waste", "poor", "ugly", "angry", "mess", "dull", "weak",
                  "wrong", "sorry", "upset", "hurt")
REVIEW_FILLERS = ("the movie", "this film", "i think", "it was", "you know", "um", "uh", "i mean",
                  "the actors", "the story", "the plot", "kind of", "and", "but", "so", "like",
                  "the ending", "the characters", "i went to see", "the director", "basically",
                  "honestly", "the first half", "overall", "a lot of", "the music", "the scenes",
                  "at the theater", "my friends", "this weekend", "the trailer", "at all")
TALK_FILLERS = ("oh", "yeah", "you know", "i mean", "okay", "well", "so", "what", "are you", "i was",
                "we should", "come on", "listen", "look", "that is", "it is", "this is", "right",
                "hey", "just", "i don't know", "tonight", "with him", "with her", "the apartment",
                "at the coffee house", "my job", "the wedding", "all right", "wait", "your mom",
                "the car", "tomorrow", "we were")
NON_ASCII_TOKENS = ("café", "naïve", "it’s", "don’t", "“really”", "résumé", "déjà vu", "über", "—",
                    "😂", "🙂")

# --- ids, names -------------------------------------------------------------------------------
YOUTUBE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
FRIENDS_MAIN = ("Chandler", "Joey", "Monica", "Rachel", "Ross", "Phoebe")
FRIENDS_OTHER = ("Gunther", "Janice", "Mr. Geller", "Mrs. Geller", "Carol", "Mike", "Richard",
                 "Emily", "Tag", "All")
IEMOCAP_DIALOGUES = ("impro01", "impro02", "impro03", "impro04", "impro05a", "impro05b", "impro06",
                     "impro07", "impro08", "script01_1", "script01_2", "script01_3", "script02_1", "script02_2",
                     "script03_1", "script03_2")
MELD_FILES = {"train": "train_sent_emo.csv", "valid": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
MELD_COLUMNS = ("Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID",
                "Season", "Episode", "StartTime", "EndTime")
MSA_COLUMNS = ("video_id", "clip_id", "text", "label", "annotation", "mode", "label_by")
IEMOCAP_COLUMNS = ("start_stop", "vid_cid", "label", "VAD", "text", "vid", "i", "path")


@dataclass(frozen=True)
class _Channel:
    """How one modality of one dataset encodes its factor in frames of width `dim`."""

    offset: np.ndarray  # [D]
    scale: np.ndarray   # [D]
    weight: np.ndarray  # [D], +-SIGNAL_WEIGHT on the signal dimensions, 0 elsewhere

    @staticmethod
    def draw(rng: np.random.Generator, dim: int) -> _Channel:
        usable = min(dim, FEATURE_WIDTH)
        dims = rng.choice(usable, size=min(SIGNAL_DIMS, usable), replace=False)
        weight = np.zeros(dim)
        weight[dims] = rng.choice([-1.0, 1.0], size=len(dims)) * SIGNAL_WEIGHT
        return _Channel(offset=rng.normal(0.0, 0.5, dim), scale=rng.uniform(0.5, 1.5, dim), weight=weight)

    def frames(self, rng: np.random.Generator, factor: float, n_frames: int) -> np.ndarray:
        """float32 [n_frames, D]: offset + scale * (weight * factor + utterance noise + frame noise)."""
        dim = len(self.offset)
        utterance = rng.normal(0.0, CHANNEL_UTTERANCE_NOISE, dim)
        noise = rng.normal(0.0, CHANNEL_FRAME_NOISE, (n_frames, dim))
        return (self.offset + self.scale * (self.weight * factor + utterance + noise)).astype(np.float32)


@dataclass(frozen=True)
class _Utterance:
    """What every dataset draws per utterance before formatting it: factors, text, features."""

    factors: tuple[float, float, float]  # (t, a, v)
    text: str
    audio: np.ndarray | None  # float32 [Ta, Da]; None: no features (a missing utterance)
    video: np.ndarray | None  # float32 [Tv, Dv]


# ----------------------------------------------------------------------------------------------
# shared pieces


def _rng(config: SyntheticConfig, dataset: str) -> np.random.Generator:
    return np.random.default_rng([config.seed, DATASETS.index(dataset)])


def _share(n: int, share: float, keep: int = 0) -> int:
    """How many of n items get a nuisance of this share: at least one where the share is > 0."""
    if share <= 0 or n <= keep:
        return 0
    return min(n - keep, math.ceil(share * n))


def _pick(rng: np.random.Generator, n: int, share: float, keep: int = 0) -> set[int]:
    return set(rng.choice(n, size=_share(n, share, keep), replace=False).tolist())


def _words(rng: np.random.Generator, t: float, fillers: Sequence[str], non_ascii: bool) -> list[str]:
    """Chunks of an utterance whose sentiment words encode t (see the module docstring)."""
    n = int(rng.integers(TEXT_WORDS[0], TEXT_WORDS[1] + 1))
    p_sentiment = TEXT_SENTIMENT_BASE + TEXT_SENTIMENT_SLOPE * min(abs(t), 2.0)
    p_positive = 1.0 / (1.0 + math.exp(-TEXT_POLARITY_GAIN * t))
    words = []
    for _ in range(n):
        if rng.random() < p_sentiment:
            lexicon = POSITIVE_WORDS if rng.random() < p_positive else NEGATIVE_WORDS
            words.append(lexicon[rng.integers(len(lexicon))])
        else:
            words.append(fillers[rng.integers(len(fillers))])
    if non_ascii:
        words.insert(int(rng.integers(len(words) + 1)), NON_ASCII_TOKENS[rng.integers(len(NON_ASCII_TOKENS))])
    return words


def _spoken(words: list[str]) -> str:
    """MOSI transcripts: lower case, no punctuation."""
    return " ".join(words)


def _written(rng: np.random.Generator, words: list[str]) -> str:
    """MOSEI, MELD, IEMOCAP: a capitalised sentence with commas and an end mark."""
    out = []
    for i, w in enumerate(words):
        if 0 < i < len(words) - 1 and rng.random() < 0.08:
            w += ","
        out.append(w)
    text = " ".join(out)
    text = text.replace(" i ", " I ").replace(" i'", " I'")
    mark = (".", ".", ".", "!", "?", "...")[rng.integers(6)]
    return text[:1].upper() + text[1:] + mark


def _n_frames(rng: np.random.Generator, max_frames: int) -> int:
    return int(rng.integers(max(2, max_frames // 4), max_frames + 1))


def _put_nan_frame(rng: np.random.Generator, utt: _Utterance) -> None:
    """One whole frame of NaN, never the first one (a leading NaN frame would blur the padding)."""
    frames = utt.audio if rng.random() < 0.7 else utt.video
    frames[int(rng.integers(1, len(frames)))] = np.nan


def _draw_utterances(rng: np.random.Generator, config: SyntheticConfig, sizes: SyntheticSizes,
                     n: int, text_of: Callable[[list[str]], str], fillers: Sequence[str],
                     missing: set[int]) -> list[_Utterance]:
    """n utterances: factors, text, features (none for the indices in `missing`), NaN frames."""
    audio_channel = _Channel.draw(rng, sizes.audio_dim)
    video_channel = _Channel.draw(rng, sizes.video_dim)
    factors = rng.normal(0.0, 1.0, (n, 3))
    non_ascii = _pick(rng, n, NON_ASCII_SHARE)
    utterances = []
    for i in range(n):
        t, a, v = (float(x) for x in factors[i])
        text = text_of(_words(rng, t, fillers, i in non_ascii))
        audio = video = None
        if i not in missing:
            audio = audio_channel.frames(rng, a, _n_frames(rng, config.max_frames))
            video = video_channel.frames(rng, v, _n_frames(rng, config.max_frames))
        utterances.append(_Utterance((t, a, v), text, audio, video))
    present = [i for i in range(n) if i not in missing]
    for j in sorted(_pick(rng, len(present), config.nan_frames)):
        _put_nan_frame(rng, utterances[present[j]])
    return utterances


def _missing_per_split(rng: np.random.Generator, counts: Sequence[int], share: float) -> set[int]:
    """Indices (in the concatenation of the splits) without features; every split keeps one."""
    missing: set[int] = set()
    start = 0
    for n in counts:
        missing |= {start + i for i in _pick(rng, n, share, keep=1)}
        start += n
    return missing


def _nearest(prototypes: dict[str, tuple[float, float, float]], factors: tuple[float, float, float]) -> str:
    names = list(prototypes)
    distances = [sum((f - p) ** 2 for f, p in zip(factors, prototypes[name])) for name in names]
    return names[int(np.argmin(distances))]


def _write_csv(path: Path, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)


def _write_pickle(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=PICKLE_PROTOCOL)


def _entry(out_dir: Path, rel: str, dataset: str, kind: str, splits: dict[str, int],
           split: str | None = None, written: str | None = None) -> ManifestEntry:
    """The manifest entry of a file, listed under our name `rel`; `written` is the name it was
    written under where that is another accepted one (the authors')."""
    path = out_dir / (written or rel)
    return ManifestEntry(path=rel, dataset=dataset, kind=kind, split=split, size=os.path.getsize(path),
                         sha256=sha256_file(path), url="", splits=splits,
                         names=(written,) if written and written != rel else ())


# --- real-release variants (synthetic.variants; docs/synthetic.md) ------------------------------
AUTHORS_NAMES = {"mosi/label.csv": "mosi/MOSI-label.csv", "mosei/label.csv": "mosei/MOSEI-label.csv",
                 "mosi/mosi_data_noalign.pkl": "mosi/mosi_data_0610.pkl",
                 "mosei/mosei_senti_data_noalign.pkl": "mosei/mosei_data_0610.pkl",
                 "meld/meld_features.pkl": "meld/meld_data_0610.pkl",
                 "iemocap/iemocap_features.pkl": "iemocap/iemocap_data_0610.pkl"}
C1_QUOTE = "\u0092"  # cp1252's right single quote read as latin-1, as in the authors' MELD copies


# The one dataset that a per-dataset MSA variant changes.
VARIANT_DATASET = {"mixed_padding": "mosi", "mosei_unparsed_ids": "mosei"}


def _variant_applies(config: SyntheticConfig, variant: str, dataset: str) -> bool:
    return variant in config.variants and VARIANT_DATASET[variant] == dataset


def _file_name(config: SyntheticConfig, rel: str) -> str:
    """Where the file of manifest path `rel` is written: ours, or the authors' name of it."""
    if "authors_names" not in config.variants:
        return rel
    if rel == "meld/meld_features.pkl" and "meld_0424" in config.variants:
        return "meld/meld_data_0424.pkl"
    return AUTHORS_NAMES.get(rel, rel)


def _drop_one_video(video: list[dict[str, np.ndarray]]) -> None:
    """missing_modality: the first key of each split keeps its audio and loses its video."""
    for part in video:
        if part:
            del part[next(iter(part))]


def _right_pad_row(x: np.ndarray, row: int) -> None:
    """mixed_padding: move row `row`'s frames of a left-padded [N, L, D] array to the start."""
    frames = x[row][(x[row] != 0).any(axis=1)]
    x[row] = 0.0
    x[row, :len(frames)] = frames


# ----------------------------------------------------------------------------------------------
# MOSI / MOSEI


def _youtube_ids(rng: np.random.Generator, n: int, numeric_share: float) -> list[str]:
    """Unique 11-character YouTube-like ids; every 7th holds '_', every 5th '-'. MOSEI also has
    some purely numeric video ids (as the real one does), `numeric_share` of them."""
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < n:
        j = len(ids)
        if rng.random() < numeric_share:
            vid = str(int(rng.integers(10_000, 400_000)))
        else:
            chars = [YOUTUBE_ALPHABET[k] for k in rng.integers(len(YOUTUBE_ALPHABET), size=11)]
            if j % 7 == 3:
                chars[int(rng.integers(11))] = "_"
            if j % 5 == 1:
                chars[int(rng.integers(11))] = "-"
            vid = "".join(chars)
        if vid not in seen:
            seen.add(vid)
            ids.append(vid)
    return ids


def _msa_label(rng: np.random.Generator, factors: tuple[float, float, float], raters: Sequence[int]) -> float:
    """The score as the real tables hold it: an average of annotators, stored as float32."""
    raw = sum(w * f for w, f in zip(SCORE_WEIGHTS, factors)) + rng.normal(0.0, SCORE_NOISE)
    k = raters[int(rng.integers(len(raters)))]
    score = min(3.0, max(-3.0, round(raw * k) / k))
    return float(np.float32(score)) + 0.0  # + 0.0 turns -0.0 into 0.0


def _annotation(label: float) -> str:
    return "Positive" if label > 0 else "Negative" if label < 0 else "Neutral"


def _msa(config: SyntheticConfig, dataset: str, out_dir: Path) -> list[ManifestEntry]:
    rng = _rng(config, dataset)
    sizes: SyntheticSizes = getattr(config, dataset)
    counts = [getattr(sizes, s) for s in SPLITS]
    mosi = dataset == "mosi"

    # Videos of 2-12 clips, all clips of a video in one split; clip ids with a few gaps.
    clips: list[tuple[int, int, str]] = []  # (video index, clip id, split)
    n_videos = 0
    for split, n in zip(SPLITS, counts):
        left = n
        while left > 0:
            take = min(left, int(rng.integers(2, 13)))
            clip_id = 1 if mosi else 0
            for _ in range(take):
                clips.append((n_videos, clip_id, split))
                clip_id += 1 + int(rng.random() < 0.1)
            n_videos += 1
            left -= take
    video_ids = _youtube_ids(rng, n_videos, numeric_share=0.0 if mosi else 0.05)
    missing = _missing_per_split(rng, counts, config.missing_features)
    if _variant_applies(config, "mosei_unparsed_ids", dataset):
        missing = set()  # rows pair by position: the pickle holds every labelled utterance, as the reference's
    text_of = _spoken if mosi else (lambda words: _written(rng, words))
    utterances = _draw_utterances(rng, config, sizes, len(clips), text_of, REVIEW_FILLERS, missing)
    raters = (3, 5) if mosi else (3,)
    labels = [_msa_label(rng, u.factors, raters) for u in utterances]

    order = sorted(range(len(clips)), key=lambda i: (video_ids[clips[i][0]], clips[i][1]))
    rows = [(video_ids[clips[i][0]], clips[i][1], utterances[i].text, repr(labels[i]), _annotation(labels[i]),
             clips[i][2], 0) for i in order]
    label_rel = f"{dataset}/label.csv"
    _write_csv(out_dir / _file_name(config, label_rel), MSA_COLUMNS, rows)

    features: dict[str, dict[str, Any]] = {}
    feature_counts: dict[str, int] = {}
    for split in SPLITS:
        members = [i for i in order if clips[i][2] == split and i not in missing]
        feature_counts[split] = len(members)
        features[split] = _msa_split(config, dataset, sizes, members, clips, video_ids, utterances, labels)
    feature_rel = f"{dataset}/{_msa_feature_name(config, dataset)}"
    if config.msa_layout == "authors" and _variant_applies(config, "mixed_padding", dataset):
        _right_pad_row(features["train"]["audio"], 0)
    if config.msa_layout == "authors" and _variant_applies(config, "mosei_unparsed_ids", dataset):
        for split in SPLITS:  # the CMU-SDK style "<video_id>[<clip_id>]": rows pair by position
            pairs = features[split]["id"]
            features[split]["id"] = np.array([[f"{vid}[{cid}]"] for vid, cid in pairs], dtype=object).reshape(-1, 1)
    _write_pickle(out_dir / _file_name(config, feature_rel), features)
    label_counts = {s: n for s, n in zip(SPLITS, counts)}
    return [_entry(out_dir, label_rel, dataset, "msa_labels", label_counts, written=_file_name(config, label_rel)),
            _entry(out_dir, feature_rel, dataset, "msa_features", feature_counts,
                   written=_file_name(config, feature_rel))]


def _msa_feature_name(config: SyntheticConfig, dataset: str) -> str:
    if config.msa_layout == "mmsa":
        return "unaligned_50.pkl"
    return "mosi_data_noalign.pkl" if dataset == "mosi" else "mosei_senti_data_noalign.pkl"


def _padded(seqs: list[np.ndarray], length: int, dim: int, left: bool) -> np.ndarray:
    """float32 [N, length, dim], all-zero frames before (left) or after each sequence."""
    out = np.zeros((len(seqs), length, dim), dtype=np.float32)
    for i, seq in enumerate(seqs):
        if left:
            out[i, length - len(seq):] = seq
        else:
            out[i, :len(seq)] = seq
    return out


def _msa_split(config: SyntheticConfig, dataset: str, sizes: SyntheticSizes, members: list[int],
               clips: list[tuple[int, int, str]], video_ids: list[str], utterances: list[_Utterance],
               labels: list[float]) -> dict[str, Any]:
    audio = [utterances[i].audio for i in members]
    video = [utterances[i].video for i in members]
    length = config.max_frames
    pairs = [(video_ids[clips[i][0]], str(clips[i][1])) for i in members]
    if config.msa_layout == "mmsa":
        return {
            "raw_text": np.array([utterances[i].text for i in members], dtype=str),
            "id": np.array([f"{vid}$_${cid}" for vid, cid in pairs], dtype=str),
            "audio": _padded(audio, length, sizes.audio_dim, left=False),
            "vision": _padded(video, length, sizes.video_dim, left=False),
            "audio_lengths": [len(a) for a in audio],
            "vision_lengths": [len(v) for v in video],
            "regression_labels": np.array([labels[i] for i in members], dtype=np.float32),
        }
    if dataset == "mosi":
        ids = np.array([[f"{vid}_{cid}".encode()] for vid, cid in pairs], dtype=bytes).reshape(len(pairs), 1)
    else:
        ids = np.array(pairs, dtype=str).reshape(len(pairs), 2)
    return {
        "vision": _padded(video, length, sizes.video_dim, left=True),
        "audio": _padded(audio, length, sizes.audio_dim, left=True),
        "labels": np.array([labels[i] for i in members], dtype=np.float32).reshape(-1, 1, 1),
        "id": ids,
    }


# ----------------------------------------------------------------------------------------------
# MELD


def _clock(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _meld_speakers(rng: np.random.Generator, n_utterances: int) -> list[str]:
    """Speakers of one dialogue: 2-4 people (one for a single utterance), mostly the six friends."""
    pool = FRIENDS_MAIN + FRIENDS_OTHER
    weights = np.array([1.0] * len(FRIENDS_MAIN) + [0.12] * len(FRIENDS_OTHER))
    k = 1 if n_utterances == 1 else min(n_utterances, int(rng.integers(2, 5)))
    cast = [pool[j] for j in rng.choice(len(pool), size=k, replace=False, p=weights / weights.sum())]
    speakers = list(cast)  # everyone speaks once, then turns move on (sometimes one keeps talking)
    rng.shuffle(speakers)
    while len(speakers) < n_utterances:
        if len(cast) > 1 and rng.random() < 0.85:
            speakers.append(cast[int(rng.integers(len(cast)))])
            while speakers[-1] == speakers[-2]:
                speakers[-1] = cast[int(rng.integers(len(cast)))]
        else:
            speakers.append(speakers[-1])
    return speakers[:n_utterances]


def _meld(config: SyntheticConfig, out_dir: Path) -> list[ManifestEntry]:
    rng = _rng(config, "meld")
    sizes = config.meld
    counts = [getattr(sizes, s) for s in SPLITS]
    missing = _missing_per_split(rng, counts, config.missing_features)
    utterances = _draw_utterances(rng, config, sizes, sum(counts), lambda w: _written(rng, w), TALK_FILLERS,
                                  missing)
    entries: list[ManifestEntry] = []
    audio: list[dict[str, np.ndarray]] = []
    video: list[dict[str, np.ndarray]] = []
    start = 0
    for split, n in zip(SPLITS, counts):
        rows = []
        audio.append({})
        video.append({})
        dialogue_id = 0  # restarts in every file: "0_0" exists in train, dev and test
        while len(rows) < n:
            length = min(n - len(rows), int(rng.integers(1, 13)))
            season, episode = int(rng.integers(1, 11)), int(rng.integers(1, 25))
            clock = float(rng.uniform(0.0, 1300.0))
            for utterance_id, speaker in enumerate(_meld_speakers(rng, length)):
                index = start + len(rows)
                utt = utterances[index]
                emotion = _nearest(MELD_PROTOTYPES, utt.factors)
                sentiment = MELD_SENTIMENT.get(emotion) or ("positive" if utt.factors[0] >= 0 else "negative")
                begin = clock + float(rng.uniform(0.0, 1.5))
                clock = begin + float(rng.uniform(0.5, 6.0))
                rows.append((len(rows) + 1, utt.text, speaker, emotion, sentiment, dialogue_id, utterance_id,
                             season, episode, _clock(begin), _clock(clock)))
                if utt.audio is not None:
                    key = f"{dialogue_id}_{utterance_id}"
                    audio[-1][key] = utt.audio
                    video[-1][key] = utt.video
            dialogue_id += 1 + int(rng.random() < 0.03)  # the real files skip a few ids
        rel = f"meld/{MELD_FILES[split]}"
        _write_csv(out_dir / rel, MELD_COLUMNS, rows)
        _meld_csv_variant(config, out_dir / rel, split)
        entries.append(_entry(out_dir, rel, "meld", "meld_labels", {split: n}, split=split))
        start += n
    rel = "meld/meld_features.pkl"
    if "missing_modality" in config.variants:
        _drop_one_video(video)
    # count_mismatch: the manifest expects features for every labelled utterance, as the real one
    # does (9,989), while the pickle lacks the missing ones
    expected = counts if "count_mismatch" in config.variants else [len(d) for d in audio]
    _write_pickle(out_dir / _file_name(config, rel), audio if "meld_0424" in config.variants else
                  {"audio": audio, "video": video})
    entries.append(_entry(out_dir, rel, "meld", "erc_features", dict(zip(SPLITS, expected)),
                          written=_file_name(config, rel)))
    return entries


def _meld_csv_variant(config: SyntheticConfig, path: Path, split: str) -> None:
    """meld_c1_lf: the authors' UTF-8 copies with U+0092 for the right quote; meld_cp1252: the dev
    file as a cp1252 copy (characters cp1252 lacks, such as emoji, become '?')."""
    if not {"meld_c1_lf", "meld_cp1252"} & set(config.variants):
        return
    text = path.read_text(encoding="utf-8")
    if "meld_cp1252" in config.variants and split == "valid":
        path.write_bytes(text.encode("cp1252", errors="replace"))
    elif "meld_c1_lf" in config.variants:
        path.write_text(text.replace("\u2019", C1_QUOTE), encoding="utf-8", newline="")


# ----------------------------------------------------------------------------------------------
# IEMOCAP


def _iemocap_vid(session: int, j: int) -> str:
    """The j-th dialogue of a session: Ses01F_impro01, Ses01M_impro01, ..., Ses01M_script03_2, then
    made-up impro numbers once the real names run out (only for configs larger than IEMOCAP)."""
    k = j // 2
    base = IEMOCAP_DIALOGUES[k] if k < len(IEMOCAP_DIALOGUES) else f"impro{k - len(IEMOCAP_DIALOGUES) + 9:02d}"
    return f"Ses{session:02d}{'FM'[j % 2]}_{base}"


def _vad(rng: np.random.Generator, factors: tuple[float, float, float]) -> str:
    """Valence, activation, dominance on 1-5 in half steps, loosely following t, a, v."""
    values = [min(5.0, max(1.0, round(2 * (3.0 + 0.8 * f + rng.normal(0.0, 0.4))) / 2)) for f in factors]
    return "[" + ", ".join(f"{x:.4f}" for x in values) + "]"


def _iemocap(config: SyntheticConfig, out_dir: Path) -> list[ManifestEntry]:
    rng = _rng(config, "iemocap")
    sizes = config.iemocap
    counts = [getattr(sizes, s) for s in SPLITS]

    # Dialogues of 8-30 six-class utterances; train and valid in Sessions 1-4 (valid = whole
    # dialogues), test in Session 5; then the extra rows with other codes, spread over dialogues.
    # Valid dialogues take the names of the reference split's valid dialogues (and hold more
    # utterances where 12 would not suffice), so that the reference split, which a text-only run
    # uses, is the split of the pickle; train dialogues skip those names.
    reference = reference_iemocap_split()
    valid_names = sorted(reference.valid_dialogues)
    dialogues: list[tuple[str, int, str, int]] = []  # (vid, session, split, six-class utterances)
    next_in_session = {s: 0 for s in range(1, 6)}
    for split, n in zip(SPLITS, counts):
        left, k = n, 0
        while left > 0:
            take = min(left, int(rng.integers(8, 31)))
            if split == "valid":
                vid = valid_names[k]
                take = max(take, min(left, math.ceil(left / (len(valid_names) - k))))
                dialogues.append((vid, int(vid[3:5]), split, take))
            else:
                session = 5 if split == "test" else 1 + k % 4
                while _iemocap_vid(session, next_in_session[session]) in reference.valid_dialogues:
                    next_in_session[session] += 1
                dialogues.append((_iemocap_vid(session, next_in_session[session]), session, split, take))
                next_in_session[session] += 1
            left -= take
            k += 1
    other = [0] * len(dialogues)
    for split, n in zip(SPLITS, counts):
        members = [j for j, d in enumerate(dialogues) if d[2] == split]
        for _ in range(_share(n, IEMOCAP_OTHER_SHARE)):
            other[members[int(rng.integers(len(members)))]] += 1

    # Utterance slots in dialogue order, six-class and other-coded rows shuffled together.
    slots: list[tuple[int, bool]] = []  # (dialogue index, six-class?)
    for j, (_vid, _session, _split, n6) in enumerate(dialogues):
        kinds = np.array([True] * n6 + [False] * other[j])
        slots.extend((j, bool(x)) for x in kinds[rng.permutation(len(kinds))])
    n_rows = len(slots)
    six = [i for i, (_j, ok) in enumerate(slots) if ok]
    six_counts = [sum(1 for i in six if dialogues[slots[i][0]][2] == s) for s in SPLITS]
    six_missing = _missing_per_split(rng, six_counts, config.missing_features)
    # Rows without features: the other-coded ones and a share of the six-class ones in every split.
    by_split = [[i for i in six if dialogues[slots[i][0]][2] == s] for s in SPLITS]
    flat_six = [i for rows in by_split for i in rows]
    without = {flat_six[k] for k in six_missing} | {i for i, (_j, ok) in enumerate(slots) if not ok}
    utterances = _draw_utterances(rng, config, sizes, n_rows, lambda w: _written(rng, w), TALK_FILLERS, without)

    rows = []
    audio: list[dict[str, np.ndarray]] = [{}, {}, {}]
    video: list[dict[str, np.ndarray]] = [{}, {}, {}]
    row = 0
    for j, (vid, session, split, _n6) in enumerate(dialogues):
        counters = {"F": 0, "M": 0}
        speaker = "FM"[int(rng.integers(2))]
        clock = float(rng.uniform(1.0, 10.0))
        position = 0
        while row < n_rows and slots[row][0] == j:
            utt = utterances[row]
            if slots[row][1]:
                label = _nearest(IEMOCAP_PROTOTYPES, utt.factors)
            else:
                label = IEMOCAP_OTHER_CODES[int(rng.integers(len(IEMOCAP_OTHER_CODES)))]
            begin = clock + float(rng.uniform(0.05, 2.5))
            clock = begin + float(rng.uniform(0.8, 9.0))
            vid_cid = f"{vid}_{speaker}{counters[speaker]:03d}"
            counters[speaker] += 1
            rows.append((f"[{begin:.4f} - {clock:.4f}]", vid_cid, label, _vad(rng, utt.factors), utt.text, vid,
                         position, f"Session{session}/sentences/wav/{vid}/{vid_cid}.wav"))
            if utt.audio is not None:
                audio[SPLITS.index(split)][vid_cid] = utt.audio
                video[SPLITS.index(split)][vid_cid] = utt.video
            if rng.random() < 0.8:
                speaker = "M" if speaker == "F" else "F"
            position += 1
            row += 1
    rows.sort(key=lambda r: (r[5], float(r[0][1:].split(" - ")[0])))
    label_rel = "iemocap/IEMOCAP_all.csv"
    _write_csv(out_dir / label_rel, IEMOCAP_COLUMNS, rows)
    feature_rel = "iemocap/iemocap_features.pkl"
    if "missing_modality" in config.variants:
        _drop_one_video(video)
    expected = [len(d) for d in audio]
    if "count_mismatch" in config.variants:  # a key the CSV lacks, as real pickles carry
        extra = f"{dialogues[0][0]}_F999"
        audio[0][extra] = np.ones((2, sizes.audio_dim), dtype=np.float32)
        video[0][extra] = np.ones((2, sizes.video_dim), dtype=np.float32)
    _write_pickle(out_dir / _file_name(config, feature_rel), {"audio": audio, "video": video})
    return [_entry(out_dir, label_rel, "iemocap", "iemocap_labels", dict(zip(SPLITS, counts))),
            _entry(out_dir, feature_rel, "iemocap", "erc_features", dict(zip(SPLITS, expected)),
                   written=_file_name(config, feature_rel))]


# ----------------------------------------------------------------------------------------------


def generate(config: SyntheticConfig, out_dir: Path) -> Manifest:
    """Write every synthetic raw file and `manifest.json` into `out_dir`; return the manifest.

    The manifest lists each file (not itself) with its size, sha256 and the utterances it holds
    per split: label tables count labelled rows (IEMOCAP: six-class rows only), feature pickles
    count the utterances that have features.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = [*_msa(config, "mosi", out_dir), *_msa(config, "mosei", out_dir), *_meld(config, out_dir),
               *_iemocap(config, out_dir)]
    manifest = Manifest(name="synthetic", files=tuple(entries))
    write_manifest(out_dir / "manifest.json", manifest)
    return manifest
