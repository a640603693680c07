"""Could an uncertainty bound replace the context term? (package folds, mode I, 5 x 3; research only)

The context term keeps other domains' specialists (FetalCLIP zero-shot) off a query's first screen, and costs
ranking quality on held-out datasets. FetalCLIP zero-shot tops every list without it because its effect is known
only through a chain: it beat three general zero-shot models on two tasks, and those are placed by their own
few tasks. The least-squares fit knows how long each chain is: the effect's posterior standard deviation is
``sigma * sqrt(diag((A + ridge I)^-1))`` for the fit's normal matrix ``A``, large for a model reached through few,
thin comparisons. This ranks by ``effect - c * that sd`` with no context term, for each ``c`` (in residual sds).

    python research/quality/posterior_bound.py [ref] [--c 0.5 1 2]

Prints, per c, the held-out means and per-task paired lines against the shipped term and against no term, then
the first screen (top 5 of a few domains, fitted on the whole corpus).
"""
import argparse

import numpy as np

import medicalrec.recommenders.best_mean_relevance as bmr
from medicalrec.bench.defaults import shipped_data_path
from medicalrec.bench.loading import load_bench
from medicalrec.bench.tasks import task_queries
from medicalrec.catalogue import Catalogue
from medicalrec.recommenders import create
from medicalrec.recommenders.base import TrainingSet
from first_screen import DOMAINS
from package_variants import paired_lines, per_task


def residual_sd(records) -> float:
    """Pooled sd of ``relevance - level - effect`` over the rated pairs of the whole corpus, in the shipped
    units and ridges (the scale of ``c``)."""
    config = create("medicalrec").config
    relevance = bmr.in_effect_units(bmr.task_relevance(TrainingSet.build(records)), config.effect_units)
    weights = np.ones(len(relevance))
    system = bmr.effect_system(relevance, weights, config.level_ridge)
    effects = np.nan_to_num(bmr.solve_effects(system, config.effect_ridge))
    rated = ~np.isnan(relevance)
    n = rated.sum(axis=1)
    anchor = system.anchor_sum / system.anchor_count
    level = (np.where(rated, relevance - effects, 0).sum(axis=1) + config.level_ridge * anchor) / (n + config.level_ridge)
    residuals = (relevance - level[:, None] - effects)[rated]
    return float(np.sqrt(np.mean(residuals ** 2)))


def bound_effects(c_abs: float) -> None:
    """From here on (this process), ``solve_effects`` returns ``effect - c_abs * sqrt(diag((A + ridge I)^-1))``."""
    original = bmr.solve_effects

    def solve(system, ridge):
        effects = original(system, ridge)
        spread = np.sqrt(np.diag(np.linalg.inv(system.matrix + ridge * np.eye(len(effects)))))
        return effects - c_abs * spread

    bmr.solve_effects = solve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("protocol", nargs="?", default="dataset", choices=["dataset", "ref"])
    parser.add_argument("--c", nargs="+", type=float, default=[0.5, 1.0, 2.0])
    args = parser.parse_args()
    group_by = None if args.protocol == "dataset" else "ref"
    records = load_bench(shipped_data_path()).frame
    sigma = residual_sd(records)
    print(f"residual sd (whole corpus): {sigma:.4f}")
    shipped = per_task(records, "medicalrec", {}, group_by=group_by, workers=1)
    without = per_task(records, "medicalrec", {"context_bonus": 0.0}, group_by=group_by, workers=1)
    print("shipped context term", shipped.mean().round(4).to_dict())
    print("no context term", without.mean().round(4).to_dict())
    queries = task_queries(records).drop_duplicates("domain").set_index("domain").loc[DOMAINS].reset_index()
    catalogue = Catalogue.load()
    original = bmr.solve_effects
    for c in args.c:
        bmr.solve_effects = original
        bound_effects(c * sigma)
        bounded = per_task(records, "medicalrec", {"context_bonus": 0.0}, group_by=group_by, workers=1)
        print(f"== no context term, effect - {c} sd", bounded.mean().round(4).to_dict())
        print("\n".join(["against the shipped term:"] + paired_lines(shipped, bounded)))
        print("\n".join(["against no term:"] + paired_lines(without, bounded)))
        model = create("medicalrec", seed=0, context_bonus=0.0).fit(records, "I")
        for domain, top in zip(DOMAINS, model.recommend(queries, 5)):
            print(f"  {domain}: " + " | ".join(f"{name} [{catalogue.attributes(name).pretraining}]" for name, _ in top))


if __name__ == "__main__":
    main()
