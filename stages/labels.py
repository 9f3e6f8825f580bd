"""Stage `labels`: the universal labels (docs/labels.md), one auditable table per dataset.

Each table has the utterance's text, its universal label and, for every transferred slot, the
neighbour's id and cosine; the summary counts label values, slot statuses and cosine quantiles.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from stages.common import PathOption, load_groups, params_option
from unimse_core.config import DataConfig, LabelsConfig, to_dict
from unimse_core.corpus import build_corpus
from unimse_core.io.atomic import atomic_dir, write_json
from unimse_core.io.embeddings import load_embeddings
from unimse_core.io.errors import RawDataError
from unimse_core.io.universal_labels import write_universal_labels
from unimse_core.labels import LabelError, Samples, transfer, transfer_summary
from unimse_core.release import label_tables
from unimse_core.universal import LabelSchema



@click.command()
@click.option("--report", type=PathOption, required=True, help="verification report of the fetch stage")
@click.option("--embeddings", type=PathOption, required=True, help="folder written by the embed stage")
@click.option("--out", type=PathOption, required=True, help="folder of the per-dataset label tables")
@click.option("--summary", type=PathOption, required=True, help="label statistics to write (JSON)")
@params_option
def command(report: Path, embeddings: Path, out: Path, summary: Path, params: Path) -> None:
    """Transfer the missing label slots from nearest neighbours: the universal labels."""
    data, config = load_groups(params, data=DataConfig, labels=LabelsConfig)
    try:
        corpus = build_corpus(label_tables(report, data.datasets, text_only=data.text_only),
                              iemocap_other_codes=config.iemocap_other_codes == "include")
        index, matrix = load_embeddings(embeddings)
        row = {uid: i for i, uid in enumerate(index["ids"])}
        missing = [uid for uid in corpus.ids if uid not in row]
        if missing:
            raise RawDataError(embeddings, f"{len(missing)} utterance(s) have no embedding, e.g. {missing[:3]}; "
                                           "rerun the embed stage")
        rows = np.array([row[uid] for uid in corpus.ids], dtype=np.int64)
        samples = Samples(id=corpus.ids, dataset=corpus.dataset, split=corpus.split, sentiment=corpus.sentiment,
                          score=corpus.score, emotion=corpus.emotion)
        schema = LabelSchema.of(data.datasets)
        result = transfer(samples, matrix[rows], config, schema)
    except (RawDataError, LabelError) as err:
        raise click.ClickException(str(err)) from None
    text_of = dict(zip(corpus.ids, corpus.text))
    with atomic_dir(out) as tmp:
        for dataset in data.datasets:
            columns = result.columns(dataset)
            write_universal_labels(tmp / f"{dataset}.csv",
                                   {**columns, "text": [text_of[uid] for uid in columns["id"]]}, schema.slots)
    stats = transfer_summary(result)
    write_json(summary, {"config": to_dict(config), "encoder": index.get("encoder"), **stats})
    matched = {d: {slot: s.get("matched", 0) for slot, s in v.items()} for d, v in stats["status"].items()}
    click.echo(f"labels: {len(samples)} utterances, neighbours from {list(config.neighbour_splits)}; "
               f"matched slots {matched} -> {out}")
