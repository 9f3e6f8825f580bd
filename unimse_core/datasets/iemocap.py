"""IEMOCAP: dyadic sessions, six emotion classes (docs/raw-data.md, docs/labels.md).

File: IEMOCAP_all.csv (`read_iemocap_labels`), no split column: the split comes
from the feature pickle or, text-only, from the shipped reference split (`assign_iemocap_splits`,
docs/raw-data.md). Ids: `vid_cid` (`Ses01F_impro01_F000`), unique across the pickle's split dicts;
whatever the split, Session 5 is test (`check_feature_splits`).
Pool: neu -> neutral, hap/exc -> positive, any other code -> negative. Input: the context window
without speakers, from the whole dialogue or the same speaker's turns (`text.iemocap_context`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from unimse_core.context import check_lengths, clean, window_inputs
from unimse_core.datasets.base import SPLITS, Dataset, LabelFile, TransferRow
from unimse_core.io.errors import RawDataError

if TYPE_CHECKING:
    from unimse_core.config import SyntheticConfig, TextConfig
    from unimse_core.io.manifest import ManifestEntry
    from unimse_core.io.raw import C1Policy, Features, LabelTable

CODES: tuple[str, ...] = ("hap", "sad", "neu", "fru", "ang", "exc")
WORDS: dict[str, str] = {"hap": "joy", "sad": "sadness", "neu": "neutral", "fru": "frustrated",
                         "ang": "anger", "exc": "excited"}
# Every code of IEMOCAP_all.csv: the six classes first, then those the training set drops once the
# transfer is done; a transferred IEMOCAP slot may hold any of them.
ALL_CODES: tuple[str, ...] = (*CODES, "sur", "fea", "dis", "oth", "xxx")
COLUMNS: tuple[str, ...] = ("start_stop", "vid_cid", "label", "text", "vid")
TEST_SESSION = 5
_ID = re.compile(r"Ses(\d{2})[FM]_.+_([FM])\d+")
_CODE = re.compile(r"[a-z]{3}")
_START_STOP = re.compile(r"\[\s*([0-9]+(?:\.[0-9]*)?)\s*-\s*([0-9]+(?:\.[0-9]*)?)\s*\]")


def read_iemocap_labels(path: str | Path, *, encoding: str | None = None,
                        c1_controls: C1Policy = "keep") -> LabelTable:
    """IEMOCAP_all.csv: every row, with `in_classes` False for codes outside the six classes.

    The CSV holds no split: `splits` is all "" until `assign_iemocap_splits`. Empty text is an
    error only on rows of the six classes (the other rows are dropped downstream).
    """
    from unimse_core.io import raw

    path = Path(path)
    ids, texts, lines, speakers, dialogues, codes, sessions, in_classes, starts = [], [], [], [], [], [], [], [], []
    decodings: dict[str, raw.Decoding] = {}
    for line, row in raw.csv_rows(path, COLUMNS, encoding, c1_controls, decodings):
        uid = row["vid_cid"]
        parsed = _ID.fullmatch(uid)
        if parsed is None:
            raise raw.bad_value(path, line, "vid_cid", "an id like Ses01F_impro01_F000", uid)
        session = int(parsed.group(1))
        if not 1 <= session <= TEST_SESSION:
            raise raw.bad_value(path, line, "vid_cid", f"Session 01 to 0{TEST_SESSION}", uid)
        vid = row["vid"]
        if uid.rpartition("_")[0] != vid:
            raise raw.bad_value(path, line, "vid", f"the dialogue part of vid_cid {uid!r}", vid)
        code = row["label"]
        if not _CODE.fullmatch(code):
            raise raw.bad_value(path, line, "label", f"a three-letter code ({' '.join(CODES)} "
                                                      "or another such as xxx)", code)
        timing = _START_STOP.fullmatch(row["start_stop"].strip())
        if timing is None:
            raise raw.bad_value(path, line, "start_stop", "'[<start> - <stop>]' in seconds", row["start_stop"])
        starts.append(float(timing.group(1)))
        used = code in CODES
        texts.append(raw.text_value(path, line, row, "text") if used else row["text"])
        ids.append(uid)
        speakers.append(parsed.group(2))
        dialogues.append(vid)
        codes.append(code)
        sessions.append(session)
        in_classes.append(used)
        lines.append(line)
    raw.check_unique(path, ids, lines)
    if not ids:
        raise RawDataError(path, "iemocap: the table has no rows")
    return raw.LabelTable(dataset="iemocap", paths=(path,), ids=ids, splits=[""] * len(ids), texts=texts,
                          lines=lines, files=[0] * len(ids), speakers=speakers, dialogues=dialogues,
                          codes=codes, sessions=np.asarray(sessions, dtype=np.int64),
                          starts=np.asarray(starts, dtype=np.float64),
                          in_classes=np.asarray(in_classes, dtype=bool),
                          other_codes=dict(Counter(c for c, used in zip(codes, in_classes) if not used)),
                          decodings=decodings)


def session_split(session: int) -> str:
    """The session rule: Session 5 is test; the other sessions are train (or valid, which the rule does not tell)."""
    return "test" if session == TEST_SESSION else "train"


@dataclass(frozen=True)
class ReferenceSplit:
    """The reference's IEMOCAP split, shipped in unimse_core/io/iemocap_split.json (docs/raw-data.md)."""

    path: Path
    test_sessions: frozenset[int]
    valid_dialogues: frozenset[str]
    six_class_counts: dict[str, int]

    def split_of(self, session: int, dialogue: str) -> str:
        if session in self.test_sessions:
            return "test"
        return "valid" if dialogue in self.valid_dialogues else "train"


REFERENCE_SPLIT_FILE = Path(__file__).parents[1] / "io" / "iemocap_split.json"


def reference_iemocap_split(path: str | Path = REFERENCE_SPLIT_FILE) -> ReferenceSplit:
    """The shipped reference split (or the split file at `path`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ReferenceSplit(path, frozenset(int(s) for s in data["test_sessions"]),
                              frozenset(str(d) for d in data["valid_dialogues"]),
                              {k: int(v) for k, v in data["six_class_counts"].items()})
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise RawDataError(path, f"not a readable IEMOCAP split file (test_sessions, valid_dialogues, "
                                 f"six_class_counts): {err}") from None


def assign_iemocap_splits(labels: LabelTable, features: Features | None = None,
                          reference: ReferenceSplit | None = None) -> LabelTable:
    """A copy of an IEMOCAP table with its splits filled in.

    Without features (text-only, or a feature file that does not define splits) the reference split
    decides (`reference_iemocap_split`: Session 5 test, 12 listed dialogues of Sessions 1-4 valid,
    the rest train). With features, each row takes the split of the list position holding its key;
    a row without features takes the split of its dialogue (the splits hold whole dialogues), and
    where no utterance of the dialogue has features, the reference split. `iemocap_split_check`
    compares the two.
    """
    if labels.dataset != "iemocap" or (features is not None and features.dataset != "iemocap"):
        raise ValueError(f"assign_iemocap_splits needs IEMOCAP labels and features, got {labels.dataset!r}"
                         f" and {features.dataset if features is not None else None!r}")
    assert labels.sessions is not None and labels.dialogues is not None
    reference = reference or reference_iemocap_split()
    by_reference = [reference.split_of(int(s), d) for s, d in zip(labels.sessions, labels.dialogues)]
    if features is None or not features.defines_splits:
        return dataclasses.replace(labels, splits=by_reference)
    split_of = dict(zip(features.ids, features.splits))
    dialogue_split = {dialogue: split_of[uid] for uid, dialogue in zip(labels.ids, labels.dialogues)
                      if uid in split_of}
    splits = [split_of.get(uid) or dialogue_split.get(dialogue) or fallback
              for uid, dialogue, fallback in zip(labels.ids, labels.dialogues, by_reference)]
    return dataclasses.replace(labels, splits=splits)


def iemocap_split_check(labels: LabelTable, reference: ReferenceSplit | None = None) -> list[str]:
    """Ids of six-class rows whose split (from the features) differs from the reference split."""
    assert labels.sessions is not None and labels.dialogues is not None and labels.in_classes is not None
    reference = reference or reference_iemocap_split()
    return [uid for uid, split, session, dialogue, used in zip(labels.ids, labels.splits, labels.sessions,
                                                               labels.dialogues, labels.in_classes)
            if used and split != reference.split_of(int(session), dialogue)]


def iemocap_polarity(code: str) -> str:
    """IEMOCAP polarity by the pool rule: neu -> neutral, hap/exc -> positive, any other code -> negative."""
    return "neutral" if code == "neu" else "positive" if code in ("hap", "exc") else "negative"


def iemocap_inputs(dialogue_ids: Sequence[Hashable], order: Sequence[float], speakers: Sequence[str],
                   texts: Sequence[str], *, prefix: str, window: int, causal: bool,
                   iemocap_context: Literal["dialogue", "speaker"]) -> list[str]:
    """The input string of every utterance of one IEMOCAP split, in the order given (no speakers in it).

    `order` sorts the turns of a dialogue: the start time (`LabelTable.starts`) or a turn index.
    Equal values keep their input order. `iemocap_context`: `dialogue` takes the window from all
    turns of the dialogue; `speaker` (the reference) from the same speaker's turns only.
    """
    check_lengths(dialogue_ids, order, speakers, texts, order_name="order value")
    if iemocap_context == "dialogue":
        groups: Sequence[Hashable] = dialogue_ids
    elif iemocap_context == "speaker":
        groups = list(zip(dialogue_ids, speakers))
    else:
        raise ValueError(f"iemocap_context must be 'dialogue' or 'speaker', got {iemocap_context!r}")
    pieces = [clean(t) for t in texts]
    return window_inputs(groups, order, pieces, prefix=prefix, window=window, causal=causal,
                          ties="input", order_name="order value")



# -- synthetic data (docs/synthetic.md) ------------------------------------------------------------

LABEL_COLUMNS: tuple[str, ...] = ("start_stop", "vid_cid", "label", "VAD", "text", "vid", "i", "path")
DIALOGUE_NAMES = ("impro01", "impro02", "impro03", "impro04", "impro05a", "impro05b", "impro06", "impro07", "impro08",
                  "script01_1", "script01_2", "script01_3", "script02_1", "script02_2", "script03_1", "script03_2")
# Emotion prototypes in (t, a, v) space: text ~ valence, audio ~ arousal, video ~ a third axis.
PROTOTYPES: dict[str, tuple[float, float, float]] = {
    "neu": (0.0, 0.0, 0.0),
    "hap": (1.3, -0.5, 0.8),
    "exc": (1.1, 1.2, -0.4),
    "sad": (-0.9, -1.3, -0.3),
    "ang": (-1.0, 1.2, 1.0),
    "fru": (-0.6, 0.2, -1.5),
}
OTHER_CODES = ("xxx", "oth", "sur", "fea", "dis")  # drawn in this order
OTHER_SHARE = 0.05  # extra rows with a code outside the six classes (never in the pickle)


def dialogue_name(session: int, j: int) -> str:
    """The j-th dialogue of a session: Ses01F_impro01, Ses01M_impro01, ..., Ses01M_script03_2, then
    made-up impro numbers once the real names run out (only for configs larger than IEMOCAP)."""
    k = j // 2
    base = DIALOGUE_NAMES[k] if k < len(DIALOGUE_NAMES) else f"impro{k - len(DIALOGUE_NAMES) + 9:02d}"
    return f"Ses{session:02d}{'FM'[j % 2]}_{base}"


def vad(rng: np.random.Generator, factors: tuple[float, float, float]) -> str:
    """Valence, activation, dominance on 1-5 in half steps, loosely following t, a, v."""
    values = [min(5.0, max(1.0, round(2 * (3.0 + 0.8 * f + rng.normal(0.0, 0.4))) / 2)) for f in factors]
    return "[" + ", ".join(f"{x:.4f}" for x in values) + "]"


@dataclass(frozen=True)
class Iemocap(Dataset):
    @property
    def synthetic_variants(self) -> tuple[str, ...]:
        return ("authors_names", "missing_modality", "count_mismatch")

    def synthesize(self, config: SyntheticConfig, out_dir: Path) -> list[ManifestEntry]:
        from unimse_core import synthetic

        rng = synthetic.dataset_rng(config, self.name)
        sizes = config.sizes(self.name)
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
                    while dialogue_name(session, next_in_session[session]) in reference.valid_dialogues:
                        next_in_session[session] += 1
                    dialogues.append((dialogue_name(session, next_in_session[session]), session, split, take))
                    next_in_session[session] += 1
                left -= take
                k += 1
        other = [0] * len(dialogues)
        for split, n in zip(SPLITS, counts):
            members = [j for j, d in enumerate(dialogues) if d[2] == split]
            for _ in range(synthetic.share(n, OTHER_SHARE)):
                other[members[int(rng.integers(len(members)))]] += 1

        # Utterance slots in dialogue order, six-class and other-coded rows shuffled together.
        slots: list[tuple[int, bool]] = []  # (dialogue index, six-class?)
        for j, (_vid, _session, _split, n6) in enumerate(dialogues):
            kinds = np.array([True] * n6 + [False] * other[j])
            slots.extend((j, bool(x)) for x in kinds[rng.permutation(len(kinds))])
        n_rows = len(slots)
        six = [i for i, (_j, ok) in enumerate(slots) if ok]
        six_counts = [sum(1 for i in six if dialogues[slots[i][0]][2] == s) for s in SPLITS]
        six_missing = synthetic.missing_per_split(rng, six_counts, config.missing_features)
        # Rows without features: the other-coded ones and a share of the six-class ones in every split.
        by_split = [[i for i in six if dialogues[slots[i][0]][2] == s] for s in SPLITS]
        flat_six = [i for rows in by_split for i in rows]
        without = {flat_six[k] for k in six_missing} | {i for i, (_j, ok) in enumerate(slots) if not ok}
        utterances = synthetic.draw_utterances(rng, config, sizes, n_rows, lambda w: synthetic.written(rng, w),
                                               synthetic.TALK_FILLERS, without)

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
                    label = synthetic.nearest(PROTOTYPES, utt.factors)
                else:
                    label = OTHER_CODES[int(rng.integers(len(OTHER_CODES)))]
                begin = clock + float(rng.uniform(0.05, 2.5))
                clock = begin + float(rng.uniform(0.8, 9.0))
                vid_cid = f"{vid}_{speaker}{counters[speaker]:03d}"
                counters[speaker] += 1
                rows.append((f"[{begin:.4f} - {clock:.4f}]", vid_cid, label, vad(rng, utt.factors), utt.text, vid,
                             position, f"Session{session}/sentences/wav/{vid}/{vid_cid}.wav"))
                if utt.audio is not None:
                    audio[SPLITS.index(split)][vid_cid] = utt.audio
                    video[SPLITS.index(split)][vid_cid] = utt.video
                if rng.random() < 0.8:
                    speaker = "M" if speaker == "F" else "F"
                position += 1
                row += 1
        rows.sort(key=lambda r: (r[5], float(r[0][1:].split(" - ")[0])))
        label_rel = f"{self.name}/IEMOCAP_all.csv"
        synthetic.write_csv(out_dir / label_rel, LABEL_COLUMNS, rows)
        feature_rel = f"{self.name}/iemocap_features.pkl"
        written = synthetic.written_name(config, feature_rel, f"{self.name}/iemocap_data_0610.pkl")
        if "missing_modality" in config.variants:
            synthetic.drop_one_video(video)
        expected = [len(d) for d in audio]
        if "count_mismatch" in config.variants:  # a key the CSV lacks, as real pickles carry
            extra = f"{dialogues[0][0]}_F999"
            audio[0][extra] = np.ones((2, sizes.audio_dim), dtype=np.float32)
            video[0][extra] = np.ones((2, sizes.video_dim), dtype=np.float32)
        synthetic.write_pickle(out_dir / written, {"audio": audio, "video": video})
        return [synthetic.entry(out_dir, label_rel, self.name, "iemocap_labels", dict(zip(SPLITS, counts))),
                synthetic.entry(out_dir, feature_rel, self.name, "erc_features", dict(zip(SPLITS, expected)),
                                written=written)]

    def pool(self, sentiment: str, emotion: str) -> str:
        code = emotion.strip().lower()
        if code not in ALL_CODES:
            raise ValueError(f"unknown IEMOCAP label {emotion!r} (expected one of {', '.join(ALL_CODES)})")
        return iemocap_polarity(code)

    def check_transfer_row(self, sentiment: object, score: float, emotion: object) -> None:
        if not isinstance(emotion, str):
            raise ValueError(f"emotion must be a string, got {emotion!r}")

    def transfer_rows(self, table: LabelTable, *, other_codes: bool) -> list[tuple[int, TransferRow]]:
        # rows outside the six classes only with labels.iemocap_other_codes: include, and only with text
        return [(i, TransferRow(table.texts[i], "", float("nan"), table.codes[i])) for i in range(len(table))
                if table.in_classes[i] or (other_codes and table.texts[i].strip())]

    def read_labels(self, files: Sequence[LabelFile], c1_controls: C1Policy) -> LabelTable:
        (only,) = files
        return read_iemocap_labels(only.path, encoding=only.encoding, c1_controls=c1_controls)

    def read_features(self, path: Path, padding: str = "auto") -> Features:
        from unimse_core.io import raw

        return raw.read_erc_features(path, self.name)

    @property
    def feature_keys_unique(self) -> bool:
        # vid_cid names one utterance of one session: a key in two split dicts is a broken pickle
        return True

    def check_feature_splits(self, labels: LabelTable, features: Features,
                             index: np.ndarray) -> tuple[list[str], list[str]]:
        # The csv holds no split; whatever split a row has, the session rule must hold: Session 5
        # is test, Sessions 1-4 are not. Rows without features are counted by the session rule.
        assert labels.sessions is not None
        mismatch: list[str] = []
        splits = list(labels.splits)
        for i in np.flatnonzero(index >= 0):
            feature_split = features.splits[index[i]]
            rule_broken = (session_split(int(labels.sessions[i])) == "test") != (feature_split == "test")
            if rule_broken or (splits[i] and splits[i] != feature_split):
                mismatch.append(labels.ids[i])
            splits[i] = splits[i] or feature_split
        return mismatch, [s or session_split(int(session)) for s, session in zip(splits, labels.sessions)]

    @property
    def unlisted_label_column(self) -> str | None:
        return "vid_cid"

    def with_splits(self, labels: LabelTable, features: Features | None) -> LabelTable:
        return assign_iemocap_splits(labels, features)

    @property
    def splits_need_features(self) -> bool:
        return True

    def verify_splits(self, summary: dict[str, Any], labels: LabelTable, features: Features | None, *,
                      report_policy: bool, hint: str) -> tuple[LabelTable, list[str], list[str]]:
        # The csv has no split column and rows outside the six classes are not used: count the
        # six-class rows per split, the split coming from the features or the reference split.
        labels = assign_iemocap_splits(labels, features)
        splits = [split for split, used in zip(labels.splits, labels.in_classes) if used]
        problems = []
        summary["other_codes"] = dict(labels.other_codes)
        from_features = features is not None and features.defines_splits
        summary["split_source"] = "features" if from_features else "reference"
        if from_features:
            disagree = iemocap_split_check(labels)
            summary["reference_split_mismatch"] = len(disagree)
            summary.setdefault("unmatched", {})["reference_split_mismatch"] = disagree
            if disagree and not report_policy:
                problems.append(f"{summary['features']}: {len(disagree)} six-class utterance(s) lie in another "
                                f"split than the reference split (unimse_core/io/iemocap_split.json), e.g. "
                                f"{disagree[:5]} {hint}")
        return labels, splits, problems

    def input_texts(self, table: LabelTable, config: TextConfig) -> list[str]:
        # context from every turn of the dialogue that has text, the six classes or not
        spoken = [i for i, t in enumerate(table.texts) if t.strip()]
        inputs = [""] * len(table)
        built = iemocap_inputs([table.dialogues[i] for i in spoken], table.starts[spoken],
                               [table.speakers[i] for i in spoken], [table.texts[i] for i in spoken],
                               prefix=config.prefix, window=config.window, causal=config.causal,
                               iemocap_context=config.iemocap_context)
        for i, value in zip(spoken, built):
            inputs[i] = value
        return inputs

    @property
    def conversation_input(self) -> bool:
        return True

    @property
    def speakers_required(self) -> bool:
        # its input has no speakers; they only group turns with `text.iemocap_context: speaker`
        return False

    def request_inputs(self, dialogues: Sequence[str], turns: Sequence[int], speakers: Sequence[str],
                       texts: Sequence[str], config: TextConfig) -> list[str]:
        return iemocap_inputs(dialogues, turns, speakers, texts, prefix=config.prefix, window=config.window,
                              causal=config.causal, iemocap_context=config.iemocap_context)

    def gold_code(self, table: LabelTable, i: int) -> str:
        return table.codes[i]


DATASET = Iemocap(name="iemocap", title="IEMOCAP", kind="emotion", card_name="iemocap",
                  label_kinds=("iemocap_labels",), feature_kind="erc_features", codes=CODES,
                  words=tuple(WORDS[c] for c in CODES), neutral_code="neu", transfer_codes=ALL_CODES,
                  reference_split=True, paper={"acc": 70.56, "weighted_f1": 70.66}, licence_agreement=True,
                  card_settings={"universal labels": (("labels.iemocap_other_codes",
                                                       "IEMOCAP codes outside the six classes: "),),
                                 "inputs": (("text.iemocap_context", "IEMOCAP context "),)})
