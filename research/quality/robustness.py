"""python robustness.py: 10 repeats instead of 3 for the prior candidates (numpy only, about a minute)."""
import numpy as np
import pandas as pd

import additive
import harness
import recs

D = harness.load()
cands = {
    "best_mean": lambda: recs.BestMean(),
    "dw_prior(p=0.5,k=2)": lambda: recs.WeightedPrior(powers=(0.5,), ks=(2.0,)),
    "dw_prior(p=1,k=2)": lambda: recs.WeightedPrior(powers=(1.0,), ks=(2.0,)),
    "dw_hier_prior(p=0.5,k=4/4/4)": lambda: recs.HierPrior(ks=((4, 4, 4),), dw=0.5),
    "knn_resid(k=10,w=0.5)": lambda: recs.KnnResidual(ws=(0.5,), ks=(10,)),
    "additive(p=0,lam=2)": lambda: additive.Additive(powers=(0.0,), lams=(2.0,)),
    "additive(p=0.5,lam=2)": lambda: additive.Additive(powers=(0.5,), lams=(2.0,)),
}
rows = []
for proto in ["dataset", "ref"]:
    res = {n: harness.evaluate(D, f, protocol=proto, seeds=range(10)) for n, f in cands.items()}
    base = res["best_mean"]
    for n, df in res.items():
        s = harness.summarise(df, base if n != "best_mean" else None)
        per_seed = df.groupby("seed").regret1.mean() - base.groupby("seed").regret1.mean()
        rows.append(dict(protocol=proto, variant=n, **{k: round(v, 4) for k, v in s.items()},
                         seeds_better_regret=int((per_seed < 0).sum())))
out = pd.DataFrame(rows)
out.to_csv("results/robustness_10seeds.csv", index=False)
pd.set_option("display.width", 250)
print(out[["protocol", "variant", "regret1", "regret1_sd", "ndcg5", "hit1", "hit3", "tau", "p_regret1", "p_ndcg5",
           "seeds_better_regret"]].to_string(index=False))
