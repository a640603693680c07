"""Expected performance, its interval and the quality/cost trade-off, on hand-made rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.errors import ConfigError
from medicalrec.evaluation.expectation import held_out_predictions, interval_report
from medicalrec.serving.expectation import ExpectedPerformance, metric_table
from medicalrec.serving.tradeoff import Limits, allowed, near_first, pareto_front


def _records(rows):
    return pd.DataFrame(rows, columns=[C.REF, C.TASK, C.DATASET, C.MODEL, C.AUC, C.ACCURACY])


def test_metric_table_keeps_each_models_best_value_and_skips_missing():
    records = _records([
        ("r", "t1", "d1", "A", 0.70, 0.9), ("r", "t1", "d1", "A", 0.80, 0.9), ("r", "t1", "d1", "B", None, 0.8),
        ("r", "t2", "d2", "B", 0.60, None),
    ])
    table = metric_table(records).sort_values([C.TASK_ID, C.MODEL]).reset_index(drop=True)
    assert table[C.MODEL].tolist() == ["A", "B"]
    assert table["value"].tolist() == [0.80, 0.60]
    assert metric_table(records.drop(columns=[C.AUC])).empty


def test_expected_is_the_median_and_unseen_models_get_the_overall_median():
    table = pd.DataFrame({C.TASK_ID: ["t1", "t2", "t3", "t1", "t2"], C.MODEL: ["A", "A", "A", "B", "B"],
                          "value": [0.6, 0.9, 0.7, 0.8, 0.5]})
    model = ExpectedPerformance.fit(table)
    # A: median(0.6, 0.9, 0.7) = 0.7; B: median(0.8, 0.5) = 0.65; all: median of 5 values = 0.7
    assert model.expected(["A", "B", "new"]) == pytest.approx([0.7, 0.65, 0.7])
    assert model.tasks == {"A": 3, "B": 2}


def test_interval_offsets_are_residual_quantiles_and_clip_to_the_metric_range():
    table = pd.DataFrame({C.TASK_ID: ["t1"], C.MODEL: ["A"], "value": [0.9]})
    residuals = np.arange(-5, 6) / 100  # -0.05 ... 0.05; 10% and 90% quantiles: -0.04, 0.04
    model = ExpectedPerformance.fit(table).with_interval(residuals)
    assert (model.low_offset, model.high_offset) == pytest.approx((-0.04, 0.04))
    low, high = model.interval(np.array([0.5, 0.98]))
    assert low == pytest.approx([0.46, 0.94])
    assert high == pytest.approx([0.54, 1.0])
    assert ExpectedPerformance.from_json(model.to_json()) == model
    with pytest.raises(ValueError, match="no held-out residuals"):
        model.with_interval(np.array([np.nan]))


def test_interval_report_averages_over_tasks_first():
    p = pd.DataFrame({C.TASK_ID: ["t1", "t1", "t1", "t2"], "actual": [0.8, 0.9, 0.5, 0.7],
                      "expected": [0.8, 0.8, 0.8, 0.6], "baseline": [0.7, 0.7, 0.7, 0.7],
                      "low": [0.7, 0.7, 0.7, 0.5], "high": [0.9, 0.9, 0.9, 0.8]})
    report = interval_report(p)
    assert report["expected_coverage"] == pytest.approx((2 / 3 + 1) / 2)
    assert report["expected_interval_width"] == pytest.approx((0.2 + 0.3) / 2)
    assert report["expected_mae"] == pytest.approx(((0 + 0.1 + 0.3) / 3 + 0.1) / 2)
    assert report["expected_baseline_mae"] == pytest.approx(((0.1 + 0.2 + 0.2) / 3 + 0) / 2)
    assert (report["expected_pairs"], report["expected_tasks"]) == (4, 2)


def test_held_out_values_never_reach_the_fit_that_predicts_them():
    # Model A scores 0.6 everywhere except on dataset "odd" (0.99). Left out whole, "odd" is
    # predicted from the others alone, and the interval of each fold comes from its training part.
    rows = [("r", f"t{i}", f"d{i}", m, 0.6 + 0.01 * (i % 3) + (0.1 if m == "B" else 0), None)
            for i in range(10) for m in ("A", "B")]
    rows += [("r", "odd", "odd", "A", 0.99, None)]
    predictions = held_out_predictions(_records(rows), n_splits=5, seed=0)
    odd = predictions[predictions[C.TASK_ID] == "r :: odd"].iloc[0]
    assert odd["expected"] == pytest.approx(0.61)  # median of A's ten other values
    assert odd["baseline"] == pytest.approx(0.61, abs=0.01)  # the mean of the same values
    assert not odd["low"] <= odd["actual"] <= odd["high"]
    assert set(predictions["fold"]) == set(range(5))


def test_pareto_front_on_a_hand_made_set():
    #              A     B     C     D     E (cost unknown)  F (ties A)
    expected = [0.90, 0.85, 0.80, 0.95, 0.99, 0.90]
    params = [25.0, 5.0, 10.0, 80.0, np.nan, 25.0]
    gflops = [4.0, 0.5, 1.0, 16.0, 2.0, 4.0]
    front = pareto_front(expected, params, gflops)
    # C is dominated by B (better and cheaper); A and F tie exactly, so neither dominates the other;
    # E's cost is unknown: no verdict.
    np.testing.assert_array_equal(front, [1, 1, 0, 1, np.nan, 1])


def test_cost_limits_filter_candidates_and_unknown_costs_never_pass():
    params = np.array([25.0, 5.0, 10.0, 80.0, np.nan])
    gflops = np.array([4.0, 0.5, 1.0, 16.0, 2.0])
    assert allowed(params, gflops, Limits(max_params=25)).tolist() == [True, True, True, False, False]
    assert allowed(params, gflops, Limits(max_gflops=1)).tolist() == [False, True, True, False, False]
    assert allowed(params, gflops, Limits(within=5)).all()  # within is per task: near_first
    assert allowed(params, gflops, Limits()).all()


def test_within_counts_from_each_tasks_first_recommendation():
    expected = np.array([0.90, 0.85, 0.80, 0.95, 0.99])
    # task 0 recommends candidate 0 first (0.90): within 5 points is >= 0.85; task 1 recommends
    # candidate 2 (0.80): >= 0.75, every candidate.
    mask = near_first(expected, np.array([0, 2]), 5)
    assert mask.tolist() == [[True, True, False, True, True], [True, True, True, True, True]]


@pytest.mark.parametrize("field,value", [("max_params", -1.0), ("max_gflops", float("nan")), ("within", float("inf"))])
def test_nonsense_limits_are_config_errors(field, value):
    with pytest.raises(ConfigError, match="--" + field.replace("_", "-")):
        Limits(**{field: value})
