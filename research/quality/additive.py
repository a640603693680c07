"""Leaderboard priors in the metric's own units instead of within-task min-max gains.

Why: a min-max gain turns a task with two models 0.001 AUC apart into a full 1-vs-0 vote, the same
as two models 0.2 apart. Regret is measured in metric units, so a prior estimated in those units
weighs a task by how much choosing well mattered there.

* ``Additive``: two-way fixed effects, relevance[t, m] = level[t] + effect[m] + noise, weighted least
  squares (task weight n_tasks(dataset) ** -power per rated pair) with a ridge of ``lam`` pseudo-pairs
  pulling each effect toward 0 (the average model); solved by alternating means. Score = effect.
* ``FlooredGain``: min-max gain with the spread floored at ``floor``: gain = 1 - (best - r) / max(spread, floor),
  so a near-tie stays a near-tie.
* ``Blend``: the dataset-balanced min-max prior plus ``alpha`` x the additive effect in gain units.

Run: ``python run.py additive`` (variants registered in run.py).
"""
from __future__ import annotations

import numpy as np

from prior_v2 import dataset_weights
from recs import GlobalViews, model_levels, transform_gains, weighted_best_mean


def additive_effects(R: np.ndarray, weights: np.ndarray, lam: float, iters: int = 5000,
                     clip: float | None = None) -> np.ndarray:
    """[M] model effects (NaN = never rated) of R[t, m] = level[t] + effect[m], task t weighing ``weights[t]``
    per rated pair (``pair_weighted_effects`` with one weight per task)."""
    return pair_weighted_effects(R, np.broadcast_to(weights[:, None], R.shape), lam, iters, clip)


def pair_weighted_effects(R: np.ndarray, W: np.ndarray, lam: float, iters: int = 5000,
                          clip: float | None = None, mu: float = 0.0, Z: np.ndarray | None = None) -> np.ndarray:
    """[M] effects of R[t, m] = level[t] + effect[m], least squares with a weight W[t, m] per rated pair, a ridge
    of ``lam`` pseudo-pairs toward 0 on each effect and of ``mu`` pseudo-pairs (weighted like the task's own pairs)
    on each task level toward the weighted mean of R, by alternating means; ``clip`` bounds each task-centred
    deviation. With ``mu`` > 0, groups of models that no chain of shared tasks connects (each centred on 0
    otherwise) are ordered by how high their tasks scored. With task covariates ``Z`` [T, k], each level is pulled
    toward Z[t] @ beta instead, beta refitted to the levels by least squares at every step."""
    rated = ~np.isnan(R)
    W = np.where(rated, W, 0.0)
    Rz = np.where(rated, R, 0.0)
    wt = W.sum(1)
    anchor = (W * Rz).sum() / W.sum()
    mu_t = mu * wt / np.maximum(rated.sum(1), 1)  # the ridge weighs like one of the task's pairs (as in the package)
    eff = np.zeros(R.shape[1])
    for _ in range(iters):
        level = np.where(wt > 0, ((W * (Rz - eff)).sum(1) + mu_t * anchor) / np.maximum(wt + mu_t, 1e-12), 0.0)
        if Z is not None:
            anchor = Z @ np.linalg.lstsq(Z[wt > 0], level[wt > 0], rcond=None)[0]
        dev = np.where(rated, Rz - level[:, None], 0.0)
        if clip is not None:
            dev = np.clip(dev, -clip, clip)
        new = (W * dev).sum(0) / (W.sum(0) + lam)
        if np.max(np.abs(new - eff)) < 1e-10:
            eff = new
            break
        eff = new
    return np.where(rated.any(0), eff, np.nan)


def floored_gains(R: np.ndarray, floor: float) -> np.ndarray:
    rated = ~np.isnan(R)
    hi = np.where(rated, R, -np.inf).max(1, keepdims=True)
    lo = np.where(rated, R, np.inf).min(1, keepdims=True)
    spread = np.maximum(hi - lo, floor)
    with np.errstate(invalid="ignore"):
        g = 1.0 - (hi - R) / spread
    return np.where(rated, g, np.nan)


def _low(D, train):
    pop = D.present[train].sum(0)
    return -1 + pop / (pop.max() + 1.0)


class Additive(GlobalViews):
    def __init__(self, powers=(0.0, 0.5), lams=(0.5, 2.0, 5.0), clips=(None,)):
        self.powers, self.lams, self.clips = powers, lams, clips

    def fit(self, D, train):
        low = _low(D, train)
        ds = D.tasks["dataset"].astype(str).to_numpy()[train]
        R = D.R[train]
        self.s = {}
        for p in self.powers:
            w = dataset_weights(ds, p)
            for lam in self.lams:
                for c in self.clips:
                    e = additive_effects(R, w, lam, clip=c)
                    self.s[f"p={p},lam={lam},clip={c}"] = np.where(np.isnan(e), low, e)
        return self


class ScaledAdditive(GlobalViews):
    """Effects on relevance divided by (task spread + s0): s0 -> 0 approaches min-max units, s0 -> inf raw
    units. ``per_task``: each task's pairs share one unit of weight (1 / (n_t - 1)) instead of one per pair."""

    def __init__(self, s0s=(0.05, 0.1, 0.2, 0.4), lam=2.0, per_task=(False,)):
        self.s0s, self.lam, self.per_task = s0s, lam, per_task

    def fit(self, D, train):
        low = _low(D, train)
        R = D.R[train]
        rated = ~np.isnan(R)
        spread = np.where(rated, R, -np.inf).max(1) - np.where(rated, R, np.inf).min(1)
        spread = np.where(np.isfinite(spread), spread, 0.0)
        n = rated.sum(1)
        self.s = {}
        for pt in self.per_task:
            w = 1.0 / np.maximum(n - 1, 1) if pt else np.ones(len(R))
            for s0 in self.s0s:
                scale = (spread + s0) if s0 is not None else np.ones(len(R))
                e = additive_effects(R / scale[:, None], w, self.lam)
                self.s[f"s0={s0},per_task={pt}"] = np.where(np.isnan(e), low, e)
        return self


class EffectsKnnResidual:
    """effect + w * n/(n+a) * mean residual (r - level - effect) of each model over the k nearest training
    tasks (the task distance of recs.KnnResidual), all in metric units."""

    def __init__(self, lam=2.0, ks=(5, 10, 20), ws=(0.25, 0.5, 1.0), a=2.0):
        self.lam, self.ks, self.ws, self.a = lam, ks, ws, a

    def fit(self, D, train):
        from recs import TaskFeatures
        self.tf = TaskFeatures().fit(D.tasks.iloc[train])
        self.tn, self.tc = self.tf.num(D.tasks.iloc[train]), self.tf.cat(D.tasks.iloc[train])
        R = D.R[train]
        eff = additive_effects(R, np.ones(len(R)), self.lam)
        rated = ~np.isnan(R)
        level = np.where(rated, R - np.nan_to_num(eff)[None, :], 0).sum(1) / np.maximum(rated.sum(1), 1)
        self.res = R - level[:, None] - eff[None, :]
        self.base = np.where(np.isnan(eff), _low(D, train), eff)
        return self

    def score(self, D, idx):
        from recs import distances, neighbour_residuals
        q = D.tasks.iloc[idx]
        order = np.argsort(distances(self.tf.num(q), self.tf.cat(q), self.tn, self.tc), axis=1, kind="stable")
        out = {}
        for k in self.ks:
            n, mean = neighbour_residuals(self.res, order, k)
            for w in self.ws:
                out[f"k={k},w={w}"] = self.base[None, :] + w * n / (n + self.a) * mean
        return out


class FlooredGain(GlobalViews):
    def __init__(self, floors=(0.01, 0.02, 0.05, 0.1), power=0.5, k=2.0):
        self.floors, self.power, self.k = floors, power, k

    def fit(self, D, train):
        low = _low(D, train)
        w = dataset_weights(D.tasks["dataset"].astype(str).to_numpy()[train], self.power)
        self.s = {}
        for f in self.floors:
            q = weighted_best_mean(floored_gains(D.R[train], f), w, self.k)
            self.s[f"floor={f}"] = np.where(np.isnan(q), low, q)
        return self


class Blend(GlobalViews):
    """dataset-balanced min-max prior + alpha * additive effect / typical within-task spread."""

    def __init__(self, alphas=(0.5, 1.0, 2.0), power=0.5, k=2.0, lam=2.0):
        self.alphas, self.power, self.k, self.lam = alphas, power, k, lam

    def fit(self, D, train):
        low = _low(D, train)
        w = dataset_weights(D.tasks["dataset"].astype(str).to_numpy()[train], self.power)
        R = D.R[train]
        prior = weighted_best_mean(D.G[train], w, self.k)
        eff = additive_effects(R, w, self.lam)
        rated = ~np.isnan(R)
        spread = (np.where(rated, R, -np.inf).max(1) - np.where(rated, R, np.inf).min(1))
        typical = float(np.median(spread[(rated.sum(1) >= 2) & (spread > 0)]))
        self.s = {f"alpha={a}": np.where(np.isnan(prior), low, prior + a * np.nan_to_num(eff) / typical)
                  for a in self.alphas}
        return self


def group_effects(R: np.ndarray, groups: np.ndarray, lam: float, lam_group: float,
                  iters: int = 3000, mu: float = 0.0) -> tuple[np.ndarray, dict]:
    """R[t, m] = level[t] + effect[m] + inter[m, group(t)], ridges lam and lam_group (and the level ridge mu, as
    ``pair_weighted_effects``), alternating means. Returns (effect [M], {group: inter [M]}); NaN effect = never
    rated. (Each model is its own class.)"""
    return class_group_effects(R, groups, np.arange(R.shape[1]), lam, lam_group, iters, mu)


class GroupEffects:
    """effect[m] + inter[m, group of the query] (0 for a group training never saw): the effects prior with a
    shrunk per-modality (or per-domain) deviation, a structured alternative to nearest-task residuals."""

    def __init__(self, keys=("modality", "domain"), lam=2.0, lam_groups=(2.0, 5.0, 10.0, 20.0)):
        self.keys, self.lam, self.lam_groups = keys, lam, lam_groups

    def fit(self, D, train):
        self.low = _low(D, train)
        self.fits = {}
        for key in self.keys:
            g = D.tasks[key].to_numpy(object)[train]
            for lg in self.lam_groups:
                self.fits[(key, lg)] = group_effects(D.R[train], g, self.lam, lg)
        return self

    def score(self, D, idx):
        out = {}
        for (key, lg), (eff, per_group) in self.fits.items():
            q = D.tasks[key].to_numpy(object)[idx]
            zero = np.zeros_like(eff)
            S = np.stack([eff + per_group.get(g, zero) for g in q])
            out[f"{key},lg={lg}"] = np.where(np.isnan(S), self.low[None, :], S)
        return out


def _catalogue_levels(models):
    """The package's attribute groups (its catalogue, not this study's regexes), for a like-for-like check: the two
    levels it had when Updates 2-6 ran, so their numbers reproduce (the levels shipped since: ``cold_levels.py``)."""
    from medicalrec.recommenders.medicalrec_transformer import _attribute_codes, _levels
    return _levels(_attribute_codes(models)[0], across_adaptations=False)


def catalogue_filler(models, k: float):
    """effects [M] -> the same with never-rated models filled from their catalogue group as the package does
    (``cold_start_effects``, the "group k" view of ``ColdEffects`` with ``catalogue=True``)."""
    from medicalrec.recommenders.medicalrec_transformer import cold_start_effects
    levels = _catalogue_levels(models)
    return lambda effects: cold_start_effects(effects, levels, k)


def catalogue_cold_start(D, train, lam: float, k: float) -> tuple[np.ndarray, np.ndarray]:
    """(effects [M], the same through ``catalogue_filler``)."""
    eff = additive_effects(D.R[train], np.ones(len(train)), lam)
    return eff, catalogue_filler(D.models, k)(eff)


class ColdEffects(GlobalViews):
    """Item cold start on the effects prior: a candidate training never rated gets the mean effect of the
    rated candidates of its backbone + adaptation group, shrunk with ``k`` pseudo-models toward its family +
    adaptation group, shrunk toward 0 (the average model). Views: that estimate competing with rated candidates,
    the same only ordering new candidates below every rated one, the plain prior (new ones last, by name) and
    new ones at a constant (which shows whether the gain is the attributes' order or only leaving last place)."""

    def __init__(self, lam=2.0, ks=(1.0, 3.0, 10.0), catalogue=False):
        self.lam, self.ks, self.catalogue = lam, ks, catalogue

    def fit(self, D, train):
        low = _low(D, train)
        eff = additive_effects(D.R[train], np.ones(len(train)), self.lam)
        rated = ~np.isnan(eff)
        levels = _catalogue_levels(D.models) if self.catalogue else model_levels(D.models)
        self.s = {"new last": np.where(rated, eff, low), "new at 0": np.where(rated, eff, 0.0),
                  "new first": np.where(rated, eff, 1.0 + low)}
        for q in (0.25, 0.75):
            self.s[f"new at q{q}"] = np.where(rated, eff, np.quantile(eff[rated], q))
        for k in self.ks:
            parent = np.zeros(len(eff))
            for lv in levels[::-1]:
                n = np.bincount(lv, rated.astype(float))
                s = np.bincount(lv, np.where(rated, eff, 0.0))
                parent = (s[lv] + k * parent) / (n[lv] + k)
            self.s[f"group k={k}"] = np.where(rated, eff, parent)
            # new candidates still below every rated one, ordered among themselves by their group
            below = np.nanmin(eff) - 1.0 + (parent - parent.min()) / (np.ptp(parent) + 1e-12) * 0.5
            self.s[f"group below rated k={k}"] = np.where(rated, eff, below)
        return self


def group_targets(eff: np.ndarray, levels, k: float) -> np.ndarray:
    """[M] each candidate's attribute-group estimate from the *other* rated candidates (leave-self-out), shrunk with
    k pseudo-models toward the coarser group and then 0; never-rated candidates use every rated member."""
    rated = ~np.isnan(eff)
    own = np.where(rated, eff, 0.0)
    parent = np.zeros(len(eff))
    for lv in levels[::-1]:
        n = np.bincount(lv, rated.astype(float))[lv] - rated
        s = np.bincount(lv, own)[lv] - own
        parent = (s + k * parent) / (n + k)
    return parent


class GroupPriorEffects(GlobalViews):
    """Effects whose ridge pulls toward the model's attribute group (leave-self-out) instead of toward 0, so a
    model rated on one or two tasks borrows from its relatives; never-rated models get the group estimate."""

    def __init__(self, lam=2.0, k=3.0, lams=(2.0, 5.0, 10.0)):
        self.lam, self.k, self.lams = lam, k, lams

    def fit(self, D, train):
        ones = np.ones(len(train))
        eff, cold = catalogue_cold_start(D, train, self.lam, self.k)
        rated = ~np.isnan(eff)
        target = group_targets(eff, _catalogue_levels(D.models), self.k)
        self.s = {"cold start (ridge to 0)": cold}
        for lam in self.lams:
            shrunk = additive_effects(D.R[train] - target[None, :], ones, lam) + target
            self.s[f"ridge to group, lam={lam}"] = np.where(rated, shrunk, cold)
        return self


def class_group_effects(R: np.ndarray, groups: np.ndarray, classes: np.ndarray, lam: float, lam_group: float,
                        iters: int = 3000, mu: float = 0.0) -> tuple[np.ndarray, dict]:
    """R[t, m] = level[t] + effect[m] + inter[class(m), group(t)]: like ``group_effects`` but the deviation is
    shared by a class of models (e.g. pathology-pretrained encoders on pathology tasks), so it is estimated from
    every task where that class competed with others. ``mu``: the level ridge of ``pair_weighted_effects``.
    Returns (effect [M], {group: inter [M]})."""
    rated = ~np.isnan(R)
    Rz = np.where(rated, R, 0.0)
    keys = [g for g in dict.fromkeys(groups) if isinstance(g, str)]
    member = {g: groups == g for g in keys}
    n_classes = int(classes.max()) + 1
    n_t = rated.sum(1)
    anchor = Rz.sum() / rated.sum()
    eff = np.zeros(R.shape[1])
    inter = np.zeros_like(R)
    per_group = {g: np.zeros(R.shape[1]) for g in keys}
    for _ in range(iters):
        level = (np.where(rated, Rz - eff - inter, 0.0).sum(1) + mu * anchor) / np.maximum(n_t + mu, 1)
        new = np.where(rated, Rz - level[:, None] - inter, 0.0).sum(0) / (rated.sum(0) + lam)
        resid = np.where(rated, Rz - level[:, None] - new, 0.0)
        for g, rows in member.items():
            s = np.bincount(classes, resid[rows].sum(0), minlength=n_classes)
            n = np.bincount(classes, rated[rows].sum(0), minlength=n_classes)
            per_group[g] = (s / (n + lam_group))[classes]
            inter[rows] = per_group[g][None, :]
        if np.max(np.abs(new - eff)) < 1e-10:
            eff = new
            break
        eff = new
    return np.where(rated.any(0), eff, np.nan), per_group


class ClassGroupEffects:
    """Cold-start effects plus a shrunk deviation per (model class, query modality or domain); classes from the
    package's catalogue (pretraining, family or adaptation)."""

    def __init__(self, lam=2.0, k=3.0, attrs=("pretraining", "family", "adaptation"), keys=("modality", "domain"),
                 lam_groups=(5.0, 20.0, 100.0)):
        self.lam, self.k, self.attrs, self.keys, self.lam_groups = lam, k, attrs, keys, lam_groups

    def fit(self, D, train):
        from medicalrec.catalogue import Catalogue
        catalogue = Catalogue.load()
        eff, self.cold = catalogue_cold_start(D, train, self.lam, self.k)
        rated = ~np.isnan(eff)
        self.fits = {}
        for attr in self.attrs:
            values = [str(getattr(catalogue.attributes(m), attr)) for m in D.models]
            classes = np.unique(values, return_inverse=True)[1]
            for key in self.keys:
                g = D.tasks[key].to_numpy(object)[train]
                for lg in self.lam_groups:
                    eff, per_group = class_group_effects(D.R[train], g, classes, self.lam, lg)
                    self.fits[(attr, key, lg)] = (np.where(rated, eff, self.cold), per_group)
        return self

    def score(self, D, idx):
        out = {"cold start effects": np.tile(self.cold, (len(idx), 1))}
        for (attr, key, lg), (eff, per_group) in self.fits.items():
            q = D.tasks[key].to_numpy(object)[idx]
            zero = np.zeros_like(eff)
            out[f"{attr} x {key}, lg={lg}"] = np.stack([eff + per_group.get(g, zero) for g in q])
        return out


def hierarchical_effects(R: np.ndarray, levels, lam: float, lam_groups, iters: int = 3000) -> tuple:
    """R[t, m] = level[t] + sum_l g_l[group_l(m)] + u[m], ridges lam_groups[l] on the group terms and lam on u.
    Fitted jointly, a group term is shared by its members in every connected set of tasks, so models that never
    met on a task are compared through their relatives. Returns (u [M], [g_l [n_groups_l]])."""
    rated = ~np.isnan(R)
    Rz = np.where(rated, R, 0.0)
    n_t = rated.sum(1)
    n_m = rated.sum(0).astype(float)
    u = np.zeros(R.shape[1])
    gs = [np.zeros(int(lv.max()) + 1) for lv in levels]
    for _ in range(iters):
        model_part = u + sum(g[lv] for g, lv in zip(gs, levels))
        level = np.where(rated, Rz - model_part, 0.0).sum(1) / np.maximum(n_t, 1)
        dev = np.where(rated, Rz - level[:, None], 0.0).sum(0)  # per model, summed over its rated tasks
        for j, lv in enumerate(levels):
            others = u + sum(g[l2] for i, (g, l2) in enumerate(zip(gs, levels)) if i != j)
            gs[j] = np.bincount(lv, dev - n_m * others) / (np.bincount(lv, n_m) + lam_groups[j])
        new = (dev - n_m * sum(g[lv] for g, lv in zip(gs, levels))) / (n_m + lam)
        if np.max(np.abs(new - u)) < 1e-10:
            u = new
            break
        u = new
    return u, gs


class HierarchicalEffects(GlobalViews):
    """Cold-start effects against a joint fit with shared group terms (catalogue architecture + adaptation, family +
    adaptation): a never-rated model gets its groups' terms."""

    def __init__(self, lam=2.0, lam_groups=((2.0, 2.0), (5.0, 5.0), (20.0, 20.0))):
        self.lam, self.lam_groups = lam, lam_groups

    def fit(self, D, train):
        levels = _catalogue_levels(D.models)
        self.s = {"cold start effects": catalogue_cold_start(D, train, self.lam, 3.0)[1]}
        for lg in self.lam_groups:
            u, gs = hierarchical_effects(D.R[train], levels, self.lam, lg)
            self.s[f"joint groups, lam_g={lg}"] = u + sum(g[lv] for g, lv in zip(gs, levels))
        return self


class TargetedEffects(GlobalViews):
    """Does the effects prior rank the *top* better with another target or weighting? Every view gets the same
    catalogue cold start (k 3) as the package (other units of the metric: ``TransformEffects``). Views: pair
    weights 1 + a x min-max gain (errors among a task's best models count more,
    as in NDCG@5 and Hit@1); task weights per pair ∝ (n_t - 1) (every within-task pair counts once); the raw
    effect blended with the effect on within-task ranks, each scaled by its spread."""

    def __init__(self, lam=2.0, k=3.0, top_weights=(1.0, 3.0), betas=(0.5, 1.0)):
        self.lam, self.k, self.top_weights, self.betas = lam, k, top_weights, betas

    def fit(self, D, train):
        cold = catalogue_filler(D.models, self.k)
        R = D.R[train]
        rated = ~np.isnan(R)
        one = np.ones_like(R)
        raw = pair_weighted_effects(R, one, self.lam)
        self.s = {"cold start effects": cold(raw)}
        g = floored_gains(R, 1e-12)
        g = np.where(rated & np.isnan(g), 1.0, g)
        for a in self.top_weights:
            self.s[f"top weight a={a}"] = cold(pair_weighted_effects(R, 1 + a * np.nan_to_num(g), self.lam))
        n_t = rated.sum(1, keepdims=True).astype(float)
        self.s["pair weight n_t-1"] = cold(pair_weighted_effects(R, np.broadcast_to(n_t - 1, R.shape), self.lam))
        self.s["pair weight sqrt(n_t-1)"] = cold(
            pair_weighted_effects(R, np.broadcast_to(np.sqrt(n_t - 1), R.shape), self.lam))
        rank = pair_weighted_effects(transform_gains(R, "rank"), one, self.lam)
        zr, zk = raw / np.nanstd(raw), rank / np.nanstd(rank)
        for b in self.betas:
            self.s[f"raw + {b} x rank"] = cold(zr + b * zk)
        return self


def transformed(R: np.ndarray, how: str, eps: float = 1e-3) -> np.ndarray:
    """Relevance in other units: ``raw``; ``asin`` = arcsin(sqrt(r)) (the variance-stabilising transform of a
    proportion); ``logit`` = log(r / (1 - r)); ``log_error`` = -log(1 - r) (halving the error is one step wherever
    it starts). r is clipped to [eps, 1 - eps]."""
    if how == "raw":
        return R
    r = np.clip(R, eps, 1 - eps)
    if how == "asin":
        return np.arcsin(np.sqrt(r))
    if how == "logit":
        return np.log(r / (1 - r))
    if how == "log_error":
        return -np.log1p(-r)
    raise ValueError(how)


UNITS = {f"{how},eps={eps}": (how, eps) for how, eps in
         [("raw", 1e-3), ("asin", 1e-3), ("logit", 1e-3), ("logit", 1e-2), ("log_error", 1e-3), ("log_error", 1e-2)]}


class TransformEffects(GlobalViews):
    """Effects fitted in other units of the metric (``units``: view -> (how, eps) of ``transformed``), each with
    the catalogue cold start (k 3); with ``pair_weights`` containing True, also with task weights per pair
    ∝ sqrt(n_t - 1) (views suffixed ",pw=True"; ",pw=False" marks the unweighted ones when both run)."""

    def __init__(self, lam=2.0, k=3.0, units=UNITS, pair_weights=(False, True)):
        self.lam, self.k, self.units, self.pair_weights = lam, k, units, pair_weights

    def fit(self, D, train):
        cold = catalogue_filler(D.models, self.k)
        R = D.R[train]
        n_t = (~np.isnan(R)).sum(1, keepdims=True).astype(float)
        self.s = {}
        for pw in self.pair_weights:
            W = np.broadcast_to(np.sqrt(n_t - 1) if pw else 1.0, R.shape)
            suffix = f",pw={pw}" if len(self.pair_weights) > 1 else ""
            for name, (how, eps) in self.units.items():
                self.s[name + suffix] = cold(pair_weighted_effects(transformed(R, how, eps), W, self.lam))
        return self



def huber_effects(R: np.ndarray, lam: float, c: float, rounds: int = 8) -> np.ndarray:
    """[M] effects of R = level + effect with Huber's loss at ``c`` (iteratively reweighted least squares):
    a pair whose residual exceeds ``c`` weighs c / |residual|, so one failed or mis-reported run moves a model's
    effect by a bounded amount."""
    rated = ~np.isnan(R)
    W = np.ones_like(R)
    for _ in range(rounds):
        eff = pair_weighted_effects(R, W, lam)
        e0 = np.where(np.isnan(eff), 0.0, eff)
        w = np.where(rated, W, 0.0)
        level = (w * (np.where(rated, R, 0.0) - e0)).sum(1) / np.maximum(w.sum(1), 1e-12)
        resid = np.abs(np.where(rated, R - level[:, None] - e0, 0.0))
        W = np.where(resid > c, c / np.maximum(resid, 1e-12), 1.0)
    return eff


class RobustEffects(GlobalViews):
    """Effects in arcsin(sqrt) units with Huber's loss at each of ``cs`` (None: least squares), catalogue cold
    start (k 3)."""

    def __init__(self, lam=2.0, k=3.0, cs=(None, 0.03, 0.06, 0.12)):
        self.lam, self.k, self.cs = lam, k, cs

    def fit(self, D, train):
        cold = catalogue_filler(D.models, self.k)
        R = transformed(D.R[train], "asin")
        self.s = {f"huber c={c}": cold(pair_weighted_effects(R, np.ones_like(R), self.lam) if c is None
                                       else huber_effects(R, self.lam, c)) for c in self.cs}
        return self


class AnchoredEffects(GlobalViews):
    """Effects in arcsin(sqrt) units with task levels pulled toward the corpus mean by ``mus`` pseudo-pairs
    (``pair_weighted_effects``; 0: the fit shipped before), for each effect ridge of ``lams``, catalogue cold
    start (k 3)."""

    def __init__(self, lams=(2.0,), k=3.0, mus=(0.0, 0.3, 0.5, 1.0, 2.0, 4.0)):
        self.lams, self.k, self.mus = lams, k, mus

    def fit(self, D, train):
        cold = catalogue_filler(D.models, self.k)
        R = transformed(D.R[train], "asin")
        self.s = {}
        for lam in self.lams:
            suffix = f",lam={lam}" if len(self.lams) > 1 else ""
            for mu in self.mus:
                self.s[f"anchor mu={mu}{suffix}"] = cold(pair_weighted_effects(R, np.ones_like(R), lam, mu=mu))
        return self


def task_covariates(tasks) -> np.ndarray:
    """[T, k]: intercept, metric one-hot (accuracy as the base), log2(n_classes) (2 where unknown)."""
    metric = tasks["metric"].astype(str).to_numpy()
    classes = np.log2(np.clip(tasks["n_classes"].fillna(2).to_numpy(float), 2, None))
    others = [m for m in np.unique(metric) if m != "accuracy"]
    return np.column_stack([np.ones(len(tasks)), classes] + [(metric == m).astype(float) for m in others])


class CovariateAnchoredEffects(GlobalViews):
    """Effects in arcsin(sqrt) units with task levels pulled toward a level predicted from the task's metric and
    number of classes (``pair_weighted_effects`` with ``Z``), against one anchor."""

    def __init__(self, lam=2.0, k=3.0, mus=(0.5, 1.0, 2.0)):
        self.lam, self.k, self.mus = lam, k, mus

    def fit(self, D, train):
        cold = catalogue_filler(D.models, self.k)
        R = transformed(D.R[train], "asin")
        Z = task_covariates(D.tasks.iloc[train])
        self.s = {}
        for mu in self.mus:
            self.s[f"one anchor mu={mu}"] = cold(pair_weighted_effects(R, np.ones_like(R), self.lam, mu=mu))
            self.s[f"covariate anchor mu={mu}"] = cold(pair_weighted_effects(R, np.ones_like(R), self.lam, mu=mu, Z=Z))
        return self


class GroupWeightedEffects(GlobalViews):
    """Effects in arcsin(sqrt) units with the level ridge ``mu``, each task weighted n_tasks(its dataset or source)
    ** -power, catalogue cold start (k 3): do near-duplicate tasks of one collection or one paper count too much?"""

    def __init__(self, lam=2.0, k=3.0, mu=0.5, keys=("dataset", "ref"), powers=(0.0, 0.25, 0.5)):
        self.lam, self.k, self.mu, self.keys, self.powers = lam, k, mu, keys, powers

    def fit(self, D, train):
        cold = catalogue_filler(D.models, self.k)
        R = transformed(D.R[train], "asin")
        self.s = {}
        for key in self.keys:
            groups = D.tasks[key].astype(str).to_numpy()[train]
            for power in self.powers:
                if power == 0 and key != self.keys[0]:
                    continue
                W = np.broadcast_to(dataset_weights(groups, power)[:, None], R.shape)
                self.s[f"{key}^-{power}"] = cold(pair_weighted_effects(R, W, self.lam, mu=self.mu))
        return self


class InteractionEffects(GlobalViews):
    """Effects in arcsin(sqrt) units with the level ridge ``mu`` and a shrunk model x dataset (or source)
    deviation absorbed in training (``group_effects``), catalogue cold start (k 3). A new task's group is new, so
    it is scored by the effect alone: evidence a model earned on many tasks of one group counts about once, as
    much as that group agrees with the others."""

    def __init__(self, lam=2.0, k=3.0, mu=0.5, keys=("dataset", "ref"), lam_groups=(1.0, 3.0, 10.0)):
        self.lam, self.k, self.mu, self.keys, self.lam_groups = lam, k, mu, keys, lam_groups

    def fit(self, D, train):
        cold = catalogue_filler(D.models, self.k)
        R = transformed(D.R[train], "asin")
        self.s = {"none": cold(pair_weighted_effects(R, np.ones_like(R), self.lam, mu=self.mu))}
        for key in self.keys:
            groups = D.tasks[key].astype(str).to_numpy()[train]
            for lg in self.lam_groups:
                self.s[f"{key} lg={lg}"] = cold(group_effects(R, groups, self.lam, lg, 5000, self.mu)[0])
        return self


def task_scaled_effects(R: np.ndarray, lam: float, shrink: float, mu: float, iters: int = 5000) -> np.ndarray:
    """[M] effects of R[t, m] = level[t] + scale[t] * effect[m] (a task's own discrimination, as in item response
    theory): each task's least-squares slope on the effects, shrunk toward 1 as (slope + shrink) / (1 + shrink) and
    floored at 0, so a task whose models differ little for reasons of its metric or ceiling says as much about their
    order as one where they differ a lot. Ridges ``lam`` (effects) and ``mu`` (levels) as ``pair_weighted_effects``."""
    rated = ~np.isnan(R)
    Rz = np.where(rated, R, 0.0)
    n_t = rated.sum(1)
    anchor = Rz.sum() / rated.sum()
    eff = pair_weighted_effects(R, np.ones_like(R), lam, mu=mu)
    eff = np.where(np.isnan(eff), 0.0, eff)
    scale = np.ones(len(R))
    for _ in range(iters):
        x = np.where(rated, scale[:, None] * eff, 0.0)
        level = np.where(n_t > 0, ((Rz - x) * rated).sum(1) + mu * anchor, 0.0) / np.maximum(n_t + mu, 1e-12)
        centred = np.where(rated, eff - (eff * rated).sum(1, keepdims=True) / np.maximum(n_t, 1)[:, None], 0.0)
        see = (centred ** 2).sum(1)
        slope = np.divide((centred * np.where(rated, Rz - level[:, None], 0.0)).sum(1), see,
                          out=np.ones(len(R)), where=see > 1e-12)
        scale = np.maximum((slope + shrink) / (1 + shrink), 0.0)
        new = (np.where(rated, Rz - level[:, None], 0.0) * scale[:, None]).sum(0) / \
              ((rated * scale[:, None] ** 2).sum(0) + lam)
        if np.max(np.abs(new - eff)) < 1e-10:
            eff = new
            break
        eff = new
    return np.where(rated.any(0), eff, np.nan)


class TaskScaledEffects(GlobalViews):
    """Effects in arcsin(sqrt) units with the level ridge ``mu`` and a per-task scale (``task_scaled_effects``),
    catalogue cold start (k 3); ``shrink`` inf is the shipped fit."""

    def __init__(self, lam=2.0, k=3.0, mu=0.5, shrinks=(0.5, 1.0, 3.0)):
        self.lam, self.k, self.mu, self.shrinks = lam, k, mu, shrinks

    def fit(self, D, train):
        cold = catalogue_filler(D.models, self.k)
        R = transformed(D.R[train], "asin")
        self.s = {"none": cold(pair_weighted_effects(R, np.ones_like(R), self.lam, mu=self.mu))}
        for shrink in self.shrinks:
            self.s[f"scale shrink={shrink}"] = cold(task_scaled_effects(R, self.lam, shrink, self.mu))
        return self


class AnchoredPairWeights(GlobalViews):
    """The within-task pair weights of ``TargetedEffects`` (every pair of a task's models counts once: weight per
    pair n_t - 1, or sqrt(n_t - 1)) again, now in arcsin(sqrt) units with the level ridge ``mus``: does the ridge,
    which helps leaving sources out, keep their leave-dataset-out gain without their leave-source-out loss?"""

    def __init__(self, lam=2.0, k=3.0, mus=(0.5, 2.0)):
        self.lam, self.k, self.mus = lam, k, mus

    def fit(self, D, train):
        cold = catalogue_filler(D.models, self.k)
        R = transformed(D.R[train], "asin")
        n_t = (~np.isnan(R)).sum(1, keepdims=True).astype(float)
        weights = {"1": np.ones_like(R), "n_t-1": np.broadcast_to(n_t - 1, R.shape),
                   "sqrt(n_t-1)": np.broadcast_to(np.sqrt(n_t - 1), R.shape)}
        self.s = {f"w={name},mu={mu}": cold(pair_weighted_effects(R, W, self.lam, mu=mu))
                  for mu in self.mus for name, W in weights.items()}
        return self


def size_covariates(tasks, train) -> np.ndarray:
    """[T, 3]: log n_samples, log image width, log n_classes, each centred and scaled over the ``train`` tasks that
    report it, 0 (the typical task) where missing."""
    columns = []
    for name in ("n_samples", "width", "n_classes"):
        x = np.log(tasks[name].to_numpy(float))
        known = np.isfinite(x)
        fit = known & np.isin(np.arange(len(x)), train)
        z = np.zeros(len(x))
        if fit.sum() > 1:
            z[known] = (x[known] - x[fit].mean()) / max(x[fit].std(), 1e-12)
        columns.append(z)
    return np.column_stack(columns)


def covariate_class_effects(R: np.ndarray, Z: np.ndarray, classes: np.ndarray, lam: float, lam_beta: float,
                            mu: float, iters: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """R[t, m] = level[t] + effect[m] + Z[t] @ beta[class(m)]: each class of models (e.g. an adaptation: fine-tune,
    linear probe, zero-shot) gains or loses against the others as data size, image size and number of classes
    grow, with few parameters shared by every task that compared classes. Ridges ``lam`` (effects), ``lam_beta``
    (pseudo-pairs on each beta) and ``mu`` (levels, as ``pair_weighted_effects``). Returns (effect [M], beta [C, k])."""
    rated = ~np.isnan(R)
    Rz = np.where(rated, R, 0.0)
    onehot = np.eye(classes.max() + 1)[classes]  # [M, C]
    count = rated @ onehot  # [T, C]
    k = Z.shape[1]
    gram = np.einsum("tc,ti,tj->cij", count, Z, Z) + lam_beta * np.eye(k)[None]
    n_t = rated.sum(1)
    anchor = Rz.sum() / rated.sum()
    eff, beta = np.zeros(R.shape[1]), np.zeros((onehot.shape[1], k))
    for _ in range(iters):
        shift = np.where(rated, Z @ beta[classes].T, 0.0)  # [T, M]
        level = np.where(n_t > 0, (np.where(rated, Rz - eff - shift, 0.0).sum(1) + mu * anchor)
                         / np.maximum(n_t + mu, 1e-12), 0.0)
        new = np.where(rated, Rz - level[:, None] - shift, 0.0).sum(0) / (rated.sum(0) + lam)
        resid = np.where(rated, Rz - level[:, None] - new, 0.0)
        beta = np.linalg.solve(gram, np.einsum("ti,tc->ci", Z, resid @ onehot)[..., None])[..., 0]
        if np.max(np.abs(new - eff)) < 1e-10:
            eff = new
            break
        eff = new
    return np.where(rated.any(0), eff, np.nan), beta


class CovariateClassEffects:
    """effect[m] + z(query) @ beta[class(m)] (``covariate_class_effects``), classes from one catalogue attribute,
    in arcsin(sqrt) units with the level ridge ``mu``, catalogue cold start (k 3) of the effects."""

    def __init__(self, lam=2.0, k=3.0, mu=0.5, attrs=("adaptation", "family", "pretraining"),
                 lam_betas=(10.0, 50.0, 200.0)):
        self.lam, self.k, self.mu, self.attrs, self.lam_betas = lam, k, mu, attrs, lam_betas

    def fit(self, D, train):
        from medicalrec.recommenders.medicalrec_transformer import CANDIDATE_ATTRIBUTES, _attribute_codes
        cold = catalogue_filler(D.models, self.k)
        R = transformed(D.R[train], "asin")
        self.Z = size_covariates(D.tasks, train)
        codes = _attribute_codes(D.models)[0]
        self.fits = {"none": (cold(pair_weighted_effects(R, np.ones_like(R), self.lam, mu=self.mu)), None, None)}
        for attr in self.attrs:
            classes = codes[:, CANDIDATE_ATTRIBUTES.index(attr)]
            for lb in self.lam_betas:
                eff, beta = covariate_class_effects(R, self.Z[train], classes, self.lam, lb, self.mu)
                self.fits[f"{attr} lb={lb}"] = (cold(eff), beta, classes)
        return self

    def score(self, D, idx):
        out = {}
        for view, (eff, beta, classes) in self.fits.items():
            S = np.tile(eff, (len(idx), 1))
            if beta is not None:
                S = S + self.Z[idx] @ beta[classes].T
            out[view] = S
        return out
