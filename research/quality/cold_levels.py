"""Which attribute groups a never-rated candidate borrows its effect from.

Why: the package's cold start pools a new candidate with the rated candidates of its architecture +
adaptation, then family + adaptation. A pathology encoder rated only as a linear probe says nothing about
the same encoder with an ABMIL head there, although a strong encoder is strong under either head: on a
held-out slide-level collection, Prov-GigaPath + ABMIL (true rank 2 of 10) got the pathology-FM +
attention-MIL mean, tied with PLIP + ABMIL (rank 9). Views add the architecture (or backbone) across
adaptations between the two levels. Each level's group mean is shrunk with ``k`` pseudo-models toward the
next coarser level's value (``cold_start_effects``); the levels need not nest.

Run: ``python run.py cold_levels [--protocol ref] --cold``.
"""
from __future__ import annotations

import numpy as np

from additive import pair_weighted_effects, transformed
from recs import GlobalViews

SHIPPED_LEVELS = "arch+adapt, arch, family+adapt, family"  # the package's cold start (Update 7)
LEVELS = {
    "shipped: arch+adapt, family+adapt": (("architecture", "adaptation"), ("family", "adaptation")),
    "arch+adapt, arch, family+adapt": (("architecture", "adaptation"), ("architecture",), ("family", "adaptation")),
    "arch+adapt, backbone+adapt, arch, family+adapt": (("architecture", "adaptation"), ("backbone", "adaptation"),
                                                       ("architecture",), ("family", "adaptation")),
    "arch+adapt, arch, backbone, family+adapt": (("architecture", "adaptation"), ("architecture",), ("backbone",),
                                                 ("family", "adaptation")),
    "arch+adapt, arch, family+adapt, family": (("architecture", "adaptation"), ("architecture",),
                                               ("family", "adaptation"), ("family",)),
    "arch+adapt, arch, family+pretraining+adapt, family+adapt, family": (
        ("architecture", "adaptation"), ("architecture",), ("family", "pretraining", "adaptation"),
        ("family", "adaptation"), ("family",)),
    "arch+adapt, arch, family+size+adapt, family+adapt, family": (
        ("architecture", "adaptation"), ("architecture",), ("family", "size_class", "adaptation"),
        ("family", "adaptation"), ("family",)),
    "arch+adapt, arch, pretraining+adapt, family+adapt, family": (
        ("architecture", "adaptation"), ("architecture",), ("pretraining", "adaptation"),
        ("family", "adaptation"), ("family",)),
    "arch+adapt, arch, family": (("architecture", "adaptation"), ("architecture",), ("family",)),
    "arch+adapt, arch, family+adapt, adapt": (("architecture", "adaptation"), ("architecture",),
                                              ("family", "adaptation"), ("adaptation",)),
}


def attribute_levels(models: list[str], levels) -> list[np.ndarray]:
    """One group index per model for each tuple of catalogue attributes; a model with any of them unknown is a
    group of its own at that level (as in the package)."""
    from medicalrec.catalogue import UNK, Catalogue

    catalogue = Catalogue.load()
    rows = [catalogue.attributes(m) for m in models]
    out = []
    for names in levels:
        keys = []
        for i, row in enumerate(rows):
            values = tuple(str(getattr(row, n)) for n in names)
            known = all(v not in ("None", "", UNK) for v in values)
            keys.append(str(values) if known else f"own {i}")
        out.append(np.unique(np.array(keys), return_inverse=True)[1])
    return out


class ColdLevels(GlobalViews):
    """The shipped effects fit (arcsin units, ridge ``lam``, level ridge ``mu``), new candidates filled through each
    set of attribute levels of ``LEVELS`` with ``k`` pseudo-models."""

    def __init__(self, lam=2.0, mu=0.5, ks=(3.0,), views=tuple(LEVELS)):
        self.lam, self.mu, self.ks, self.views = lam, mu, ks, views
        self.levels = None

    def fit(self, D, train):
        from medicalrec.recommenders.medicalrec_transformer import cold_start_effects

        if self.levels is None:
            self.levels = {v: attribute_levels(D.models, LEVELS[v]) for v in self.views}
        R = transformed(D.R[train], "asin")
        eff = pair_weighted_effects(R, np.ones_like(R), self.lam, mu=self.mu)
        self.s = {}
        for view in self.views:
            for k in self.ks:
                name = view if len(self.ks) == 1 else f"{view} k={k}"
                self.s[name] = cold_start_effects(eff, self.levels[view], k)
        return self


class ShippedFit(GlobalViews):
    """Shared set-up of the views that start from the shipped prior: the effects fit (arcsin units, ridge ``lam``,
    level ridge ``mu``) and the cold start through ``view``'s levels (k pseudo-models) as ``fill``."""

    def __init__(self, lam=2.0, mu=0.5, k=3.0, view=SHIPPED_LEVELS):
        self.lam, self.mu, self.k, self.view = lam, mu, k, view
        self.levels = None

    def _shipped(self, D, train):
        """(relevance in arcsin units [T, M], effects [M], fill: effects -> effects with the cold start)."""
        from medicalrec.recommenders.medicalrec_transformer import cold_start_effects

        if self.levels is None:
            self.levels = attribute_levels(D.models, LEVELS[self.view])
        R = transformed(D.R[train], "asin")
        return R, pair_weighted_effects(R, np.ones_like(R), self.lam, mu=self.mu), \
            lambda eff: cold_start_effects(eff, self.levels, self.k)


class GroupShrunkEffects(ShippedFit):
    """With the new levels: the effect ridge pulls a rated candidate toward its attribute groups' estimate from the
    other rated candidates (``additive.group_targets``, leave-self-out) instead of toward 0, so a model rated on one
    or two tasks borrows from its relatives; never-rated candidates as in the package."""

    def __init__(self, lams=(2.0, 5.0, 10.0), **kwargs):
        super().__init__(**kwargs)
        self.lams = lams

    def fit(self, D, train):
        from additive import group_targets

        R, eff, fill = self._shipped(D, train)
        cold, rated = fill(eff), ~np.isnan(eff)
        target = group_targets(eff, self.levels, self.k)
        self.s = {"ridge to 0": cold}
        for lam in self.lams:
            shrunk = pair_weighted_effects(R - target[None, :], np.ones_like(R), lam, mu=self.mu) + target
            self.s[f"ridge to group, lam={lam}"] = np.where(rated, shrunk, cold)
        return self


def shared_architecture_effects(R: np.ndarray, arch: np.ndarray, lam: float, lam_arch: float, mu: float,
                                iters: int = 5000) -> np.ndarray:
    """[M] total effects of R[t, m] = level[t] + a[arch(m)] + u[m] (NaN = never rated), least squares with ridges
    ``lam`` on u, ``lam_arch`` on a and ``mu`` pseudo-pairs pulling each task level toward the mean relevance. The
    architecture term is shared by an encoder's candidates under every adaptation, so an ABMIL head rated on two
    tasks borrows from the same encoder's linear probe rated on forty. A candidate whose architecture is unknown is
    its own group (``attribute_levels``)."""
    rated = ~np.isnan(R)
    Rz = np.where(rated, R, 0.0)
    n_t, n_m = rated.sum(1), rated.sum(0).astype(float)
    anchor = Rz.sum() / rated.sum()
    u, a = np.zeros(R.shape[1]), np.zeros(int(arch.max()) + 1)
    for _ in range(iters):
        level = (np.where(rated, Rz - (u + a[arch]), 0.0).sum(1) + mu * anchor) / (n_t + mu)
        dev = np.where(rated, Rz - level[:, None], 0.0).sum(0)
        a = np.bincount(arch, dev - n_m * u) / (np.bincount(arch, n_m) + lam_arch)
        new = (dev - n_m * a[arch]) / (n_m + lam)
        if np.max(np.abs(new - u)) < 1e-10:
            u = new
            break
        u = new
    return np.where(rated.any(0), u + a[arch], np.nan)


class SharedArchitectureEffects(ShippedFit):
    """The shipped fit against ``shared_architecture_effects`` for ridges ``lam_archs`` on the shared term, never-rated
    candidates filled by the new levels either way."""

    def __init__(self, lam_archs=(1.0, 3.0, 10.0, 30.0), **kwargs):
        super().__init__(**kwargs)
        self.lam_archs = lam_archs

    def fit(self, D, train):
        R, eff, fill = self._shipped(D, train)
        self.s = {"separate effects": fill(eff)}
        for lam_arch in self.lam_archs:
            total = shared_architecture_effects(R, self.levels[1], self.lam, lam_arch, self.mu)
            self.s[f"shared architecture, ridge {lam_arch}"] = fill(total)
        return self

def main():
    """10 repeats, both protocols: the shipped levels against the two that add the architecture across
    adaptations, per-task Wilcoxon p against the shipped levels and a cluster bootstrap (resampling held-out
    datasets or sources) of the mean difference."""
    import pandas as pd

    import harness

    views = ("shipped: arch+adapt, family+adapt", "arch+adapt, arch, family+adapt",
             SHIPPED_LEVELS)
    D = harness.load()
    rng = np.random.default_rng(0)
    rows = []
    for protocol in ("dataset", "ref"):
        df = harness.evaluate(D, lambda: ColdLevels(views=views), protocol=protocol, seeds=range(10), cold=True)
        base = df[df.view == views[0]]
        group_of = D.tasks.set_index("tid")[protocol]
        for view in views:
            part = df[df.view == view]
            s = harness.summarise(part, base if view != views[0] else None)
            row = dict(protocol=protocol, view=view, **{k: round(v, 4) for k, v in s.items() if not k.endswith("_sd")})
            if view != views[0]:
                diff = (part.groupby("tid")[["regret1", "ndcg5"]].mean()
                        - base.groupby("tid")[["regret1", "ndcg5"]].mean())
                diff["group"] = group_of.reindex(diff.index).to_numpy()
                groups = diff.groupby("group")
                sums, counts = groups[["regret1", "ndcg5"]].sum().to_numpy(), groups.size().to_numpy()
                boot = []
                for _ in range(2000):
                    pick = rng.integers(0, len(counts), len(counts))
                    boot.append(sums[pick].sum(0) / counts[pick].sum())
                lo, hi = np.percentile(np.array(boot), [2.5, 97.5], axis=0)
                row.update(ci_regret1=f"[{lo[0]:+.4f}, {hi[0]:+.4f}]", ci_ndcg5=f"[{lo[1]:+.4f}, {hi[1]:+.4f}]")
            rows.append(row)
    out = pd.DataFrame(rows)
    out.to_csv("results/cold_levels_10seeds.csv", index=False)
    print(out.to_string(index=False))


if __name__ == "__main__":
    main()
