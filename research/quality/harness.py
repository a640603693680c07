"""Self-contained task-protocol harness (pure functions): data -> task matrix, grouped folds, metrics.

Task = (ref, task). Relevance metric of a task = auc if every record has it, else accuracy, else
balanced_accuracy, else f1 (each "every record"; else the first reported by any record, records
without it unrated). A model's relevance on a task = max over its records. Tasks with < 2 rated
models are not evaluated (they still train).
"""
from __future__ import annotations

import os
os.environ.setdefault("OMP_NUM_THREADS", "1")
from dataclasses import dataclass

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

# The corpus the package ships (a byte-identical gzip of shared/data/medicalrec_public_bench.csv).
DATA = str(Path(__file__).resolve().parents[2] / "medicalrec" / "bench" / "data" / "medicalrec_public_bench.csv.gz")
PRIORITY = ["auc", "accuracy", "balanced_accuracy", "f1"]
CAT = ["domain", "modality", "task_type", "augmentation"]
NUM = ["n_samples", "n_train", "n_test", "n_val", "width", "height", "channels", "n_classes", "k_fold"]
LOG_NUM = {"n_samples", "n_train", "n_test", "n_val", "width", "height", "n_classes"}
FEATURES = CAT + NUM


@dataclass
class Data:
    tasks: pd.DataFrame      # one row per task: ref, task, dataset, FEATURES (constant within task else NaN)
    models: list[str]        # all models, sorted by name (ties by name = index order)
    R: np.ndarray            # [T, M] relevance, NaN = not rated
    present: np.ndarray      # [T, M] bool, model has any record on the task
    G: np.ndarray            # [T, M] within-task min-max gain (NaN unrated; all tied -> 1)


def load(path: str = DATA) -> Data:
    d = pd.read_csv(path)
    d["tid"] = d["ref"].astype(str) + " :: " + d["task"].astype(str)
    models = sorted(d["model"].astype(str).unique())
    midx = {m: i for i, m in enumerate(models)}
    tids = list(dict.fromkeys(d["tid"]))
    rows = []
    T, M = len(tids), len(models)
    R = np.full((T, M), np.nan)
    present = np.zeros((T, M), bool)
    for t, (tid, g) in enumerate(d.groupby("tid", sort=False)):
        assert tid == tids[t]
        metric = next((m for m in PRIORITY if g[m].notna().all()), None)
        if metric is None:
            metric = next((m for m in PRIORITY if g[m].notna().any()), None)
        row = {"tid": tid, "ref": g["ref"].iloc[0], "task": g["task"].iloc[0], "dataset": g["dataset"].iloc[0],
               "metric": metric}
        for c in FEATURES:
            vals = g[c]
            row[c] = vals.iloc[0] if vals.nunique(dropna=False) <= 1 else np.nan
        rows.append(row)
        mi = g["model"].astype(str).map(midx).to_numpy()
        present[t, mi] = True
        if metric is not None:
            rel = g[metric].to_numpy(float)
            ok = ~np.isnan(rel)
            best = np.full(M, -np.inf)
            np.maximum.at(best, mi[ok], rel[ok])
            R[t, np.isfinite(best)] = best[np.isfinite(best)]
    tasks = pd.DataFrame(rows)
    G = gains(R)
    return Data(tasks, models, R, present, G)


def gains(R: np.ndarray) -> np.ndarray:
    lo, hi = np.nanmin(np.where(np.isnan(R), np.inf, R), 1), np.nanmax(np.where(np.isnan(R), -np.inf, R), 1)
    spread = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        G = np.where(spread[:, None] > 0, (R - lo[:, None]) / spread[:, None], 1.0)
    return np.where(np.isnan(R), np.nan, G)


def grouped_folds(groups: np.ndarray, n_folds: int, seed: int) -> list[np.ndarray]:
    """GroupKFold-like: groups shuffled by seed, then largest first to the fold with fewest items."""
    rng = np.random.default_rng(seed)
    uniq, counts = np.unique(groups, return_counts=True)
    perm = rng.permutation(len(uniq))
    uniq, counts = uniq[perm], counts[perm]
    order = np.argsort(-counts, kind="stable")
    load_ = np.zeros(n_folds)
    fold_of = {}
    for i in order:
        f = int(np.argmin(load_))
        fold_of[uniq[i]] = f
        load_[f] += counts[i]
    fid = np.array([fold_of[g] for g in groups])
    return [np.flatnonzero(fid == f) for f in range(n_folds)]


def task_metrics(scores: np.ndarray, rel: np.ndarray) -> dict:
    """scores/rel over the task's evaluated models in name order; -inf scores = unseen (rank last by name)."""
    order = np.argsort(-scores, kind="stable")
    best = rel.max()
    spread = best - rel.min()
    gain = (rel - rel.min()) / spread if spread > 0 else np.ones_like(rel)
    disc = 1.0 / np.log2(np.arange(2, rel.size + 2))
    k = min(5, rel.size)
    dcg = (gain[order][:k] * disc[:k]).sum()
    idcg = (np.sort(gain)[::-1][:k] * disc[:k]).sum()
    is_best = rel[order] == best
    first = int(np.argmax(is_best)) + 1
    s = scores.copy()
    fin = np.isfinite(s)
    if (~fin).any():
        s[~fin] = (s[fin].min() - 1.0) if fin.any() else 0.0
    tau = np.nan
    if s.size >= 2 and np.ptp(s) > 0 and np.ptp(rel) > 0:
        tau = float(kendalltau(s, rel, variant="b").statistic)
    return {"regret1": float(best - rel[order[0]]), "ndcg5": float(dcg / idcg), "hit1": float(first <= 1),
            "hit3": float(first <= 3), "tau": tau}


def evaluate(D: Data, make, protocol: str = "dataset", seeds=(0, 1, 2), n_folds: int = 5, cold: bool = False,
             timing: list | None = None) -> pd.DataFrame:
    """Per-task metrics. ``make()`` returns a recommender with fit(D, train_idx) and
    score(D, test_idx) -> {view: [n_test, M]} (or an array = one view "main").
    Models with no record in the training tasks rank last by name unless ``cold`` (then a
    recommender may score them; NaN still ranks last)."""
    import time
    key = {"dataset": "dataset", "ref": "ref", "task": "tid"}[protocol]  # "task": random task folds (leaky: same dataset both sides)
    groups = D.tasks[key].astype(str).to_numpy()
    n_rated = (~np.isnan(D.R)).sum(1)
    out = []
    for seed in seeds:
        for f, test in enumerate(grouped_folds(groups, n_folds, seed)):
            train = np.setdiff1d(np.arange(len(groups)), test)
            rec = make()
            t0 = time.perf_counter()
            rec.fit(D, train)
            if timing is not None:
                timing.append(time.perf_counter() - t0)
            ev = test[n_rated[test] >= 2]
            res = rec.score(D, ev)
            if not isinstance(res, dict):
                res = {"main": res}
            seen = D.present[train].any(0)
            for view, S in res.items():
                S = np.asarray(S, float).copy()
                S[np.isnan(S)] = -np.inf
                if not cold:
                    S[:, ~seen] = -np.inf
                for i, t in enumerate(ev):
                    e = np.flatnonzero(~np.isnan(D.R[t]))
                    m = task_metrics(S[i, e], D.R[t, e])
                    m.update(view=view, seed=seed, fold=f, tid=D.tasks.tid[t], dataset=D.tasks.dataset[t],
                             n_models=len(e), n_unseen=int((~seen[e]).sum()))
                    out.append(m)
    return pd.DataFrame(out)


METRICS = ["regret1", "ndcg5", "hit1", "hit3", "tau"]


def summarise(per_task: pd.DataFrame, baseline: pd.DataFrame | None = None) -> dict:
    """mean over tasks per seed -> mean and std over seeds; Wilcoxon vs baseline on per-task means."""
    from scipy.stats import wilcoxon
    by_seed = per_task.groupby("seed")[METRICS].mean()
    out = {m: by_seed[m].mean() for m in METRICS}
    out.update({m + "_sd": by_seed[m].std(ddof=0) for m in METRICS})
    if baseline is not None:
        a = per_task.groupby("tid")[["regret1", "ndcg5"]].mean()
        b = baseline.groupby("tid")[["regret1", "ndcg5"]].mean().reindex(a.index)
        for m in ["regret1", "ndcg5"]:
            diff = a[m] - b[m]
            out["p_" + m] = float(wilcoxon(a[m], b[m]).pvalue) if (diff != 0).any() else 1.0
            out["d_" + m] = float(diff.mean())
            out["nz_" + m] = int((diff.abs() > 1e-12).sum())
    return out
