"""Ranking metrics of both evaluation protocols, as small pure numpy functions.

Every function ranks the **full** candidate list with the same rule as
``medicalrec.recommenders.base.ranking``: descending score, ties broken by column index ascending,
which is model name ascending because candidate lists are sorted by name. NaN scores sort last
(numpy's order). Every K is reported from one ranking.

* record protocol: one target model per query; :func:`rank_of_target` then
  :func:`hit_rate_at_k`, :func:`ndcg_at_k` (binary gain), :func:`mrr`.
* task protocol: the models evaluated on one task with their true relevance;
  :func:`best_hit_at_k`, :func:`graded_ndcg_at_k`, :func:`kendall_tau`, :func:`regret_at_1`,
  all at once in :func:`task_metrics`.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from medicalrec import constants as C
from medicalrec.bench.tasks import scale_within_task
from medicalrec.recommenders.base import ranking

HIT_RATE = "HitRate"
NDCG = "NDCG"
MRR = "MRR"
KENDALL_TAU = "KendallTau"
REGRET_AT_1 = "Regret@1"


def lower_is_better(metric: str) -> bool:
    """Regret is the one metric where less is better; every other one ranks higher-is-better."""
    return metric == REGRET_AT_1


def at_k(name: str, k: int) -> str:
    """Metric name of a cut-off metric, e.g. ``at_k("HitRate", 10) == "HitRate@10"``."""
    return f"{name}@{int(k)}"


def record_metric_names(ks: Iterable[int] = C.RECORD_KS) -> list[str]:
    """Names :func:`record_metrics` returns, in report order."""
    ks = list(ks)
    return [at_k(HIT_RATE, k) for k in ks] + [at_k(NDCG, k) for k in ks] + [MRR]


def task_metric_names(ks: Iterable[int] = C.TASK_KS) -> list[str]:
    """Names :func:`task_metrics` returns, in report order."""
    ks = list(ks)
    return [at_k(HIT_RATE, k) for k in ks] + [at_k(NDCG, k) for k in ks] + [KENDALL_TAU, REGRET_AT_1]


# --- record protocol ------------------------------------------------------------------------------

def rank_of_target(scores: np.ndarray, target: np.ndarray) -> np.ndarray:
    """1-based rank of each query's target in its full ranking: ``float [n]``.

    ``rank_i = 1 + position of target_i in ranking(scores)[i]``. A negative target means the
    target is not among the candidates (e.g. a model never seen in training): it can never be
    recommended, so its rank is ``inf``, a miss at every K with reciprocal rank 0. (``n_models + 1``
    would wrongly count as a hit for any K > n_models.)
    """
    scores = np.asarray(scores, dtype=float)
    target = np.asarray(target, dtype=int)
    if scores.ndim != 2 or scores.shape[0] != target.shape[0]:
        raise ValueError(f"scores {scores.shape} and target {target.shape} do not match")
    if np.any(target >= scores.shape[1]):
        raise ValueError(f"target index out of range for {scores.shape[1]} candidates")
    ranks = np.full(len(target), np.inf)
    known = target >= 0
    if known.any():
        order = ranking(scores[known])
        position = np.argmax(order == target[known][:, None], axis=1)
        ranks[known] = position + 1.0
    return ranks


def hit_rate_at_k(ranks: np.ndarray, ks: Iterable[int] = C.RECORD_KS) -> dict[int, float]:
    """``HitRate@K = mean_i [rank_i <= K]``; NaN for no queries."""
    ranks = np.asarray(ranks, dtype=float)
    return {int(k): _mean(ranks <= k) for k in ks}


def ndcg_at_k(ranks: np.ndarray, ks: Iterable[int] = C.RECORD_KS) -> dict[int, float]:
    """Binary-gain ``NDCG@K = mean_i [rank_i <= K] / log2(rank_i + 1)``.

    One relevant item per query, so the ideal DCG is 1/log2(2) = 1.
    """
    ranks = np.asarray(ranks, dtype=float)
    with np.errstate(divide="ignore"):
        gain = 1.0 / np.log2(ranks + 1.0)
    return {int(k): _mean(np.where(ranks <= k, gain, 0.0)) for k in ks}


def mrr(ranks: np.ndarray) -> float:
    """``MRR = mean_i 1 / rank_i`` (0 for a target that is not a candidate)."""
    return _mean(1.0 / np.asarray(ranks, dtype=float))


def record_metrics(ranks: np.ndarray, ks: Iterable[int] = C.RECORD_KS) -> dict[str, float]:
    """HitRate@K, NDCG@K for every K, and MRR, named as :func:`record_metric_names`."""
    ks = list(ks)
    out = {at_k(HIT_RATE, k): v for k, v in hit_rate_at_k(ranks, ks).items()}
    out.update({at_k(NDCG, k): v for k, v in ndcg_at_k(ranks, ks).items()})
    out[MRR] = mrr(ranks)
    return out


# --- task protocol --------------------------------------------------------------------------------

def _task_arrays(scores: np.ndarray, relevance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=float).ravel()
    relevance = np.asarray(relevance, dtype=float).ravel()
    if scores.shape != relevance.shape or scores.size == 0:
        raise ValueError(f"need one score per evaluated model, got {scores.size} scores, {relevance.size} relevances")
    if np.isnan(relevance).any():
        raise ValueError("relevance must not be missing; drop models without a relevance first")
    return scores, relevance


def task_order(scores: np.ndarray) -> np.ndarray:
    """Indices of one task's models by descending score, ties by index (= name) ascending."""
    return ranking(np.asarray(scores, dtype=float).reshape(1, -1))[0]


def best_hit_at_k(scores: np.ndarray, relevance: np.ndarray, ks: Iterable[int] = C.TASK_KS) -> dict[int, float]:
    """``HitRate@K`` of the truly best model: 1 if a model with the maximum relevance is among the
    top K predicted, else 0. When several models tie for best (equal as floats), any of them counts.
    """
    scores, relevance = _task_arrays(scores, relevance)
    is_best = relevance[task_order(scores)] == relevance.max()
    first = int(np.argmax(is_best)) + 1
    return {int(k): float(first <= k) for k in ks}


def graded_gain(relevance: np.ndarray) -> np.ndarray:
    """Relevance min-max scaled within the task: ``(r - min) / (max - min)``, so the best model has
    gain 1 and the worst 0. All relevances equal: gain 1 for every model (every order is ideal).
    (``bench.tasks.scale_within_task``.)"""
    return scale_within_task(relevance)


def graded_ndcg_at_k(scores: np.ndarray, relevance: np.ndarray, ks: Iterable[int] = C.TASK_KS) -> dict[int, float]:
    """Graded ``NDCG@K = DCG@K / IDCG@K`` with ``DCG@K = sum_{i<=K} gain_(i) / log2(i + 1)``,
    ``gain`` from :func:`graded_gain`, ``(i)`` the i-th model by predicted score (ties by name) and
    IDCG the DCG of the models sorted by true gain. Linear gain, as ``sklearn.metrics.ndcg_score``.
    """
    scores, relevance = _task_arrays(scores, relevance)
    gain = graded_gain(relevance)
    discount = 1.0 / np.log2(np.arange(2, gain.size + 2))
    predicted = np.cumsum(gain[task_order(scores)] * discount)
    ideal = np.cumsum(np.sort(gain)[::-1] * discount)
    out = {}
    for k in ks:
        cut = min(int(k), gain.size) - 1
        out[int(k)] = float(predicted[cut] / ideal[cut])
    return out


def kendall_tau(scores: np.ndarray, relevance: np.ndarray) -> float:
    """Kendall's tau-b between predicted scores and true relevance (``scipy.stats.kendalltau``).

    Score ties are ties (tau-b corrects for them) rather than broken by name. NaN when undefined:
    fewer than two models, or all scores or all relevances equal. Aggregates skip NaN values.
    """
    from scipy.stats import kendalltau

    scores, relevance = _task_arrays(scores, relevance)
    if scores.size < 2 or np.ptp(scores) == 0 or np.ptp(relevance) == 0:
        return float("nan")
    return float(kendalltau(scores, relevance, variant="b").statistic)


def regret_at_1(scores: np.ndarray, relevance: np.ndarray) -> float:
    """``Regret@1 = max relevance - relevance of the top-ranked model``, in the relevance metric's
    own units (fractions: 0.012 = 1.2 accuracy points lost by trusting the first recommendation)."""
    scores, relevance = _task_arrays(scores, relevance)
    return float(relevance.max() - relevance[task_order(scores)[0]])


def task_metrics(scores: np.ndarray, relevance: np.ndarray, ks: Iterable[int] = C.TASK_KS) -> dict[str, float]:
    """All task-protocol metrics of one task, named as :func:`task_metric_names`."""
    ks = list(ks)
    out = {at_k(HIT_RATE, k): v for k, v in best_hit_at_k(scores, relevance, ks).items()}
    out.update({at_k(NDCG, k): v for k, v in graded_ndcg_at_k(scores, relevance, ks).items()})
    out[KENDALL_TAU] = kendall_tau(scores, relevance)
    out[REGRET_AT_1] = regret_at_1(scores, relevance)
    return out


def _mean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if values.size else float("nan")
