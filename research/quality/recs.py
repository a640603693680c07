"""Recommenders for the experiment: fit(D, train_idx); score(D, idx) -> {view: [n, M]} or [n, M].

All are numpy/lightgbm; the torch pair scorer lives in transformer_v2.py.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from attributes import attributes
from harness import CAT, LOG_NUM, NUM, Data


# ---------------------------------------------------------------- priors
def best_mean(G: np.ndarray, k: float = 2.0) -> np.ndarray:
    """Mean within-task gain per model over the tasks that rated it, shrunk toward the global mean gain
    by k pseudo-tasks. NaN for models never rated."""
    ev = ~np.isnan(G)
    cnt = ev.sum(0)
    tot = np.where(ev, G, 0).sum(0)
    g0 = tot.sum() / max(cnt.sum(), 1)
    with np.errstate(invalid="ignore"):
        return np.where(cnt > 0, (tot + k * g0) / (cnt + k), np.nan)


def group_ids(keys: list) -> np.ndarray:
    u = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    return np.array([u[k] for k in keys])


def model_levels(models: list[str]) -> list[np.ndarray]:
    """Hierarchy ids, fine -> coarse: backbone+adaptation, family+adaptation (model itself is level 0)."""
    A = [attributes(m) for m in models]
    return [group_ids([(a["backbone"], a["adaptation"]) for a in A]),
            group_ids([(a["family"], a["adaptation"]) for a in A])]


def hier_prior(G: np.ndarray, levels: list[np.ndarray], k=(2.0, 2.0, 2.0), w: np.ndarray | None = None) -> np.ndarray:
    """model -> levels[0] -> levels[1] -> global, each shrunk with k pseudo-tasks toward its parent.
    Scores every model whose group was rated (cold items included); NaN otherwise."""
    ev = ~np.isnan(G)
    w = np.ones(len(G)) if w is None else w
    cnt_m = (ev * w[:, None]).sum(0).astype(float)
    tot_m = (np.where(ev, G, 0) * w[:, None]).sum(0)
    g0 = tot_m.sum() / max(cnt_m.sum(), 1e-12)
    parent = np.full(G.shape[1], g0)
    known = np.zeros(G.shape[1], bool)
    for lv, kk in zip(levels[::-1], k[::-1][:len(levels)]):  # coarse first
        n = np.bincount(lv, cnt_m)
        s = np.bincount(lv, tot_m)
        parent = (s[lv] + kk * parent) / (n[lv] + kk)
        known |= n[lv] > 0
    est = (tot_m + k[0] * parent) / (cnt_m + k[0])
    return np.where(known | ev.any(0), est, np.nan)


class GlobalViews:
    """A prior that does not read the task: ``fit`` sets ``self.s`` (view -> [M] scores); every task gets them."""

    def score(self, D, idx):
        return {v: np.tile(s, (len(idx), 1)) for v, s in self.s.items()}


class BestMean:
    def __init__(self, k=2.0, views=None):
        self.k, self.views = k, views

    def fit(self, D: Data, train):
        G = D.G[train]
        self.p = best_mean(G, self.k)
        pop = D.present[train].sum(0)
        self.s = np.where(np.isnan(self.p), -1 + pop / (pop.max() + 1.0), self.p)
        if self.views:
            self.extra = {f"k={k}": np.where(np.isnan(p := best_mean(G, k)), -1 + pop / (pop.max() + 1), p)
                          for k in self.views}
        return self

    def score(self, D, idx):
        out = {"main": np.tile(self.s, (len(idx), 1))}
        if self.views:
            out.update({v: np.tile(s, (len(idx), 1)) for v, s in self.extra.items()})
        return out


class HierPrior(GlobalViews):
    """Hierarchically smoothed leaderboard prior (model -> backbone+adapt -> family+adapt -> global)."""

    def __init__(self, ks=((2, 2, 2), (2, 5, 5), (1, 3, 3), (4, 4, 4)), dw=0.0):
        self.ks, self.dw = ks, dw

    def fit(self, D, train):
        lv = model_levels(D.models)
        w = dataset_weights(D.tasks.dataset.astype(str).to_numpy()[train], self.dw)
        pop = D.present[train].sum(0)
        low = -1 + pop / (pop.max() + 1.0)
        self.s = {f"k={'/'.join(map(str, k))}": np.where(np.isnan(p := hier_prior(D.G[train], lv, k, w)), low, p)
                  for k in self.ks}
        return self


# ---------------------------------------------------------------- task features
class TaskFeatures:
    """Standardised numbers (log1p for counts/sizes), NaN missing; categories as codes (0 = missing, 1 = unknown)."""

    def fit(self, tasks: pd.DataFrame):
        X = self._num(tasks)
        self.mu, self.sd = np.nanmean(X, 0), np.nanstd(X, 0)
        self.mu = np.nan_to_num(self.mu)
        self.sd = np.where(np.nan_to_num(self.sd) > 0, np.nan_to_num(self.sd), 1.0)
        self.vocab = {c: {v: i + 2 for i, v in enumerate(sorted(tasks[c].dropna().astype(str).unique()))} for c in CAT}
        return self

    @staticmethod
    def _num(tasks):
        X = tasks[NUM].to_numpy(float).copy()
        for j, c in enumerate(NUM):
            if c in LOG_NUM:
                X[:, j] = np.log1p(X[:, j])
        return X

    def num(self, tasks):
        return (self._num(tasks) - self.mu) / self.sd

    def cat(self, tasks):
        out = np.zeros((len(tasks), len(CAT)), np.int64)
        for j, c in enumerate(CAT):
            v = tasks[c]
            out[:, j] = [0 if pd.isna(x) else self.vocab[c].get(str(x), 1) for x in v]
        return out


def distances(qn, qc, tn, tc, mismatch=2.0):
    """Missing-aware Euclidean distance (the package's knn_tasks rule)."""
    diff = qn[:, None, :] - tn[None, :, :]
    shared_n = ~np.isnan(diff)
    sq = np.where(shared_n, diff, 0.0) ** 2
    shared_c = (qc[:, None, :] != 0) & (tc[None, :, :] != 0)
    mis = shared_c & (qc[:, None, :] != tc[None, :, :])
    tot = sq.sum(2) + mismatch * mis.sum(2)
    sh = shared_n.sum(2) + shared_c.sum(2)
    nf = qn.shape[1] + qc.shape[1]
    return np.sqrt(np.where(sh > 0, tot * nf / np.maximum(sh, 1), np.inf))


def neighbour_residuals(residuals: np.ndarray, order: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """[n, M] count and mean of each model's residuals over each query's k nearest training tasks
    (``order``: training task indices by distance); mean 0 where none rated the model."""
    R = residuals[order[:, :k]]  # [n, k, M]
    ev = ~np.isnan(R)
    n = ev.sum(1)
    return n, np.where(n > 0, np.where(ev, R, 0).sum(1) / np.maximum(n, 1), 0.0)


class KnnResidual:
    """prior + w * n/(n+a) * mean residual (gain - prior) of each model over the k nearest training tasks."""

    def __init__(self, k=10, a=2.0, ws=(0.5,), hier=False, ks=(10,), dw=0.0, prior_k=2.0):
        self.k, self.a, self.ws, self.hier, self.ks, self.dw, self.prior_k = k, a, ws, hier, ks, dw, prior_k

    def fit(self, D, train):
        self.train = train
        self.tf = TaskFeatures().fit(D.tasks.iloc[train])
        self.tn, self.tc = self.tf.num(D.tasks.iloc[train]), self.tf.cat(D.tasks.iloc[train])
        G = D.G[train]
        w = dataset_weights(D.tasks.dataset.astype(str).to_numpy()[train], self.dw)
        self.prior = (hier_prior(G, model_levels(D.models), w=w, k=(self.prior_k,) * 3) if self.hier
                      else weighted_best_mean(G, w, self.prior_k))
        pop = D.present[train].sum(0)
        self.base = np.where(np.isnan(self.prior), -1 + pop / (pop.max() + 1.0), self.prior)
        self.res = G - self.prior[None, :]
        return self

    def score(self, D, idx):
        q = D.tasks.iloc[idx]
        dist = distances(self.tf.num(q), self.tf.cat(q), self.tn, self.tc)
        out = {}
        order = np.argsort(dist, axis=1, kind="stable")
        for k in self.ks:
            n, mean = neighbour_residuals(self.res, order, k)
            for w in self.ws:
                out[f"k={k},w={w}"] = self.base[None, :] + w * n / (n + self.a) * mean
        return out


# ---------------------------------------------------------------- LambdaMART
class LambdaMart:
    """LGBMRanker (lambdarank) on task features + model id (categorical) + prior (+ attributes)."""

    def __init__(self, prior_mode="in", attrs=False, n_estimators=200, lr=0.05, leaves=15, min_child=20, seed=0,
                 blends=(0.0,)):
        self.prior_mode, self.attrs, self.seed, self.blends = prior_mode, attrs, seed, blends
        self.kw = dict(n_estimators=n_estimators, learning_rate=lr, num_leaves=leaves, min_child_samples=min_child)

    def _rows(self, D, idx, prior_rows, tf):
        q = D.tasks.iloc[idx]
        num, cat = tf.num(q), tf.cat(q)
        M = len(D.models)
        t = np.repeat(np.arange(len(idx)), M)
        m = np.tile(np.arange(M), len(idx))
        cols = [num[t], cat[t].astype(float), m[:, None].astype(float), prior_rows.reshape(-1, 1)]
        if self.attrs:
            cols.append(self.A[m].astype(float))
        return np.hstack(cols), t, m

    def fit(self, D, train):
        import lightgbm as lgb
        self.tf = TaskFeatures().fit(D.tasks.iloc[train])
        G = D.G[train]
        self.prior = best_mean(G)
        A = pd.DataFrame([attributes(x) for x in D.models])
        self.A = np.stack([group_ids(list(A[c])) for c in ["backbone", "family", "adaptation", "size"]], 1)
        if self.prior_mode == "in":
            P = np.tile(self.prior, (len(train), 1))
        else:  # leave-one-dataset-out prior for each training task (mimics an unseen dataset)
            ds = D.tasks.dataset.to_numpy()[train]
            P = np.empty((len(train), len(D.models)))
            for g in np.unique(ds):
                P[ds == g] = best_mean(G[ds != g])
        X, t, m = self._rows(D, train, P, self.tf)
        y = G[t, m]
        keep = ~np.isnan(y)
        X, t, y = X[keep], t[keep], y[keep]
        lab = np.rint(y * 10).astype(int)
        order = np.argsort(t, kind="stable")
        X, t, lab = X[order], t[order], lab[order]
        grp = np.bincount(t, minlength=len(train))
        grp = grp[grp > 0]
        nf = self.tf.mu.size
        catf = list(range(nf, nf + len(CAT) + 1)) + (list(range(nf + len(CAT) + 2, X.shape[1])) if self.attrs else [])
        self.model = lgb.LGBMRanker(objective="lambdarank", label_gain=list(range(11)), n_jobs=1, verbose=-1,
                                    random_state=self.seed, subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                                    **self.kw)
        self.model.fit(X, lab, group=grp, categorical_feature=catf)
        return self

    def score(self, D, idx):
        P = np.tile(np.nan_to_num(self.prior, nan=-1), (len(idx), 1))
        X, t, m = self._rows(D, idx, P, self.tf)
        s = self.model.predict(X, num_threads=1).reshape(len(idx), -1)
        s = np.where(np.isnan(self.prior)[None, :], np.nan, s)
        out = {}
        for b in self.blends:  # b = weight of the z-scored ranker score added to the prior
            if b == 0.0:
                out["main"] = s
            else:
                z = (s - np.nanmean(s, 1, keepdims=True)) / (np.nanstd(s, 1, keepdims=True) + 1e-9)
                out[f"prior+{b}z"] = P + b * z * np.nanstd(self.prior)
        return out


# ---------------------------------------------------------------- Plackett-Luce / ListNet strength prior
def pl_strength(G: np.ndarray, tau: float = 0.25, lam: float = 0.01, levels: list[np.ndarray] | None = None,
                lam_levels=(0.01, 0.01), steps: int = 300, lr: float = 0.1) -> np.ndarray:
    """Item strengths b fitted so that softmax(b) over each task's evaluated models matches
    softmax(gain / tau) (ListNet), with an L2 pull toward 0 (i.e. toward the average model).
    Unlike the mean gain this accounts for WHO a model was compared with on each task.
    With ``levels`` b_m = u_m + sum_l v_l[group_l(m)] (attribute groups share strength; cold items
    get the group part). Returns b (0 for models with no rating and no rated group)."""
    import torch
    torch.set_num_threads(1)
    ev = ~np.isnan(G)
    keep = ev.sum(1) >= 2
    G, ev = G[keep], ev[keep]
    Gt = torch.as_tensor(np.nan_to_num(G), dtype=torch.float32)
    evt = torch.as_tensor(ev)
    target = torch.softmax((Gt / tau).masked_fill(~evt, -1e9), 1)
    M = G.shape[1]
    u = torch.zeros(M, requires_grad=True)
    params = [u]
    vs, lv_t = [], []
    for lv in levels or []:
        v = torch.zeros(int(lv.max()) + 1, requires_grad=True)
        vs.append(v)
        lv_t.append(torch.as_tensor(lv))
        params.append(v)
    opt = torch.optim.LBFGS(params, lr=1, max_iter=steps, line_search_fn="strong_wolfe")
    n = float(len(G))

    def strength():
        b = u
        for v, l in zip(vs, lv_t):
            b = b + v[l]
        return b

    def closure():
        opt.zero_grad()
        b = strength()
        logp = torch.log_softmax(b[None, :].masked_fill(~evt, -1e9), 1)
        loss = -(target * logp).sum() / n + lam * u.pow(2).sum()
        for v, lm in zip(vs, lam_levels):
            loss = loss + lm * v.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return strength().numpy().astype(float)


class PLPrior(GlobalViews):
    def __init__(self, tau=0.25, lams=(0.003, 0.01, 0.03), hier=False, lam_levels=(0.01, 0.01)):
        self.tau, self.lams, self.hier, self.lam_levels = tau, lams, hier, lam_levels

    def fit(self, D, train):
        G = D.G[train]
        rated = (~np.isnan(G)).any(0)
        lv = model_levels(D.models) if self.hier else None
        if self.hier:
            # cold items are scored from their groups if any member was rated
            known = np.zeros(len(D.models), bool)
            for l in lv:
                known |= np.isin(l, l[rated])
            rated = rated | known
        self.s = {f"lam={lam}": np.where(rated, pl_strength(G, self.tau, lam, lv, self.lam_levels), np.nan)
                  for lam in self.lams}
        return self


# ---------------------------------------------------------------- alternative within-task gains
def transform_gains(R: np.ndarray, how: str) -> np.ndarray:
    """'minmax' (default), 'rank' (0 = worst .. 1 = best, ties averaged), 'win' (1 for the best model(s)),
    'z' (within-task z-score squashed to [0, 1] by a logistic)."""
    from harness import gains
    if how == "minmax":
        return gains(R)
    out = np.full(R.shape, np.nan)
    for t, r in enumerate(R):
        e = ~np.isnan(r)
        v = r[e]
        if v.size == 0:
            continue
        if how == "rank":
            from scipy.stats import rankdata
            out[t, e] = (rankdata(v) - 1) / max(v.size - 1, 1) if v.size > 1 else 1.0
        elif how == "win":
            out[t, e] = (v == v.max()).astype(float)
        elif how == "z":
            sd = v.std()
            out[t, e] = 1 / (1 + np.exp(-(v - v.mean()) / sd)) if sd > 0 else 0.5
    return out


class BestMeanGain(GlobalViews):
    def __init__(self, hows=("rank", "win", "z"), k=2.0, blend_minmax=(0.5,)):
        self.hows, self.k, self.blend = hows, k, blend_minmax

    def fit(self, D, train):
        pop = D.present[train].sum(0)
        low = -1 + pop / (pop.max() + 1.0)
        base = best_mean(D.G[train], self.k)
        self.s = {}
        for h in self.hows:
            p = best_mean(transform_gains(D.R[train], h), self.k)
            self.s[h] = np.where(np.isnan(p), low, p)
            for b in self.blend:
                self.s[f"{b}*minmax+{1 - b}*{h}"] = np.where(np.isnan(p), low, b * base + (1 - b) * p)
        return self


# ---------------------------------------------------------------- weighted / stratified priors
def weighted_best_mean(G: np.ndarray, w: np.ndarray, k: float = 2.0) -> np.ndarray:
    """best_mean with task weights w (pseudo-task weight k stays in units of one full task)."""
    ev = ~np.isnan(G)
    W = ev * w[:, None]
    cnt = W.sum(0)
    tot = (np.where(ev, G, 0) * w[:, None]).sum(0)
    g0 = tot.sum() / max(cnt.sum(), 1e-12)
    with np.errstate(invalid="ignore"):
        return np.where(ev.any(0), (tot + k * g0) / (cnt + k), np.nan)


def dataset_weights(ds: np.ndarray, power: float) -> np.ndarray:
    """weight of a task = n_tasks(dataset) ** -power (power 1: each dataset counts once in total)."""
    _, inv, cnt = np.unique(ds, return_inverse=True, return_counts=True)
    return cnt[inv].astype(float) ** -power


class WeightedPrior(GlobalViews):
    def __init__(self, powers=(0.25, 0.5, 1.0), by="dataset", k=2.0, ks=None, gain="minmax"):
        self.powers, self.by, self.k, self.ks, self.gain = powers, by, k, ks, gain

    def fit(self, D, train):
        pop = D.present[train].sum(0)
        low = -1 + pop / (pop.max() + 1.0)
        ds = D.tasks[self.by].astype(str).to_numpy()[train]
        G = D.G[train] if self.gain == "minmax" else transform_gains(D.R[train], self.gain)
        self.s = {f"{self.by}^-{p},k={k}": np.where(np.isnan(q := weighted_best_mean(G, dataset_weights(ds, p), k)),
                                                     low, q) for p in self.powers for k in (self.ks or (self.k,))}
        return self


class StratifiedPrior:
    """prior of the query's category (modality or domain), shrunk toward the global prior with k pseudo-tasks
    per model; falls back to the global prior for missing/unknown categories."""

    def __init__(self, cols=("modality", "domain"), ks=(2.0, 5.0, 10.0)):
        self.cols, self.ks = cols, ks

    def fit(self, D, train):
        G = D.G[train]
        pop = D.present[train].sum(0)
        self.low = -1 + pop / (pop.max() + 1.0)
        self.glob = best_mean(G)
        ev = ~np.isnan(G)
        self.stats = {}
        for c in self.cols:
            v = D.tasks[c].astype(str).to_numpy()[train]
            self.stats[c] = {u: (np.where(ev[v == u], G[v == u], 0).sum(0), ev[v == u].sum(0)) for u in np.unique(v)}
        return self

    def score(self, D, idx):
        out = {}
        for c in self.cols:
            vals = D.tasks[c].astype(str).to_numpy()[idx]
            for k in self.ks:
                S = np.empty((len(idx), len(self.glob)))
                for i, u in enumerate(vals):
                    tot, n = self.stats[c].get(u, (0.0, 0.0))
                    p = (tot + k * np.nan_to_num(self.glob)) / (n + k)
                    S[i] = np.where(np.isnan(self.glob), self.low, p)
                out[f"{c},k={k}"] = S
        return out
