"""Terminal rendering shared by the stage commands (rich tables), no logic of its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table


def print_report(report: Mapping[str, Any]) -> None:
    """The verification report as two tables: files, then datasets."""
    console = Console(stderr=True)
    files = Table(title="raw files", show_lines=False)
    for column in ("file", "status", "size", "sha256"):
        files.add_column(column)
    for f in report["files"]:
        files.add_row(f["path"], f["status"], "" if f["size"] is None else f"{f['size']:,}", (f["sha256"] or "")[:12])
    console.print(files)
    datasets = Table(title="datasets")
    for column in ("dataset", "labels (train/valid/test)", "features (train/valid/test)", "dims a/v",
                   "labels w/o features", "features w/o labels"):
        datasets.add_column(column)
    for name, d in report["datasets"].items():
        split = lambda counts: "/".join(str(n) for n in counts.values()) if counts else "-"  # noqa: E731
        dims = f"{d['audio_dim']}/{d['video_dim']}" if "audio_dim" in d else "-"
        datasets.add_row(name, split(d.get("label_counts")), split(d.get("feature_counts")), dims,
                         str(d.get("labels_without_features", "-")), str(d.get("features_without_labels", "-")))
    console.print(datasets)
    for line in policy_notes(report):
        console.print(f"[yellow]note[/yellow] {line}", highlight=False, markup=True)
    for problem in report["problems"]:
        console.print(f"[red]problem[/red] {problem}", highlight=False, markup=True)


def policy_notes(report: Mapping[str, Any]) -> list[str]:
    """One line per thing a policy let through (docs/raw-data.md, "Policies"), from the report."""
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
        if d.get("features_outside_classes"):
            notes.append(f"{name}: {d['features_outside_classes']} feature key(s) of rows outside the six classes")
        if d.get("reference_split_mismatch"):
            notes.append(f"{name}: {d['reference_split_mismatch']} utterance(s) in another split than the reference")
        if name == "iemocap" and d.get("split_source") == "reference":
            notes.append("iemocap: splits from the reference split (no feature file defines them)")
        for path, decoding in (d.get("decodings") or {}).items():
            if decoding["detected"] or decoding["c1_controls"]:
                notes.append(f"{name}: {path}: read as {decoding['encoding']}"
                             f"{' (detected)' if decoding['detected'] else ''}, {decoding['c1_controls']} C1 control "
                             f"character(s), {decoding['repaired']} repaired")
    return notes
