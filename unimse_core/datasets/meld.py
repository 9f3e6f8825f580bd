"""MELD: Friends dialogues, 7 emotions and a sentiment per utterance (docs/raw-data.md, docs/labels.md).

Files: the official {train,dev,test}_sent_emo.csv (unimse_core.io.raw.read_meld_labels); ids
`<split>/<Dialogue_ID>_<Utterance_ID>` (the bare ids repeat across splits). Pool: its Sentiment
column. Input: the context window with speakers, the dialogue ordered by Utterance_ID.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from unimse_core.context import check_lengths, clean, join, window_inputs
from unimse_core.datasets.base import SPLITS, Dataset, LabelFile, TransferRow, sentiment_pool

if TYPE_CHECKING:
    from unimse_core.config import SyntheticConfig, TextConfig
    from unimse_core.io.manifest import ManifestEntry
    from unimse_core.io.raw import C1Policy, LabelTable

EMOTIONS: tuple[str, ...] = ("neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear")


def meld_inputs(dialogue_ids: Sequence[Hashable], utterance_ids: Sequence[float], speakers: Sequence[str],
                texts: Sequence[str], *, prefix: str, window: int, causal: bool) -> list[str]:
    """The input string of every utterance of one MELD split, in the order given.

    The four sequences are parallel (one entry per utterance, any order, dialogues interleaved or
    not). Context comes from the same dialogue, ordered by `utterance_ids`; an utterance id that
    repeats within a dialogue is an error (ValueError naming both).
    """
    check_lengths(dialogue_ids, utterance_ids, speakers, texts, order_name="utterance id")
    pieces = [join(clean(s), clean(t)) for s, t in zip(speakers, texts)]
    return window_inputs(dialogue_ids, utterance_ids, pieces, prefix=prefix, window=window, causal=causal,
                          ties="error", order_name="utterance id")



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
SENTIMENTS = {"neutral": "neutral", "joy": "positive", "anger": "negative", "sadness": "negative",
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
class Meld(Dataset):
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
                    sentiment = SENTIMENTS.get(emotion) or ("positive" if utt.factors[0] >= 0 else "negative")
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
        from unimse_core.io import raw

        return raw.read_meld_labels({f.split: f.path for f in files}, encodings={f.split: f.encoding for f in files},
                                    c1_controls=c1_controls)

    def input_texts(self, table: LabelTable, config: TextConfig) -> list[str]:
        # dialogues are "<split>/<Dialogue_ID>": one call cannot mix the splits' colliding ids
        return meld_inputs(table.dialogues, table.utterances, table.speakers, table.texts,
                           prefix=config.prefix, window=config.window, causal=config.causal)

    def gold_code(self, table: LabelTable, i: int) -> str:
        return table.emotions[i]

    def used_rows(self, table: LabelTable):
        return None


DATASET = Meld(name="meld", title="MELD", kind="emotion", card_name="meld", label_kinds=("meld_labels",),
               feature_kind="erc_features", codes=EMOTIONS, words=EMOTIONS, neutral_code="neutral",
               transfer_codes=EMOTIONS, paper={"acc": 65.09, "weighted_f1": 65.51})
