"""python run.py VARIANT [--protocol dataset|ref] [--cold] -> results/<variant>__<protocol>[__cold].csv (per task)."""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np

import additive
import chance_units
import cold_levels
import harness
import noise_weights
import recs
import secondary

VARIANTS = {
    "best_mean": lambda: recs.BestMean(views=(0, 1, 5, 10)),
    "hier_prior": lambda: recs.HierPrior(),
    "knn_resid": lambda: recs.KnnResidual(ws=(0.25, 0.5, 1.0), ks=(5, 10, 20)),
    "knn_resid_hier": lambda: recs.KnnResidual(ws=(0.25, 0.5), ks=(10,), hier=True),
    "pl_prior": lambda: recs.PLPrior(lams=(0.001, 0.003, 0.01, 0.03)),
    "pl_prior_tau1": lambda: recs.PLPrior(tau=1.0, lams=(0.001, 0.003, 0.01)),
    "pl_prior_hier": lambda: recs.PLPrior(hier=True, lams=(0.003, 0.01)),
    "best_mean_gain": lambda: recs.BestMeanGain(),
    "weighted_prior": lambda: recs.WeightedPrior(),
    "weighted_prior_ref": lambda: recs.WeightedPrior(by="ref"),
    "weighted_prior_grid": lambda: recs.WeightedPrior(powers=(0.5, 0.75, 1.0), ks=(0.5, 1.0, 2.0, 4.0)),
    "dw_knn_resid": lambda: recs.KnnResidual(ws=(0.25, 0.5, 1.0), ks=(5, 10, 20), dw=0.5),
    "dw_hier_prior": lambda: recs.HierPrior(ks=((2, 2, 2), (2, 5, 5), (4, 4, 4)), dw=0.5),
    "dw_knn_resid_hier": lambda: recs.KnnResidual(ws=(0.25, 0.5), ks=(10,), dw=0.5, hier=True),
    "dw_rank_prior": lambda: recs.WeightedPrior(powers=(0.5, 1.0), ks=(2.0,), gain="rank"),
    "stratified_prior": lambda: recs.StratifiedPrior(),
    "lambdamart": lambda: recs.LambdaMart(blends=(0.0, 0.25, 0.5)),
    "lambdamart_lodo": lambda: recs.LambdaMart(prior_mode="lodo", blends=(0.0, 0.25, 0.5)),
    "lambdamart_attr": lambda: recs.LambdaMart(prior_mode="lodo", attrs=True, blends=(0.0, 0.25, 0.5)),
    "additive": lambda: additive.Additive(),
    "additive_clip": lambda: additive.Additive(powers=(0.5,), lams=(2.0,), clips=(0.05, 0.1, 0.2)),
    "floored_gain": lambda: additive.FlooredGain(),
    "effects_knn_resid": lambda: additive.EffectsKnnResidual(),
    "scaled_additive": lambda: additive.ScaledAdditive(s0s=(0.05, 0.1, 0.2, 0.4, None), per_task=(False, True)),
    "blend_additive": lambda: additive.Blend(),
    "group_effects": lambda: additive.GroupEffects(),
    "cold_effects": lambda: additive.ColdEffects(),
    "cold_effects_catalogue": lambda: additive.ColdEffects(ks=(3.0,), catalogue=True),
    "group_prior_effects": lambda: additive.GroupPriorEffects(),
    "class_group_effects": lambda: additive.ClassGroupEffects(),
    "hierarchical_effects": lambda: additive.HierarchicalEffects(),
    "targeted_effects": lambda: additive.TargetedEffects(),
    "transform_effects": lambda: additive.TransformEffects(),
    "robust_effects": lambda: additive.RobustEffects(),
    "anchored_effects": lambda: additive.AnchoredEffects(lams=(1.0, 2.0, 4.0)),
    "covariate_anchored_effects": lambda: additive.CovariateAnchoredEffects(),
    "group_weighted_effects": lambda: additive.GroupWeightedEffects(),
    "interaction_effects": lambda: additive.InteractionEffects(),
    "task_scaled_effects": lambda: additive.TaskScaledEffects(),
    "anchored_pair_weights": lambda: additive.AnchoredPairWeights(),
    "covariate_class_effects": lambda: additive.CovariateClassEffects(),
    "secondary_metrics": lambda: secondary.SecondaryMetricEffects(),
    "cold_levels": lambda: cold_levels.ColdLevels(),
    "cold_levels_k": lambda: cold_levels.ColdLevels(ks=(1.0, 3.0, 10.0)),
    "group_shrunk_effects": lambda: cold_levels.GroupShrunkEffects(),
    "shared_architecture": lambda: cold_levels.SharedArchitectureEffects(),
    "cold_levels_lam1": lambda: cold_levels.ColdLevels(lam=1.0, views=(cold_levels.SHIPPED_LEVELS,)),
    "cold_levels_lam4": lambda: cold_levels.ColdLevels(lam=4.0, views=(cold_levels.SHIPPED_LEVELS,)),
    "noise_weights": lambda: noise_weights.NoiseWeightedEffects(),
    "chance_units": lambda: chance_units.ChanceUnits(),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("variant")
    ap.add_argument("--protocol", default="dataset")
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--params", default="{}")
    args = ap.parse_args()
    params = json.loads(args.params)
    if args.variant.startswith("tv2"):
        import transformer_v2
        make = lambda: transformer_v2.PairScorer(**params)  # noqa: E731
    else:
        make = VARIANTS[args.variant]
    D = harness.load()
    timing = []
    t0 = time.perf_counter()
    df = harness.evaluate(D, make, protocol=args.protocol, cold=args.cold, timing=timing)
    os.makedirs("results", exist_ok=True)
    name = f"{args.variant}__{args.protocol}" + ("__cold" if args.cold else "")
    df["variant"] = args.variant
    df["fit_s"] = float(np.mean(timing))
    df.to_csv(f"results/{name}.csv", index=False)
    for v, g in df.groupby("view", sort=False):
        s = harness.summarise(g)
        print(f"{name:40s} {v:18s} regret {s['regret1']:.4f}±{s['regret1_sd']:.4f} ndcg5 {s['ndcg5']:.3f} "
              f"hit1 {s['hit1']:.3f} hit3 {s['hit3']:.3f} tau {s['tau']:.3f}")
    print(f"fit {np.mean(timing):.2f}s/fold, total {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
