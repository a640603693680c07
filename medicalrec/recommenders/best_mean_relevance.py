"""The model that did best on average over the training tasks, whatever the new task is."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.bench.tasks import scale_within_task
from medicalrec.errors import ConfigError
from medicalrec.recommenders.base import Recommender, TrainingSet
from medicalrec.recommenders.params import parse_params


def task_relevance(data: TrainingSet) -> np.ndarray:
    """``[n_tasks, n_models]`` relevance of each model on each task, NaN where it has none. A model
    reported several times on one task counts with its best relevance (as in the task protocol)."""
    best = np.full((len(data.task_ids), len(data.models)), -np.inf)
    relevance = data.records[C.RELEVANCE].to_numpy(dtype=float)
    known = ~np.isnan(relevance)
    np.maximum.at(best, (data.task_of_record[known], data.record_model[known]), relevance[known])
    return np.where(np.isfinite(best), best, np.nan)


def task_gains(data: TrainingSet) -> np.ndarray:
    """``[n_tasks, n_models]`` relevance min-max scaled within each task (1 = the task's best model,
    0 = its worst), NaN where a model has no relevance on the task.

    Scaling within the task makes tasks comparable: their relevance metrics differ (AUC, accuracy,
    balanced accuracy) and so does their difficulty. Where every evaluated model ties, all get 1.
    """
    return within_task_gains(task_relevance(data))


def within_task_gains(relevance: np.ndarray) -> np.ndarray:
    """``task_gains`` of a ``[n_tasks, n_models]`` relevance matrix (NaN = not rated)."""
    gains = np.full(relevance.shape, np.nan)
    for t, row in enumerate(relevance):
        evaluated = ~np.isnan(row)
        if evaluated.any():
            gains[t, evaluated] = scale_within_task(row[evaluated])
    return gains


EFFECT_UNITS = ("asin", "raw")


def in_effect_units(relevance: np.ndarray, units: str) -> np.ndarray:
    """``relevance`` (fractions in [0, 1], NaN kept) in the units ``model_effects`` is fitted in.

    ``"asin"``: arcsin(sqrt(r)), the variance-stabilising transform of a proportion. In raw units a
    gain from 0.990 to 0.995 AUC counts a tenth of one from 0.70 to 0.75; the transform weighs a
    difference by how hard it is to make where it is made, so tasks near the ceiling still say which
    model is better. ``"raw"``: the metric as reported.
    """
    if units == "raw":
        return relevance
    if units == "asin":
        return np.arcsin(np.sqrt(np.clip(relevance, 0.0, 1.0)))
    raise ConfigError(f"effect units must be one of {', '.join(EFFECT_UNITS)}, got {units!r}")


def model_effects(relevance: np.ndarray, weights: np.ndarray, ridge: float, level_ridge: float = 0.0) -> np.ndarray:
    """``[n_models]`` effect of each model in the units of ``relevance`` (``in_effect_units``), NaN
    where no task rated it: the least-squares fit of ``relevance[t, m] = level[t] + effect[m]`` over
    the rated pairs, each pair weighted by its task's weight, plus ``ridge * sum_m effect[m] ** 2``
    and ``level_ridge * sum_t weight[t] * (level[t] - anchor) ** 2``, where ``anchor`` is the
    weighted mean relevance of all rated pairs.

    Unlike a mean min-max gain, a task counts by how much the choice mattered there: two models
    0.001 AUC apart are a near-tie, not a 1-vs-0 vote, and a task with one rated model says nothing
    (with ``level_ridge``, a little: its score against the anchor, through the task's level).
    ``ridge > 0`` pulls every effect toward 0 and makes the fit unique. Effects compare models
    through tasks: where tasks do not connect two groups of models (no chain of shared tasks), a
    zero ``level_ridge`` leaves each group's effects summing to 0, so a model's effect is relative
    to the average of its own group; ``level_ridge > 0`` says a task's level is a priori near the
    corpus's, so a group whose tasks scored high (or low) throughout sits higher (or lower) than
    another. Within a connected group the tasks decide and the pull barely moves anything.
    """
    return solve_effects(effect_system(relevance, weights, level_ridge), ridge)


@dataclass
class EffectSystem:
    """The normal equations of ``model_effects`` without the ridge. With the task levels solved out
    (``mu`` = level ridge, ``a`` = anchor, ``s_t`` = sum of task t's rated relevances):

    ``matrix = diag(sum_t w_t x_t) - X^T diag(w_t / (n_t + mu)) X``,
    ``right-hand side = sum_t w_t x_t (r_t - (s_t + mu a) / (n_t + mu))``

    where ``x_t`` marks the models rated on task t and ``n_t`` counts them. The right-hand side is
    kept as ``rhs - a * anchor_rhs``, and ``a = anchor_sum / anchor_count``, so that every part is a
    sum over tasks: the system of all tasks but a few is the whole minus theirs, and
    leave-one-dataset-out fits cost one small system each (``HeldOutEffects``).
    """

    matrix: np.ndarray
    rhs: np.ndarray
    anchor_rhs: np.ndarray
    anchor_sum: float  # sum_t w_t s_t
    anchor_count: float  # sum_t w_t n_t
    rated: np.ndarray  # tasks that rated each model


def effect_system(relevance: np.ndarray, weights: np.ndarray, level_ridge: float = 0.0) -> EffectSystem:
    """The ``EffectSystem`` of ``[n_tasks, n_models]`` relevances (NaN = not rated), task weights
    and the level ridge (``model_effects``)."""
    if not level_ridge >= 0:
        raise ConfigError(f"model effects: level ridge must be >= 0, got {level_ridge!r}")
    rated = ~np.isnan(relevance)
    x = rated.astype(float)
    n = x.sum(axis=1)
    per_task = np.divide(weights, n + level_ridge, out=np.zeros(len(n)), where=n > 0)
    matrix = np.diag(weights @ x) - (x * per_task[:, None]).T @ x
    total = np.where(rated, relevance, 0.0).sum(axis=1)
    level = np.divide(total, n + level_ridge, out=np.zeros(len(n)), where=n > 0)
    centred = np.where(rated, relevance - level[:, None], 0.0)
    anchor_share = np.divide(level_ridge, n + level_ridge, out=np.zeros(len(n)), where=n > 0)
    return EffectSystem(matrix, weights @ centred, (weights * anchor_share) @ x, float(weights @ total),
                        float(weights @ n), rated.sum(axis=0))


def solve_effects(system: EffectSystem, ridge: float) -> np.ndarray:
    """The effects of ``system`` with ``ridge``; NaN for models no task of it rated."""
    _check_ridge(ridge)
    right = _anchored(system.rhs, system.anchor_rhs, system.anchor_sum, system.anchor_count)
    effects = np.linalg.solve(system.matrix + ridge * np.eye(len(right)), right)
    return np.where(system.rated > 0, effects, np.nan)


class HeldOutEffects:
    """The effects of all tasks but a few (each training dataset held out in turn), from one inverse
    of the whole system. The held-out tasks' matrix ``B`` is zero outside the models they rated
    (``S``), so by the Woodbury identity

    ``(K - P B P^T)^-1 r = y + K^-1[:, S] B (I - K^-1[S, S] B)^-1 y[S]``, ``y = K^-1 r``,

    with ``K`` the whole matrix plus the ridge: a system of ``|S|`` equations per held-out part
    instead of one over every model."""

    def __init__(self, relevance: np.ndarray, weights: np.ndarray, ridge: float, level_ridge: float = 0.0):
        _check_ridge(ridge)
        self.relevance, self.weights, self.level_ridge = relevance, weights, level_ridge
        self.whole = effect_system(relevance, weights, level_ridge)
        self.inverse = np.linalg.inv(self.whole.matrix + ridge * np.eye(len(self.whole.rhs)))

    def without(self, tasks: np.ndarray) -> np.ndarray:
        """``model_effects`` of every task but ``tasks`` (a boolean mask or indices)."""
        block = np.flatnonzero((~np.isnan(self.relevance[tasks])).any(axis=0))
        part = effect_system(self.relevance[tasks][:, block], self.weights[tasks], self.level_ridge)
        whole = self.whole
        rhs, anchor_rhs, rated = whole.rhs.copy(), whole.anchor_rhs.copy(), whole.rated.copy()
        rhs[block] -= part.rhs
        anchor_rhs[block] -= part.anchor_rhs
        rated[block] -= part.rated
        y = self.inverse @ _anchored(rhs, anchor_rhs, whole.anchor_sum - part.anchor_sum,
                                     whole.anchor_count - part.anchor_count)
        inner = np.eye(len(block)) - self.inverse[np.ix_(block, block)] @ part.matrix
        effects = y + self.inverse[:, block] @ (part.matrix @ np.linalg.solve(inner, y[block]))
        return np.where(rated > 0, effects, np.nan)


def _check_ridge(ridge: float) -> None:
    if not ridge > 0:
        raise ConfigError(f"model effects: ridge must be > 0, got {ridge!r}")


def _anchored(rhs: np.ndarray, anchor_rhs: np.ndarray, anchor_sum: float, anchor_count: float) -> np.ndarray:
    """The right-hand side ``rhs - a * anchor_rhs`` with the anchor ``a`` of those sums (``EffectSystem``)."""
    return rhs - (anchor_sum / anchor_count if anchor_count > 0 else 0.0) * anchor_rhs


def leaderboard_scores(data: TrainingSet, prior_tasks: float) -> np.ndarray:
    """``[n_models]``: each model's mean gain over the tasks that rated it, shrunk toward the mean of
    all models by ``prior_tasks`` pseudo-tasks; models without any relevance go strictly below the
    lowest gain (>= 0), ordered by training popularity. The leaderboard other recommenders build on."""
    gains = task_gains(data)
    evaluated = ~np.isnan(gains)
    count = evaluated.sum(axis=0)
    total = np.where(evaluated, gains, 0.0).sum(axis=0)
    prior = total.sum() / count.sum() if count.sum() else 0.0
    weight = count + prior_tasks
    shrunk = np.divide(total + prior_tasks * prior, weight, out=np.zeros(len(count)), where=weight > 0)
    popularity = np.bincount(data.record_model, minlength=len(data.models))
    unrated = -1.0 + popularity / (popularity.max() + 1.0)
    return np.where(count > 0, shrunk, unrated)


@dataclass
class BestMeanRelevanceConfig:
    # Pseudo-tasks at the mean gain of all models added to every model's average, so that a model
    # seen on one task where it won does not outrank one that is near the top of twenty tasks.
    prior_tasks: float = 2.0

    def __post_init__(self):
        if not self.prior_tasks >= 0:
            raise ConfigError(f"best_mean_relevance: prior_tasks must be >= 0, got {self.prior_tasks!r}")


class BestMeanRelevance(Recommender):
    name = "best_mean_relevance"
    description = (
        "models ranked by their mean within-task scaled relevance over the training tasks that "
        "evaluated them, shrunk toward the mean of all models by the number of such tasks"
    )
    unseen_task_policy = (
        "the same global ranking for every task; models without any relevance rank below all others, "
        "by training popularity"
    )

    def __init__(self, seed: int = 0, **params):
        super().__init__(seed, **params)
        self.config = parse_params(BestMeanRelevanceConfig, params, self.name)

    def _fit(self, data: TrainingSet) -> None:
        self.scores_ = leaderboard_scores(data, self.config.prior_tasks)

    def score(self, tasks: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        return np.tile(self.scores_, (len(tasks), 1))

    def _state(self) -> dict[str, np.ndarray]:
        return {"scores": self.scores_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.scores_ = arrays["scores"]
