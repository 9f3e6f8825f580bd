"""The report, its figures and the multi-seed aggregate, from hand-made files of the evaluate and
train stages' formats (metrics/test.json, predictions/<dataset>.csv, dvclive TSVs, summaries)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from stages.aggregate import command as aggregate_command
from stages.report import command as report_command
from unimse_core import plots
from unimse_core.config import read_params
from unimse_core.io.tables import write_table
from unimse_core.report import (PAPER, Run, aggregate, comparison, paper_differences, read_live, runs_from_exp_show,
                                select_seed_runs, summarize_seeds)

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

TEST_METRICS = {
    "mosi": {"MAE": 0.8, "Corr": 0.7, "Mult_acc_7": 0.4, "Mult_acc_5": 0.45, "Has0_acc_2": 0.75,
             "Has0_F1_score": 0.74, "Non0_acc_2": 0.76, "Non0_F1_score": 0.755, "unparsable": 2},
    "meld": {"acc": 0.6, "weighted_f1": 0.58, "unparsable": 1},
}
COLUMNS = ("id", "input", "target", "generated", "polarity", "score", "meld_emotion", "iemocap_emotion")


def prediction_table(path: Path, dataset: str, generated: list[str], prediction: list[str], gold: list[str]) -> None:
    n = len(gold)
    write_table(path, {"id": [f"{dataset}_{i}" for i in range(n)], "input": ["sst2 sentence: hi"] * n,
                       "target": ["positive,1.0,joy,joy"] * n, "generated": generated,
                       "polarity": [""] * n, "score": [""] * n, "meld_emotion": [""] * n,
                       "iemocap_emotion": [""] * n, "prediction": prediction, "gold": gold})


def write_run(root: Path, source: str = "synthetic") -> dict[str, Path]:
    """A finished run's files in the evaluate/train/labels/merge formats."""
    (root / "metrics").mkdir(parents=True)
    (root / "metrics" / "test.json").write_text(json.dumps(TEST_METRICS))
    (root / "metrics" / "train.json").write_text(json.dumps(
        {"select_on": "dev_metric", "best_epoch": 3, "best_select": 0.41, "epochs_run": 5, "steps": 60,
         "stopped_early": True, "train_rows": 1200, "dev_rows": 240, "world_size": 1,
         "dev": {"mosi": {"MAE": 0.9, "Mult_acc_7": 0.35, "unparsable": 0},
                 "meld": {"acc": 0.5, "weighted_f1": 0.47}}}))
    (root / "metrics" / "labels.json").write_text(json.dumps(
        {"encoder": {"encoder": "tfidf", "library": "scikit-learn"}, "neighbour_splits": ["train"],
         "pools": {"mosi": {"positive": 3, "negative": 2, "neutral": 1}},
         "status": {"mosi": {"score": {"own": 6, "matched": 0, "neutral": 0, "no_candidate": 0},
                             "meld_emotion": {"own": 0, "matched": 5, "neutral": 1, "no_candidate": 0}}},
         "cosine": {"mosi": {"meld_emotion": {"median": 0.31, "q05": 0.12, "q95": 0.52}}},
         "pool_polarity_mismatch": {"mosi": 0}, "empty_pools": [], "zero_vectors": 0}))
    (root / "metrics" / "merge.json").write_text(json.dumps(
        {"combination": "moseldmp", "datasets": ["mosi", "mosei", "meld", "iemocap"],
         "counts": {"train": {"mosi": 240, "meld": 320}, "valid": {"mosi": 60, "meld": 60},
                    "test/mosi": {"mosi": 4}, "test/meld": {"meld": 5}},
         "totals": {"train": 560, "valid": 120, "test/mosi": 4, "test/meld": 5}}))
    predictions = root / "predictions"
    prediction_table(predictions / "mosi.csv", "mosi", ["positive,1.2,joy,joy", "x", "negative,-2.0,anger,anger", ""],
                     ["1.2", "", "-2.0", ""], ["1.0", "0.5", "-2.4", "0.0"])
    prediction_table(predictions / "meld.csv", "meld", ["a,0,joy,joy"] * 5, ["joy", "joy", "", "neutral", "anger"],
                     ["joy", "neutral", "joy", "neutral", "anger"])
    metrics_dir = root / "dvclive" / "plots" / "metrics"
    for name, rows in {"train/loss": [(5, 2.0), (10, 1.5), (15, 1.2)], "dev/loss": [(8, 1.8), (16, 1.4)],
                       "dev/select": [(8, 0.3), (16, 0.41)], "dev/mosi/Mult_acc_7": [(8, 0.25), (16, 0.35)],
                       "dev/meld/weighted_f1": [(8, 0.4), (16, 0.47)]}.items():
        path = metrics_dir / f"{name}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        column = name.rsplit("/", 1)[-1]
        path.write_text(f"step\t{column}\n" + "".join(f"{s}\t{v}\n" for s, v in rows))
    params = read_params(ROOT / "params.yaml")
    params["data"]["source"] = source
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return {"metrics": root / "metrics" / "test.json", "train": root / "metrics" / "train.json",
            "labels": root / "metrics" / "labels.json", "merge": root / "metrics" / "merge.json",
            "predictions": predictions, "live": root / "dvclive", "params": root / "params.yaml"}


def run_report(files: dict[str, Path], root: Path, ok: bool = True, **only):
    args = ["--metrics", files["metrics"], "--figures", root / "reports" / "figures",
            "--out", root / "reports" / "report.md", "--params", files["params"]]
    for option, key in (("--train", "train"), ("--labels-summary", "labels"), ("--merge-summary", "merge"),
                        ("--predictions", "predictions"), ("--live", "live")):
        if only.get(key, True):
            args += [option, files[key]]
    result = CliRunner().invoke(report_command, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result


def table_row(text: str, *cells: str) -> bool:
    return ("| " + " | ".join(cells) + " |") in text


# ----------------------------------------------------------------------------------------------
# the report


def test_report_puts_ours_beside_the_papers_numbers_on_the_same_scale(tmp_path):
    files = write_run(tmp_path)
    run_report(files, tmp_path)
    text = (tmp_path / "reports" / "report.md").read_text()
    # ours 0.4 -> 40.00 %; the paper's 48.68 %; delta in points
    assert table_row(text, "MOSI", "Acc-7", "40.00", "48.68", "-8.68")
    assert table_row(text, "MOSI", "MAE (lower is better)", "0.800", "0.691", "+0.109")
    assert table_row(text, "MOSI", "Corr", "0.700", "0.809", "-0.109")
    assert table_row(text, "MOSI", "Acc-2 non-0", "76.00", "86.90", "-10.90")
    assert table_row(text, "MOSI", "F1 has-0", "74.00", "85.83", "-11.83")
    assert table_row(text, "MOSI", "Acc-5", "45.00", "—", "—")  # not reported by the paper
    assert table_row(text, "MELD", "Acc", "60.00", "65.09", "-5.09")
    assert table_row(text, "MELD", "weighted F1", "58.00", "65.51", "-7.51")
    # not evaluated in this run: the paper's rows stay, ours is absent
    assert table_row(text, "MOSEI", "MAE (lower is better)", "—", "0.523", "—")
    assert table_row(text, "IEMOCAP", "weighted F1", "—", "70.66", "—")
    # every number of the paper (docs/results.md) is in the report
    for dataset, metrics in PAPER.items():
        for metric, value in metrics.items():
            assert (f"{value:.3f}" if metric in ("MAE", "Corr") else f"{value:.2f}") in text, (dataset, metric)


def test_report_sections_seed_counts_labels_unparsable(tmp_path):
    files = write_run(tmp_path)
    run_report(files, tmp_path)
    text = (tmp_path / "reports" / "report.md").read_text()
    assert "train.seed 0" in text
    assert table_row(text, "MOSI", "2", "4", "50.0%")  # unparsable of the 4 rows of predictions/mosi.csv
    assert table_row(text, "MELD", "1", "5", "20.0%")
    assert table_row(text, "MOSI", "240", "60", "4")  # dataset sizes from the merge summary
    assert table_row(text, "MOSI", "meld_emotion", "0", "5", "1", "0", "0.310 [0.120, 0.520]")
    assert table_row(text, "best_epoch", "3")
    assert table_row(text, "MOSI", "Acc-7", "35.00")  # dev metric of the selected checkpoint
    assert "```yaml\ndata:\n  source: synthetic" in text
    # the versions of the packages that can change a number, from this environment's metadata
    from importlib.metadata import version
    assert table_row(text, "torch", version("torch")) and table_row(text, "scikit-learn", version("scikit-learn"))
    assert table_row(text, "transformers", version("transformers")) and table_row(text, "dvc", version("dvc"))
    assert "seconds" not in text  # no wall-clock time in a tracked output


def test_synthetic_banner_only_for_synthetic_data(tmp_path):
    synthetic, local = tmp_path / "synthetic", tmp_path / "local"
    result = run_report(write_run(synthetic), synthetic)
    assert "SYNTHETIC DATA" in (synthetic / "reports" / "report.md").read_text()
    assert "not comparable" in result.output  # the terminal says so too
    result = run_report(write_run(local, source="local"), local)
    assert "SYNTHETIC DATA" not in (local / "reports" / "report.md").read_text()
    assert "not comparable" not in result.output


def test_figure_links_point_at_written_pngs(tmp_path):
    files = write_run(tmp_path)
    run_report(files, tmp_path)
    report = tmp_path / "reports" / "report.md"
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report.read_text())
    assert sorted(Path(link).name for link in links) == [
        "confusion_meld.png", "curves_dev.png", "curves_loss.png", "scatter_mosi.png"]
    for link in links:
        assert not Path(link).is_absolute() and link.startswith("figures/")
        png = report.parent / link
        assert png.stat().st_size > 1000 and png.read_bytes()[:8] == PNG_MAGIC


def test_report_with_metrics_only_and_stale_figures_removed(tmp_path):
    files = write_run(tmp_path)
    run_report(files, tmp_path)
    assert (tmp_path / "reports" / "figures" / "scatter_mosi.png").exists()
    run_report(files, tmp_path, train=False, labels=False, merge=False, predictions=False, live=False)
    text = (tmp_path / "reports" / "report.md").read_text()
    assert table_row(text, "MOSI", "Acc-7", "40.00", "48.68", "-8.68")
    assert "## Training" not in text and "No figure" in text
    assert list((tmp_path / "reports" / "figures").iterdir()) == []


def test_report_names_a_missing_input(tmp_path):
    files = write_run(tmp_path)
    files["train"] = tmp_path / "absent.json"
    result = run_report(files, tmp_path, ok=False)
    assert result.exit_code != 0 and "absent.json: file not found" in result.output
    assert not (tmp_path / "reports" / "report.md").exists()


def test_paper_differences():
    params = read_params(ROOT / "params.yaml")
    params["model"]["backbone"] = "/models/t5-base/"
    params["embed"]["encoder"] = "princeton-nlp/sup-simcse-bert-base-uncased"
    params["labels"]["neighbour_splits"] = ["test", "train", "valid"]
    keys = {key for key, _, _ in paper_differences(params)}
    assert {"data.source", "model.pmf_init", "model.contrastive_weight_audio"} <= keys
    assert not keys & {"model.backbone", "embed.encoder", "labels.neighbour_splits", "merge.combination"}


def test_comparison_rows_scale():
    rows = {(r.dataset, r.metric): r for r in comparison({"iemocap": {"acc": 0.7056, "weighted_f1": float("nan")},
                                                          "meld": {"acc": None}})}
    assert rows["iemocap", "acc"].ours == pytest.approx(70.56) and rows["iemocap", "acc"].delta == pytest.approx(0)
    assert rows["iemocap", "weighted_f1"].delta is None
    assert math.isnan(rows["meld", "acc"].ours) and rows["meld", "weighted_f1"].ours is None  # null: NaN; absent
    assert rows["mosi", "MAE"].ours is None and rows["mosi", "MAE"].paper == 0.691
    assert ("mosi", "Mult_acc_5") not in rows  # neither ours nor the paper's


# ----------------------------------------------------------------------------------------------
# figures


def test_confusion_matrix_by_hand():
    counts, rows, columns = plots.confusion_matrix(["a", "b", "", "a", None], ["a", "a", "b", "b", "b"], ["a", "b"])
    assert rows == ["a", "b"] and columns == ["a", "b", "(unparsable)"]
    assert counts.tolist() == [[1, 1, 0], [1, 0, 2]]
    assert plots.row_normalise(np.array([[1, 3], [0, 0]])).tolist() == [[0.25, 0.75], [0.0, 0.0]]
    assert plots.confusion_matrix(["a"], ["a"], ["a", "b"])[2] == ["a", "b"]  # no unparsable column
    with pytest.raises(ValueError, match="outside the class list"):
        plots.confusion_matrix(["a"], ["z"], ["a", "b"])


def test_pngs_are_written_and_not_empty(tmp_path):
    counts, rows, columns = plots.confusion_matrix(["joy", "anger", ""], ["joy", "joy", "anger"], ["joy", "anger"])
    written = [
        plots.save_confusion(counts, rows, columns, tmp_path / "c.png", title="confusion"),
        plots.save_scatter([0.5, float("nan"), -4.2], [1.0, 0.0, -3.0], tmp_path / "s.png", title="scatter"),
        plots.save_curves({"train/loss": ([1, 2, 3], [3.0, 2.0, 1.5])}, tmp_path / "l.png", title="l", ylabel="loss"),
    ]
    for path in written:
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "l.png", "s.png"]  # no temporary file left


def test_read_live(tmp_path):
    files = write_run(tmp_path)
    curves = read_live(files["live"])
    assert set(curves) == {"train/loss", "dev/loss", "dev/select", "dev/mosi/Mult_acc_7", "dev/meld/weighted_f1"}
    steps, values = curves["train/loss"]
    assert steps.tolist() == [5, 10, 15] and values.tolist() == [2.0, 1.5, 1.2]


# ----------------------------------------------------------------------------------------------
# several seeds

# MOSI Acc-7 0.40, 0.46, 0.49: mean 0.45; deviations -0.05, 0.01, 0.04; sum of squares 0.0042;
# sample variance 0.0042 / 2 = 0.0021; std sqrt(0.0021) = 0.0458258. MAE 0.8, 0.9, 1.0: mean 0.9, std 0.1.
SEED_METRICS = [
    {"mosi": {"MAE": 0.8, "Mult_acc_7": 0.40, "unparsable": 0}, "meld": {"acc": 0.5, "weighted_f1": 0.4}},
    {"mosi": {"MAE": 0.9, "Mult_acc_7": 0.46, "unparsable": 3}, "meld": {"acc": 0.5, "weighted_f1": 0.4}},
    {"mosi": {"MAE": 1.0, "Mult_acc_7": 0.49, "unparsable": 0}},
]


def test_aggregate_by_hand():
    summary = aggregate(SEED_METRICS)
    assert summary["mosi"]["Mult_acc_7"].mean == pytest.approx(0.45)
    assert summary["mosi"]["Mult_acc_7"].std == pytest.approx(math.sqrt(0.0021))
    assert summary["mosi"]["MAE"].mean == pytest.approx(0.9) and summary["mosi"]["MAE"].std == pytest.approx(0.1)
    assert summary["mosi"]["unparsable"].mean == pytest.approx(1.0)
    assert summary["meld"]["acc"].n == 2 and summary["meld"]["acc"].std == 0.0  # missing in the third run
    assert summary["mosi"]["Mult_acc_7"].n == 3
    one = summarize_seeds([0.3, float("nan")])
    assert (one.mean, one.n) == (0.3, 1) and math.isnan(one.std)


def test_aggregate_command_on_metrics_files(tmp_path):
    paths = []
    for i, metrics in enumerate(SEED_METRICS):
        paths.append(tmp_path / f"seed{i}.json")
        paths[-1].write_text(json.dumps(metrics))
    out, out_json = tmp_path / "reports" / "seeds.md", tmp_path / "reports" / "seeds.json"
    result = CliRunner().invoke(aggregate_command, [*map(str, paths), "--out", str(out), "--json", str(out_json)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert table_row(text, "MOSI", "Acc-7", "45.00", "4.58", "3", "48.68")
    assert table_row(text, "MOSI", "MAE (lower is better)", "0.900", "0.100", "3", "0.691")
    assert table_row(text, "MELD", "Acc", "50.00", "0.00", "2", "65.09")
    assert "ddof = 1" in text
    data = json.loads(out_json.read_text())
    assert data["ddof"] == 1 and data["n_runs"] == 3
    assert data["metrics"]["mosi"]["Mult_acc_7"]["std"] == pytest.approx(0.0458258, abs=1e-7)


def exp_state(rev: str, name: str | None, seed: int, metrics: dict | None, other: int = 1) -> dict:
    data = {"rev": rev, "timestamp": "2026-01-01T00:00:00",
            "params": {"params.yaml": {"data": {"data": {"source": "synthetic"}, "train": {"seed": seed},
                                               "merge": {"seed": other}}}},
            "metrics": {} if metrics is None else {"metrics/test.json": {"data": metrics}},
            "deps": {}, "outs": {}, "meta": {}}
    return {"rev": rev, "name": name, "data": data, "error": None, "experiments": None}


def exp_show(*experiments: dict) -> list[dict]:
    """The shape of `dvc exp show --json` (DVC 3): the workspace, then the baseline with its experiments."""
    baseline = exp_state("a" * 40, "main", 0, SEED_METRICS[0])
    baseline["experiments"] = [{"revs": [e], "executor": None, "name": e["name"]} for e in experiments]
    return [exp_state("workspace", None, 2, SEED_METRICS[2]), baseline]


def test_runs_from_exp_show_checks_that_only_the_seed_differs():
    entries = exp_show(exp_state("b" * 40, "exp-one", 1, SEED_METRICS[1]),
                       exp_state("c" * 40, "exp-two", 2, SEED_METRICS[2]),
                       exp_state("d" * 40, "exp-again", 0, SEED_METRICS[0]), exp_state("e" * 40, "queued", 3, None))
    runs, skipped = runs_from_exp_show(entries)
    assert [r.name for r in runs] == ["main", "exp-one", "exp-two", "exp-again"]  # not the workspace
    assert skipped == ["queued: no metrics/test.json"]
    kept, notes = select_seed_runs(runs)
    assert [r.name for r in kept] == ["main", "exp-one", "exp-two"] and "exp-again" in notes[0]
    other = runs + [Run("exp-lr", SEED_METRICS[1], {**runs[1].params, "merge.seed": 7}, "f" * 40)]
    with pytest.raises(ValueError, match="merge.seed"):
        select_seed_runs(other)
    clash = runs + [Run("exp-clash", SEED_METRICS[2], runs[1].params, "f" * 40)]
    with pytest.raises(ValueError, match="different metrics"):
        select_seed_runs(clash)


def test_aggregate_command_on_exp_show(tmp_path):
    entries = exp_show(exp_state("b" * 40, "exp-one", 1, SEED_METRICS[1]),
                       exp_state("c" * 40, "exp-two", 2, SEED_METRICS[2]),
                       exp_state("d" * 40, "exp-other", 3, SEED_METRICS[2], other=9))
    (tmp_path / "exp.json").write_text(json.dumps(entries))
    out = tmp_path / "seeds.md"
    result = CliRunner().invoke(aggregate_command, ["--exp-json", str(tmp_path / "exp.json"), "--out", str(out)])
    assert result.exit_code != 0 and "merge.seed" in result.output
    result = CliRunner().invoke(aggregate_command, ["--exp-json", str(tmp_path / "exp.json"), "--out", str(out),
                                                    "--name", "main", "--name", "exp-one", "--name", "ccccccc"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert table_row(text, "MOSI", "Acc-7", "45.00", "4.58", "3", "48.68")
    assert table_row(text, "exp-two", "ccccccc", "2")
    assert "SYNTHETIC DATA" in text
    # `dvc exp show --json | unimse aggregate --exp-json - ...`
    result = CliRunner().invoke(aggregate_command, ["--exp-json", "-", "--out", str(out), "--name", "exp-other"],
                                input=json.dumps(entries))
    assert result.exit_code == 0, result.output
    assert table_row(out.read_text(), "MOSI", "Acc-7", "49.00", "—", "1", "48.68")


def test_aggregate_needs_exactly_one_input(tmp_path):
    result = CliRunner().invoke(aggregate_command, ["--out", str(tmp_path / "x.md")])
    assert result.exit_code != 0 and "either --exp-json" in result.output


def test_the_unparsable_section_names_how_each_evaluated_kind_is_scored():
    from unimse_core.report import ReportInputs, render_report

    both = render_report(ReportInputs(test=TEST_METRICS, params={"data": {"source": "local"}}))
    assert "they are scored as a neutral 0.0 (MOSI) or as wrong (MELD), never left out." in both
    emotion = render_report(ReportInputs(test={"meld": TEST_METRICS["meld"], "emorynlp": TEST_METRICS["meld"]},
                                         params={"data": {"source": "local"}}))
    assert "they are scored as wrong (MELD/EmoryNLP), never left out." in emotion
    assert "Paper: UniMSE trained on MOSELDMP (MOSI+MOSEI+MELD+IEMOCAP), single model." in emotion
