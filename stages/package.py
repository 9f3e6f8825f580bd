"""Command `package` (no DVC stage): the selected model folder and its model card, as one folder ready
for `huggingface_hub`'s upload (`upload_folder`, or `push_to_hub`): every file of the model, and the
card as README.md.

The card is the report stage's `reports/model-card.md`, written from metrics/test.json; the model is
the train stage's `models/selected`. Neither stage writes into the other's output (DVC owns each
output whole), so the two meet here, in a folder of your choosing. The card's `unimse_run_id` must be
the model's run.json `run_id`: a card of another run is refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from unimse_core.io.atomic import atomic_dir
from unimse_core.io.model_folder import RUN_FILE, check_model_folder, read_run

PathOption = click.Path(path_type=Path)


@click.command()
@click.option("--model", "model_dir", type=PathOption, default=Path("models/selected"), show_default=True,
              help="the model folder (train stage --out)")
@click.option("--card", type=PathOption, default=Path("reports/model-card.md"), show_default=True,
              help="its model card (report stage --card)")
@click.option("--out", type=PathOption, required=True, help="the folder to write (replaced whole)")
def command(model_dir: Path, card: Path, out: Path) -> None:
    """Put the selected model and its model card (README.md) in one folder, ready to upload."""
    from unimse_core.report import RUN_ID_KEY, split_card

    try:
        check_model_folder(model_dir)
        text = card.read_text(encoding="utf-8")
        meta, _body = split_card(text)
    except FileNotFoundError as err:
        raise click.ClickException(f"{err.filename or err}: not found") from None
    except ValueError as err:
        raise click.ClickException(f"{card}: {err}") from None
    try:
        run = read_run(model_dir, required=True)
    except FileNotFoundError as err:
        raise click.ClickException(f"{err.filename}: not found") from None
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    if meta.get(RUN_ID_KEY) != run.get("run_id"):
        raise click.ClickException(f"{card}: describes run {meta.get(RUN_ID_KEY)!r}, but {model_dir / RUN_FILE} "
                                   f"is run {run.get('run_id')!r}; rerun the report stage (dvc repro report)")
    if out.resolve() == model_dir.resolve() or model_dir.resolve() in out.resolve().parents:
        raise click.UsageError("--out must be outside the model folder (DVC owns it)")
    with atomic_dir(out) as tmp:
        shutil.copytree(model_dir, tmp, dirs_exist_ok=True)
        (tmp / "README.md").write_text(text, encoding="utf-8")
    click.echo(f"package: {model_dir} + {card} -> {out} (README.md is the card)")
