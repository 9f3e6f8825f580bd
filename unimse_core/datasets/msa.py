"""What MOSI and MOSEI share: the CMU label.csv, a sentiment score in [-3, 3], the lower-cased
utterance as input (docs/inputs-and-targets.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unimse_core.context import clean
from unimse_core.datasets.base import SPLITS, Dataset, LabelFile, TransferRow, sentiment_pool

if TYPE_CHECKING:
    from unimse_core.config import SyntheticConfig, SyntheticSizes, TextConfig
    from unimse_core.io.manifest import ManifestEntry
    from unimse_core.io.raw import C1Policy, LabelTable
    from unimse_core.synthetic import Utterance


def msa_input(text: str, *, prefix: str) -> str:
    """MOSI/MOSEI: `prefix` + the cleaned, lower-cased utterance."""
    return prefix + clean(text).lower()


def msa_inputs(texts: Sequence[str], *, prefix: str) -> list[str]:
    """`msa_input` of every utterance of a split."""
    return [msa_input(t, prefix=prefix) for t in texts]


# -- synthetic data (docs/synthetic.md) ------------------------------------------------------------

YOUTUBE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
LABEL_COLUMNS: tuple[str, ...] = ("video_id", "clip_id", "text", "label", "annotation", "mode", "label_by")


@dataclass(frozen=True)
class SyntheticScores:
    """How the synthetic writer renders one CMU dataset, where MOSI and MOSEI differ."""

    first_clip: int               # a video's clip ids count from here
    numeric_ids: float            # share of purely numeric video ids (real MOSEI has some)
    spoken: bool                  # transcripts in lower case without punctuation, else written sentences
    raters: tuple[int, ...]       # a score averages k annotators, k drawn from these
    joined_ids: bool              # authors' pickle ids: bytes [N, 1] "<video_id>_<clip_id>", else str [N, 2]
    pickle_name: str              # the authors' layout pickle (msa_layout: authors)
    authors_label: str            # the authors' names of label.csv and of that pickle (variant authors_names)
    authors_pickle: str
    right_padded_variant: str | None = None  # the variant that right-pads the first training row's audio
    unparsed_ids_variant: str | None = None  # the variant that writes CMU-SDK ids "<video_id>[<clip_id>]"


def youtube_ids(rng: np.random.Generator, n: int, numeric_share: float) -> list[str]:
    """Unique 11-character YouTube-like ids; every 7th holds '_', every 5th '-', and `numeric_share`
    of them are purely numeric video ids."""
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


def annotation(label: float) -> str:
    return "Positive" if label > 0 else "Negative" if label < 0 else "Neutral"


def padded(seqs: list[np.ndarray], length: int, dim: int, left: bool) -> np.ndarray:
    """float32 [N, length, dim], all-zero frames before (left) or after each sequence."""
    out = np.zeros((len(seqs), length, dim), dtype=np.float32)
    for i, seq in enumerate(seqs):
        if left:
            out[i, length - len(seq):] = seq
        else:
            out[i, :len(seq)] = seq
    return out


def right_pad_row(x: np.ndarray, row: int) -> None:
    """mixed_padding: move row `row`'s frames of a left-padded [N, L, D] array to the start."""
    frames = x[row][(x[row] != 0).any(axis=1)]
    x[row] = 0.0
    x[row, :len(frames)] = frames


def feature_split(writer: SyntheticScores, config: SyntheticConfig, sizes: SyntheticSizes, members: list[int],
                  clips: list[tuple[int, int, str]], video_ids: list[str], utterances: list[Utterance],
                  labels: list[float]) -> dict[str, Any]:
    """One split of the feature pickle (rows `members`) in the layout `synthetic.msa_layout`."""
    audio = [utterances[i].audio for i in members]
    video = [utterances[i].video for i in members]
    length = config.max_frames
    pairs = [(video_ids[clips[i][0]], str(clips[i][1])) for i in members]
    if config.msa_layout == "mmsa":
        return {
            "raw_text": np.array([utterances[i].text for i in members], dtype=str),
            "id": np.array([f"{vid}$_${cid}" for vid, cid in pairs], dtype=str),
            "audio": padded(audio, length, sizes.audio_dim, left=False),
            "vision": padded(video, length, sizes.video_dim, left=False),
            "audio_lengths": [len(a) for a in audio],
            "vision_lengths": [len(v) for v in video],
            "regression_labels": np.array([labels[i] for i in members], dtype=np.float32),
        }
    if writer.joined_ids:
        ids = np.array([[f"{vid}_{cid}".encode()] for vid, cid in pairs], dtype=bytes).reshape(len(pairs), 1)
    else:
        ids = np.array(pairs, dtype=str).reshape(len(pairs), 2)
    return {
        "vision": padded(video, length, sizes.video_dim, left=True),
        "audio": padded(audio, length, sizes.audio_dim, left=True),
        "labels": np.array([labels[i] for i in members], dtype=np.float32).reshape(-1, 1, 1),
        "id": ids,
    }


@dataclass(frozen=True)
class SentimentScores(Dataset):
    """A CMU dataset: label.csv with video_id, clip_id, text, label (the score), annotation, mode (the split)."""

    writer: SyntheticScores = field(kw_only=True)

    @property
    def synthetic_variants(self) -> tuple[str, ...]:
        own = (self.writer.right_padded_variant, self.writer.unparsed_ids_variant)
        return ("authors_names", *(v for v in own if v))

    def synthesize(self, config: SyntheticConfig, out_dir: Path) -> list[ManifestEntry]:
        from unimse_core import synthetic

        rng = synthetic.dataset_rng(config, self.name)
        sizes = config.sizes(self.name)
        counts = [getattr(sizes, s) for s in SPLITS]
        writer = self.writer

        # Videos of 2-12 clips, all clips of a video in one split; clip ids with a few gaps.
        clips: list[tuple[int, int, str]] = []  # (video index, clip id, split)
        n_videos = 0
        for split, n in zip(SPLITS, counts):
            left = n
            while left > 0:
                take = min(left, int(rng.integers(2, 13)))
                clip_id = writer.first_clip
                for _ in range(take):
                    clips.append((n_videos, clip_id, split))
                    clip_id += 1 + int(rng.random() < 0.1)
                n_videos += 1
                left -= take
        video_ids = youtube_ids(rng, n_videos, numeric_share=writer.numeric_ids)
        missing = synthetic.missing_per_split(rng, counts, config.missing_features)
        unparsed_ids = writer.unparsed_ids_variant in config.variants
        if unparsed_ids:
            missing = set()  # rows pair by position: the pickle holds every labelled utterance, as the reference's
        text_of = synthetic.spoken if writer.spoken else (lambda words: synthetic.written(rng, words))
        utterances = synthetic.draw_utterances(rng, config, sizes, len(clips), text_of, synthetic.REVIEW_FILLERS,
                                               missing)
        labels = [synthetic.score(rng, u.factors, writer.raters) for u in utterances]

        order = sorted(range(len(clips)), key=lambda i: (video_ids[clips[i][0]], clips[i][1]))
        rows = [(video_ids[clips[i][0]], clips[i][1], utterances[i].text, repr(labels[i]), annotation(labels[i]),
                 clips[i][2], 0) for i in order]
        label_rel = f"{self.name}/label.csv"
        label_written = synthetic.written_name(config, label_rel, f"{self.name}/{writer.authors_label}")
        synthetic.write_csv(out_dir / label_written, LABEL_COLUMNS, rows)

        features: dict[str, dict[str, Any]] = {}
        feature_counts: dict[str, int] = {}
        for split in SPLITS:
            members = [i for i in order if clips[i][2] == split and i not in missing]
            feature_counts[split] = len(members)
            features[split] = feature_split(writer, config, sizes, members, clips, video_ids, utterances, labels)
        authors_layout = config.msa_layout == "authors"
        feature_rel = f"{self.name}/{writer.pickle_name if authors_layout else 'unaligned_50.pkl'}"
        feature_written = synthetic.written_name(config, feature_rel,
                                                 f"{self.name}/{writer.authors_pickle}" if authors_layout else None)
        if authors_layout and writer.right_padded_variant in config.variants:
            right_pad_row(features["train"]["audio"], 0)
        if authors_layout and unparsed_ids:
            for split in SPLITS:  # the CMU-SDK style "<video_id>[<clip_id>]": rows pair by position
                pairs = features[split]["id"]
                features[split]["id"] = np.array([[f"{vid}[{cid}]"] for vid, cid in pairs],
                                                 dtype=object).reshape(-1, 1)
        synthetic.write_pickle(out_dir / feature_written, features)
        label_counts = {s: n for s, n in zip(SPLITS, counts)}
        return [synthetic.entry(out_dir, label_rel, self.name, "msa_labels", label_counts, written=label_written),
                synthetic.entry(out_dir, feature_rel, self.name, "msa_features", feature_counts,
                                written=feature_written)]

    def pool(self, sentiment: str, emotion: str) -> str:
        return sentiment_pool(sentiment, "annotation")

    def check_transfer_row(self, sentiment: object, score: float, emotion: object) -> None:
        if not isinstance(sentiment, str):
            raise ValueError(f"sentiment must be a string, got {sentiment!r}")
        if not math.isfinite(score):
            raise ValueError(f"score must be a finite number, got {score!r}")

    def transfer_rows(self, table: LabelTable, *, other_codes: bool) -> list[tuple[int, TransferRow]]:
        # MSA texts are upper-case transcripts: lower-cased as the reference does before encoding
        return [(i, TransferRow(table.texts[i].strip().lower(), table.annotations[i], float(table.scores[i]), ""))
                for i in range(len(table))]

    def read_labels(self, files: Sequence[LabelFile], c1_controls: C1Policy) -> LabelTable:
        from unimse_core.io import raw

        (only,) = files
        return raw.read_msa_labels(only.path, self.name, encoding=only.encoding, c1_controls=c1_controls)

    def input_texts(self, table: LabelTable, config: TextConfig) -> list[str]:
        return msa_inputs(table.texts, prefix=config.prefix)

    def used_rows(self, table: LabelTable):
        return None
