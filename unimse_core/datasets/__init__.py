"""The dataset registry: name -> the module-level `DATASET` of unimse_core/datasets/<name>.py.

The rest of the code iterates over the registry (in its order, which is the order of candidates
that breaks cosine ties in the label transfer) and never branches on a dataset's name; adding a
dataset is writing its module and its entry here (docs/adding-a-dataset.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from unimse_core.datasets import emorynlp, iemocap, meld, mosei, mosi
from unimse_core.datasets.base import POLARITIES, SPLITS, Dataset, LabelFile, TransferRow

REGISTRY: dict[str, Dataset] = {d.name: d for d in (mosi.DATASET, mosei.DATASET, meld.DATASET, iemocap.DATASET,
                                                   emorynlp.DATASET)}
NAMES: tuple[str, ...] = tuple(REGISTRY)
PAPER_DATASETS: tuple[str, ...] = ("mosi", "mosei", "meld", "iemocap")
"""The paper's four, in its order: the default `data.datasets` and the default label layout."""
COMBINATIONS: dict[str, tuple[str, ...]] = {
    **{name: (name,) for name in NAMES},
    "mos": ("mosi", "mosei"), "moseld": ("mosi", "mosei", "meld"), "moseldmp": PAPER_DATASETS,
}
"""`merge.combination` names: each registered dataset alone, and the paper's combinations (docs/reproducing.md)."""


def get(name: str) -> Dataset:
    """The registered dataset `name`; ValueError listing the registered names otherwise."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r} (expected one of {', '.join(NAMES)})") from None


def combination_datasets(combination: str) -> tuple[str, ...]:
    """The datasets of a named combination, or of names joined by `+` (`moseldmp+emorynlp`); KeyError naming
    the first unknown part."""
    out: list[str] = []
    for part in combination.split("+"):
        if part not in COMBINATIONS:
            raise KeyError(part)
        out += [d for d in COMBINATIONS[part] if d not in out]
    return tuple(out)


def of_kind(kind: str, names: Iterable[str] = NAMES) -> tuple[str, ...]:
    """The datasets among `names` (in that order) whose label kind is `kind` (score or emotion)."""
    return tuple(n for n in names if get(n).kind == kind)


__all__ = ["COMBINATIONS", "NAMES", "PAPER_DATASETS", "POLARITIES", "REGISTRY", "SPLITS", "Dataset", "LabelFile",
           "TransferRow", "combination_datasets", "get", "of_kind"]
