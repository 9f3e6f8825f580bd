"""Stage `tokenizer`: the model's tokenizer, saved with save_pretrained.

`model.backbone: scratch` trains one on the merged training inputs and targets (`tokenizer`
params); any other backbone (a Hugging Face id or local folder) has its own tokenizer copied.
"""

from __future__ import annotations

from pathlib import Path

import click

from stages.common import PathOption, load_groups, params_option
from unimse_core.config import ModelConfig, TokenizerConfig
from unimse_core.io.atomic import atomic_dir
from unimse_core.io.errors import RawDataError
from unimse_core.io.hdf5 import read_h5
from unimse_core.tokenizer import load_tokenizer, train_tokenizer



@click.command()
@click.option("--merged", type=PathOption, required=True, help="merged HDF5 file (its training split)")
@click.option("--out", type=PathOption, required=True, help="tokenizer folder to write")
@params_option
def command(merged: Path, out: Path, params: Path) -> None:
    """Train the scratch tokenizer on the training texts, or copy the backbone's."""
    model, config = load_groups(params, model=ModelConfig, tokenizer=TokenizerConfig)
    try:
        if model.backbone == "scratch":
            train = read_h5(merged, "train")
            tokenizer = train_tokenizer([*train.inputs, *train.targets], config)
            source = f"trained on {len(train)} training inputs and targets"
        else:
            tokenizer = load_tokenizer(model.backbone)
            source = f"the tokenizer of {model.backbone}"
    except (RawDataError, OSError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    with atomic_dir(out) as tmp:
        tokenizer.save_pretrained(tmp)
    click.echo(f"tokenizer: {len(tokenizer)} tokens, {source} -> {out}")
