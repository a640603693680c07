"""Relevance measured above chance: does an AUC task count too little beside an accuracy task?

Why: the effects fit pools tasks whose relevance metric differs. AUC has chance at 0.5, accuracy and F1 nearer
0, so the same real difference between two models is about half as many points of AUC; in a least-squares fit an
AUC task then counts about a quarter as much. Views: AUC rescaled to 2 (auc - 0.5) (and balanced accuracy to
(r - 1/K) / (1 - 1/K)) before arcsin(sqrt); AUC tasks' pairs weighted 2 or 4 (or 0.5) with the units unchanged, weights rescaled to mean 1 over the rated
pairs so the ridge keeps its strength.

Every view: effect ridge 2, level ridge 0.5, the package's four-level cold start (k 3).
Run: ``python run.py chance_units [--protocol ref] --cold``.
"""
from __future__ import annotations

import numpy as np

from additive import pair_weighted_effects, transformed
from cold_levels import ShippedFit
from noise_weights import mean_one


def above_chance(R: np.ndarray, tasks, metrics=("auc",)) -> np.ndarray:
    """R with each listed metric's tasks rescaled so chance is 0 (AUC 0.5; balanced accuracy 1/K), clipped at 0."""
    out = R.copy()
    metric = tasks["metric"].astype(str).to_numpy()
    k = np.clip(tasks["n_classes"].fillna(2).to_numpy(float), 2, None)
    for name in metrics:
        rows = metric == name
        chance = np.full(len(tasks), 0.5) if name == "auc" else 1.0 / k
        out[rows] = np.clip((R[rows] - chance[rows, None]) / (1 - chance[rows, None]), 0.0, 1.0)
    return out


class ChanceUnits(ShippedFit):
    def __init__(self, auc_weights=(0.5, 2.0, 4.0), **kwargs):
        super().__init__(**kwargs)
        self.auc_weights = auc_weights

    def fit(self, D, train):
        R, eff, cold = self._shipped(D, train)
        tasks = D.tasks.iloc[train]
        ones = np.ones_like(R)
        self.s = {"shipped": cold(eff)}
        for label, metrics in (("auc above chance", ("auc",)),
                               ("auc, balanced acc above chance", ("auc", "balanced_accuracy"))):
            Rc = transformed(above_chance(D.R[train], tasks, metrics), "asin")
            self.s[label] = cold(pair_weighted_effects(Rc, ones, self.lam, mu=self.mu))
        is_auc = (tasks["metric"].astype(str).to_numpy() == "auc")
        for w in self.auc_weights:
            W = mean_one(np.broadcast_to(np.where(is_auc, w, 1.0)[:, None], R.shape), R)
            self.s[f"auc weight {w}"] = cold(pair_weighted_effects(R, W, self.lam, mu=self.mu))
        return self
