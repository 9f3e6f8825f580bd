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

    # -- model rows --------------------------------------------------------------------------------

    def input_texts(self, table: LabelTable, config: TextConfig) -> list[str]:
        """The model input of every row of `table` (context windows built from the whole table)."""
        raise NotImplementedError

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
