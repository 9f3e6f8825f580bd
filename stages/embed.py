"""Stage `embed`: one sentence embedding per utterance, for the universal-label transfer.

Kept apart from `labels` so that changing a transfer setting never re-encodes text. Embeds every
utterance that may take part in the transfer (IEMOCAP rows outside the six classes included when
they have text, so that `labels.iemocap_other_codes` can choose without re-encoding).
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from stages.common import PathOption, load_groups, params_option, timings_option, write_timings
from unimse_core.config import DataConfig, EmbedConfig, to_dict
from unimse_core.corpus import build_corpus
from unimse_core.encoders import EncoderUnavailable, describe, encode
from unimse_core.io.embeddings import save_embeddings
from unimse_core.io.errors import RawDataError
from unimse_core.release import label_tables



@click.command()
@click.option("--report", type=PathOption, required=True, help="verification report of the fetch stage")
@click.option("--out", type=PathOption, required=True, help="embeddings folder to write")
@timings_option
@params_option
def command(report: Path, out: Path, timings: Path | None, params: Path) -> None:
    """Encode every utterance with the sentence encoder of embed.encoder."""
    data, config = load_groups(params, data=DataConfig, embed=EmbedConfig)
    from unimse_core.determinism import pin_numerics  # imports torch: at run time only

    pin_numerics(config.deterministic, config.cpu_threads, device=config.device, group="embed")
    try:
        corpus = build_corpus(label_tables(report, data.datasets, text_only=data.text_only),
                              iemocap_other_codes=True)
        started = time.perf_counter()
        matrix = encode(corpus.text, config, ids=corpus.ids)
        seconds = time.perf_counter() - started
    except (RawDataError, EncoderUnavailable, ValueError) as err:
        raise click.ClickException(str(err)) from None
    save_embeddings(out, corpus.ids, corpus.dataset, matrix,
                    {"config": to_dict(config), "encoder": describe(config)})
    write_timings(timings, {"seconds": round(seconds, 3)})  # a time: never in the tracked index
    click.echo(f"embed: {len(corpus)} utterances -> {matrix.shape[1]}-d with {config.encoder} "
               f"in {seconds:.1f} s ({len(corpus) / max(seconds, 1e-9):.0f} sentences/s) -> {out}")
