"""What every dataset module declares (docs/adding-a-dataset.md), and the helpers they share.

A dataset is one `Dataset` instance, `DATASET` in its own module of this package, registered in
`unimse_core.datasets.REGISTRY`. The rest of the code asks the registry; what is particular to a
dataset (its files and reader, split rule, label kind and classes, polarity rule, model input,
gold fields, metrics, the paper's numbers) lives in its module only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from unimse_core.config import SyntheticConfig, TextConfig
    from unimse_core.io.manifest import ManifestEntry
    from unimse_core.io.raw import C1Policy, Features, LabelTable

SPLITS: tuple[str, ...] = ("train", "valid", "test")
POLARITIES: tuple[str, ...] = ("positive", "negative", "neutral")
# metrics/test.json: MMSA's names for score datasets, accuracy and weighted F1 for emotion datasets.
SCORE_METRICS: tuple[str, ...] = ("MAE", "Corr", "Mult_acc_7", "Mult_acc_5", "Has0_acc_2", "Has0_F1_score",
                                  "Non0_acc_2", "Non0_F1_score")
CLASS_METRICS: tuple[str, ...] = ("acc", "weighted_f1")


def score_polarity(score: float) -> str:
    """A score dataset's polarity: the sign of the (unrounded) score; 0 is neutral."""
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


def sentiment_pool(sentiment: str, column: str) -> str:
    """The pool of a sample labelled Positive / Negative / Neutral in `column` (any case)."""
    pool = sentiment.strip().lower()
    if pool not in POLARITIES:
        raise ValueError(f"unknown {column} {sentiment!r} (expected Positive, Negative or Neutral)")
    return pool


@dataclass(frozen=True)
class LabelFile:
    """One verified label file of a dataset: its split (None: the file holds every split), path, encoding."""

    split: str | None
    path: Path
    encoding: str | None = None


@dataclass(frozen=True)
class TransferRow:
    """What one utterance brings to the universal-label transfer (unimse_core.corpus)."""

    text: str          # what the sentence encoder embeds
    sentiment: str     # the column the polarity pool comes from ("" where the pool comes from the emotion)
    score: float       # a score dataset's own score (NaN elsewhere)
    emotion: str       # an emotion dataset's own code ("" elsewhere)


@dataclass(frozen=True)
class Dataset:
    """One dataset. Subclasses implement the methods; the fields are data.

    kind: `score` (a sentiment score in [-3, 3], fills the universal label's score slot) or
      `emotion` (one class of `codes`, fills the dataset's own slot `<name>_emotion`).
    codes: the emotion classes as the label tables and universal-label tables store them;
      `words` the same classes as written in targets and compared by the metrics (same order).
    neutral_code: the code an emotion slot holds where nothing is copied (the neutral pool's default).
    transfer_codes: every code the transfer may copy into this dataset's slot (codes, then any code
      outside the classes that `labels.iemocap_other_codes: include` lets through).
    label_kinds: the manifest kinds of its label files; feature_kind: of its feature file (None: text-only).
    reference_split: its label table has no split column, so an empty split in the features falls
      back on a shipped split (docs/raw-data.md).
    paper: the paper's reported test numbers (docs/results.md, single model on MOSELDMP), metric ->
      value on the paper's scale (percent for accuracies and F1, as unimse_core.report shows them).
    card_title: its name in the model card's model-index ("": `title`).
    licence_agreement: it is obtained under a signed licence agreement (the model card warns of it).
    card_settings: its own params in the model card's settings table, row -> ((param key, label), ...),
      each shown after the row's common settings as `, <label><value>`.
    """

    name: str
    title: str
    kind: Literal["score", "emotion"]
    card_name: str
    label_kinds: tuple[str, ...]
    feature_kind: str | None
    codes: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    neutral_code: str = ""
    transfer_codes: tuple[str, ...] = ()
    reference_split: bool = False
    paper: Mapping[str, float] = field(default_factory=dict)
    card_title: str = ""
    licence_agreement: bool = False
    card_settings: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    # -- labels ----------------------------------------------------------------------------------

    @property
    def slot(self) -> str:
        """The universal-label slot this dataset fills: `score` or `<name>_emotion`."""
        return "score" if self.kind == "score" else f"{self.name}_emotion"

    @property
    def metrics(self) -> tuple[str, ...]:
        """The keys of its entry in metrics/test.json, before `unparsable`."""
        return SCORE_METRICS if self.kind == "score" else CLASS_METRICS

    def word(self, code: str) -> str:
        """The target word of one of its codes; ValueError for any other value."""
        try:
            return self.words[self.codes.index(code)]
        except (ValueError, TypeError):
            what = "emotion" if self.codes == self.words else "emotion code"
            raise ValueError(f"unknown {self.title} {what} {code!r}: expected one of "
                             f"{', '.join(self.codes)}") from None

    def pool(self, sentiment: str, emotion: str) -> str:
        """The polarity pool of one sample (positive, negative or neutral); ValueError on an unknown value."""
        raise NotImplementedError

    def check_transfer_row(self, sentiment: object, score: float, emotion: object) -> None:
        """ValueError naming what one transfer row lacks (a finite score, a known emotion, ...)."""

    def transfer_rows(self, table: LabelTable, *, other_codes: bool) -> list[tuple[int, TransferRow]]:
        """(row index, what it brings) of every row of `table` that takes part in the transfer."""
        raise NotImplementedError

    # -- files -------------------------------------------------------------------------------------

    def read_labels(self, files: Sequence[LabelFile], c1_controls: C1Policy) -> LabelTable:
        """Its label table from its verified label files."""
        raise NotImplementedError

    def with_splits(self, labels: LabelTable, features: Features | None) -> LabelTable:
        """`labels` with every split known (a dataset whose files give the splits returns it as is)."""
        return labels

    @property
    def splits_need_features(self) -> bool:
        """True where `with_splits` reads the split from the feature file when there is one."""
        return False

    def verify_splits(self, summary: dict[str, Any], labels: LabelTable, features: Features | None, *,
                      report_policy: bool, hint: str) -> tuple[LabelTable, list[str], list[str]]:
        """(labels with their splits, the split of every used row, problems) for the fetch report."""
        labels = self.with_splits(labels, features)
        return labels, list(labels.splits), []

    def read_features(self, path: Path, padding: str = "auto") -> Features:
        """Its feature file (manifest kind `feature_kind`), read by the reader of that kind; `padding`
        is `features.padding` (used where the format pads sequences)."""
        raise ValueError(f"{self.title} has no feature file (text-only): {path} cannot be read as its features")

    @property
    def feature_keys_unique(self) -> bool:
        """True where a feature key in two split dicts of its pickle is an error (its ids are unique
        across splits); False where keys repeat across splits and a row is (split, key)."""
        return False

    def match_features(self, labels: LabelTable, features: Features) -> tuple[np.ndarray, list[str], dict[str, str]]:
        """How its label rows pair with its feature rows (`unimse_core.io.raw.match_ids` reports the rest):
        (int64 [N] the feature row of every label row or -1, the name of every feature row as
        messages quote it, split -> `id` or `position`: what paired that split). Default: by id."""
        where = {uid: j for j, uid in enumerate(features.ids)}
        index = np.array([where.get(uid, -1) for uid in labels.ids], dtype=np.int64).reshape(len(labels))
        return index, list(features.ids), {split: "id" for split in SPLITS}

    def check_feature_splits(self, labels: LabelTable, features: Features,
                             index: np.ndarray) -> tuple[list[str], list[str]]:
        """(ids of matched label rows whose split the feature file contradicts, in label order; the
        split of every label row, as `match_ids` counts it). Default: the two splits must be equal."""
        mismatch = [labels.ids[i] for i in np.flatnonzero(index >= 0) if labels.splits[i] != features.splits[index[i]]]
        return mismatch, list(labels.splits)

    @property
    def unlisted_label_column(self) -> str | None:
        """A column whose name in the header of a CSV no manifest entry names marks the file as its one
        label file (`unimse_core.release.inspect_unlisted` reads it with `read_labels` and
        `with_splits`); None where its label files must be listed."""
        return None

    # -- model rows --------------------------------------------------------------------------------

    def input_texts(self, table: LabelTable, config: TextConfig) -> list[str]:
        """The model input of every row of `table` (context windows built from the whole table)."""
        raise NotImplementedError

    @property
    def conversation_input(self) -> bool:
        """True where its model input is a context window over a conversation: `unimse predict
        --conversations <name>` then builds a request's inputs with `request_inputs`."""
        return False

    @property
    def speakers_required(self) -> bool:
        """True where a request's `speaker` column must be filled (False: its input has no speakers)."""
        return True

    def request_inputs(self, dialogues: Sequence[str], turns: Sequence[int], speakers: Sequence[str],
                       texts: Sequence[str], config: TextConfig) -> list[str]:
        """The model input of every row of a request (parallel sequences, one entry per row, in row order;
        `turns` order a dialogue's rows), built by the functions `input_texts` uses, so that a turn's input
        is the one preprocessing builds for the same dialogue and `text` settings."""
        raise NotImplementedError(f"{self.title}'s model input is not a conversation window")

    def gold(self, table: LabelTable, i: int) -> tuple[float, str]:
        """(gold score, gold emotion word) of row i: what the metrics compare predictions with."""
        if self.kind == "score":
            return float(table.scores[i]), ""
        return float("nan"), self.word(self.gold_code(table, i))

    def gold_code(self, table: LabelTable, i: int) -> str:
        """Row i's own emotion code (emotion datasets)."""
        raise NotImplementedError

    def used_rows(self, table: LabelTable) -> Any:
        """bool [N]: the rows that become model rows (None: all)."""
        return table.in_classes

    # -- synthetic data ----------------------------------------------------------------------------

    @property
    def synthetic_variants(self) -> tuple[str, ...]:
        """The `synthetic.variants` its writer knows (docs/synthetic.md); the config accepts those of
        every registered dataset."""
        return ()

    def synthesize(self, config: SyntheticConfig, out_dir: Path) -> list[ManifestEntry]:
        """Write its synthetic raw files into `out_dir` in its real formats, from the generator
        `synthetic.dataset_rng(config, name)`, with the sizes `config.sizes(name)`; return their
        manifest entries, in the order of its files (docs/synthetic.md)."""
        raise NotImplementedError(f"{self.title} ({self.name}) has no synthetic writer: implement "
                                  f"{type(self).__name__}.synthesize (docs/adding-a-dataset.md)")


@dataclass(frozen=True)
class Dialogues(Dataset):
    """An emotion dataset of dialogues whose utterances carry a speaker and an utterance id (MELD,
    EmoryNLP): every row is a model row, its gold is its own emotion (`LabelTable.emotions`), and its
    input is the context window over its dialogue with speakers (`speaker_window_inputs`), the
    dialogue ordered by `LabelTable.utterances`. Dialogue ids carry their split, so one call never
    mixes the splits' colliding ids."""

    def input_texts(self, table: LabelTable, config: TextConfig) -> list[str]:
        from unimse_core.context import speaker_window_inputs

        return speaker_window_inputs(table.dialogues, table.utterances, table.speakers, table.texts,
                                     prefix=config.prefix, window=config.window, causal=config.causal)

    @property
    def conversation_input(self) -> bool:
        return True

    def request_inputs(self, dialogues: Sequence[str], turns: Sequence[int], speakers: Sequence[str],
                       texts: Sequence[str], config: TextConfig) -> list[str]:
        from unimse_core.context import speaker_window_inputs

        return speaker_window_inputs(dialogues, turns, speakers, texts, prefix=config.prefix,
                                     window=config.window, causal=config.causal)

    def gold_code(self, table: LabelTable, i: int) -> str:
        return table.emotions[i]

    def used_rows(self, table: LabelTable) -> Any:
        return None
