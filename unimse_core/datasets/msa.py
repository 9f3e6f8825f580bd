"""What MOSI and MOSEI share: the CMU label.csv (`read_msa_labels`), a sentiment score in [-3, 3],
ids `<video_id>_<clip_id>` (video ids contain underscores: never split an id on the first `_`),
features matched by id or by position (`match_by_id_or_position`), the lower-cased utterance as
input (docs/inputs-and-targets.md)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unimse_core.context import clean
from unimse_core.datasets.base import SPLITS, Dataset, LabelFile, TransferRow, sentiment_pool
from unimse_core.io.errors import RawDataError

if TYPE_CHECKING:
    from unimse_core.config import SyntheticConfig, SyntheticSizes, TextConfig
    from unimse_core.io.manifest import ManifestEntry
    from unimse_core.io.raw import C1Policy, Features, LabelTable
    from unimse_core.synthetic import Utterance


COLUMNS: tuple[str, ...] = ("video_id", "clip_id", "text", "label", "annotation", "mode")
ANNOTATIONS: tuple[str, ...] = ("Positive", "Negative", "Neutral")
SCORE_RANGE: tuple[float, float] = (-3.0, 3.0)
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def read_msa_labels(path: str | Path, dataset: str, *, encoding: str | None = None,
                    c1_controls: C1Policy = "keep") -> LabelTable:
    """MOSI/MOSEI label.csv: id `<video_id>_<clip_id>`, split from `mode`, score from `label`."""
    from unimse_core import datasets
    from unimse_core.io import raw

    if not isinstance(datasets.REGISTRY.get(dataset), SentimentScores):
        names = [n for n, d in datasets.REGISTRY.items() if isinstance(d, SentimentScores)]
        raise ValueError(f"dataset must be one of {', '.join(names)}, got {dataset!r}")
    path = Path(path)
    ids, splits, texts, lines, scores, annotations = [], [], [], [], [], []
    low, high = SCORE_RANGE
    decodings: dict[str, raw.Decoding] = {}
    for line, row in raw.csv_rows(path, COLUMNS, encoding, c1_controls, decodings):
        video = raw.token_value(path, line, row, "video_id", "a video id")
        clip = raw.token_value(path, line, row, "clip_id", "a clip id")
        value = row["label"]
        score = float(value) if _NUMBER.fullmatch(value.strip()) else math.nan
        if not low <= score <= high:
            raise raw.bad_value(path, line, "label", f"a number in [{low:g}, {high:g}]", value)
        annotations.append(raw.choice(path, line, row, "annotation", ANNOTATIONS))
        splits.append(raw.choice(path, line, row, "mode", SPLITS))
        texts.append(raw.text_value(path, line, row, "text"))
        ids.append(f"{video}_{clip}")
        scores.append(score)
        lines.append(line)
    raw.check_unique(path, ids, lines)
    raw.check_no_empty_split(path, dataset, splits)
    return raw.LabelTable(dataset=dataset, paths=(path,), ids=ids, splits=splits, texts=texts, lines=lines,
                          files=[0] * len(ids), scores=np.asarray(scores, dtype=np.float64),
                          annotations=annotations, decodings=decodings)


def match_by_id_or_position(labels: LabelTable, features: Features) -> tuple[np.ndarray, dict[str, str]]:
    """Label row -> feature row, and per split whether ids or positions paired them: by id, or by
    position within a split none of whose ids can be read as `<video_id>_<clip_id>` (some authors'
    pickles), where the counts agree; a split where some ids match and others do not is an error
    naming the first unmatched rows.

    A split whose ids all fail to match (they parse but name no label row) pairs nothing: every
    row is a feature without labels, which the caller reports or refuses (`fetch.unmatched_ids`)."""
    from unimse_core.io import raw

    label_row = {uid: i for i, uid in enumerate(labels.ids)}
    parsed = features.parsed_ids or [features.ids_parsed] * len(features)
    index = np.full(len(labels), -1, dtype=np.int64)
    how: dict[str, str] = {}
    for split in SPLITS:
        rows = [j for j, s in enumerate(features.splits) if s == split]
        found = {j: label_row.get(features.ids[j], -1) if parsed[j] else -1 for j in rows}
        matched = [j for j in rows if found[j] >= 0]
        if rows and not any(parsed[j] for j in rows):
            index[_position_rows(labels, features, split)] = rows
            how[split] = "position"
            continue
        unmatched = [j for j in rows if found[j] < 0]
        if unmatched and matched:
            named = ", ".join(f"{split}/id row {j - rows[0]} {features.ids[j]!r}"
                              + ("" if parsed[j] else " (not '<video_id>_<clip_id>')")
                              for j in unmatched[:raw.EXAMPLE_ROWS])
            raise RawDataError(features.path, f"{labels.dataset}: {len(matched)} of the {len(rows)} {split} rows match "
                                              f"{labels.paths[0]} by id and {len(unmatched)} do not, e.g. {named}; a "
                                              "partial match means the pickle and the label table are from different "
                                              "releases (pairing by position would shift rows): use the label.csv "
                                              "published with this pickle", f"{split}/id row {unmatched[0] - rows[0]}")
        for j in matched:
            index[found[j]] = j
        how[split] = "id"
    return index, how


def _position_rows(labels: LabelTable, features: Features, split: str) -> list[int]:
    label_rows = [i for i, s in enumerate(labels.splits) if s == split]
    n_features = sum(1 for s in features.splits if s == split)
    if len(label_rows) != n_features:
        first = next(j for j, s in enumerate(features.splits) if s == split)
        raise RawDataError(features.path, f"{labels.dataset}: no {split} id can be read as a {labels.paths[0]} id "
                                          f"(e.g. {features.ids[first]!r}) and the rows cannot be paired by position "
                                          f"because the counts differ: {len(label_rows)} labels vs {n_features} "
                                          "features; use the label.csv published with this pickle", f"{split}/id")
    return label_rows


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
        (only,) = files
        return read_msa_labels(only.path, self.name, encoding=only.encoding, c1_controls=c1_controls)

    def read_features(self, path: Path, padding: str = "auto") -> Features:
        from unimse_core.io import raw

        return raw.read_msa_features(path, self.name, padding=padding)

    def match_features(self, labels: LabelTable, features: Features) -> tuple[np.ndarray, list[str], dict[str, str]]:
        # by id, or by position within a split whose ids cannot be read as label ids
        index, split_matching = match_by_id_or_position(labels, features)
        return index, list(features.ids), split_matching

    @property
    def unlisted_label_column(self) -> str | None:
        return "video_id"

    def input_texts(self, table: LabelTable, config: TextConfig) -> list[str]:
        return msa_inputs(table.texts, prefix=config.prefix)

    def used_rows(self, table: LabelTable):
        return None
