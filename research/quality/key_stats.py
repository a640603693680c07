"""python key_stats.py: paired differences vs best_mean for the key variants, per-task Wilcoxon and a
cluster bootstrap over datasets (tasks of one dataset are not independent), 95% CI of the mean difference."""
import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from cluster_bootstrap import cluster_interval

KEY = [("weighted_prior_grid", "dataset^-0.5,k=2.0"), ("dw_hier_prior", "k=4/4/4"), ("knn_resid", "k=10,w=0.5"),
       ("lambdamart", "main"), ("tv2z", "scale=0.5"), ("tv2_gated", "scale=1.0"), ("tv2_ship", "scale=1.0"),
       ("hier_prior", "k=4/4/4"), ("pl_prior", "lam=0.003"),
       ("additive", "p=0.0,lam=2.0,clip=None"), ("additive", "p=0.5,lam=2.0,clip=None")]
rng = np.random.default_rng(0)
rows = []
for proto in ["dataset", "ref", "ref__cold", "dataset__cold"]:
    try:
        b = pd.read_csv(f"results/best_mean__{proto}.csv")
    except FileNotFoundError:
        continue
    b = b[b.view == "main"].groupby("tid").agg(regret1=("regret1", "mean"), ndcg5=("ndcg5", "mean"),
                                              hit1=("hit1", "mean"), dataset=("dataset", "first"))
    b["ref"] = b.index.str.split(" :: ").str[0]
    for v, view in KEY:
        try:
            a = pd.read_csv(f"results/{v}__{proto}.csv")
        except FileNotFoundError:
            continue
        a = a[a.view == view].groupby("tid")[["regret1", "ndcg5", "hit1"]].mean().reindex(b.index)
        row = dict(protocol=proto, variant=f"{v} [{view}]")
        cluster = b["dataset"] if proto.startswith("dataset") else b["ref"]
        for m in ["regret1", "ndcg5", "hit1"]:
            d = a[m] - b[m]
            row[f"d_{m}"] = d.mean()
            row[f"n_higher/n_lower_{m}"] = f"{int((d > 1e-12).sum())}/{int((d < -1e-12).sum())}"
            row[f"p_{m}"] = wilcoxon(a[m], b[m]).pvalue if (d.abs() > 1e-12).any() else 1.0
            low, high = cluster_interval(d, cluster.values, rng, draws=2000)
            row[f"ci95_{m}"] = f"[{low:+.4f}, {high:+.4f}]"
        rows.append(row)
out = pd.DataFrame(rows)
out.to_csv("results/key_stats.csv", index=False)
pd.set_option("display.width", 300)
pd.set_option("display.max_columns", 30)
print(out.round(4).to_string(index=False))
