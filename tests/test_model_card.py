"""The report's bootstrap interval beside each test metric, the model card (its YAML header parsed by
huggingface_hub as the Hub parses it) and `unimse package`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml
from click.testing import CliRunner

from stages.package import command as package
from test_report import TEST_METRICS, run_report, write_run
from unimse_core.metrics import classification_metrics
from unimse_core.report import split_card
from unimse_core.datasets.meld import EMOTIONS as MELD_EMOTIONS


def with_report_params(files: dict, **report) -> None:
    params = yaml.safe_load(files["params"].read_text())
    params["report"].update(report)
    files["params"].write_text(yaml.safe_dump(params, sort_keys=False))


def write_model_run(folder: Path, run_id: str = "run-0123456789abcdef") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps({"run_id": run_id, "versions": {"torch": "2.13.0"}, "configs": {}}))
    return folder


def test_the_report_shows_a_bootstrap_interval_beside_each_metric(tmp_path):
    files = write_run(tmp_path)
    with_report_params(files, bootstrap_resamples=300, bootstrap_seed=4, confidence=0.9)
    run_report(files, tmp_path)
    text = (tmp_path / "reports" / "report.md").read_text()
    assert "| dataset | metric | ours | paper | Δ | ours, 90% CI |" in text
    # MELD acc by a plain loop over the same seeded resamples of the 5 rows of predictions/meld.csv
    pred = ["joy", "joy", "<unparsable>", "neutral", "anger"]
    gold = ["joy", "neutral", "joy", "neutral", "anger"]
    rows = np.random.default_rng(4).integers(0, 5, size=(300, 5))
    accs = sorted(classification_metrics([pred[i] for i in r], [gold[i] for i in r], MELD_EMOTIONS)["acc"]
                  for r in rows)
    low, high = np.percentile(accs, [5, 95])
    assert f"| MELD | Acc | 60.00 | 65.09 | -5.09 | [{100 * low:.2f}, {100 * high:.2f}] |" in text
    # a metric with no prediction table has no interval
    assert "| MOSEI | MAE (lower is better) | — | 0.523 | — | — |" in text


def card_of(tmp_path: Path, source: str = "synthetic") -> tuple[str, dict]:
    files = write_run(tmp_path, source=source)
    model = write_model_run(tmp_path / "model")
    args = ["--metrics", files["metrics"], "--predictions", files["predictions"], "--train", files["train"],
            "--figures", tmp_path / "reports" / "figures", "--out", tmp_path / "reports" / "report.md",
            "--params", files["params"], "--model", model, "--card", tmp_path / "reports" / "model-card.md"]
    from stages.report import command as report_command

    result = CliRunner().invoke(report_command, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return (tmp_path / "reports" / "model-card.md").read_text(), files


def test_the_model_card_header_is_hugging_face_metadata_with_the_test_metrics(tmp_path):
    from huggingface_hub import ModelCard

    text, _files = card_of(tmp_path)
    card = ModelCard(text)
    data = card.data.to_dict()
    assert data["license"] == "mit" and data["library_name"] == "unimse"
    assert data["unimse_run_id"] == "run-0123456789abcdef"
    assert "synthetic-data" in data["tags"] and "synthetic-cmu-mosi" in data["datasets"]
    results = card.data.eval_results
    assert results, "model-index did not parse into evaluation results"
    by_name = {(r.dataset_type, r.metric_name): r.metric_value for r in results}
    # every number of the header is the value of metrics/test.json, unchanged (fractions)
    assert by_name[("synthetic-cmu-mosi", "Acc-7")] == TEST_METRICS["mosi"]["Mult_acc_7"]
    assert by_name[("synthetic-cmu-mosi", "MAE (lower is better)")] == TEST_METRICS["mosi"]["MAE"]
    assert by_name[("synthetic-meld", "weighted F1")] == TEST_METRICS["meld"]["weighted_f1"]
    assert len(results) == sum(len(v) - 1 for v in TEST_METRICS.values())  # all but `unparsable`
    assert {r.dataset_split for r in results} == {"test"}
    assert {r.metric_type for r in results} == {"mae", "pearsonr", "accuracy", "f1"}
    body = card.text
    for section in ("## Intended use", "## Training data and universal labels", "## Test results beside the paper's",
                    "## Deviations from the paper", "## Limitations"):
        assert section in body
    assert "SYNTHETIC" in body and "| MOSI | Acc-7 | 40.00 | 48.68 | -8.68 |" in body
    assert "`model.backbone`: scratch (paper: t5-base)" in body
    assert split_card(text)[0] == data


def test_a_card_on_the_real_data_names_the_datasets_plainly(tmp_path):
    text, _files = card_of(tmp_path, source="local")
    meta, body = split_card(text)
    assert meta["datasets"] == ["cmu-mosi", "cmu-mosei", "meld", "iemocap"] and "synthetic-data" not in meta["tags"]
    assert "SYNTHETIC" not in body


def test_package_puts_the_model_and_its_card_together(tmp_path):
    from test_evaluate import save_tiny_model
    from test_predict import TEXTS

    text, _files = card_of(tmp_path)
    model = save_tiny_model(tmp_path / "selected", TEXTS)
    write_model_run(model)
    card = tmp_path / "reports" / "model-card.md"
    result = CliRunner().invoke(package, ["--model", str(model), "--card", str(card), "--out", str(tmp_path / "up")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "up" / "README.md").read_text() == text
    assert sorted(p.name for p in model.iterdir()) == sorted(p.name for p in (tmp_path / "up").iterdir()
                                                             if p.name != "README.md")
    assert not (model / "README.md").exists()  # the train stage's output is left as it was
    write_model_run(model, run_id="another-run")
    result = CliRunner().invoke(package, ["--model", str(model), "--card", str(card), "--out", str(tmp_path / "up2")])
    assert result.exit_code != 0 and "another-run" in result.output and not (tmp_path / "up2").exists()


def test_the_report_group_is_checked_with_the_keys_name():
    from unimse_core.config import ConfigError, ReportConfig, load_config, read_params

    params = read_params(Path(__file__).resolve().parents[1] / "params.yaml")
    assert load_config(ReportConfig, "report", params).bootstrap_resamples >= 100
    import pytest

    for key, value, message in (("confidence", 1.0, "report.confidence: must be < 1"),
                                ("bootstrap_resamples", 10, "report.bootstrap_resamples: must be >= 100")):
        bad = {**params, "report": {**params["report"], key: value}}
        with pytest.raises(ConfigError, match=message):
            load_config(ReportConfig, "report", bad)


def _card(params: dict, run: dict | None, test: dict) -> tuple[str, dict]:
    from unimse_core.report import ReportInputs, render_model_card

    card = render_model_card(ReportInputs(test=test, params=params), run, "mit")
    return card, split_card(card)[0]


def test_a_card_of_a_run_with_emorynlp_describes_its_layout_and_names_it():
    params = {"data": {"source": "local", "datasets": ["mosi", "mosei", "meld", "iemocap", "emorynlp"]}}
    test = {"emorynlp": {"acc": 0.4, "weighted_f1": 0.38, "unparsable": 0}}
    card, meta = _card(params, {"run_id": "r" * 16, "label_layout": params["data"]["datasets"]}, test)
    assert "a universal label `polarity,score,meld_emotion,iemocap_emotion,emorynlp_emotion` for an utterance" in card
    assert ("Research on multimodal sentiment analysis (a score in [-3, 3], as CMU-MOSI/MOSEI) and emotion "
            "recognition in conversation (MELD's 7, IEMOCAP's 6 and EmoryNLP's 7 emotions) in English.") in card
    assert meta["datasets"] == ["cmu-mosi", "cmu-mosei", "meld", "iemocap", "emorynlp"]
    (result,) = meta["model-index"][0]["results"]
    assert result["task"]["name"] == "Emotion recognition in conversation"
    assert result["dataset"] == {"name": "EmoryNLP", "type": "emorynlp", "split": "test"}
    assert [m["value"] for m in result["metrics"]] == [0.4, 0.38]


def test_the_card_describes_the_models_layout_before_data_datasets():
    params = {"data": {"source": "local", "datasets": ["mosi", "mosei", "meld", "iemocap"]}}
    card, _ = _card(params, {"run_id": "r" * 16, "label_layout": ["mosei", "emorynlp"]}, {})
    assert "a universal label `polarity,score,emorynlp_emotion` for an utterance" in card
    assert ("Research on multimodal sentiment analysis (a score in [-3, 3], as CMU-MOSEI) and emotion recognition "
            "in conversation (EmoryNLP's 7 emotions) in English.") in card
    assert "--conversations emorynlp" in card
    # no dataset of the layout is under a signed licence agreement, none is named in the warning
    assert "- The corpora have their own licences; check them" in card
    card, _ = _card(params, {"run_id": "r" * 16}, {})  # a run.json written before the layout was recorded
    assert "a universal label `polarity,score,meld_emotion,iemocap_emotion` for an utterance" in card
    assert "--conversations meld" in card and "- IEMOCAP and the other corpora have their own licences" in card
    card, _ = _card({"data": {"datasets": ["mosi"]}}, None, {})
    assert "Research on multimodal sentiment analysis (a score in [-3, 3], as CMU-MOSI) in English." in card
    assert "--conversations" not in card
