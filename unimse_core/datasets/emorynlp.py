"""EmoryNLP: Friends scenes, 7 emotions per utterance, text only (no features were released for it).

Files: emorynlp_{train,dev,test}_final.csv with columns Utterance, Speaker (a Python list written as
a string, `['Monica Geller']`), Emotion (Neutral Joyful Peaceful Powerful Scared Mad Sad),
Scene_ID, Utterance_ID, Season, Episode, Start_Time, End_Time. Ids: `<split>/<Season>_<Episode>_
<Scene_ID>_<Utterance_ID>` (unique as that tuple). A scene is a dialogue, so the input is MELD's
context window with speakers, ordered by Utterance_ID.

No sentiment column: the pool is this module's rule, Joyful / Peaceful / Powerful positive,
Mad / Sad / Scared negative, Neutral neutral (docs/adding-a-dataset.md). Codes are the emotion
words lower-cased, written as they are in targets: `positive,0.4,joy,joy,joyful` with the paper's
four datasets before it in data.datasets.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unimse_core.datasets.base import SPLITS, Dialogues, LabelFile, TransferRow

if TYPE_CHECKING:
    from unimse_core.config import SyntheticConfig
    from unimse_core.io.manifest import ManifestEntry
    from unimse_core.io.raw import C1Policy, LabelTable

EMOTIONS: tuple[str, ...] = ("neutral", "joyful", "peaceful", "powerful", "scared", "mad", "sad")
POOLS: dict[str, str] = {"neutral": "neutral", "joyful": "positive", "peaceful": "positive", "powerful": "positive",
                         "scared": "negative", "mad": "negative", "sad": "negative"}
COLUMNS: tuple[str, ...] = ("Utterance", "Speaker", "Emotion", "Scene_ID", "Utterance_ID", "Season", "Episode")
FILE_SPLITS: dict[str, str] = {"train": "train", "dev": "valid", "valid": "valid", "test": "test"}


def speaker_names(value: str) -> str | None:
    """`['Monica Geller']` -> `Monica Geller`; several names joined by ` and `; None if not a list of strings."""
    try:
        names = ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return None
    return " and ".join(n.strip() for n in names if n.strip())


def read_emorynlp_labels(files: Sequence[LabelFile], c1_controls: C1Policy = "keep") -> LabelTable:
    """The three CSV files (split train, valid or test each) as one table, train, valid, test in turn."""
    from unimse_core.io import raw
    from unimse_core.io.errors import RawDataError

    by_split = {FILE_SPLITS.get(f.split or ""): f for f in files}
    missing = [s for s in SPLITS if s not in by_split]
    if missing or len(files) != len(SPLITS):
        where = files[0].path.parent if files else "emorynlp"
        raise RawDataError(where, f"emorynlp: expected one label file per split train, valid (dev), test; missing "
                                  f"{', '.join(missing) or 'none'} (given: {', '.join(str(f.path) for f in files)})")
    columns: dict[str, list[Any]] = {name: [] for name in (
        "ids", "splits", "texts", "lines", "files", "speakers", "dialogues", "emotions", "utterances")}
    decodings: dict[str, Any] = {}
    for file_index, split in enumerate(SPLITS):
        f = by_split[split]
        first = len(columns["ids"])
        for line, row in raw.csv_rows(f.path, COLUMNS, f.encoding, c1_controls, decodings):
            speaker = speaker_names(row["Speaker"])
            if speaker is None:
                raise raw.bad_value(f.path, line, "Speaker", "a list of names such as ['Monica Geller']",
                                    row["Speaker"])
            emotion = row["Emotion"].strip().lower()
            if emotion not in EMOTIONS:
                raise raw.bad_value(f.path, line, "Emotion", "one of Neutral, Joyful, Peaceful, Powerful, Scared, "
                                                              "Mad, Sad", row["Emotion"])
            season, episode, scene, utterance = (raw.index_value(f.path, line, row, c)
                                                 for c in ("Season", "Episode", "Scene_ID", "Utterance_ID"))
            scene_id = f"{season}_{episode}_{scene}"
            values = {"ids": f"{split}/{scene_id}_{utterance}", "splits": split,
                      "texts": raw.text_value(f.path, line, row, "Utterance"), "lines": line, "files": file_index,
                      "speakers": speaker, "dialogues": f"{split}/{scene_id}", "emotions": emotion,
                      "utterances": utterance}
            for name, value in values.items():
                columns[name].append(value)
        raw.check_unique(f.path, columns["ids"][first:], columns["lines"][first:])
        if len(columns["ids"]) == first:
            raise RawDataError(f.path, f"emorynlp: split {split!r} has no rows")
    utterances = np.asarray(columns.pop("utterances"), dtype=np.int64)
    return raw.LabelTable(dataset="emorynlp", paths=tuple(by_split[s].path for s in SPLITS), utterances=utterances,
                          decodings=decodings, **columns)


# -- synthetic data (docs/synthetic.md) ------------------------------------------------------------

LABEL_FILES: dict[str, str] = {"train": "emorynlp_train_final.csv", "valid": "emorynlp_dev_final.csv",
                               "test": "emorynlp_test_final.csv"}
HEADER: tuple[str, ...] = (*COLUMNS, "Start_Time", "End_Time")  # the real files' header, in its order
FRIENDS = ("Chandler Bing", "Joey Tribbiani", "Monica Geller", "Rachel Green", "Ross Geller", "Phoebe Buffay")
GUESTS = ("Gunther", "Janice Litman Goralnik", "Carol Willick", "Susan Bunch", "Richard Burke", "Emily Waltham",
          "Judy Geller", "Joey's Co-Star", "#ALL#")  # an apostrophe makes Python write the list with "..."
# Emotion prototypes in (t, a, v) space, as the files write the emotions. Only t reaches the text
# (there are no features); a and v stand for the tone and the face, so the text tells the pool
# (the sign of t) but only partly the emotion within it, as in the real files.
PROTOTYPES: dict[str, tuple[float, float, float]] = {
    "Neutral": (0.0, 0.0, 0.0),
    "Joyful": (1.5, 0.6, 0.2),
    "Peaceful": (1.0, -1.2, 0.0),
    "Powerful": (0.9, 0.5, 1.4),
    "Scared": (-0.7, 0.6, -1.4),
    "Mad": (-1.3, 1.2, 0.6),
    "Sad": (-1.0, -1.2, -0.2),
}
SHARED_TURNS = 0.02  # utterances spoken by two people at once, such as ['Monica Geller', 'Phoebe Buffay']


def episode_order(rng: np.random.Generator, n: int) -> list[tuple[int, int]]:
    """n distinct (Season, Episode) pairs in random order, so that an episode lies in one file: the
    100 of seasons 1-4 (25 episodes each), then made-up later seasons (only past 100 episodes)."""
    real = [(season, episode) for season in range(1, 5) for episode in range(1, 26)]
    pairs = [real[k] for k in rng.permutation(len(real))]
    return (pairs + [(5 + k // 25, 1 + k % 25) for k in range(max(0, n - len(real)))])[:n]


@dataclass(frozen=True)
class EmoryNlp(Dialogues):
    def synthesize(self, config: SyntheticConfig, out_dir: Path) -> list[ManifestEntry]:
        from unimse_core import synthetic

        rng = synthetic.dataset_rng(config, self.name)
        sizes = config.sizes(self.name)
        counts = [getattr(sizes, s) for s in SPLITS]
        utterances = synthetic.draw_texts(rng, sum(counts), lambda w: synthetic.written(rng, w), synthetic.TALK_FILLERS)
        episodes = episode_order(rng, sum(counts))  # at least one utterance per episode: never runs out
        entries: list[ManifestEntry] = []
        start = 0
        for split, n in zip(SPLITS, counts):
            rows: list[tuple[Any, ...]] = []
            while len(rows) < n:
                season, episode = episodes.pop(0)
                clock = float(rng.uniform(0.0, 30.0))
                scene_id = 1 + int(rng.random() < 0.2)
                for _ in range(int(rng.integers(1, 9))):  # scenes of the episode; a scene is a dialogue
                    length = min(n - len(rows), int(rng.integers(1, 26)))
                    if length == 0:
                        break
                    utterance_id = 1 + int(rng.random() < 0.6)  # most real scenes start at 2
                    for speaker in synthetic.conversation_speakers(rng, length, FRIENDS, GUESTS):
                        names = [speaker]
                        if rng.random() < SHARED_TURNS:
                            names = sorted({speaker, FRIENDS[int(rng.integers(len(FRIENDS)))]})
                        utt = utterances[start + len(rows)]
                        begin = clock + float(rng.uniform(0.0, 1.5))
                        clock = begin + float(rng.uniform(0.5, 6.0))
                        rows.append((utt.text, repr(names), synthetic.nearest(PROTOTYPES, utt.factors), scene_id,
                                     utterance_id, season, episode, synthetic.clock(begin, "."),
                                     synthetic.clock(clock, ".")))
                        utterance_id += 1 + int(rng.random() < 0.15)  # the real files skip some ids
                    scene_id += 1 + int(rng.random() < 0.1)
            rows.sort(key=lambda r: (r[5], r[6], r[3], r[4]))  # Season, Episode, Scene_ID, Utterance_ID
            rel = f"{self.name}/{LABEL_FILES[split]}"
            synthetic.write_csv(out_dir / rel, HEADER, rows)
            entries.append(synthetic.entry(out_dir, rel, self.name, "emorynlp_labels", {split: n}, split=split))
            start += n
        return entries

    def pool(self, sentiment: str, emotion: str) -> str:
        code = emotion.strip().lower()
        if code not in POOLS:
            raise ValueError(f"unknown EmoryNLP emotion {emotion!r} (expected one of {', '.join(EMOTIONS)})")
        return POOLS[code]

    def check_transfer_row(self, sentiment: object, score: float, emotion: object) -> None:
        if not isinstance(emotion, str):
            raise ValueError(f"emotion must be a string, got {emotion!r}")

    def transfer_rows(self, table: LabelTable, *, other_codes: bool) -> list[tuple[int, TransferRow]]:
        return [(i, TransferRow(table.texts[i], "", float("nan"), table.emotions[i])) for i in range(len(table))]

    def read_labels(self, files: Sequence[LabelFile], c1_controls: C1Policy) -> LabelTable:
        return read_emorynlp_labels(files, c1_controls)


DATASET = EmoryNlp(name="emorynlp", title="EmoryNLP", kind="emotion", card_name="emorynlp",
                   label_kinds=("emorynlp_labels",), feature_kind=None, codes=EMOTIONS, words=EMOTIONS,
                   neutral_code="neutral", transfer_codes=EMOTIONS)
