"""A raw release: download its missing files, verify them against the manifest (size, sha256),
then verify their structure.

The result is a report (plain JSON data) that every downstream stage reads to find its inputs: it
names the raw folder, the files of each dataset, their observed hashes, the per-split counts, the
feature widths and what did not match. `problems` lists everything that must stop the pipeline;
an empty list means the release is usable.
"""

from __future__ import annotations

import json

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from unimse_core.io import raw
from unimse_core.io.download import download
from unimse_core.io.errors import RawDataError
from unimse_core.io.manifest import SPLITS, FileCheck, Manifest, ManifestEntry, check_file

REPORT_SCHEMA = 1
LABEL_KINDS = ("msa_labels", "meld_labels", "iemocap_labels")
FEATURE_KINDS = ("msa_features", "erc_features")
EXAMPLES = 5  # unmatched ids quoted in the report, per direction


@dataclass(frozen=True)
class Located:
    """A manifest entry and the file on disk that should match it."""

    entry: ManifestEntry
    path: Path


def locate(manifest: Manifest, root: Path) -> list[Located]:
    return [Located(entry, root / entry.path) for entry in manifest.files]


def locate_paths(manifest: Manifest, paths: Iterable[Path]) -> tuple[list[Located], list[str]]:
    """Match files given by a user to manifest entries: a directory stands for the whole release in
    it, a file for the entry whose manifest path is a suffix of it. Returns the matches and problems."""
    located: list[Located] = []
    problems: list[str] = []
    for path in paths:
        if path.is_dir():
            located.extend(locate(manifest, path))
            continue
        matches = [e for e in manifest.files
                   if path.as_posix() == e.path or path.as_posix().endswith("/" + e.path)]
        if not matches:
            problems.append(f"{path}: not listed in manifest {manifest.name!r} "
                            f"(known files: {', '.join(e.path for e in manifest.files)})")
        else:
            located.append(Located(max(matches, key=lambda e: len(e.path)), path))
    return located, problems


def fetch_missing(located: Sequence[Located], *, datasets: Sequence[str], text_only: bool,
                  timeout_s: float, retries: int, progress: bool = True) -> list[str]:
    """Download every needed file that is absent and has a URL; return the paths downloaded."""
    fetched = []
    for item in located:
        entry = item.entry
        if entry.dataset not in datasets or (text_only and entry.kind in FEATURE_KINDS):
            continue
        if item.path.exists() or not entry.url:
            continue
        download(entry.url, item.path, expected_size=entry.size, timeout_s=timeout_s, retries=retries,
                 progress=progress)
        fetched.append(item.path.as_posix())
    return fetched


def _split_counts(splits: Sequence[str]) -> dict[str, int]:
    counts = Counter(splits)
    return {split: counts.get(split, 0) for split in SPLITS}


def _check_counts(located: Located, observed: dict[str, int], what: str) -> list[str]:
    expected = located.entry.splits
    if not expected:
        return []
    if located.entry.kind == "meld_labels" and located.entry.split:
        observed = {located.entry.split: observed.get(located.entry.split, 0)}
    return [f"{located.path}: split {split}: expected {n} {what}, found {observed.get(split, 0)}"
            for split, n in expected.items() if observed.get(split, 0) != n]


def _read_labels(dataset: str, files: list[Located]) -> raw.LabelTable:
    if dataset in ("mosi", "mosei"):
        (only,) = files
        return raw.read_msa_labels(only.path, dataset)
    if dataset == "meld":
        return raw.read_meld_labels({f.entry.split: f.path for f in files})
    (only,) = files
    return raw.read_iemocap_labels(only.path)


def _read_features(dataset: str, located: Located) -> raw.Features:
    if located.entry.kind == "msa_features":
        return raw.read_msa_features(located.path, dataset)
    return raw.read_erc_features(located.path, dataset)


def _verify_dataset(dataset: str, files: list[Located], *, text_only: bool,
                    unmatched_ids: Literal["report", "error"]) -> tuple[dict[str, Any], list[str]]:
    """Structure of one dataset's files (those present and intact) and their cross-check."""
    problems: list[str] = []
    summary: dict[str, Any] = {"labels": [f.path.as_posix() for f in files if f.entry.kind in LABEL_KINDS],
                               "features": None}
    label_files = [f for f in files if f.entry.kind in LABEL_KINDS]
    feature_files = [f for f in files if f.entry.kind in FEATURE_KINDS]
    labels = features = None
    if label_files:
        try:
            labels = _read_labels(dataset, label_files)
        except RawDataError as err:
            problems.append(str(err))
    if feature_files and not text_only:
        (feature_file,) = feature_files
        summary["features"] = feature_file.path.as_posix()
        try:
            features = _read_features(dataset, feature_file)
        except RawDataError as err:
            problems.append(str(err))
    if labels is not None:
        splits = labels.splits
        if dataset == "iemocap":
            # The csv has no split column and rows outside the six classes are not used: count the
            # six-class rows per split, the split coming from the features (or the session rule).
            labels = raw.assign_iemocap_splits(labels, features)
            splits = [split for split, used in zip(labels.splits, labels.in_classes) if used]
            summary["other_codes"] = dict(labels.other_codes)
        counts = _split_counts(splits)
        summary["label_counts"] = counts
        if not (dataset == "iemocap" and features is None):  # text-only IEMOCAP has no valid split
            for f in label_files:
                problems.extend(_check_counts(f, counts, "labelled utterances"))
    if features is not None:
        counts = _split_counts(features.splits)
        summary.update(layout=features.layout, padding=features.padding, feature_counts=counts,
                       audio_dim=features.audio_dim, video_dim=features.video_dim,
                       nan_frames=dict(features.nan_frames))
        problems.extend(_check_counts(feature_files[0], counts, "utterances with features"))
        empty = [split for split, n in counts.items() if n == 0]
        if empty:
            problems.append(f"{feature_files[0].path}: split(s) {', '.join(empty)} hold no utterance")
    if labels is not None and features is not None:
        match = raw.match_ids(labels, features)
        summary.update(
            matched_by=match.matched_by,
            labels_without_features=len(match.labels_without_features),
            features_without_labels=len(match.features_without_labels),
            split_mismatch=len(match.split_mismatch),
            examples={"labels_without_features": match.labels_without_features[:EXAMPLES],
                      "features_without_labels": match.features_without_labels[:EXAMPLES],
                      "split_mismatch": match.split_mismatch[:EXAMPLES]})
        where = f"{summary['features']} vs {', '.join(summary['labels'])}"
        if match.split_mismatch:
            problems.append(f"{where}: {len(match.split_mismatch)} id(s) in different splits, "
                            f"e.g. {match.split_mismatch[:EXAMPLES]}")
        if unmatched_ids == "error":
            if match.labels_without_features:
                problems.append(f"{where}: {len(match.labels_without_features)} labelled id(s) without "
                                f"features, e.g. {match.labels_without_features[:EXAMPLES]} "
                                "(fetch.unmatched_ids: report counts them instead)")
            if match.features_without_labels:
                problems.append(f"{where}: {len(match.features_without_labels)} feature id(s) without "
                                f"a label row, e.g. {match.features_without_labels[:EXAMPLES]} "
                                "(fetch.unmatched_ids: report counts them instead)")
    return summary, problems


def verify(located: Sequence[Located], *, datasets: Sequence[str], text_only: bool,
           unmatched_ids: Literal["report", "error"]) -> dict[str, Any]:
    """Check every located file, then the structure of each dataset; return the report."""
    files: list[dict[str, Any]] = []
    problems: list[str] = []
    intact: dict[str, list[Located]] = {}
    for item in located:
        entry = item.entry
        if entry.dataset not in datasets or (text_only and entry.kind in FEATURE_KINDS):
            continue
        check: FileCheck = check_file(entry, _root_of(item))
        files.append({"path": item.path.as_posix(), "dataset": entry.dataset, "kind": entry.kind,
                      "split": entry.split, "status": check.status, "size": check.size,
                      "sha256": check.sha256, "expected_sha256": entry.sha256})
        if check.status in ("ok", "recorded"):
            intact.setdefault(entry.dataset, []).append(item)
        else:
            problems.append(check.message)
    datasets_report: dict[str, Any] = {}
    for dataset in datasets:
        if dataset not in intact:
            continue
        summary, dataset_problems = _verify_dataset(dataset, intact[dataset], text_only=text_only,
                                                    unmatched_ids=unmatched_ids)
        datasets_report[dataset] = summary
        problems.extend(dataset_problems)
    return {"schema": REPORT_SCHEMA, "ok": not problems, "files": files, "datasets": datasets_report,
            "problems": problems}


def _root_of(item: Located) -> Path:
    """The raw folder that `item.path` lies in, given that it ends with the manifest path."""
    depth = len(Path(item.entry.path).parts)
    return item.path.parents[depth - 1]


def require_ok(report: Mapping[str, Any], source: str) -> None:
    """Downstream stages call this before reading any raw file the report names."""
    if not report.get("ok"):
        raise RawDataError(source, "the verification report lists problems; fix them and rerun "
                                   f"`unimse fetch`: {report.get('problems')}")


def dataset_sources(report: Mapping[str, Any], dataset: str) -> dict[str, str]:
    """path -> observed sha256 of every verified file of `dataset`: provenance for derived artifacts."""
    return {f["path"]: f["sha256"] for f in report["files"] if f["dataset"] == dataset}


def open_dataset(report: Mapping[str, Any], dataset: str, *, features: bool = True,
                 source: str = "verification report") -> tuple[raw.LabelTable, raw.Features | None]:
    """The label table of a verified dataset (IEMOCAP with its splits) and, unless `features` is
    False or the report is text-only, its features."""
    require_ok(report, source)
    if dataset not in report["datasets"]:
        raise RawDataError(source, f"dataset {dataset!r} was not verified (verified: "
                                   f"{', '.join(report['datasets']) or 'none'}); add it to data.datasets")
    entries = {f["path"]: f for f in report["files"] if f["dataset"] == dataset}
    summary = report["datasets"][dataset]
    label_files = [Located(ManifestEntry(path=p, dataset=dataset, kind=entries[p]["kind"], split=entries[p]["split"]),
                           Path(p)) for p in summary["labels"]]
    labels = _read_labels(dataset, label_files)
    feature_table = None
    if features and summary.get("features"):
        path = summary["features"]
        feature_table = _read_features(dataset, Located(ManifestEntry(path=path, dataset=dataset,
                                                                      kind=entries[path]["kind"]), Path(path)))
    if dataset == "iemocap":
        labels = raw.assign_iemocap_splits(labels, feature_table)
    return labels, feature_table


def label_tables(report_path: Path, datasets: Sequence[str], *, text_only: bool) -> dict[str, raw.LabelTable]:
    """The verified label tables of `datasets` (IEMOCAP's splits from its features unless text-only)."""
    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    return {d: open_dataset(report, d, features=(d == "iemocap" and not text_only), source=str(report_path))[0]
            for d in datasets}
