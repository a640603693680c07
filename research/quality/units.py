"""python units.py: is fitting the effects in other units of the metric (``additive.transformed``) better than raw
units, over 10 repeats, in both protocols? Per-task Wilcoxon against raw units, and a 95% interval resampling whole
datasets (or sources). Writes results/units_10seeds.csv."""
import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

import additive
import harness
from cluster_bootstrap import cluster_interval

UNITS = {"raw": ("raw", 1e-2), "asin": ("asin", 0.0), "asin eps 1e-3": ("asin", 1e-3), "asin eps 1e-2": ("asin", 1e-2),
        "logit": ("logit", 1e-2), "log_error": ("log_error", 1e-2)}


def main():
    D = harness.load()
    rng = np.random.default_rng(0)
    rows = []
    for proto in ["dataset", "ref"]:
        df = harness.evaluate(D, lambda: additive.TransformEffects(units=UNITS, pair_weights=(False,)), protocol=proto,
                              cold=True, seeds=range(10))
        cluster = D.tasks.set_index("tid")[proto].astype(str)
        per_task = df.groupby(["view", "tid"])[["regret1", "ndcg5", "hit1"]].mean()
        base = per_task.loc["raw"]
        for view, g in df.groupby("view", sort=False):
            s = harness.summarise(g)
            row = dict(protocol=proto, units=view, **{m: round(s[m], 4) for m in ["regret1", "ndcg5", "hit1", "tau"]})
            if view != "raw":
                for m in ["regret1", "ndcg5", "hit1"]:
                    diff = per_task.loc[view][m] - base[m]
                    row[f"p_{m}"] = round(float(wilcoxon(diff[diff != 0]).pvalue), 4) if (diff != 0).any() else 1.0
                    low, high = cluster_interval(diff, cluster.reindex(diff.index).to_numpy(), rng)
                    row[f"ci_{m}"] = f"[{low:+.4f}, {high:+.4f}]"
            rows.append(row)
    out = pd.DataFrame(rows)
    out.to_csv("results/units_10seeds.csv", index=False)
    pd.set_option("display.width", 250)
    print(out.to_string(index=False))


if __name__ == "__main__":
    main()
