"""The real MOSI, MOSEI and MELD texts (../shared/data) through fetch, embed, labels, preprocess and merge,
text-only, with the exact split counts of docs/raw-data.md. Skips where the data folder is absent."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bench.realtext import FILES  # raw-folder layout of docs/raw-data.md -> path in ../shared/data
from stages.embed import command as embed
from stages.fetch import command as fetch
from stages.labels import command as labels
from stages.merge import command as merge
from stages.preprocess import command as preprocess
from unimse_core.config import read_params
from unimse_core.io.hdf5 import list_groups, read_attrs, read_h5

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

SPLITS = ("train", "valid", "test")
COUNTS = {"mosi": {"train": 1284, "valid": 229, "test": 686},
          "mosei": {"train": 16326, "valid": 1871, "test": 4659},
          "meld": {"train": 9989, "valid": 1109, "test": 2610}}


def invoke(command, *args) -> None:
    result = CliRunner().invoke(command, [str(a) for a in args])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"


def test_real_texts_keep_the_exact_split_counts_through_preprocess_and_merge(shared_data, tmp_path):
    raw = tmp_path / "raw"
    for rel, source in FILES.items():
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data / source, raw / rel)
    params = read_params(ROOT / "params.yaml")
    params["data"].update(source="local", datasets=["mosi", "mosei", "meld"], text_only=True)
    params["embed"]["encoder"] = "tfidf"
    params["merge"]["combination"] = "moseld"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    p = tmp_path / "params.yaml"
    report = tmp_path / "verified.json"

    # the authors' manifest: its label entries carry the real files' hashes and split counts
    invoke(fetch, "--synthetic-dir", tmp_path / "unused", "--synthetic-manifest", tmp_path / "unused.json",
           "--local-dir", raw, "--manifest", ROOT / "manifests" / "authors.json", "--report", report, "--params", p)
    verified = json.loads(report.read_text())
    assert verified["ok"] and verified["text_only"] and verified["downloaded"] == []
    assert {f["status"] for f in verified["files"]} == {"ok"}  # hashes match the pinned ones
    assert len(verified["files"]) == len(FILES)
    for dataset, counts in COUNTS.items():
        assert verified["datasets"][dataset]["label_counts"] == counts

    invoke(embed, "--report", report, "--out", tmp_path / "embeddings", "--params", p)
    invoke(labels, "--report", report, "--embeddings", tmp_path / "embeddings", "--out", tmp_path / "labels",
           "--summary", tmp_path / "labels.json", "--params", p)
    summary = json.loads((tmp_path / "labels.json").read_text())
    assert summary["absent_datasets"] == []  # IEMOCAP is not listed, so the layout has no slot for it
    assert summary["rows"] == {d: sum(c.values()) for d, c in COUNTS.items()}

    for dataset, counts in COUNTS.items():
        out = tmp_path / "processed" / f"{dataset}.h5"
        invoke(preprocess, "--dataset", dataset, "--report", report, "--labels", tmp_path / "labels" / f"{dataset}.csv",
               "--out", out, "--params", p)
        assert list_groups(out) == list(SPLITS)
        ids = []
        for split in SPLITS:
            arrays = read_h5(out, split)
            assert len(arrays) == counts[split], (dataset, split)
            assert arrays.audio.shape == (0, 64) and arrays.video.shape == (0, 64)
            assert not arrays.audio_length.any() and not arrays.video_length.any()
            # the layout of data.datasets [mosi, mosei, meld]: polarity,score,meld_emotion (no IEMOCAP field)
            assert all(len(t.split(",")) == 3 for t in arrays.targets)
            assert all(i.startswith("sst2 sentence: ") for i in arrays.inputs)
            ids += arrays.ids
        assert len(ids) == len(set(ids)), dataset
        stats = read_attrs(out)["stats"]
        assert stats["text_only"] and stats["rows"] == counts
        assert stats["iemocap_slot_dropped"] == {} and stats["iemocap_slot_reset"] == {}
        if dataset == "meld":
            # Dialogue_ID_Utterance_ID repeats across the official splits: ids are split/dia_utt
            assert all(uid.split("/", 1)[0] in SPLITS for uid in ids)
            bare = [uid.split("/", 1)[1] for uid in ids]
            assert len(set(bare)) < len(bare)

    invoke(merge, "--processed", tmp_path / "processed", "--out", tmp_path / "merged.h5",
           "--summary", tmp_path / "merge.json", "--params", p)
    merged = tmp_path / "merged.h5"
    assert list_groups(merged) == ["train", "valid", "test/mosi", "test/mosei", "test/meld"]
    train, valid = read_h5(merged, "train"), read_h5(merged, "valid")
    assert len(train) == 1284 + 16326 + 9989
    assert len(valid) == 229 + 1871 + 1109
    assert train.dataset_counts() == {d: c["train"] for d, c in COUNTS.items()}
    assert len(set(train.ids)) == len(train)
    assert train.audio.shape == (0, 64) and train.video.shape == (0, 64)
    for dataset, counts in COUNTS.items():
        assert len(read_h5(merged, f"test/{dataset}")) == counts["test"]
    totals = json.loads((tmp_path / "merge.json").read_text())["totals"]
    assert totals == {"train": 27599, "valid": 3209, "test/mosi": 686, "test/mosei": 4659, "test/meld": 2610}


# ---- bench.realtext: the params variant and the pieces that need no training ----------------------

def test_the_realtext_variant_is_params_yaml_with_valid_overrides_only():
    from bench.realtext import REALTEXT, variant_params
    from unimse_core import config

    params = variant_params(7.5)
    base = read_params(ROOT / "params.yaml")
    groups = {"data": config.DataConfig, "embed": config.EmbedConfig, "merge": config.MergeConfig,
              "tokenizer": config.TokenizerConfig, "model": config.ModelConfig, "train": config.TrainConfig,
              "loader": config.LoaderConfig}
    assert set(REALTEXT) <= set(groups)
    for group, cls in groups.items():
        config.from_dict(cls, params[group], group)  # still loads: no unknown key, no bad value
    changed = {(g, k) for g in params for k in params[g] if params[g][k] != base[g][k]}
    assert changed <= {(g, k) for g, values in REALTEXT.items() for k in values} | {("train", "max_minutes")}
    assert params["train"]["max_minutes"] == 7.5 and params["data"]["text_only"] is True
    assert params["merge"]["combination"] == "moseld"


def test_baselines_read_the_utterance_out_of_the_model_input():
    from bench.realtext import utterance

    prefix = "sst2 sentence: "
    assert utterance(prefix + "it was great", prefix) == "it was great"
    assert utterance(prefix + "Joey Hi. </s> Ross Oh no! </s> Rachel Fine.", prefix) == "Ross Oh no!"
    assert utterance(prefix + "</s> Ross Oh no! </s>", prefix) == "Ross Oh no!"


def test_bench_realtext_skips_with_a_json_line_where_the_data_is_absent(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bench.realtext", "--data", str(tmp_path / "nowhere")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert "real data absent" in last["skipped"] and str(tmp_path / "nowhere" / "mosi" / "label.csv") in last["skipped"]
