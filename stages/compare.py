"""Command `compare` (no DVC stage): run B against run A per dataset and metric, with a paired
bootstrap interval and p-value over test rows, and a test over seeds (docs/results.md, "Comparing runs").

Each side is one run or several (seeds): `unimse compare A B`, or `--a A1 --a A2 --b B1 --b B2`.
A run is a predictions folder (the evaluate stage's `<dataset>.csv` tables) or, when no such
folder exists, a git revision or DVC experiment name whose `--predictions-path` is read through
DVC (the DVC cache: no checkout). Writes the Markdown table (`--out`, and printed), the numbers
as JSON on the metrics files' scale (`--json`), and a PNG of the differences with their intervals
(`--figure`). The statistics are in unimse_core/compare.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from unimse_core.config import DATASETS
from unimse_core.io.atomic import write_json, write_text
from unimse_core.io.errors import RawDataError
from unimse_core.io.tables import read_table

PathOption = click.Path(path_type=Path)


@click.command()
@click.argument("runs", nargs=-1)
@click.option("--a", "a_refs", multiple=True, help="a run of side A (repeat for several seeds)")
@click.option("--b", "b_refs", multiple=True, help="a run of side B (repeat for several seeds)")
@click.option("--repo", type=PathOption, default=Path("."), show_default=True,
              help="the DVC repository revisions and experiments are read from")
@click.option("--predictions-path", default="predictions", show_default=True,
              help="the predictions folder inside the repository (dvc.yaml's evaluate --predictions)")
@click.option("--resamples", type=click.IntRange(min=100), default=10_000, show_default=True,
              help="bootstrap resamples of the test rows")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the resamples")
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True)
@click.option("--out", type=PathOption, default=None, help="the table to write (Markdown)")
@click.option("--json", "json_out", type=PathOption, default=None, help="the comparison as JSON")
@click.option("--figure", type=PathOption, default=None, help="PNG of the differences with their intervals")
def command(runs: tuple[str, ...], a_refs: tuple[str, ...], b_refs: tuple[str, ...], repo: Path,
            predictions_path: str, resamples: int, seed: int, confidence: float, out: Path | None,
            json_out: Path | None, figure: Path | None) -> None:
    """Compare two runs (or two sets of seeds): differences, paired-bootstrap intervals, p-values."""
    from unimse_core.compare import compare_dataset, sides
    from unimse_core.report import comparison_json, difference_panels, render_comparison

    if runs and (a_refs or b_refs):
        raise click.UsageError("give the two runs either as arguments (A B) or with --a/--b, not both")
    if runs:
        if len(runs) != 2:
            raise click.UsageError(f"expected two runs A B, got {len(runs)}; several seeds go with --a/--b")
        a_refs, b_refs = (runs[0],), (runs[1],)
    if not a_refs or not b_refs:
        raise click.UsageError("give two runs: `unimse compare A B`, or --a ... --b ...")
    tables = {ref: _read_run(ref, repo, predictions_path) for ref in dict.fromkeys((*a_refs, *b_refs))}
    datasets = [d for d in DATASETS if all(d in tables[r] for r in tables)]
    skipped = sorted({d for r in tables for d in tables[r]} - set(datasets))
    if not datasets:
        raise click.ClickException("the runs share no dataset: no predictions/<dataset>.csv common to all")
    results = []
    try:
        for dataset in datasets:
            a, b = sides(dataset, [tables[r][dataset] for r in a_refs], [tables[r][dataset] for r in b_refs],
                         a_refs, b_refs)
            results += compare_dataset(a, b, resamples=resamples, seed=seed, confidence=confidence)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    notes = [f"left out (not in every run): {', '.join(skipped)}"] if skipped else []
    text = render_comparison(results, a_refs, b_refs, resamples=resamples, seed=seed, confidence=confidence,
                             notes=notes)
    click.echo(text)
    if out is not None:
        write_text(out, text)
    if json_out is not None:
        write_json(json_out, comparison_json(results, a_refs, b_refs, resamples=resamples, seed=seed,
                                             confidence=confidence))
    if figure is not None:
        from unimse_core.plots import save_differences

        save_differences(difference_panels(results), figure,
                         title=f"B − A with {100 * confidence:g}% paired-bootstrap intervals (black: excludes 0)\n"
                               f"A: {', '.join(a_refs)}\nB: {', '.join(b_refs)}")


def _read_run(ref: str, repo: Path, predictions_path: str) -> dict[str, dict[str, list[str]]]:
    """{dataset: prediction table} of a predictions folder, or of a revision/experiment through DVC."""
    folder = Path(ref)
    try:
        if folder.is_dir():
            return {d: read_table(folder / f"{d}.csv", ("id", "prediction", "gold")) for d in DATASETS
                    if (folder / f"{d}.csv").is_file()}
        return _read_revision(ref, repo, predictions_path)
    except RawDataError as err:
        raise click.ClickException(str(err)) from None


def _read_revision(ref: str, repo: Path, predictions_path: str) -> dict[str, dict[str, list[str]]]:
    from dvc.api import DVCFileSystem

    try:
        fs = DVCFileSystem(str(repo), rev=ref)
        names = {Path(p).name for p in fs.ls(predictions_path, detail=False)}
    except Exception as err:  # dvc raises many kinds (unknown revision, not a repository, missing path)
        raise click.ClickException(f"{ref}: neither a predictions folder nor a revision or experiment of "
                                   f"{repo} with {predictions_path}/ ({type(err).__name__}: {err})") from None
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in DATASETS:
            if f"{dataset}.csv" not in names:
                continue
            local = Path(tmp) / f"{dataset}.csv"
            try:
                fs.get_file(f"{predictions_path}/{dataset}.csv", str(local))
            except Exception as err:
                raise click.ClickException(f"{ref}: {predictions_path}/{dataset}.csv cannot be read through DVC "
                                           f"(is it in the cache? `dvc pull`): {err}") from None
            table = read_table(local, ("id", "prediction", "gold"))
            out[dataset] = table
    return out
