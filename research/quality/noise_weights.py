"""How much each rated pair should count: weights from the residual noise of the model or task, bagging over
datasets, and a lower confidence bound.

Why: the shipped effects fit treats every rated pair alike (one ridge of 2 pseudo-pairs for every model). A
model whose standing swings from task to task (great on one collection, poor on the next) is a riskier first
recommendation than one that is steadily good, and a task whose order disagrees with every other task's is
either a niche or noise. These views ask whether counting such evidence less ranks new datasets better:

* ``model var a``: feasible weighted least squares, each pair weighted pooled variance / the model's residual
  variance (shrunk toward the pooled one with ``a`` pseudo-residuals), refitted once; weights rescaled to mean 1
  over the rated pairs (``mean_one``), here and in every weighted view, so the ridge keeps its strength;
* ``task var a``: the same with the task's residual variance;
* ``lcb c``: the effect minus ``c`` standard errors (residual sd of the model / sqrt(pairs + ridge));
* ``bag B``: the mean effect over ``B`` fits on training datasets drawn with replacement.

Every view: arcsin(sqrt) units, effect ridge 2, level ridge 0.5, the package's four-level cold start (k 3).
Run: ``python run.py noise_weights [--protocol ref] --cold``.
"""
from __future__ import annotations

import numpy as np

from additive import pair_weighted_effects
from cold_levels import ShippedFit


def mean_one(W: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Pair weights rescaled to mean 1 over the rated pairs, so that the effect ridge (pseudo-pairs) keeps its
    strength and a view changes only how the evidence is spread."""
    return W / np.mean(np.broadcast_to(W, R.shape)[~np.isnan(R)])


def residuals(R: np.ndarray, eff: np.ndarray) -> np.ndarray:
    """[T, M] residuals of R after the model effects and each task's mean level (NaN where unrated)."""
    e = np.where(np.isnan(eff), 0.0, eff)
    dev = R - e[None, :]
    return dev - np.nanmean(dev, axis=1, keepdims=True)


def shrunk_variance(res: np.ndarray, axis: int, a: float) -> tuple[np.ndarray, float]:
    """(mean squared residual along ``axis`` with ``a`` pseudo-residuals at the pooled mean square, the pooled
    mean square)."""
    sq = np.where(np.isnan(res), 0.0, res ** 2)
    n = (~np.isnan(res)).sum(axis)
    pooled = sq.sum() / max((~np.isnan(res)).sum(), 1)
    return (sq.sum(axis) + a * pooled) / (n + a), pooled


class NoiseWeightedEffects(ShippedFit):
    def __init__(self, model_as=(1.0, 3.0, 10.0), task_as=(1.0, 3.0, 10.0), lcb_cs=(0.25, 0.5, 1.0), bags=(30,),
                 seed=0, **kwargs):
        super().__init__(**kwargs)
        self.model_as, self.task_as, self.lcb_cs, self.bags, self.seed = model_as, task_as, lcb_cs, bags, seed

    def fit(self, D, train):
        R, eff, cold = self._shipped(D, train)
        res = residuals(R, eff)
        self.s = {"shipped": cold(eff)}
        for a in self.model_as:
            var, pooled = shrunk_variance(res, 0, a)
            W = mean_one(np.broadcast_to((pooled / var)[None, :], R.shape), R)
            self.s[f"model var a={a}"] = cold(pair_weighted_effects(R, W, self.lam, mu=self.mu))
        for a in self.task_as:
            var, pooled = shrunk_variance(res, 1, a)
            W = mean_one(np.broadcast_to((pooled / var)[:, None], R.shape), R)
            self.s[f"task var a={a}"] = cold(pair_weighted_effects(R, W, self.lam, mu=self.mu))
        var, _ = shrunk_variance(res, 0, 1.0)
        n = (~np.isnan(R)).sum(0)
        se = np.sqrt(var / (n + self.lam))
        for c in self.lcb_cs:
            self.s[f"lcb c={c}"] = cold(eff - c * se)
        datasets = D.tasks["dataset"].astype(str).to_numpy()[train]
        names, index = np.unique(datasets, return_inverse=True)
        rng = np.random.default_rng(self.seed)
        for B in self.bags:
            fits = []
            for _ in range(B):
                draws = np.bincount(rng.integers(0, len(names), len(names)), minlength=len(names))
                drawn = np.where(draws[index][:, None] > 0, R, np.nan)
                W = mean_one(np.broadcast_to(draws[index][:, None].astype(float), R.shape), drawn)
                fits.append(pair_weighted_effects(drawn, W, self.lam, mu=self.mu))
            fits = np.array(fits)
            with np.errstate(invalid="ignore"):
                mean = np.where(np.isnan(fits).all(0), np.nan, np.nanmean(fits, 0))
            self.s[f"bag B={B}"] = cold(np.where(np.isnan(eff), np.nan, np.where(np.isnan(mean), eff, mean)))
        return self
