"""The sweep's verdict on the shipped transformer against the leaderboard (best_mean_relevance)."""

from __future__ import annotations

import pandas as pd

from medicalrec.mlops.training import compare_with_reference, describe_comparison


def summary(ndcg_transformer: float, regret_transformer: float) -> pd.DataFrame:
    rows = [
        ("III", "medicalrec", "NDCG@5", ndcg_transformer, 0.04), ("III", "medicalrec", "Regret@1", regret_transformer, 0.3),
        ("III", "best_mean_relevance", "NDCG@5", 0.869, float("nan")),
        ("III", "best_mean_relevance", "Regret@1", 0.029, float("nan")),
        ("I", "medicalrec", "NDCG@5", 0.99, 0.01), ("I", "best_mean_relevance", "NDCG@5", 0.5, float("nan")),
    ]
    return pd.DataFrame(rows, columns=["mode", "recommender", "metric", "mean", "p_value"])


def test_a_transformer_that_beats_the_leaderboard_says_so_with_numbers():
    comparison = compare_with_reference(summary(0.878, 0.024), "III", "NDCG@5")
    assert comparison["beats"] is True
    assert comparison["metrics"]["NDCG@5"] == {"transformer": 0.878, "reference": 0.869, "p_value": 0.04}
    assert comparison["metrics"]["Regret@1"]["reference"] == 0.029
    assert describe_comparison(comparison) == (
        "transformer (mode III) beats best_mean_relevance on NDCG@5 in the sweep's cross-validation: "
        "NDCG@5 0.8780 vs 0.8690 (Wilcoxon p=0.04); Regret@1 0.0240 vs 0.0290 (Wilcoxon p=0.3)")


def test_a_transformer_that_loses_is_named_a_loser_and_lower_regret_wins():
    assert compare_with_reference(summary(0.860, 0.024), "III", "NDCG@5")["beats"] is False
    assert compare_with_reference(summary(0.860, 0.024), "III", "Regret@1")["beats"] is True
    assert "does NOT beat" in describe_comparison(compare_with_reference(summary(0.860, 0.03), "III", "NDCG@5"))


def test_no_reference_in_the_sweep_means_no_verdict():
    frame = summary(0.9, 0.02)
    comparison = compare_with_reference(frame[frame["recommender"] != "best_mean_relevance"], "III", "NDCG@5")
    assert comparison["beats"] is None
    assert describe_comparison(comparison) == "best_mean_relevance was not in the sweep: no comparison"
