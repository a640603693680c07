"""How far a ranking that ignores the task can go: the shipped effects fit, leave-dataset-out, against the same fit
with the held-out tasks in training (leaky) and fitted on the held-out tasks alone (the best global order for them,
near enough). The gap between the first and the second is what a recommender could only gain from what is specific
to a new dataset; every attempt to read it from the task's features lost (REPORT.md).

Run: ``python ceiling.py`` (3 repeats x 5 folds, about a minute).
"""
import numpy as np

import harness
from additive import pair_weighted_effects, transformed
from cold_levels import LEVELS, SHIPPED_LEVELS, attribute_levels


def main():
    from medicalrec.recommenders.medicalrec_transformer import cold_start_effects

    D = harness.load()
    levels = attribute_levels(D.models, LEVELS[SHIPPED_LEVELS])
    groups = D.tasks.dataset.astype(str).to_numpy()
    n_rated = (~np.isnan(D.R)).sum(1)
    views = ("training tasks (shipped)", "training + held-out tasks (leaky)", "held-out tasks only (in-sample)")
    scores = {v: {m: [] for m in harness.METRICS} for v in views}
    for seed in range(3):
        for test in harness.grouped_folds(groups, 5, seed):
            train = np.setdiff1d(np.arange(len(groups)), test)
            for view, rows in zip(views, (train, np.arange(len(groups)), test)):
                R = transformed(D.R[rows], "asin")
                effects = cold_start_effects(pair_weighted_effects(R, np.ones_like(R), 2.0, mu=0.5), levels, 3.0)
                effects = np.where(np.isnan(effects), -np.inf, effects)
                for t in test[n_rated[test] >= 2]:
                    e = np.flatnonzero(~np.isnan(D.R[t]))
                    for metric, value in harness.task_metrics(effects[e], D.R[t, e]).items():
                        scores[view][metric].append(value)
    for view in views:
        print(f"{view:36s} " + "  ".join(f"{m} {np.nanmean(v):.4f}" for m, v in scores[view].items()))


if __name__ == "__main__":
    main()
