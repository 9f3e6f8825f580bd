"""Metrics against values worked out by hand (MMSA definitions, docs/results.md)."""

from __future__ import annotations

import math

import pytest

from unimse_core.metrics import classification_metrics, dataset_metrics, msa_metrics, primary


def test_msa_metrics_by_hand():
    truth = [-3.0, -1.5, 0.0, 0.5, 2.5, 1.0]
    pred = [-2.6, -0.5, 0.4, 1.5, 3.4, 0.0]
    m = msa_metrics(pred, truth)
    # |p - y| = 0.4, 1.0, 0.4, 1.0, 0.9, 1.0 -> 4.7 / 6
    assert m["MAE"] == pytest.approx(4.7 / 6)
    # Acc-7: round(clip(p, -3, 3)) = -3, -0 (-0.5 -> -0, half to even), 0, 2 (1.5 -> 2), 3, 0
    #        round(clip(y, -3, 3)) = -3, -2 (-1.5 -> -2), 0, 0 (0.5 -> 0), 2 (2.5 -> 2), 1
    # equal: rows 0 and 2 -> 2 / 6
    assert m["Mult_acc_7"] == pytest.approx(2 / 6)
    # Acc-5 (clip to [-2, 2]): p -> -2, -0, 0, 2, 2, 0; y -> -2, -2, 0, 0, 2, 1: rows 0, 2, 4 -> 3 / 6
    assert m["Mult_acc_5"] == pytest.approx(3 / 6)
    # has-0: y >= 0 -> F F T T T T; p >= 0 -> F F T T T T (0.0 counts as >= 0): 6 / 6
    assert m["Has0_acc_2"] == 1.0 and m["Has0_F1_score"] == 1.0
    # non-0 drops y == 0 (row 2): y > 0 -> F F T T T; p > 0 -> F F T T F: 4 / 5
    assert m["Non0_acc_2"] == pytest.approx(4 / 5)
    # weighted F1: class False (support 2): precision 2/3, recall 1 -> F1 0.8;
    # class True (support 3): precision 1, recall 2/3 -> F1 0.8; weighted 0.8
    assert m["Non0_F1_score"] == pytest.approx(0.8)
    mean_p, mean_y = sum(pred) / 6, sum(truth) / 6
    cov = sum((p - mean_p) * (y - mean_y) for p, y in zip(pred, truth))
    sp = math.sqrt(sum((p - mean_p) ** 2 for p in pred))
    sy = math.sqrt(sum((y - mean_y) ** 2 for y in truth))
    assert m["Corr"] == pytest.approx(cov / (sp * sy))


def test_constant_predictions_have_zero_correlation_not_nan():
    assert msa_metrics([0.0, 0.0, 0.0], [1.0, -1.0, 2.0])["Corr"] == 0.0


def test_classification_metrics_by_hand():
    classes = ("a", "b", "c")
    truth = ["a", "a", "b", "c"]
    pred = ["a", "b", "b", "<unparsable>"]
    m = classification_metrics(pred, truth, classes)
    assert m["acc"] == pytest.approx(2 / 4)
    # a: P 1, R 1/2, F1 2/3 (support 2); b: P 1/2, R 1, F1 2/3 (support 1); c: F1 0 (support 1)
    assert m["weighted_f1"] == pytest.approx((2 * 2 / 3 + 1 * 2 / 3 + 0) / 4)
    with pytest.raises(ValueError, match="outside the class list"):
        classification_metrics(["a"], ["z"], classes)


def test_garbage_generations_never_crash_and_are_counted():
    generated = ["", "positive", "positive,abc,joy,joy", "negative,nan,sadness,sadness", "positive,1.5,joy,joy"]
    m = dataset_metrics("mosi", generated, [1.0, -1.0, 2.0, -2.0, 1.5], [""] * 5)
    assert m["unparsable"] == 4
    # unparsable scores count as 0.0: |0-1| + |0+1| + |0-2| + |0+2| + |1.5-1.5| = 6
    assert m["MAE"] == pytest.approx(6 / 5)
    meld = dataset_metrics("meld", ["neutral,0.0", "x", "negative,-1,anger,anger"], [math.nan] * 3,
                           ["neutral", "joy", "anger"])
    assert meld["unparsable"] == 2 and meld["acc"] == pytest.approx(1 / 3)
    iemocap = dataset_metrics("iemocap", ["neutral,0.0,neutral,excited"], [math.nan], ["excited"])
    assert iemocap["acc"] == 1.0 and iemocap["unparsable"] == 0
    assert primary("mosi", m) == m["Mult_acc_7"] and primary("meld", meld) == meld["weighted_f1"]
