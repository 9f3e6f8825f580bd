"""One dataset's raw labels, universal labels and features -> the model's rows, split by split.

Per utterance: the input text (docs/inputs-and-targets.md, unimse_core.text), the universal-label target
string, the gold fields the metrics use, and the acoustic and visual sequences brought to
`features.dim` with NaN/inf set to 0 (unimse_core.features). Every row dropped or changed by a
policy is counted in the returned statistics; nothing is dropped silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from unimse_core import datasets
from unimse_core.config import FeaturesConfig, TextConfig
from unimse_core.datasets import SPLITS
from unimse_core.features import pack
from unimse_core.io.errors import RawDataError
from unimse_core.io.hdf5 import SplitArrays
from unimse_core.io.raw import Features, LabelTable, match_ids
from unimse_core.io.universal_labels import UniversalLabels
from unimse_core.universal import DEFAULT_SCHEMA, LabelSchema


def preprocess(table: LabelTable, universal: UniversalLabels, features: Features | None, *,
               text_config: TextConfig, features_config: FeaturesConfig,
               release_features: bool = True, schema: LabelSchema = DEFAULT_SCHEMA
               ) -> tuple[dict[str, SplitArrays], dict[str, Any]]:
    """The rows of every split of one dataset, and statistics of what each policy did.

    `table` must have its splits (`Dataset.with_splits` first). `features` None means
    text-only: every sequence is empty. Raises RawDataError naming the file and id on a row that
    the universal-label table lacks, and on a split left empty. `schema` is the run's label layout
    (`LabelSchema.of(data.datasets)`); `universal` must hold its slots.

    `release_features` (default) consumes `features`: each raw sequence's entry in
    `features.audio`/`features.video` is set to None as soon as it is packed, and those no row
    uses are set to None before packing starts. The sequences are views of the loaded pickle's
    arrays, so each array is freed once its (split, modality) is packed, and the raw and the packed
    features never coexist whole (peak: the pickle plus one packed split and modality, not plus
    all of them). False leaves `features` untouched.
    """
    dataset = table.dataset
    spec = datasets.get(dataset)
    in_classes = spec.used_rows(table)
    used = np.ones(len(table), dtype=bool) if in_classes is None else np.array(in_classes, dtype=bool)
    stats: dict[str, Any] = {"dataset": dataset, "rows_in": int(used.sum()), "text_only": features is None,
                             "other_codes_skipped": int((~used).sum())}

    feature_index = np.full(len(table), -1, dtype=np.int64)
    if features is not None:
        feature_index = match_ids(table, features).feature_index
    missing = used & (feature_index < 0)
    # text-only data has no feature file: its rows are not "missing" features
    stats["missing_features"] = {} if features is None else dict(Counter(table.splits[i] for i in np.flatnonzero(missing)))
    if features is not None and missing.any():
        if features_config.missing == "error":
            first = int(np.argmax(missing))
            raise RawDataError(features.path, f"{int(missing.sum())} utterance(s) without features, e.g. "
                               f"{table.ids[first]!r} ({table.where(first)}); features.missing: zero or drop "
                               "accepts them")
        if features_config.missing == "drop":
            used &= ~missing
    # An utterance with features in one modality only (the other's dict lacks its key): the same
    # policy, per modality; "zero" gives the absent modality an empty sequence, like the authors' zeros.
    stats["missing_modality"] = {}
    if features is not None:
        found = np.flatnonzero(used & (feature_index >= 0))
        for modality in ("audio", "video"):
            sequences = getattr(features, modality)
            absent = [i for i in found.tolist() if sequences[feature_index[i]] is None]
            for i in absent:
                per_split = stats["missing_modality"].setdefault(table.splits[i], {"audio": 0, "video": 0})
                per_split[modality] += 1
            if absent and features_config.missing == "error":
                raise RawDataError(features.path, f"{len(absent)} utterance(s) without {modality} features, e.g. "
                                   f"{table.ids[absent[0]]!r} ({table.where(absent[0])}); features.missing: zero or "
                                   "drop accepts them")
            if absent and features_config.missing == "drop":
                used[absent] = False
    stats["missing_policy"] = features_config.missing

    inputs = spec.input_texts(table, text_config)
    targets = [""] * len(table)
    slot_dropped: Counter[str] = Counter()
    slot_reset: Counter[str] = Counter()
    for i in np.flatnonzero(used):
        uid, split = table.ids[i], table.splits[i]
        j = universal.row.get(uid)
        if j is None:
            raise RawDataError(universal.path, f"no universal label for {dataset} id {uid!r} ({table.where(i)})")
        if universal.split[j] != split:
            raise RawDataError(universal.path, f"split {universal.split[j]!r}, but the raw data says {split!r}",
                               f"id {uid!r}")
        values = {slot: universal.values[slot][j] for slot in schema.slots}
        outside = [slot for slot in schema.slots[1:] if values[slot] not in schema.owner(slot).codes]
        if outside:
            # A transferred emotion slot outside its dataset's classes (only with
            # labels.iemocap_other_codes: include, as the reference): such training samples are
            # dropped as the reference drops them; dev and test rows keep their place with the
            # neutral default in that slot.
            if split == "train":
                used[i] = False
                slot_dropped[split] += 1
                continue
            values.update({slot: schema.neutral_default[slot] for slot in outside})
            slot_reset[split] += 1
        targets[i] = schema.target(universal.polarity[j], values, text_config.score_decimals)
    # named for IEMOCAP, the one dataset whose table holds codes outside its classes
    stats["iemocap_slot_dropped"] = dict(slot_dropped)
    stats["iemocap_slot_reset"] = dict(slot_reset)

    split_rows = {split: [i for i in np.flatnonzero(used) if table.splits[i] == split] for split in SPLITS}
    for split, rows in split_rows.items():
        if not rows:
            raise RawDataError(table.paths[0], f"{dataset}: split {split} holds no utterance after preprocessing "
                               f"(missing features: {stats['missing_features'].get(split, 0)}, "
                               f"dropped for the IEMOCAP slot: {slot_dropped.get(split, 0)})")
    # uses[j]: rows still to pack that read feature row j; a row is released when it drops to 0
    uses = np.zeros(len(features) if features is not None else 0, dtype=np.int64)
    np.add.at(uses, feature_index[used & (feature_index >= 0)], 1)
    if features is not None and release_features:
        _release(features, np.flatnonzero(uses == 0))

    groups: dict[str, SplitArrays] = {}
    stats["rows"] = {}
    stats["nonfinite_values"] = Counter()
    stats["nonfinite_utterances"] = Counter()
    for split, rows in split_rows.items():
        read = feature_index[rows]
        read = read[read >= 0]
        np.subtract.at(uses, read, 1)
        done = read[uses[read] == 0]
        packed = {}
        for modality in ("audio", "video"):
            source: Sequence[np.ndarray] = getattr(features, modality) if features is not None else []
            sequences = [source[feature_index[i]] if feature_index[i] >= 0 else None for i in rows]
            packed[modality] = pack(sequences, features_config.dim)
            del sequences
            if features is not None and release_features:
                _release(features, done, modality)
            stats["nonfinite_values"][modality] += packed[modality].nonfinite_values
            stats["nonfinite_utterances"][modality] += packed[modality].nonfinite_utterances
        gold = [spec.gold(table, i) for i in rows]
        groups[split] = SplitArrays(
            ids=[table.ids[i] for i in rows], dataset=[dataset] * len(rows), inputs=[inputs[i] for i in rows],
            targets=[targets[i] for i in rows], gold_score=np.array([g[0] for g in gold], dtype=np.float32),
            gold_emotion=[g[1] for g in gold], polarity=[universal.polarity[universal.row[table.ids[i]]] for i in rows],
            audio=packed["audio"].frames, audio_offset=packed["audio"].offset, audio_length=packed["audio"].length,
            video=packed["video"].frames, video_offset=packed["video"].offset, video_length=packed["video"].length)
        stats["rows"][split] = len(rows)
    stats["nonfinite_values"] = dict(stats["nonfinite_values"])
    stats["nonfinite_utterances"] = dict(stats["nonfinite_utterances"])
    if features is not None:
        stats["raw_dims"] = {"audio": features.audio_dim, "video": features.video_dim}
        stats["padding"] = features.padding
    stats["dim"] = features_config.dim
    return groups, stats


def _release(features: Features, rows: np.ndarray, modality: str | None = None) -> None:
    """Drop the raw sequences `rows` of one modality (or both) from `features`, freeing what only they hold."""
    for name in (modality,) if modality else ("audio", "video"):
        sequences = getattr(features, name)
        for j in rows.tolist():
            sequences[j] = None


def merge(parts: Mapping[str, Mapping[str, SplitArrays]], datasets: Sequence[str], seed: int) -> dict[str, SplitArrays]:
    """Train = the training sets concatenated then shuffled (seeded), valid = the dev sets concatenated,
    test kept per dataset (`test/<dataset>`). `parts[dataset][split]` are `preprocess` outputs."""
    absent = [d for d in datasets if d not in parts]
    if absent:
        raise ValueError(f"merge needs the preprocessed file(s) of {', '.join(absent)}")
    # Peak memory: the concatenation and its shuffled copy (pass memory-mapped parts to hold no third).
    train = SplitArrays.concat([parts[d]["train"] for d in datasets])
    order = np.random.default_rng(seed).permutation(len(train))
    shuffled = train.take(order)
    del train
    merged = {"train": shuffled, "valid": SplitArrays.concat([parts[d]["valid"] for d in datasets])}
    for d in datasets:
        merged[f"test/{d}"] = parts[d]["test"]
    return merged
