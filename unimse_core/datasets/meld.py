"""MELD: Friends dialogues, 7 emotions and a sentiment per utterance (docs/raw-data.md, docs/labels.md).

Files: the official {train,dev,test}_sent_emo.csv (`read_meld_labels`); ids
`<split>/<Dialogue_ID>_<Utterance_ID>` (the bare ids repeat across splits, and so do the feature
pickle's keys `<Dialogue_ID>_<Utterance_ID>`: `match_features` looks a row up in its own split).
Pool: its Sentiment column. Input: the context window with speakers, the dialogue ordered by
Utterance_ID.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unimse_core.context import speaker_window_inputs
from unimse_core.datasets.base import SPLITS, Dialogues, LabelFile, TransferRow, sentiment_pool
from unimse_core.io.errors import RawDataError

if TYPE_CHECKING:
    from unimse_core.config import SyntheticConfig
    from unimse_core.io.manifest import ManifestEntry
    from unimse_core.io.raw import C1Policy, Features, LabelTable

EMOTIONS: tuple[str, ...] = ("neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear")
SENTIMENTS: tuple[str, ...] = ("positive", "negative", "neutral")
COLUMNS: tuple[str, ...] = ("Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID")


def read_meld_labels(paths: Mapping[str, str | Path], *, encodings: Mapping[str, str | None] | None = None,
                     c1_controls: C1Policy = "keep") -> LabelTable:
    """The three MELD *_sent_emo.csv files, given as {split: path} (split train/valid/test; "dev" is
    accepted for valid). Ids are `<split>/<Dialogue_ID>_<Utterance_ID>`. `encodings[split]` is the
    declared encoding of a file (None: detected); the official files are UTF-8 with CRLF line ends,
    the authors' copies UTF-8 with C1 controls and LF, and cp1252 copies circulate."""
    from unimse_core.io import raw

    by_split: dict[str, Path] = {}
    for split, path in paths.items():
        canonical = "valid" if split == "dev" else split
        if canonical not in SPLITS or canonical in by_split:
            raise ValueError(f"MELD label files must be given once per split train, valid (or dev), test; "
                             f"got {sorted(map(str, paths))}")
        by_split[canonical] = Path(path)
    missing = [split for split in SPLITS if split not in by_split]
    if missing:
        # A release without one of the three files is a data problem, not a programming error.
        folder = next(iter(by_split.values())).parent if by_split else Path(".")
        raise RawDataError(folder, f"meld: no label file for split(s) {', '.join(missing)} (given: "
                                   f"{', '.join(f'{s} {p.name}' for s, p in by_split.items()) or 'none'})")
    columns: dict[str, list[Any]] = {name: [] for name in (
        "ids", "splits", "texts", "lines", "files", "speakers", "dialogues", "feature_keys", "emotions",
        "sentiments", "utterances")}
    decodings: dict[str, raw.Decoding] = {}
    for file_index, split in enumerate(SPLITS):
        path = by_split[split]
        first = len(columns["ids"])
        declared = (encodings or {}).get(split) or (encodings or {}).get("dev" if split == "valid" else split)
        for line, row in raw.csv_rows(path, COLUMNS, declared, c1_controls, decodings):
            dialogue = raw.index_value(path, line, row, "Dialogue_ID")
            utterance = raw.index_value(path, line, row, "Utterance_ID")
            speaker = row["Speaker"]
            if not speaker.strip():
                raise raw.bad_value(path, line, "Speaker", "a speaker name", speaker)
            values = {
                "emotions": raw.choice(path, line, row, "Emotion", EMOTIONS),
                "sentiments": raw.choice(path, line, row, "Sentiment", SENTIMENTS),
                "texts": raw.text_value(path, line, row, "Utterance"),
                "speakers": speaker,
                "feature_keys": f"{dialogue}_{utterance}",
                "ids": f"{split}/{dialogue}_{utterance}",
                "dialogues": f"{split}/{dialogue}",
                "utterances": utterance,
                "splits": split,
                "lines": line,
                "files": file_index,
            }
            for name, value in values.items():
                columns[name].append(value)
        raw.check_unique(path, columns["ids"][first:], columns["lines"][first:])
        if len(columns["ids"]) == first:
            raise RawDataError(path, f"meld: split {split!r} has no rows")
    utterances = np.asarray(columns.pop("utterances"), dtype=np.int64)
    return raw.LabelTable(dataset="meld", paths=tuple(by_split[s] for s in SPLITS), utterances=utterances,
                          decodings=decodings, **columns)


meld_inputs = speaker_window_inputs
"""The input string of every utterance of one MELD split (`unimse_core.context.speaker_window_inputs`)."""



# -- synthetic data (docs/synthetic.md) ------------------------------------------------------------

LABEL_FILES: dict[str, str] = {"train": "train_sent_emo.csv", "valid": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
LABEL_COLUMNS: tuple[str, ...] = ("Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID",
                                  "Utterance_ID", "Season", "Episode", "StartTime", "EndTime")
FRIENDS = ("Chandler", "Joey", "Monica", "Rachel", "Ross", "Phoebe")
GUESTS = ("Gunther", "Janice", "Mr. Geller", "Mrs. Geller", "Carol", "Mike", "Richard", "Emily", "Tag", "All")
# Emotion prototypes in (t, a, v) space: text ~ valence, audio ~ arousal, video ~ a third axis.
PROTOTYPES: dict[str, tuple[float, float, float]] = {
    "neutral": (0.0, 0.0, 0.0),
    "joy": (1.5, 0.2, 0.2),
    "surprise": (0.3, 1.5, -0.3),
    "anger": (-1.3, 1.1, 0.6),
    "sadness": (-0.9, -1.3, -0.2),
    "disgust": (-0.6, 0.0, 1.5),
    "fear": (-0.6, 0.2, -1.5),
}
EMOTION_SENTIMENTS = {"neutral": "neutral", "joy": "positive", "anger": "negative", "sadness": "negative",
                      "disgust": "negative", "fear": "negative"}  # surprise: the sign of t
C1_QUOTE = "\u0092"  # cp1252's right single quote read as latin-1, as in the authors' MELD copies


def csv_variant(config: SyntheticConfig, path: Path, split: str) -> None:
    """meld_c1_lf: the authors' UTF-8 copies with U+0092 for the right quote; meld_cp1252: the dev
    file as a cp1252 copy (characters cp1252 lacks, such as emoji, become '?')."""
    if not {"meld_c1_lf", "meld_cp1252"} & set(config.variants):
        return
    text = path.read_text(encoding="utf-8")
    if "meld_cp1252" in config.variants and split == "valid":
        path.write_bytes(text.encode("cp1252", errors="replace"))
    elif "meld_c1_lf" in config.variants:
        path.write_text(text.replace("\u2019", C1_QUOTE), encoding="utf-8", newline="")


@dataclass(frozen=True)
class Meld(Dialogues):
    @property
    def synthetic_variants(self) -> tuple[str, ...]:
        return ("authors_names", "meld_0424", "missing_modality", "count_mismatch", "meld_cp1252", "meld_c1_lf")

    def synthesize(self, config: SyntheticConfig, out_dir: Path) -> list[ManifestEntry]:
        from unimse_core import synthetic

        rng = synthetic.dataset_rng(config, self.name)
        sizes = config.sizes(self.name)
        counts = [getattr(sizes, s) for s in SPLITS]
        missing = synthetic.missing_per_split(rng, counts, config.missing_features)
        utterances = synthetic.draw_utterances(rng, config, sizes, sum(counts), lambda w: synthetic.written(rng, w),
                                               synthetic.TALK_FILLERS, missing)
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
                for utterance_id, speaker in enumerate(synthetic.conversation_speakers(rng, length, FRIENDS, GUESTS)):
                    utt = utterances[start + len(rows)]
                    emotion = synthetic.nearest(PROTOTYPES, utt.factors)
                    sentiment = EMOTION_SENTIMENTS.get(emotion) or ("positive" if utt.factors[0] >= 0 else "negative")
                    begin = clock + float(rng.uniform(0.0, 1.5))
                    clock = begin + float(rng.uniform(0.5, 6.0))
                    rows.append((len(rows) + 1, utt.text, speaker, emotion, sentiment, dialogue_id, utterance_id,
                                 season, episode, synthetic.clock(begin, ","), synthetic.clock(clock, ",")))
                    if utt.audio is not None:
                        key = f"{dialogue_id}_{utterance_id}"
                        audio[-1][key] = utt.audio
                        video[-1][key] = utt.video
                dialogue_id += 1 + int(rng.random() < 0.03)  # the real files skip a few ids
            rel = f"{self.name}/{LABEL_FILES[split]}"
            synthetic.write_csv(out_dir / rel, LABEL_COLUMNS, rows)
            csv_variant(config, out_dir / rel, split)
            entries.append(synthetic.entry(out_dir, rel, self.name, "meld_labels", {split: n}, split=split))
            start += n
        rel = f"{self.name}/meld_features.pkl"
        written = synthetic.written_name(
            config, rel, f"{self.name}/meld_data_{'0424' if 'meld_0424' in config.variants else '0610'}.pkl")
        if "missing_modality" in config.variants:
            synthetic.drop_one_video(video)
        # count_mismatch: the manifest expects features for every labelled utterance, as the real one
        # does (9,989), while the pickle lacks the missing ones
        expected = counts if "count_mismatch" in config.variants else [len(d) for d in audio]
        synthetic.write_pickle(out_dir / written, audio if "meld_0424" in config.variants else
                               {"audio": audio, "video": video})
        entries.append(synthetic.entry(out_dir, rel, self.name, "erc_features", dict(zip(SPLITS, expected)),
                                       written=written))
        return entries

    def pool(self, sentiment: str, emotion: str) -> str:
        return sentiment_pool(sentiment, "Sentiment")

    def check_transfer_row(self, sentiment: object, score: float, emotion: object) -> None:
        if not isinstance(sentiment, str):
            raise ValueError(f"sentiment must be a string, got {sentiment!r}")
        if not isinstance(emotion, str):
            raise ValueError(f"emotion must be a string, got {emotion!r}")
        if emotion.strip().lower() not in EMOTIONS:
            raise ValueError(f"unknown MELD emotion {emotion!r} (expected one of {', '.join(EMOTIONS)})")

    def transfer_rows(self, table: LabelTable, *, other_codes: bool) -> list[tuple[int, TransferRow]]:
        return [(i, TransferRow(table.texts[i], table.sentiments[i], float("nan"), table.emotions[i]))
                for i in range(len(table))]

    def read_labels(self, files: Sequence[LabelFile], c1_controls: C1Policy) -> LabelTable:
        return read_meld_labels({f.split: f.path for f in files}, encodings={f.split: f.encoding for f in files},
                                c1_controls=c1_controls)

    def read_features(self, path: Path, padding: str = "auto") -> Features:
        from unimse_core.io import raw

        return raw.read_erc_features(path, self.name)

    def match_features(self, labels: LabelTable, features: Features) -> tuple[np.ndarray, list[str], dict[str, str]]:
        # the pickle keys are the bare "<Dialogue_ID>_<Utterance_ID>", which repeat across splits:
        # a row's key is looked up in the dict of its own split
        assert labels.feature_keys is not None
        where = {(split, key): j for j, (key, split) in enumerate(zip(features.ids, features.splits))}
        index = np.array([where.get(key, -1) for key in zip(labels.splits, labels.feature_keys)],
                         dtype=np.int64).reshape(len(labels))
        names = [f"{split}/{key}" for key, split in zip(features.ids, features.splits)]
        return index, names, {split: "id" for split in SPLITS}


DATASET = Meld(name="meld", title="MELD", kind="emotion", card_name="meld", label_kinds=("meld_labels",),
               feature_kind="erc_features", codes=EMOTIONS, words=EMOTIONS, neutral_code="neutral",
               transfer_codes=EMOTIONS, paper={"acc": 65.09, "weighted_f1": 65.51})
