"""`unimse verify PATH...`: check files against a manifest and their structure, for humans.

A directory stands for the whole release in it; a file is matched to the manifest entry one of
whose accepted names it ends with. A file that no entry names is still checked as far as it can
be (`inspect_unlisted`: a pickle is loaded safely and read by the reader its structure fits).
Exits non-zero naming each problem.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from unimse_core.config import DATASETS
from unimse_core.io.errors import RawDataError
from unimse_core.io.manifest import read_manifest
from unimse_core.io.verification import with_problems
from unimse_core.release import Policies, inspect_unlisted, locate_paths, verify
from stages.console import print_report


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--manifest", type=click.Path(path_type=Path), default=Path("manifests/authors.json"),
              show_default=True, help="manifest to check against")
@click.option("--unmatched-ids", type=click.Choice(["report", "error"]), default="error", show_default=True,
              help="ids in a label table without features, or the reverse: count them, or fail")
@click.option("--text-only", is_flag=True, help="skip feature files")
@click.option("--padding", type=click.Choice(["auto", "left", "right"]), default="auto", show_default=True,
              help="padding side of the msa_features pickles (as features.padding)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def command(paths: tuple[Path, ...], manifest: Path, unmatched_ids: str, text_only: bool, padding: str,
            as_json: bool) -> None:
    """Check files against the manifest and their structure; fail naming each problem."""
    policies = Policies(unmatched_ids=unmatched_ids, padding=padding)
    try:
        release = read_manifest(manifest)
        located, unlisted = locate_paths(release, paths)
        report = verify(located, datasets=DATASETS, text_only=text_only, unmatched_ids=unmatched_ids,
                        policies=policies)
    except RawDataError as err:
        raise click.ClickException(str(err)) from None
    problems, records = [], []
    for path in unlisted:
        record, found = inspect_unlisted(path, policies)
        records.append(record)
        problems.extend(found)
    report = with_problems(report, problems, **({"unlisted": records} if records else {}))
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_report(report)
    if not report["ok"]:
        raise click.ClickException("\n".join(f"- {p}" for p in report["problems"]))
