"""Metrics against hand-computed values, and against scikit-learn / scipy where they overlap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medicalrec.evaluation import metrics as M
from medicalrec.recommenders.base import ranking

LOG2_3 = math.log2(3)
LOG2_5 = math.log2(5)


# --- record protocol ------------------------------------------------------------------------------

def test_rank_of_target_breaks_ties_by_column_index():
    scores = np.array([[0.1, 0.5, 0.3, 0.5]] * 4)
    # ranking: col 1 (0.5), col 3 (0.5, later index), col 2, col 0
    ranks = M.rank_of_target(scores, np.array([1, 3, 2, 0]))
    assert ranks.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_rank_of_target_agrees_with_recommender_ranking():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, size=(50, 9)).astype(float)  # many ties
    target = rng.integers(0, 9, size=50)
    order = ranking(scores)
    expected = [list(order[i]).index(target[i]) + 1 for i in range(50)]
    assert M.rank_of_target(scores, target).tolist() == expected


def test_unknown_target_is_a_miss_at_every_k():
    scores = np.array([[0.9, 0.1]])
    ranks = M.rank_of_target(scores, np.array([-1]))
    assert ranks.tolist() == [math.inf]
    # K larger than the candidate list still does not hit a target that is not a candidate
    assert M.hit_rate_at_k(ranks, [1, 100]) == {1: 0.0, 100: 0.0}
    assert M.ndcg_at_k(ranks, [100]) == {100: 0.0}
    assert M.mrr(ranks) == 0.0


def test_record_metrics_worked_example():
    ranks = np.array([1.0, 2.0, 4.0, math.inf])
    assert M.hit_rate_at_k(ranks, [1, 2, 5]) == {1: 0.25, 2: 0.5, 5: 0.75}
    ndcg = M.ndcg_at_k(ranks, [1, 2, 5])
    assert ndcg[1] == pytest.approx(1 / 4)
    assert ndcg[2] == pytest.approx((1 + 1 / LOG2_3) / 4)
    assert ndcg[5] == pytest.approx((1 + 1 / LOG2_3 + 1 / LOG2_5) / 4)
    assert M.mrr(ranks) == pytest.approx((1 + 1 / 2 + 1 / 4 + 0) / 4)


def test_record_metrics_perfect_and_no_hit():
    perfect = M.record_metrics(np.ones(7), ks=[1, 10])
    assert perfect == {"HitRate@1": 1.0, "HitRate@10": 1.0, "NDCG@1": 1.0, "NDCG@10": 1.0, "MRR": 1.0}
    none = M.record_metrics(np.array([11.0, 20.0]), ks=[1, 10])
    assert none["HitRate@10"] == 0.0 and none["NDCG@10"] == 0.0
    assert none["MRR"] == pytest.approx((1 / 11 + 1 / 20) / 2)
    assert list(M.record_metrics(np.ones(1))) == M.record_metric_names()


def test_record_metrics_of_no_queries_are_missing():
    assert math.isnan(M.hit_rate_at_k(np.array([]), [1])[1])
    assert math.isnan(M.mrr(np.array([])))


def test_binary_ndcg_matches_sklearn():
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(0)
    scores = rng.random((30, 12))  # continuous: no ties
    target = rng.integers(0, 12, size=30)
    truth = np.zeros_like(scores)
    truth[np.arange(30), target] = 1
    ranks = M.rank_of_target(scores, target)
    for k in (1, 5, 10):
        assert M.ndcg_at_k(ranks, [k])[k] == pytest.approx(ndcg_score(truth, scores, k=k))


# --- task protocol --------------------------------------------------------------------------------

# models A, B, C, D (name order); predicted order A, B, C, D; true order B, C, A, D
SCORES = np.array([0.4, 0.3, 0.2, 0.1])
RELEVANCE = np.array([0.80, 0.90, 0.85, 0.70])


def test_task_metrics_worked_example():
    values = M.task_metrics(SCORES, RELEVANCE)
    assert list(values) == M.task_metric_names()
    assert (values["HitRate@1"], values["HitRate@3"], values["HitRate@5"]) == (0.0, 1.0, 1.0)
    # gains: A 0.5, B 1, C 0.75, D 0
    assert values["NDCG@1"] == pytest.approx(0.5 / 1.0)
    dcg3 = 0.5 + 1 / LOG2_3 + 0.75 / 2
    idcg3 = 1 + 0.75 / LOG2_3 + 0.5 / 2
    assert values["NDCG@3"] == pytest.approx(dcg3 / idcg3)
    dcg4, idcg4 = dcg3 + 0 / LOG2_5, idcg3 + 0 / LOG2_5
    assert values["NDCG@5"] == pytest.approx(dcg4 / idcg4)  # K beyond the list: whole list
    # 4 concordant pairs (AD, BC, BD, CD), 2 discordant (AB, AC): (4 - 2) / 6
    assert values["KendallTau"] == pytest.approx(1 / 3)
    assert values["Regret@1"] == pytest.approx(0.10)


def test_task_metrics_perfect_ranking():
    values = M.task_metrics(RELEVANCE, RELEVANCE)
    for name in ("HitRate@1", "HitRate@3", "NDCG@1", "NDCG@3", "NDCG@5", "KendallTau"):
        assert values[name] == pytest.approx(1.0)
    assert values["Regret@1"] == 0.0


def test_task_metrics_worst_ranking():
    values = M.task_metrics(-RELEVANCE, RELEVANCE)
    assert values["HitRate@1"] == 0.0 and values["HitRate@3"] == 0.0
    assert values["NDCG@1"] == 0.0  # the worst model has gain 0
    assert values["KendallTau"] == pytest.approx(-1.0)
    assert values["Regret@1"] == pytest.approx(0.90 - 0.70)


def test_tied_best_models_any_counts():
    relevance = np.array([0.9, 0.7, 0.9])
    scores = np.array([0.1, 0.5, 0.3])  # order B, C, A: C ties for best at position 2
    assert M.best_hit_at_k(scores, relevance, [1, 2]) == {1: 0.0, 2: 1.0}
    assert M.regret_at_1(scores, relevance) == pytest.approx(0.2)


def test_score_ties_broken_by_name():
    relevance = np.array([0.7, 0.9, 0.8])
    tied = np.array([0.5, 0.5, 0.1])  # A and B tie: A (first by name) is ranked first
    assert M.best_hit_at_k(tied, relevance, [1, 2]) == {1: 0.0, 2: 1.0}
    assert M.regret_at_1(tied, relevance) == pytest.approx(0.2)
    assert M.task_order(tied).tolist() == [0, 1, 2]


def test_all_equal_relevance_gives_full_gain():
    relevance = np.full(3, 0.8)
    assert M.graded_gain(relevance).tolist() == [1.0, 1.0, 1.0]
    values = M.task_metrics(np.array([0.1, 0.3, 0.2]), relevance)
    assert values["NDCG@1"] == 1.0 and values["HitRate@1"] == 1.0 and values["Regret@1"] == 0.0
    assert math.isnan(values["KendallTau"])


def test_kendall_tau_undefined_cases():
    assert math.isnan(M.kendall_tau(np.array([0.3]), np.array([0.9])))  # one model
    assert math.isnan(M.kendall_tau(np.zeros(3), RELEVANCE[:3]))  # constant scores


def test_graded_ndcg_matches_sklearn_without_ties():
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(2, 15))
        relevance = rng.random(n)
        scores = rng.random(n)
        gain = M.graded_gain(relevance)
        for k in (1, 3, 5):
            ours = M.graded_ndcg_at_k(scores, relevance, [k])[k]
            assert ours == pytest.approx(ndcg_score(gain[None], scores[None], k=k))


def test_graded_ndcg_with_ties_matches_sklearn_on_our_tie_break():
    """sklearn averages over tied scores (or, with ``ignore_ties``, breaks them by index
    descending); we break them by name. Feeding sklearn the positions of our order agrees."""
    from sklearn.metrics import ndcg_score

    relevance = np.array([0.9, 0.6, 0.7, 0.8])
    scores = np.array([0.2, 0.5, 0.5, 0.1])  # B and C tie; we rank B first
    gain = M.graded_gain(relevance)
    positions = np.empty(4)
    positions[M.task_order(scores)] = -np.arange(4)
    for k in (1, 2, 3):
        ours = M.graded_ndcg_at_k(scores, relevance, [k])[k]
        assert ours == pytest.approx(ndcg_score(gain[None], positions[None], k=k, ignore_ties=True))
    # at K=1 our tie-break puts B (gain 0) first; sklearn's tie average gives B and C half each
    assert M.graded_ndcg_at_k(scores, relevance, [1])[1] == 0.0
    assert ndcg_score(gain[None], scores[None], k=1) == pytest.approx((0 + 1 / 3) / 2)


def test_kendall_tau_matches_scipy_with_ties():
    from scipy.stats import kendalltau

    rng = np.random.default_rng(2)
    for _ in range(20):
        scores = rng.integers(0, 4, size=10).astype(float)
        relevance = rng.integers(0, 5, size=10) / 5
        expected = kendalltau(scores, relevance).statistic
        assert M.kendall_tau(scores, relevance) == pytest.approx(expected, nan_ok=True)


def test_kendall_tau_b_hand_example_with_a_score_tie():
    # scores B = C > D, relevance D > B > C: pairs BD, CD discordant, BC tied in score
    value = M.kendall_tau(np.array([2.0, 2.0, 1.0]), np.array([0.70, 0.65, 0.80]))
    assert value == pytest.approx(-2 / math.sqrt(2 * 3))


def test_task_metrics_reject_bad_input():
    with pytest.raises(ValueError):
        M.task_metrics(np.array([0.1, 0.2]), np.array([0.5, np.nan]))
    with pytest.raises(ValueError):
        M.task_metrics(np.array([0.1]), np.array([0.5, 0.6]))
