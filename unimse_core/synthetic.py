"""Synthetic raw data in the real file formats: the embedded default that the whole pipeline runs on.

`generate` asks each dataset of `data.datasets` (the paper's four by default) to write its files
through its `synthesize` hook (unimse_core/datasets/<name>.py), exactly as docs/raw-data.md
describes the real ones (label tables, feature pickles, ids, padding), with the nuisances of the
real releases (variable lengths, NaN frames, labelled utterances without features, non-ASCII text,
ids that repeat across splits, codes outside the classes). This module holds what the writers
share: the latent factors and how each modality encodes them, the word drawing, the seeding, the
CSV and pickle writing and the manifest entries. Every label is recoverable only partly from each
modality, so that a model that fuses text, audio and video beats text alone. The recipe and the
numbers a simple model reaches are in docs/synthetic.md.

The signal, per utterance: three independent latent factors t, a, v ~ N(0, 1).
- text encodes t: the share of sentiment words grows with |t|, their polarity is positive with
  probability sigmoid(TEXT_POLARITY_GAIN * t); the rest of the words are neutral fillers.
- audio encodes a: on SIGNAL_DIMS dimensions every frame carries +-SIGNAL_WEIGHT * a, plus noise
  per utterance (CHANNEL_UTTERANCE_NOISE) and per frame (CHANNEL_FRAME_NOISE).
- video encodes v the same way on its own dimensions.
- a score = clip(SCORE_WEIGHTS . (t, a, v) + N(0, SCORE_NOISE), -3, 3), rounded to an average of
  annotators and stored as float32, like the real labels (`score`).
- an emotion = the class whose prototype in (t, a, v) space is nearest (`nearest`; each emotion
  dataset's module holds its prototypes): text gives the valence axis, audio the arousal axis,
  video a third axis, and only all three determine the class.

Determinism: every dataset draws from its own generator seeded by (seed, its registry index), so
the same config gives byte-identical files and changing one dataset's sizes, or listing one more
dataset, leaves the others alone.
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

from unimse_core.config import SyntheticConfig, SyntheticSizes
from unimse_core.datasets import NAMES, PAPER_DATASETS, get
from unimse_core.io.manifest import Manifest, ManifestEntry, sha256_file, write_manifest

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
NON_ASCII_SHARE = 0.04       # utterances with a non-ASCII token

# --- words ------------------------------------------------------------------------------------
POSITIVE_WORDS = ("good", "great", "love", "amazing", "wonderful", "funny", "enjoyed", "best",
                  "brilliant", "happy", "nice", "fantastic", "perfect", "beautiful", "awesome", "fun",
                  "liked", "excellent", "sweet", "glad", "lovely", "cool")
NEGATIVE_WORDS = ("bad", "terrible", "hate", "boring", "awful", "worst", "stupid", "sad", "horrible",
                  "annoying", "disappointed", "waste", "poor", "ugly", "angry", "mess", "dull", "weak",
                  "wrong", "sorry", "upset", "hurt")
# Fillers of an opinion video about a film, and of a conversation.
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


@dataclass(frozen=True)
class Channel:
    """How one modality of one dataset encodes its factor in frames of width `dim`."""

    offset: np.ndarray  # [D]
    scale: np.ndarray   # [D]
    weight: np.ndarray  # [D], +-SIGNAL_WEIGHT on the signal dimensions, 0 elsewhere

    @staticmethod
    def draw(rng: np.random.Generator, dim: int) -> Channel:
        usable = min(dim, FEATURE_WIDTH)
        dims = rng.choice(usable, size=min(SIGNAL_DIMS, usable), replace=False)
        weight = np.zeros(dim)
        weight[dims] = rng.choice([-1.0, 1.0], size=len(dims)) * SIGNAL_WEIGHT
        return Channel(offset=rng.normal(0.0, 0.5, dim), scale=rng.uniform(0.5, 1.5, dim), weight=weight)

    def frames(self, rng: np.random.Generator, factor: float, n_frames: int) -> np.ndarray:
        """float32 [n_frames, D]: offset + scale * (weight * factor + utterance noise + frame noise)."""
        dim = len(self.offset)
        utterance = rng.normal(0.0, CHANNEL_UTTERANCE_NOISE, dim)
        noise = rng.normal(0.0, CHANNEL_FRAME_NOISE, (n_frames, dim))
        return (self.offset + self.scale * (self.weight * factor + utterance + noise)).astype(np.float32)


@dataclass(frozen=True)
class Utterance:
    """What every dataset draws per utterance before formatting it: factors, text, features."""

    factors: tuple[float, float, float]  # (t, a, v)
    text: str
    audio: np.ndarray | None  # float32 [Ta, Da]; None: no features (a missing utterance, or a text-only dataset)
    video: np.ndarray | None  # float32 [Tv, Dv]


# ----------------------------------------------------------------------------------------------
# drawing


def dataset_rng(config: SyntheticConfig, dataset: str) -> np.random.Generator:
    """The generator of one dataset: seeded by (synthetic.seed, its index in the registry)."""
    return np.random.default_rng([config.seed, NAMES.index(dataset)])


def share(n: int, fraction: float, keep: int = 0) -> int:
    """How many of n items get a nuisance of this share: at least one where the share is > 0."""
    if fraction <= 0 or n <= keep:
        return 0
    return min(n - keep, math.ceil(fraction * n))


def pick(rng: np.random.Generator, n: int, fraction: float, keep: int = 0) -> set[int]:
    """`share(n, fraction, keep)` distinct indices below n."""
    return set(rng.choice(n, size=share(n, fraction, keep), replace=False).tolist())


def words(rng: np.random.Generator, t: float, fillers: Sequence[str], non_ascii: bool) -> list[str]:
    """Chunks of an utterance whose sentiment words encode t (see the module docstring)."""
    n = int(rng.integers(TEXT_WORDS[0], TEXT_WORDS[1] + 1))
    p_sentiment = TEXT_SENTIMENT_BASE + TEXT_SENTIMENT_SLOPE * min(abs(t), 2.0)
    p_positive = 1.0 / (1.0 + math.exp(-TEXT_POLARITY_GAIN * t))
    out = []
    for _ in range(n):
        if rng.random() < p_sentiment:
            lexicon = POSITIVE_WORDS if rng.random() < p_positive else NEGATIVE_WORDS
            out.append(lexicon[rng.integers(len(lexicon))])
        else:
            out.append(fillers[rng.integers(len(fillers))])
    if non_ascii:
        out.insert(int(rng.integers(len(out) + 1)), NON_ASCII_TOKENS[rng.integers(len(NON_ASCII_TOKENS))])
    return out


def spoken(chunks: list[str]) -> str:
    """A transcript: lower case, no punctuation."""
    return " ".join(chunks)


def written(rng: np.random.Generator, chunks: list[str]) -> str:
    """A capitalised sentence with commas and an end mark."""
    out = []
    for i, w in enumerate(chunks):
        if 0 < i < len(chunks) - 1 and rng.random() < 0.08:
            w += ","
        out.append(w)
    text = " ".join(out)
    text = text.replace(" i ", " I ").replace(" i'", " I'")
    mark = (".", ".", ".", "!", "?", "...")[rng.integers(6)]
    return text[:1].upper() + text[1:] + mark


def _n_frames(rng: np.random.Generator, max_frames: int) -> int:
    return int(rng.integers(max(2, max_frames // 4), max_frames + 1))


def _put_nan_frame(rng: np.random.Generator, utt: Utterance) -> None:
    """One whole frame of NaN, never the first one (a leading NaN frame would blur the padding)."""
    frames = utt.audio if rng.random() < 0.7 else utt.video
    frames[int(rng.integers(1, len(frames)))] = np.nan


def draw_utterances(rng: np.random.Generator, config: SyntheticConfig, sizes: SyntheticSizes,
                    n: int, text_of: Callable[[list[str]], str], fillers: Sequence[str],
                    missing: set[int]) -> list[Utterance]:
    """n utterances: factors, text, features (none for the indices in `missing`), NaN frames."""
    audio_channel = Channel.draw(rng, sizes.audio_dim)
    video_channel = Channel.draw(rng, sizes.video_dim)
    factors = rng.normal(0.0, 1.0, (n, 3))
    non_ascii = pick(rng, n, NON_ASCII_SHARE)
    utterances = []
    for i in range(n):
        t, a, v = (float(x) for x in factors[i])
        text = text_of(words(rng, t, fillers, i in non_ascii))
        audio = video = None
        if i not in missing:
            audio = audio_channel.frames(rng, a, _n_frames(rng, config.max_frames))
            video = video_channel.frames(rng, v, _n_frames(rng, config.max_frames))
        utterances.append(Utterance((t, a, v), text, audio, video))
    present = [i for i in range(n) if i not in missing]
    for j in sorted(pick(rng, len(present), config.nan_frames)):
        _put_nan_frame(rng, utterances[present[j]])
    return utterances


def draw_texts(rng: np.random.Generator, n: int, text_of: Callable[[list[str]], str],
               fillers: Sequence[str]) -> list[Utterance]:
    """n utterances of a text-only dataset: factors and text, no features. Audio and video factors
    are drawn all the same: they stand for what the tone and the face would show, so that the text
    determines an emotion only partly, as in a real text-only dataset."""
    factors = rng.normal(0.0, 1.0, (n, 3))
    non_ascii = pick(rng, n, NON_ASCII_SHARE)
    utterances = []
    for i in range(n):
        t, a, v = (float(x) for x in factors[i])
        utterances.append(Utterance((t, a, v), text_of(words(rng, t, fillers, i in non_ascii)), None, None))
    return utterances


def missing_per_split(rng: np.random.Generator, counts: Sequence[int], fraction: float) -> set[int]:
    """Indices (in the concatenation of the splits) without features; every split keeps one."""
    missing: set[int] = set()
    start = 0
    for n in counts:
        missing |= {start + i for i in pick(rng, n, fraction, keep=1)}
        start += n
    return missing


def score(rng: np.random.Generator, factors: tuple[float, float, float], raters: Sequence[int]) -> float:
    """A score as the real tables hold it: clip(SCORE_WEIGHTS . factors + noise, -3, 3) averaged
    over k annotators (a multiple of 1/k, k drawn from `raters`), stored as float32."""
    raw = sum(w * f for w, f in zip(SCORE_WEIGHTS, factors)) + rng.normal(0.0, SCORE_NOISE)
    k = raters[int(rng.integers(len(raters)))]
    value = min(3.0, max(-3.0, round(raw * k) / k))
    return float(np.float32(value)) + 0.0  # + 0.0 turns -0.0 into 0.0


def nearest(prototypes: dict[str, tuple[float, float, float]], factors: tuple[float, float, float]) -> str:
    """The class whose prototype in (t, a, v) space is nearest to `factors` (the first on a tie)."""
    names = list(prototypes)
    distances = [sum((f - p) ** 2 for f, p in zip(factors, prototypes[name])) for name in names]
    return names[int(np.argmin(distances))]


def conversation_speakers(rng: np.random.Generator, n_utterances: int, cast: Sequence[str],
                          guests: Sequence[str], guest_weight: float = 0.12) -> list[str]:
    """Speakers of one dialogue: 2-4 people (one for a single utterance), mostly from `cast`, a
    guest drawn `guest_weight` times as often as a cast member."""
    pool = (*cast, *guests)
    weights = np.array([1.0] * len(cast) + [guest_weight] * len(guests))
    k = 1 if n_utterances == 1 else min(n_utterances, int(rng.integers(2, 5)))
    present = [pool[j] for j in rng.choice(len(pool), size=k, replace=False, p=weights / weights.sum())]
    speakers = list(present)  # everyone speaks once, then turns move on (sometimes one keeps talking)
    rng.shuffle(speakers)
    while len(speakers) < n_utterances:
        if len(present) > 1 and rng.random() < 0.85:
            speakers.append(present[int(rng.integers(len(present)))])
            while speakers[-1] == speakers[-2]:
                speakers[-1] = present[int(rng.integers(len(present)))]
        else:
            speakers.append(speakers[-1])
    return speakers[:n_utterances]


def clock(seconds: float, mark: str) -> str:
    """`HH:MM:SS<mark>mmm`, the subtitle times of the Friends datasets (MELD ',', EmoryNLP '.')."""
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}{mark}{ms % 1000:03d}"


# ----------------------------------------------------------------------------------------------
# writing


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """UTF-8, LF line ends, the csv module's minimal quoting: as the real tables."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)


def write_pickle(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=PICKLE_PROTOCOL)


def written_name(config: SyntheticConfig, rel: str, authors: str | None) -> str:
    """Where the file of manifest path `rel` is written: with the variant `authors_names`, the
    authors' name of it (`authors`, where it has one), else `rel`."""
    return authors if authors and "authors_names" in config.variants else rel


def entry(out_dir: Path, rel: str, dataset: str, kind: str, splits: dict[str, int],
          split: str | None = None, written: str | None = None) -> ManifestEntry:
    """The manifest entry of a file, listed under our name `rel`; `written` is the name it was
    written under where that is another accepted one (the authors')."""
    path = out_dir / (written or rel)
    return ManifestEntry(path=rel, dataset=dataset, kind=kind, split=split, size=os.path.getsize(path),
                         sha256=sha256_file(path), url="", splits=splits,
                         names=(written,) if written and written != rel else ())


def drop_one_video(video: list[dict[str, np.ndarray]]) -> None:
    """missing_modality: the first key of each split keeps its audio and loses its video."""
    for part in video:
        if part:
            del part[next(iter(part))]


# ----------------------------------------------------------------------------------------------


def generate(config: SyntheticConfig, out_dir: Path, datasets: Sequence[str] = PAPER_DATASETS) -> Manifest:
    """Write the synthetic raw files of `datasets` (`data.datasets`) and `manifest.json` into
    `out_dir`; return the manifest.

    Each dataset writes through its own `synthesize` hook, in registry order whatever the order of
    `datasets`. The manifest lists each file (not itself) with its size, sha256 and the utterances
    it holds per split: a label table counts its labelled rows (those in the dataset's classes), a
    feature pickle the utterances that have features.
    """
    listed = {get(name).name for name in datasets}  # an unknown name fails here, naming the registered ones
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = [e for name in NAMES if name in listed for e in get(name).synthesize(config, out_dir)]
    manifest = Manifest(name="synthetic", files=tuple(entries))
    write_manifest(out_dir / "manifest.json", manifest)
    return manifest
