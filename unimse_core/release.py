"""A raw release: download its missing files, verify them against the manifest (size, sha256),
then verify their structure.

The result is a report (plain JSON data) that every downstream stage reads to find its inputs: it
names the raw folder, the files of each dataset, their observed hashes, the per-split counts, the
feature widths and what did not match. `problems` lists everything that must stop the pipeline;
an empty list means the release is usable.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from unimse_core import datasets as registry
from unimse_core.io import raw, verification
from unimse_core.io.download import download
from unimse_core.io.errors import RawDataError
from unimse_core.io.manifest import SPLITS, FileCheck, Manifest, ManifestEntry, check_file, sha256_file
from unimse_core.io.safe_pickle import load_pickle

LABEL_KINDS = tuple(dict.fromkeys(k for d in registry.REGISTRY.values() for k in d.label_kinds))
FEATURE_KINDS = tuple(dict.fromkeys(d.feature_kind for d in registry.REGISTRY.values() if d.feature_kind))
EXAMPLES = 5  # unmatched ids quoted in the report, per direction


@dataclass(frozen=True)
class Located:
    """A manifest entry and the file on disk that should match it (under any of its accepted names).

    `also_present` lists other accepted names of the entry that exist too: two copies of one file
    are ambiguous, and the verifier says so.
    """

    entry: ManifestEntry
    path: Path
    also_present: tuple[Path, ...] = ()


def locate(manifest: Manifest, root: Path) -> list[Located]:
    """Each entry's file in `root`: the first of its accepted names (ours, the authors', MMSA's) that exists."""
    located = []
    for entry in manifest.files:
        present = [root / name for name in entry.accepted_paths if (root / name).is_file()]
        located.append(Located(entry, present[0] if present else root / entry.path, tuple(present[1:])))
    return located


def locate_paths(manifest: Manifest, paths: Iterable[Path]) -> tuple[list[Located], list[Path]]:
    """Match files given by a user to manifest entries: a directory stands for the whole release in
    it, a file for the entry one of whose accepted names is a suffix of it. Returns the matches and
    the files that match no entry (`inspect_unlisted` checks what it can of those)."""
    located: list[Located] = []
    unlisted: list[Path] = []
    for path in paths:
        if path.is_dir():
            located.extend(locate(manifest, path))
            continue
        matches = [(len(name), e) for e in manifest.files for name in e.accepted_paths
                   if path.as_posix() == name or path.as_posix().endswith("/" + name)]
        if not matches:
            unlisted.append(path)
        else:
            located.append(Located(max(matches, key=lambda m: m[0])[1], path))
    return located, unlisted


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


def _count_differences(located: Located, observed: dict[str, int], what: str) -> list[dict[str, Any]]:
    """Where the observed counts differ from the manifest's expectations (its `splits`)."""
    expected = located.entry.splits
    if not expected:
        return []
    if located.entry.split:  # a file of one split (the others' rows are in the other files)
        observed = {located.entry.split: observed.get(located.entry.split, 0)}
    return [{"file": located.path.as_posix(), "split": split, "what": what, "expected": n,
             "found": observed.get(split, 0)} for split, n in expected.items() if observed.get(split, 0) != n]


@dataclass(frozen=True)
class Policies:
    """The params that decide what the verifier accepts (docs/raw-data.md, "Policies")."""

    unmatched_ids: Literal["report", "error"] = "error"
    padding: Literal["auto", "left", "right"] = "auto"
    score_tolerance: float = raw.SCORE_TOLERANCE
    c1_controls: raw.C1Policy = "keep"


def _read_labels(dataset: str, files: list[Located], encodings: Mapping[str, str | None],
                 c1_controls: raw.C1Policy) -> raw.LabelTable:
    return registry.get(dataset).read_labels(
        [registry.LabelFile(f.entry.split, f.path, encodings.get(f.path.as_posix())) for f in files], c1_controls)


def _read_features(dataset: str, located: Located, padding: str = "auto") -> raw.Features:
    spec = registry.get(dataset)
    if located.entry.kind != spec.feature_kind:
        raise RawDataError(located.path, f"the manifest lists it as {located.entry.kind} of {dataset}, but "
                                         f"{spec.title}'s feature file is of kind {spec.feature_kind}")
    return spec.read_features(located.path, padding)


def _where(summary: Mapping[str, Any]) -> str:
    return f"{summary['features']} vs {', '.join(summary['labels'])}"


def _verify_dataset(dataset: str, files: list[Located], *, text_only: bool, policies: Policies,
                    encodings: Mapping[str, str | None]) -> tuple[dict[str, Any], list[str]]:
    """Structure of one dataset's files (those present and intact) and their cross-check.

    What a policy let through is counted in the summary (and, where ids are involved, listed in
    full under `unmatched`); what it refuses is a problem naming the file, the record, what was
    expected and the param to set.
    """
    report_policy = policies.unmatched_ids == "report"
    hint = "(fetch.unmatched_ids: report counts them instead)"
    problems: list[str] = []
    summary: dict[str, Any] = {"labels": [f.path.as_posix() for f in files if f.entry.kind in LABEL_KINDS],
                               "features": None}
    label_files = [f for f in files if f.entry.kind in LABEL_KINDS]
    feature_files = [f for f in files if f.entry.kind in FEATURE_KINDS]
    labels = features = None
    differences: list[dict[str, Any]] = []
    if label_files:
        try:
            labels = _read_labels(dataset, label_files, encodings, policies.c1_controls)
        except RawDataError as err:
            problems.append(str(err))
    if feature_files and not text_only:
        (feature_file,) = feature_files
        summary["features"] = feature_file.path.as_posix()
        try:
            features = _read_features(dataset, feature_file, policies.padding)
        except RawDataError as err:
            problems.append(str(err))
    if labels is not None:
        summary["decodings"] = {path: d.to_json() for path, d in labels.decodings.items()}
        summary["c1_controls"] = policies.c1_controls
        splits = labels.splits
        labels, splits, split_problems = registry.get(dataset).verify_splits(
            summary, labels, features, report_policy=report_policy, hint=hint)
        problems.extend(split_problems)
        counts = _split_counts(splits)
        summary["label_counts"] = counts
        for f in label_files:
            differences.extend(_count_differences(f, counts, "labelled utterances"))
    if features is not None:
        counts = _split_counts(features.splits)
        summary.update(layout=features.layout, padding=features.padding, feature_counts=counts,
                       audio_dim=features.audio_dim, video_dim=features.video_dim,
                       nan_frames=dict(features.nan_frames))
        if features.layout in ("authors", "mmsa"):
            summary.update(padding_policy=policies.padding, padding_votes=dict(features.padding_votes),
                           padding_conflicts=len(features.padding_conflicts),
                           padding_conflict_rows=list(features.padding_conflicts))
        else:
            summary.update(modality_missing={s: dict(m) for s, m in features.modality_missing.items()},
                           modality_missing_examples={m: ids[:EXAMPLES]
                                                      for m, ids in features.modality_missing_ids.items()})
        differences.extend(_count_differences(feature_files[0], counts, "utterances with features"))
        empty = [split for split, n in counts.items() if n == 0]
        # a dataset whose labels hold no split falls back on its shipped split (docs/raw-data.md)
        if empty and not registry.get(dataset).reference_split:
            problems.append(f"{feature_files[0].path}: split(s) {', '.join(empty)} hold no utterance")
    summary["count_differences"] = differences
    if differences and not report_policy:
        problems.extend(f"{d['file']}: split {d['split']}: expected {d['expected']} {d['what']}, found {d['found']} "
                        f"(the manifest's count; {hint})" for d in differences)
    if labels is not None and features is not None:
        try:
            match = raw.match_ids(labels, features, policies.score_tolerance)
        except RawDataError as err:
            problems.append(str(err))
            return summary, problems
        _summarise_match(summary, labels, features, match, policies)
        problems.extend(_match_problems(summary, match, policies))
    return summary, problems


def _summarise_match(summary: dict[str, Any], labels: raw.LabelTable, features: raw.Features, match: raw.IdMatch,
                     policies: Policies) -> None:
    unmatched = summary.setdefault("unmatched", {})
    unmatched.update(labels_without_features=list(match.labels_without_features),
                     features_without_labels=list(match.features_without_labels))
    if labels.in_classes is not None:
        # keys of rows outside the classes (in_classes False): present in the pickle, never used
        rows = np.flatnonzero((match.feature_index >= 0) & ~labels.in_classes)
        unmatched["features_outside_classes"] = [labels.ids[i] for i in rows]
        summary["features_outside_classes"] = len(rows)
    summary.update(
        matched_by=match.matched_by,
        labels_without_features=len(match.labels_without_features),
        features_without_labels=len(match.features_without_labels),
        split_mismatch=len(match.split_mismatch),
        examples={"labels_without_features": match.labels_without_features[:EXAMPLES],
                  "features_without_labels": match.features_without_labels[:EXAMPLES],
                  "split_mismatch": match.split_mismatch[:EXAMPLES]})
    if registry.get(labels.dataset).kind == "score":
        summary["split_matching"] = dict(match.split_matching)
        summary["score_check"] = {"compared": match.score_compared, "mismatched": len(match.score_mismatch),
                                  "max_abs_diff": match.score_max_diff if np.isfinite(match.score_max_diff) else None,
                                  "tolerance": policies.score_tolerance,
                                  "examples": match.score_mismatch[:EXAMPLES]}


def _match_problems(summary: Mapping[str, Any], match: raw.IdMatch, policies: Policies) -> list[str]:
    problems = []
    where = _where(summary)
    if match.split_mismatch:
        problems.append(f"{where}: {len(match.split_mismatch)} id(s) in different splits, "
                        f"e.g. {match.split_mismatch[:EXAMPLES]}")
    if match.score_mismatch:
        problems.append(f"{where}: {len(match.score_mismatch)} of {match.score_compared} matched row(s) have a "
                        f"pickle label that differs from label.csv by more than {policies.score_tolerance:g} "
                        f"(largest difference {match.score_max_diff:g}), e.g. {match.score_mismatch[:EXAMPLES]}; "
                        "the rows are paired wrongly or the files are from different releases "
                        "(fetch.score_tolerance sets the tolerance)")
    if policies.unmatched_ids == "error":
        if match.labels_without_features:
            problems.append(f"{where}: {len(match.labels_without_features)} labelled id(s) without "
                            f"features, e.g. {match.labels_without_features[:EXAMPLES]} "
                            "(fetch.unmatched_ids: report counts them instead)")
        if match.features_without_labels:
            problems.append(f"{where}: {len(match.features_without_labels)} feature id(s) without "
                            f"a label row, e.g. {match.features_without_labels[:EXAMPLES]} "
                            "(fetch.unmatched_ids: report counts them instead)")
    return problems


def verify(located: Sequence[Located], *, datasets: Sequence[str], text_only: bool,
           unmatched_ids: Literal["report", "error"], policies: Policies | None = None) -> dict[str, Any]:
    """Check every located file, then the structure of each dataset; return the report.

    `policies` (default: the given `unmatched_ids`, auto padding, the default tolerance, C1
    controls kept) decide what passes; `unmatched_ids` overrides its field.
    """
    policies = dataclasses.replace(policies or Policies(), unmatched_ids=unmatched_ids)
    files: list[dict[str, Any]] = []
    problems: list[str] = []
    intact: dict[str, list[Located]] = {}
    encodings: dict[str, str | None] = {}
    for item in located:
        entry = item.entry
        if entry.dataset not in datasets or (text_only and entry.kind in FEATURE_KINDS):
            continue
        check: FileCheck = check_file(entry, _root_of(item), item.path)
        record = {"path": item.path.as_posix(), "dataset": entry.dataset, "kind": entry.kind,
                  "split": entry.split, "status": check.status, "size": check.size,
                  "sha256": check.sha256, "expected_sha256": entry.sha256}
        if item.path.as_posix() != (_root_of(item) / entry.path).as_posix():
            record["manifest_path"] = entry.path  # found under another accepted name
        if check.variant:
            record["variant"] = check.variant
        if check.encoding:
            record["encoding"] = check.encoding
        files.append(record)
        encodings[item.path.as_posix()] = check.encoding
        if item.also_present:
            problems.append(f"{item.path}: the same file is also present as "
                            f"{', '.join(p.as_posix() for p in item.also_present)} (accepted names of manifest "
                            f"entry {entry.path!r}); keep one")
        if check.passed:
            intact.setdefault(entry.dataset, []).append(item)
        else:
            problems.append(check.message)
    datasets_report: dict[str, Any] = {}
    for dataset in datasets:
        if dataset not in intact:
            continue
        summary, dataset_problems = _verify_dataset(dataset, intact[dataset], text_only=text_only,
                                                    policies=policies, encodings=encodings)
        datasets_report[dataset] = summary
        problems.extend(dataset_problems)
    return verification.checked(files, datasets_report, problems)


def _unlisted_readers() -> str:
    """Which label files `inspect_unlisted` can read, and which must be listed, from the registry."""
    readable: dict[str, list[str]] = {}
    for d in registry.REGISTRY.values():
        if d.unlisted_label_column:
            readable.setdefault(d.unlisted_label_column, []).append(d.title)
    listed = [d.title for d in registry.REGISTRY.values() if not d.unlisted_label_column]
    found = "; ".join(f"{'/'.join(titles)} by its column {column}" for column, titles in readable.items())
    return found + (f"; the label files of {', '.join(listed)} must be listed: add them to the manifest"
                    if listed else "")


def inspect_unlisted(path: Path, policies: Policies | None = None) -> tuple[dict[str, Any], list[str]]:
    """What can be checked of a file that no manifest entry names: a pickle is loaded with the
    restricted unpickler (never run) and read by the reader its structure fits; a CSV by the
    reader its header fits. Sizes and hashes cannot be checked (they are recorded)."""
    policies = policies or Policies()
    record: dict[str, Any] = {"path": path.as_posix(), "status": "unlisted"}
    if not path.is_file():
        return record, [f"{path}: missing (and not listed in the manifest)"]
    record.update(size=path.stat().st_size, sha256=sha256_file(path))
    name = path.as_posix().lower()
    # the registered names in the path, longest first (a name inside another loses to it)
    named = sorted((d for d in registry.NAMES if d in name), key=len, reverse=True)
    guess = named[0] if named else None

    def read_as(candidates: Sequence[str]) -> registry.Dataset:
        """The candidate the path names, else the first registered one."""
        return registry.get(next((d for d in named if d in candidates), candidates[0]))

    try:
        if path.suffix == ".pkl":
            data = load_pickle(path)
            # the MSA pickles are a dict of the three splits; the ERC ones are not (docs/raw-data.md)
            by_split = isinstance(data, dict) and all(split in data for split in SPLITS)
            kind = "msa_features" if by_split else "erc_features"
            dataset = read_as([d.name for d in registry.REGISTRY.values() if d.feature_kind == kind])
            features = dataset.read_features(path, policies.padding)
            record.update(kind=kind, read_as=dataset.name, layout=features.layout, padding=features.padding,
                          feature_counts=features.split_counts(), audio_dim=features.audio_dim,
                          video_dim=features.video_dim, modality_missing=features.modality_missing,
                          padding_conflicts=len(features.padding_conflicts))
        elif path.suffix == ".csv":
            header = path.read_bytes().split(b"\n", 1)[0].decode("utf-8", "replace")
            fits = [d.name for d in registry.REGISTRY.values()
                    if d.unlisted_label_column and d.unlisted_label_column in header]
            if not fits:
                return record, [f"{path}: not listed in the manifest, and its header {header.strip()[:80]!r} fits no "
                                f"label reader ({_unlisted_readers()})"]
            dataset = read_as(fits)
            table = dataset.with_splits(dataset.read_labels([registry.LabelFile(None, path)], policies.c1_controls),
                                        None)
            record.update(kind="labels", read_as=table.dataset, label_counts=table.split_counts(),
                          decodings={p: d.to_json() for p, d in table.decodings.items()})
        else:
            return record, [f"{path}: not listed in the manifest, and neither a .pkl nor a .csv: nothing to check"]
    except RawDataError as err:
        return record, [f"{err} (the file is not listed in the manifest; read as {guess or 'its structure suggests'})"]
    return record, []


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
    """The label table of a verified dataset (every split known: `Dataset.with_splits`)
    and, unless `features` is False or the report is text-only, its features."""
    require_ok(report, source)
    if dataset not in report["datasets"]:
        raise RawDataError(source, f"dataset {dataset!r} was not verified (verified: "
                                   f"{', '.join(report['datasets']) or 'none'}); add it to data.datasets")
    entries = {f["path"]: f for f in report["files"] if f["dataset"] == dataset}
    summary = report["datasets"][dataset]
    label_files = [Located(ManifestEntry(path=p, dataset=dataset, kind=entries[p]["kind"], split=entries[p]["split"]),
                           Path(p)) for p in summary["labels"]]
    encodings = {p: entries[p].get("encoding") for p in summary["labels"]}
    labels = _read_labels(dataset, label_files, encodings, summary.get("c1_controls", "keep"))
    feature_table = None
    if features and summary.get("features"):
        path = summary["features"]
        # the side the verifier resolved, so that every stage removes the same frames
        padding = summary.get("padding", "auto") if summary.get("padding") in ("left", "right") else "auto"
        feature_table = _read_features(dataset, Located(ManifestEntry(path=path, dataset=dataset,
                                                                      kind=entries[path]["kind"]), Path(path)), padding)
    return registry.get(dataset).with_splits(labels, feature_table), feature_table


def label_tables(report_path: Path, names: Sequence[str], *, text_only: bool) -> dict[str, raw.LabelTable]:
    """The verified label tables of `names` (a split read from the features unless text-only)."""
    report = verification.read_report(report_path)
    return {d: open_dataset(report, d, features=registry.get(d).splits_need_features and not text_only,
                            source=str(report_path))[0] for d in names}


def policy_notes(report: Mapping[str, Any]) -> list[str]:
    """One line per thing a policy let through (docs/raw-data.md, "Policies and where their counts appear"),
    read from a verification report: what `unimse fetch` prints and the run report lists."""
    notes = []
    for name, d in report.get("datasets", {}).items():
        for diff in d.get("count_differences", []):
            notes.append(f"{name}: {diff['file']} split {diff['split']}: {diff['found']} {diff['what']}, the manifest "
                         f"expects {diff['expected']}")
        for split, per in (d.get("modality_missing") or {}).items():
            for modality, n in per.items():
                if n:
                    notes.append(f"{name}: {split}: {n} utterance(s) without {modality} features (features.missing)")
        if d.get("padding_conflicts"):
            notes.append(f"{name}: {d['padding_conflicts']} row(s) contradict the padding side {d['padding']!r}, "
                         f"e.g. {d['padding_conflict_rows'][:3]}")
        for key, what in (("labels_without_features", "labelled utterance(s) without features"),
                          ("features_without_labels", "feature key(s) without a label row")):
            if d.get(key):
                notes.append(f"{name}: {d[key]} {what} (fetch.unmatched_ids)")
        if d.get("features_outside_classes"):
            notes.append(f"{name}: {d['features_outside_classes']} feature key(s) of rows outside the six classes")
        if d.get("reference_split_mismatch"):
            notes.append(f"{name}: {d['reference_split_mismatch']} utterance(s) in another split than the reference")
        if d.get("split_source") == "reference":
            notes.append(f"{name}: splits from the reference split (no feature file defines them)")
        for path, decoding in (d.get("decodings") or {}).items():
            if decoding["detected"] or decoding["c1_controls"]:
                notes.append(f"{name}: {path}: read as {decoding['encoding']}"
                             f"{' (detected)' if decoding['detected'] else ''}, {decoding['c1_controls']} C1 control "
                             f"character(s), {decoding['repaired']} repaired")
    return notes
