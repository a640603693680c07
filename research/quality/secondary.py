"""Other reported metrics as extra evidence for the effects prior.

Why: about 2,000 of the corpus's records report more than one metric (AUC and accuracy, F1, balanced
accuracy ...), but a task's ranking, and so the prior's fit, reads only its relevance metric. A model's
accuracy on a task where AUC ranks says something about how good it is too. Each (training task, other
metric) with at least two rated models becomes one more row of the effects fit, in arcsin(sqrt) units,
its pairs weighing ``w`` each (a task's own pairs weigh 1), with the shipped level ridge and the catalogue
cold start of the time (two levels, ``additive.catalogue_filler``). Evaluation is unchanged: held-out tasks are ranked and scored by their relevance metric only.

Run: ``python run.py secondary_metrics [--protocol ref] --cold``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

import harness
from additive import catalogue_filler, pair_weighted_effects, transformed
from recs import GlobalViews

METRICS = ("auc", "accuracy", "balanced_accuracy", "f1", "precision", "recall")


def metric_matrices(D: harness.Data, path: str = harness.DATA) -> dict[str, np.ndarray]:
    """metric -> [T, M]: each model's best value of that metric on each task (NaN = not reported), rows in D's
    task order, columns in D's model order."""
    d = pd.read_csv(path)
    tid = (d["ref"].astype(str) + " :: " + d["task"].astype(str)).map({t: i for i, t in enumerate(D.tasks.tid)})
    mid = d["model"].astype(str).map({m: i for i, m in enumerate(D.models)})
    out = {}
    for metric in METRICS:
        values = d[metric].to_numpy(float)
        ok = ~np.isnan(values)
        best = np.full(D.R.shape, -np.inf)
        np.maximum.at(best, (tid.to_numpy()[ok], mid.to_numpy()[ok]), values[ok])
        out[metric] = np.where(np.isfinite(best), best, np.nan)
    return out


def secondary_rows(D: harness.Data, matrices: dict, train: np.ndarray, metrics) -> np.ndarray:
    """[k, M]: one row per (training task, metric in ``metrics`` other than the task's relevance metric) with at
    least two rated models."""
    rows = []
    relevance = D.tasks["metric"].to_numpy()
    for metric in metrics:
        X = matrices[metric][train]
        keep = (relevance[train] != metric) & ((~np.isnan(X)).sum(1) >= 2)
        rows.append(X[keep])
    return np.concatenate(rows) if rows else np.empty((0, D.R.shape[1]))


class SecondaryMetricEffects(GlobalViews):
    """The effects fit (arcsin units, effect ridge ``lam``, level ridge ``mu``, two-level cold start k) with other
    metrics' rows added at pair weight ``w``, for each set of metrics."""

    SETS = {"acc+bacc+f1+auc": ("accuracy", "balanced_accuracy", "f1", "auc"), "all six": METRICS,
            "auc+acc": ("auc", "accuracy")}

    def __init__(self, lam=2.0, k=3.0, mu=0.5, ws=(0.25, 0.5, 1.0), sets=("acc+bacc+f1+auc", "all six", "auc+acc")):
        self.lam, self.k, self.mu, self.ws, self.sets = lam, k, mu, ws, sets
        self.matrices = None

    def fit(self, D, train):
        if self.matrices is None:
            self.matrices = metric_matrices(D)
        cold = catalogue_filler(D.models, self.k)
        R = transformed(D.R[train], "asin")
        self.s = {"none": cold(pair_weighted_effects(R, np.ones_like(R), self.lam, mu=self.mu))}
        for name in self.sets:
            extra = transformed(secondary_rows(D, self.matrices, train, self.SETS[name]), "asin")
            for w in self.ws:
                stacked = np.concatenate([R, extra])
                W = np.concatenate([np.ones_like(R), np.full(extra.shape, w)])
                self.s[f"{name} w={w}"] = cold(pair_weighted_effects(stacked, W, self.lam, mu=self.mu))
        return self
