"""Views of one recommender over 10 repeats in both protocols, each against a base view: per-task Wilcoxon and a
95% interval resampling whole datasets (or sources). Used by units.py and anchoring.py."""
import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

import harness
from cluster_bootstrap import cluster_interval


def compare_views(make, base: str, label: str, out_csv: str, seeds=range(10)) -> pd.DataFrame:
    """One row per protocol and view of ``make()``: mean regret@1, NDCG@5, Hit@1, tau; for views other than
    ``base``, p-values and dataset- (source-) resampled intervals of the per-task difference to ``base``."""
    D = harness.load()
    rng = np.random.default_rng(0)
    rows = []
    for proto in ["dataset", "ref"]:
        df = harness.evaluate(D, make, protocol=proto, cold=True, seeds=seeds)
        cluster = D.tasks.set_index("tid")[proto].astype(str)
        per_task = df.groupby(["view", "tid"])[["regret1", "ndcg5", "hit1"]].mean()
        reference = per_task.loc[base]
        for view, g in df.groupby("view", sort=False):
            s = harness.summarise(g)
            row = {"protocol": proto, label: view, **{m: round(s[m], 4) for m in ["regret1", "ndcg5", "hit1", "tau"]}}
            if view != base:
                for m in ["regret1", "ndcg5", "hit1"]:
                    diff = per_task.loc[view][m] - reference[m]
                    row[f"p_{m}"] = round(float(wilcoxon(diff[diff != 0]).pvalue), 4) if (diff != 0).any() else 1.0
                    low, high = cluster_interval(diff, cluster.reindex(diff.index).to_numpy(), rng)
                    row[f"ci_{m}"] = f"[{low:+.4f}, {high:+.4f}]"
            rows.append(row)
    out = pd.DataFrame(rows)
    out.to_csv(out_csv, index=False)
    pd.set_option("display.width", 250)
    print(out.to_string(index=False))
    return out
