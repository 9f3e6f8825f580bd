"""The paper's configuration end to end on local stand-ins (bench/standins.py, built once per session):
a t5-base-shaped checkpoint with a SentencePiece tokenizer and a SimCSE-shaped BERT.

The chain: tokenizer stage (copies the backbone's tokenizer) -> train (two steps, the paper's
trainable_blocks [-2, -1], learning rates 3e-4 / 1e-4 and contrastive weights 0.5) -> evaluate
(constrained and free) -> predict -> report; and the embed stage with the BERT and `pooling: pooler`
against the pooler output of a manual forward pass. Weights are random: what is checked is that
the real shapes, files and tokenizers go through every stage, not what the model predicts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from bench.standins import T5_EXTRA_IDS, write_simcse_bert, write_t5_base
from conftest import small_synthetic_params
from test_evaluate import DATASETS, rows
from tiny_training import FEATURE_DIM, LOADER, MODEL, TRAIN
from unimse_core.config import read_params
from unimse_core.evaluation import TABLE_COLUMNS
from unimse_core.io.hdf5 import SplitArrays, write_h5
from unimse_core.io.tables import read_table
from unimse_core.text import parse_target

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # t5-base forward passes on the CPU: about two minutes in all

# t5-base's config.json, by hand from the published model (not from the builder)
T5_BASE = {"vocab_size": 32128, "d_model": 768, "d_ff": 3072, "num_layers": 12, "num_decoder_layers": 12,
           "num_heads": 12, "d_kv": 64, "relative_attention_num_buckets": 32, "feed_forward_proj": "relu",
           "tie_word_embeddings": True, "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0}
TEXT = {"prefix": "sst2 sentence: ", "window": 2, "causal": False, "iemocap_context": "dialogue", "score_decimals": 2}


@pytest.fixture(scope="session")
def merged(tmp_path_factory) -> Path:
    """A merged file of a few rows of every dataset, with test groups."""
    folder = tmp_path_factory.mktemp("standin_inputs")
    groups = {"train": SplitArrays.concat([rows(d, 1, seed=k) for k, d in enumerate(DATASETS)]),
              "valid": SplitArrays.concat([rows(d, 1, seed=10 + k) for k, d in enumerate(DATASETS[:2])])}
    groups.update({f"test/{d}": rows(d, 1, seed=20 + k) for k, d in enumerate(DATASETS)})
    sources = {d: {"config": {"text": TEXT}, "sources": {}} for d in DATASETS}
    write_h5(folder / "merged.h5", groups, {"combination": "standins", "sources": sources})
    return folder / "merged.h5"


@pytest.fixture(scope="session")
def t5_base(tmp_path_factory, merged) -> Path:
    """The t5-base stand-in, sharded safetensors with an index file (about 0.9 GB)."""
    from unimse_core.io.hdf5 import read_h5

    train = read_h5(merged, "train")
    return write_t5_base(tmp_path_factory.mktemp("t5-base") / "t5-base", [*train.inputs, *train.targets],
                         max_shard_size="300MB")


def invoke(command, *args, ok: bool = True):
    result = CliRunner().invoke(command, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def chain_params(path: Path, backbone: Path) -> Path:
    params = read_params(ROOT / "params.yaml")
    params["model"] = {**MODEL, "backbone": str(backbone), "fusion_blocks": 3, "pmf_init": "random",
                       "contrastive_weight_audio": 0.5, "contrastive_weight_video": 0.5}
    params["train"] = {**TRAIN, "epochs": 1, "max_steps": 2, "trainable_blocks": [-2, -1], "lr_t5": 3e-4,
                       "lr_other": 1e-4, "max_new_tokens": 17}
    params["loader"] = {**LOADER, "batch_size": 2, "eval_batch_size": 4}
    params["evaluate"] = {"constrained": True, "max_new_tokens": 17, "device": "cpu", "bf16": False,
                          "deterministic": True, "cpu_threads": 1}
    params["text"] = dict(TEXT)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


# ----------------------------------------------------------------------------------------------
# the stand-ins themselves


def test_the_t5_stand_in_has_t5_base_config_sharded_weights_and_a_t5_sentencepiece_tokenizer(t5_base):
    from transformers import AutoTokenizer, T5ForConditionalGeneration, T5TokenizerFast

    config = json.loads((t5_base / "config.json").read_text())
    assert {k: config[k] for k in T5_BASE} == T5_BASE
    index = json.loads((t5_base / "model.safetensors.index.json").read_text())
    shards = set(index["weight_map"].values())
    assert len(shards) > 1 and all((t5_base / s).is_file() and s.endswith(".safetensors") for s in shards)
    assert not list(t5_base.glob("*.bin")) and not (t5_base / "model.safetensors").exists()
    assert (t5_base / "spiece.model").is_file()

    tokenizer = T5TokenizerFast.from_pretrained(t5_base)
    assert type(AutoTokenizer.from_pretrained(t5_base)) is type(tokenizer)
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    assert len(tokenizer) == 32000 + T5_EXTRA_IDS
    assert tokenizer.convert_tokens_to_ids(["<extra_id_0>", "<extra_id_99>"]) == [32099, 32000]
    pieces = tokenizer.convert_ids_to_tokens(tokenizer("neutral,0.5,joy,neutral")["input_ids"])
    assert pieces[0].startswith("▁") and pieces[-1] == "</s>" and "<unk>" not in pieces

    model = T5ForConditionalGeneration.from_pretrained(t5_base, local_files_only=True)
    assert model.lm_head.weight.data_ptr() == model.shared.weight.data_ptr()  # tied
    assert sum(p.numel() for p in model.parameters()) == 222_903_552  # t5-base's published count


def test_the_bert_stand_in_is_bert_base_uncased_shaped_with_a_pooler(tmp_path):
    from transformers import AutoModel, AutoTokenizer

    folder = write_simcse_bert(tmp_path / "bert", ["a tiny corpus"])
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["BertModel"]
    assert {k: config[k] for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                   "intermediate_size", "max_position_embeddings", "type_vocab_size")} == \
        {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
         "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2}
    vocab = (folder / "vocab.txt").read_text().splitlines()
    assert len(vocab) == 30522 and [vocab[i] for i in (0, 100, 101, 102, 103)] == \
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert tokenizer("A Tiny")["input_ids"] == [101, vocab.index("a"), vocab.index("tiny"), 102]
    model = AutoModel.from_pretrained(folder, local_files_only=True)
    assert model.pooler is not None
    assert sum(p.numel() for p in model.parameters()) == 109_482_240  # bert-base-uncased with its pooler


# ----------------------------------------------------------------------------------------------
# the chain


def test_the_paper_configuration_runs_through_every_stage(t5_base, merged, tmp_path):
    from stages.evaluate import command as evaluate
    from stages.predict import command as predict
    from stages.report import command as report
    from stages.tokenizer import command as tokenizer_stage
    from stages.train import command as train

    params = chain_params(tmp_path / "params.yaml", t5_base)
    invoke(tokenizer_stage, "--merged", merged, "--out", tmp_path / "tokenizer", "--params", params)
    assert (tmp_path / "tokenizer" / "tokenizer.json").read_text() == (t5_base / "tokenizer.json").read_text()

    invoke(train, "--merged", merged, "--tokenizer", tmp_path / "tokenizer", "--checkpoints", tmp_path / "ckpt",
           "--out", tmp_path / "selected", "--summary", tmp_path / "train.json", "--live", tmp_path / "live",
           "--params", params)
    summary = json.loads((tmp_path / "train.json").read_text())
    assert summary["steps"] == 2 and summary["epochs_run"] == 1
    # blocks 10 and 11 of both stacks: 4 x 2,359,296 (attention) + 2 x 2,359,296 (cross-attention)
    # + 4 x 4,718,592 (feed-forward) + layer norms 768 x (2 x 2 + 2 x 3); the rest are our modules
    t5_trainable = 4 * 2_359_296 + 2 * 2_359_296 + 4 * 4_718_592 + 768 * 10
    assert summary["trainable_parameters"] > t5_trainable
    ours = summary["trainable_parameters"] - t5_trainable
    assert summary["total_parameters"] == 222_903_552 + ours
    assert summary["optimizer_state_bytes"] >= 8 * summary["trainable_parameters"]
    assert summary["optimizer_state_bytes"] < 8 * summary["trainable_parameters"] + 4096

    for constrained, max_new_tokens in ((True, 17), (False, 6)):
        work = tmp_path / ("constrained" if constrained else "free")
        work.mkdir()
        run_params = yaml.safe_load(params.read_text())
        run_params["evaluate"].update(constrained=constrained, max_new_tokens=max_new_tokens)
        (work / "params.yaml").write_text(yaml.safe_dump(run_params))
        invoke(evaluate, "--model", tmp_path / "selected", "--merged", merged, "--predictions", work / "predictions",
               "--metrics", work / "test.json", "--params", work / "params.yaml")
        metrics = json.loads((work / "test.json").read_text())
        assert list(metrics) == list(DATASETS)
        for dataset in DATASETS:
            table = read_table(work / "predictions" / f"{dataset}.csv", TABLE_COLUMNS)
            if constrained:
                assert all(parse_target(g).valid for g in table["generated"]), table["generated"]
                assert metrics[dataset]["unparsable"] == 0
            else:
                assert metrics[dataset]["unparsable"] == sum(not parse_target(g).valid for g in table["generated"])

    result = invoke(predict, "--model", tmp_path / "selected", "--text", "what a good movie", "--json",
                    "--max-new-tokens", 17, "--params", params)
    label = json.loads(result.stdout.strip().splitlines()[-1])
    assert label["valid"] and label["constrained"]

    invoke(report, "--metrics", tmp_path / "constrained" / "test.json", "--train", tmp_path / "train.json",
           "--predictions", tmp_path / "constrained" / "predictions", "--figures", tmp_path / "figures",
           "--out", tmp_path / "report.md", "--params", params)
    text = (tmp_path / "report.md").read_text()
    assert f"| trainable_parameters | {summary['trainable_parameters']} |" in text
    assert f"| total_parameters | {summary['total_parameters']} |" in text


def test_the_embed_stage_with_the_simcse_stand_in_gives_the_pooler_output(small_release, tmp_path):
    import shutil

    from transformers import AutoModel, AutoTokenizer

    from stages.embed import command as embed
    from stages.fetch import command as fetch
    from unimse_core.io.embeddings import load_embeddings

    shutil.copytree(small_release, tmp_path / "synthetic")
    (tmp_path / "raw").mkdir()
    bert = write_simcse_bert(tmp_path / "bert", ["the movie was good"])
    params = small_synthetic_params()
    params["data"].update(source="synthetic", text_only=False)
    # batch_size 1: each sentence alone, unpadded, as the manual pass below
    params["embed"].update(encoder=str(bert), pooling="pooler", batch_size=1, max_length=32, device="cpu")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    invoke(fetch, "--synthetic-dir", tmp_path / "synthetic", "--synthetic-manifest",
           tmp_path / "synthetic" / "manifest.json", "--local-dir", tmp_path / "raw",
           "--manifest", tmp_path / "synthetic" / "manifest.json", "--report", tmp_path / "verified.json",
           "--params", tmp_path / "params.yaml")
    invoke(embed, "--report", tmp_path / "verified.json", "--out", tmp_path / "embeddings",
           "--params", tmp_path / "params.yaml")
    meta, matrix = load_embeddings(tmp_path / "embeddings")
    assert matrix.shape[1] == 768

    from unimse_core.corpus import build_corpus
    from unimse_core.release import label_tables

    corpus = build_corpus(label_tables(tmp_path / "verified.json", params["data"]["datasets"], text_only=False),
                          iemocap_other_codes=True)
    tokenizer = AutoTokenizer.from_pretrained(bert, local_files_only=True)
    model = AutoModel.from_pretrained(bert, local_files_only=True).eval()
    picks = np.random.default_rng(0).choice(len(corpus), size=12, replace=False)
    with torch.no_grad():
        for i in picks:
            inputs = tokenizer(corpus.text[i], truncation=True, max_length=32, return_tensors="pt")
            pooled = model(**inputs).pooler_output  # tanh(W h_[CLS] + b)
            expected = torch.nn.functional.normalize(pooled.float(), dim=1)[0].numpy()
            assert np.array_equal(matrix[i], expected), corpus.ids[i]
