"""Terminal rendering shared by the stage commands (rich tables), no logic of its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from unimse_core.release import policy_notes


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

