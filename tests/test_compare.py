"""The paired bootstrap of unimse_core/compare.py against independent computations: the scalar metrics
of unimse_core/metrics.py on each resample in a plain loop, cases whose answer is known (identical runs,
a constant shift), Welch's t worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unimse_core import compare
from unimse_core.compare import Scored, bootstrap_p, compare_dataset, interval, scored, welch
from unimse_core.metrics import batch_classification_metrics, batch_msa_metrics, classification_metrics, msa_metrics
from unimse_core.datasets.meld import EMOTIONS as MELD_EMOTIONS


def msa_case(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gold = np.round(rng.uniform(-3, 3, n) * 2) / 2  # many exact zeros and ties, as MOSI's labels
    gold[:3] = 0.0
    pred = np.clip(gold + rng.normal(0, 1.0, n), -3.4, 3.4)
    pred[5] = 0.0
    return pred, gold


def test_batched_msa_metrics_equal_the_scalar_ones_row_by_row():
    pred, gold = msa_case(40, 0)
    rows = np.random.default_rng(1).integers(0, 40, size=(60, 40))
    rows[0] = np.arange(40)
    rows[1] = 0  # a resample of one zero-label row: Non0 undefined, Corr undefined
    batch = batch_msa_metrics(pred[rows], gold[rows])
    for b in range(len(rows)):
        expected = msa_metrics(pred[rows[b]], gold[rows[b]])
        for metric, value in expected.items():
            got = batch[metric][b]
            assert (math.isnan(value) and math.isnan(got)) or got == pytest.approx(value, abs=1e-12), (metric, b)
    assert math.isnan(batch["Non0_acc_2"][1]) and batch["Corr"][1] == 0.0


def test_batched_class_metrics_equal_the_scalar_ones_with_unparsable_outputs():
    rng = np.random.default_rng(2)
    k = len(MELD_EMOTIONS)
    gold = rng.integers(0, k, 50)
    pred = np.where(rng.random(50) < 0.5, gold, rng.integers(-1, k, 50))  # -1: an output that did not parse
    rows = rng.integers(0, 50, size=(40, 50))
    batch = batch_classification_metrics(pred[rows], gold[rows], k)
    for b in range(len(rows)):
        labels = ["<unparsable>" if p < 0 else MELD_EMOTIONS[p] for p in pred[rows[b]]]
        expected = classification_metrics(labels, [MELD_EMOTIONS[g] for g in gold[rows[b]]], MELD_EMOTIONS)
        assert batch["acc"][b] == pytest.approx(expected["acc"], abs=1e-12)
        assert batch["weighted_f1"][b] == pytest.approx(expected["weighted_f1"], abs=1e-12)


def msa_scored(*preds: np.ndarray, gold: np.ndarray) -> Scored:
    return Scored("mosi", [str(i) for i in range(len(gold))], np.array(preds, dtype=np.float64), gold)


def test_the_bootstrap_equals_a_slow_loop_over_resamples(monkeypatch):
    n, resamples, seed = 25, 300, 7
    pa, gold = msa_case(n, 3)
    pb, _ = msa_case(n, 4)
    monkeypatch.setattr(compare, "CHUNK_VALUES", 7 * n * 2)  # chunks of 7 resamples: chunking changes nothing
    result = {c.metric: c for c in compare_dataset(msa_scored(pa, gold=gold), msa_scored(pb, gold=gold),
                                                   resamples=resamples, seed=seed, confidence=0.95)}
    rng = np.random.default_rng(seed)
    all_rows = rng.integers(0, n, size=(resamples, n))
    differences: dict[str, list[float]] = {}
    for rows in all_rows:
        a, b = msa_metrics(pa[rows], gold[rows]), msa_metrics(pb[rows], gold[rows])
        for metric in a:
            differences.setdefault(metric, []).append(b[metric] - a[metric])
    full_a, full_b = msa_metrics(pa, gold), msa_metrics(pb, gold)
    for metric, values in differences.items():
        values = [v for v in values if not math.isnan(v)]
        ordered = sorted(values)
        # numpy's default percentile: linear interpolation between order statistics
        def percentile(q):
            pos = q / 100 * (len(ordered) - 1)
            lo = math.floor(pos)
            return ordered[lo] + (ordered[min(lo + 1, len(ordered) - 1)] - ordered[lo]) * (pos - lo)
        below = sum(v <= 0 for v in values)
        above = sum(v >= 0 for v in values)
        p = min(1.0, 2 * min((1 + below) / (1 + len(values)), (1 + above) / (1 + len(values))))
        c = result[metric]
        assert c.difference == pytest.approx(full_b[metric] - full_a[metric], abs=1e-12)
        assert c.low == pytest.approx(percentile(2.5), abs=1e-12)
        assert c.high == pytest.approx(percentile(97.5), abs=1e-12)
        assert c.p_value == pytest.approx(p, abs=1e-12)


def test_identical_runs_differ_by_zero_with_p_one():
    pred, gold = msa_case(30, 5)
    for c in compare_dataset(msa_scored(pred, gold=gold), msa_scored(pred.copy(), gold=gold), resamples=500,
                             seed=0, confidence=0.95):
        assert (c.difference, c.low, c.high, c.p_value) == (0.0, 0.0, 0.0, 1.0), c.metric
    gold_k = np.arange(20) % 7
    same = Scored("meld", [str(i) for i in range(20)], np.array([(gold_k + 1) % 7]), gold_k)
    for c in compare_dataset(same, same, resamples=200, seed=1, confidence=0.95):
        assert (c.difference, c.low, c.high, c.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_a_constant_shift_comes_back_as_the_difference_with_a_tiny_p():
    rng = np.random.default_rng(6)
    gold = rng.uniform(-2, 2, 50)
    a, b = gold + 0.5, gold + 0.8  # every error positive: MAE is 0.5 and 0.8 on any resample
    resamples = 1000
    mae = {c.metric: c for c in compare_dataset(msa_scored(a, gold=gold), msa_scored(b, gold=gold),
                                                resamples=resamples, seed=0, confidence=0.95)}["MAE"]
    assert mae.a == pytest.approx(0.5) and mae.b == pytest.approx(0.8)
    assert mae.difference == pytest.approx(0.3) and mae.low == pytest.approx(0.3) and mae.high == pytest.approx(0.3)
    assert mae.p_value == pytest.approx(2 / (resamples + 1))


def test_the_percentile_interval_and_p_value_on_known_values():
    d = np.arange(1, 101, dtype=float)  # 1..100, all above 0
    assert interval(d, 0.9) == pytest.approx((np.percentile(d, 5), np.percentile(d, 95)))
    assert bootstrap_p(d) == pytest.approx(2 / 101)
    assert bootstrap_p(np.array([-1.0, 1.0, 2.0, 3.0])) == pytest.approx(2 * 2 / 5)


def test_welch_t_by_hand():
    a, b = [1.0, 2.0, 3.0, 4.0], [3.0, 5.0, 7.0]
    va, vb = np.var(a, ddof=1) / 4, np.var(b, ddof=1) / 3
    t = (np.mean(b) - np.mean(a)) / math.sqrt(va + vb)
    assert welch(a, b)[0] == pytest.approx(t)
    df = (va + vb) ** 2 / (va ** 2 / 3 + vb ** 2 / 2)
    from scipy.stats import t as student

    assert welch(a, b)[1] == pytest.approx(2 * student.sf(abs(t), df))
    assert math.isnan(welch([1.0], [2.0, 3.0])[0])


def test_seeds_per_side_give_means_stds_and_a_welch_test():
    pred, gold = msa_case(30, 8)
    a = msa_scored(pred + 0.1, pred - 0.1, gold=gold)
    b = msa_scored(pred + 0.3, pred + 0.2, pred, gold=gold)
    c = {c.metric: c for c in compare_dataset(a, b, resamples=200, seed=0, confidence=0.95)}["MAE"]
    runs_a = [msa_metrics(p, gold)["MAE"] for p in a.pred]
    runs_b = [msa_metrics(p, gold)["MAE"] for p in b.pred]
    assert c.a_runs == pytest.approx(runs_a) and c.b_runs == pytest.approx(runs_b)
    assert c.a == pytest.approx(np.mean(runs_a)) and c.b_std == pytest.approx(np.std(runs_b, ddof=1))
    assert c.welch_t == pytest.approx(welch(runs_a, runs_b)[0])
    single = {c.metric: c for c in compare_dataset(msa_scored(pred, gold=gold), b, resamples=50, seed=0,
                                                   confidence=0.95)}["MAE"]
    assert single.welch_p is None and single.a_std is None


def test_tables_are_aligned_by_id_and_must_hold_the_same_rows():
    first = {"id": ["x", "y", "z"], "prediction": ["1.0", "", "-2"], "gold": ["1.5", "0.0", "-1"]}
    second = {"id": ["z", "x", "y"], "prediction": ["0.5", "2.0", "nan"], "gold": ["-1", "1.5", "0.0"]}
    data = scored("mosi", [first, second], ["A", "B"])
    assert data.ids == ["x", "y", "z"]
    assert data.pred.tolist() == [[1.0, 0.0, -2.0], [2.0, 0.0, 0.5]]  # unparsable -> 0.0, as the metrics score it
    with pytest.raises(ValueError, match="B: mosi: not the test rows of A"):
        scored("mosi", [first, {**second, "id": ["z", "x", "w"]}], ["A", "B"])
    with pytest.raises(ValueError, match="id 'x' has gold"):
        scored("mosi", [first, {**second, "gold": ["-1", "1.0", "0.0"]}], ["A", "B"])
    meld = scored("meld", [{"id": ["a", "b"], "prediction": ["joy", ""], "gold": ["joy", "fear"]}], ["A"])
    assert meld.pred.tolist() == [[1, -1]] and meld.gold.tolist() == [1, 6]


def write_predictions(folder, mosi_pred, mosi_gold, meld_pred, meld_gold):
    from unimse_core.io.tables import write_table

    folder.mkdir(parents=True, exist_ok=True)
    write_table(folder / "mosi.csv", {"id": [f"m{i}" for i in range(len(mosi_gold))],
                                      "prediction": list(mosi_pred), "gold": list(mosi_gold)})
    write_table(folder / "meld.csv", {"id": [f"d{i}" for i in range(len(meld_gold))],
                                      "prediction": list(meld_pred), "gold": list(meld_gold)})
    return folder


def test_the_command_on_two_predictions_folders(tmp_path):
    import json

    from click.testing import CliRunner

    from stages.compare import command

    rng = np.random.default_rng(0)
    gold = [float(g) for g in np.round(rng.uniform(-3, 3, 40), 1)]
    emotions = [MELD_EMOTIONS[k] for k in rng.integers(0, 7, 30)]
    a = write_predictions(tmp_path / "a", [g + 0.5 for g in gold], gold, ["neutral"] * 30, emotions)
    b = write_predictions(tmp_path / "b", [g + 0.2 for g in gold], gold, emotions[:20] + ["neutral"] * 10, emotions)
    result = CliRunner().invoke(command, [str(a), str(b), "--resamples", "500", "--out", str(tmp_path / "c.md"),
                                          "--json", str(tmp_path / "c.json"), "--figure", str(tmp_path / "c.png")])
    assert result.exit_code == 0, result.output
    assert "| MOSI | MAE (lower is better) | 0.500 | 0.200 | -0.300 | [-0.300, -0.300] |" in result.output
    assert (tmp_path / "c.md").read_text() + "\n" == result.output  # the file is the table printed
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["resamples"] == 500 and data["difference"] == "b - a"
    assert data["metrics"]["mosi"]["MAE"]["difference"] == pytest.approx(-0.3)
    assert data["metrics"]["meld"]["acc"]["b"] > data["metrics"]["meld"]["acc"]["a"]
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    same = CliRunner().invoke(command, [str(a), str(a), "--resamples", "200"])
    assert same.exit_code == 0 and "| +0.000 | [+0.000, +0.000] | 1.0000 |" in same.output
    seeds = CliRunner().invoke(command, ["--a", str(a), "--a", str(b), "--b", str(b), "--b", str(b),
                                         "--resamples", "200"])
    assert seeds.exit_code == 0, seeds.output
    assert "Welch p" in seeds.output and " ± " in seeds.output


def test_the_command_refuses_runs_on_other_test_rows(tmp_path):
    from click.testing import CliRunner

    from stages.compare import command

    a = write_predictions(tmp_path / "a", ["1.0", "2.0"], ["1.0", "2.0"], ["joy"], ["joy"])
    b = write_predictions(tmp_path / "b", ["1.0", "2.0", "0.0"], ["1.0", "2.0", "0.0"], ["joy"], ["joy"])
    result = CliRunner().invoke(command, [str(a), str(b), "--resamples", "100"])
    assert result.exit_code != 0 and "not the test rows of" in result.output and str(b) in result.output
    result = CliRunner().invoke(command, [str(a), "no-such-revision", "--repo", str(tmp_path)])
    assert result.exit_code != 0 and "no-such-revision" in result.output
