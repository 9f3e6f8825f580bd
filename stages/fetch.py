"""Stage `fetch`: make the raw release complete and trustworthy before anything reads it.

Picks the raw folder by `data.source`, downloads missing files that the manifest gives a URL for
(local source), verifies sizes, hashes and structure, and writes the verification report that
every later stage depends on. Fails, after writing the report, when it lists a problem. Reads
`data`, `fetch` and `features.padding` (the padding side it resolves is what preprocess removes).
"""

from __future__ import annotations

from pathlib import Path

import click

from stages.common import PathOption, load_groups, params_option
from unimse_core.config import DataConfig, FeaturesConfig, FetchConfig
from unimse_core.io.verification import fetch_report, write_report
from unimse_core.io.errors import RawDataError
from unimse_core.io.manifest import read_manifest
from unimse_core.release import Policies, fetch_missing, locate, verify
from stages.console import print_report



@click.command()
@click.option("--synthetic-dir", type=PathOption, required=True, help="raw folder written by `unimse synthesize`")
@click.option("--synthetic-manifest", type=PathOption, required=True, help="manifest written beside the synthetic data")
@click.option("--local-dir", type=PathOption, required=True, help="raw folder of the authors' files")
@click.option("--manifest", type=PathOption, required=True, help="manifest of the authors' release")
@click.option("--report", "report_path", type=PathOption, required=True, help="verification report to write (JSON)")
@params_option
def command(synthetic_dir: Path, synthetic_manifest: Path, local_dir: Path, manifest: Path,
            report_path: Path, params: Path) -> None:
    """Download missing raw files, verify hashes and structure, write the report."""
    data, cfg, features = load_groups(params, data=DataConfig, fetch=FetchConfig, features=FeaturesConfig)
    policies = Policies(unmatched_ids=cfg.unmatched_ids, padding=features.padding, score_tolerance=cfg.score_tolerance,
                        c1_controls=cfg.c1_controls)
    root, manifest_path = (synthetic_dir, synthetic_manifest) if data.source == "synthetic" else (local_dir, manifest)
    try:
        release = read_manifest(manifest_path)
        located = locate(release, root)
        fetched = []
        if data.source == "local":
            fetched = fetch_missing(located, datasets=data.datasets, text_only=data.text_only,
                                    timeout_s=cfg.timeout_s, retries=cfg.retries)
        report = verify(located, datasets=data.datasets, text_only=data.text_only, unmatched_ids=cfg.unmatched_ids,
                        policies=policies)
    except RawDataError as err:
        raise click.ClickException(str(err)) from None
    report = fetch_report(report, source=data.source, raw_dir=root, manifest_name=release.name,
                          manifest_path=manifest_path, text_only=data.text_only, downloaded=fetched)
    write_report(report_path, report)
    print_report(report)
    if not report["ok"]:
        raise click.ClickException(f"{len(report['problems'])} problem(s), listed in {report_path}")
