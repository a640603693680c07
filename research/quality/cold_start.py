"""python cold_start.py: item cold start on the effects prior, 10 repeats (numpy only, about a minute).

Candidates no training task rated get their attribute group's mean effect (``additive.ColdEffects``)
instead of going last; against the effects prior with new candidates last and against best_mean,
leave-dataset-out and leave-source-out, with per-task Wilcoxon p, repeats better, and a cluster
bootstrap over held-out datasets (sources) of the mean regret@1 gain over "new last".
"""
import numpy as np
import pandas as pd

import additive
import harness
import recs

D = harness.load()
rng = np.random.default_rng(0)
rows = []
for proto in ["dataset", "ref"]:
    base = harness.evaluate(D, lambda: recs.BestMean(), protocol=proto, seeds=range(10), cold=True)
    cold = harness.evaluate(D, lambda: additive.ColdEffects(ks=(3.0,)), protocol=proto, seeds=range(10), cold=True)
    last = cold[cold.view == "new last"]
    for view, df in [("new last", last), ("group k=3.0", cold[cold.view == "group k=3.0"])]:
        s = harness.summarise(df, base)
        vs_last = harness.summarise(df, last) if view != "new last" else {}
        per_seed = df.groupby("seed").regret1.mean() - base.groupby("seed").regret1.mean()
        row = dict(protocol=proto, variant=view, **{k: round(v, 4) for k, v in s.items()},
                   seeds_better_regret=int((per_seed < 0).sum()),
                   p_regret1_vs_last=round(vs_last.get("p_regret1", np.nan), 4),
                   p_ndcg5_vs_last=round(vs_last.get("p_ndcg5", np.nan), 4))
        if vs_last:
            a = df.groupby("tid").agg(regret1=("regret1", "mean"), dataset=("dataset", "first"))
            b = last.groupby("tid").regret1.mean().reindex(a.index)
            cluster = a["dataset"] if proto == "dataset" else a.index.str.split(" :: ").str[0]
            per = (a["regret1"] - b).groupby(np.asarray(cluster)).agg(["sum", "count"])
            boots = [per.iloc[i]["sum"].sum() / per.iloc[i]["count"].sum()
                     for i in (rng.integers(0, len(per), len(per)) for _ in range(2000))]
            row["ci95_regret1_vs_last"] = f"[{np.percentile(boots, 2.5):+.4f}, {np.percentile(boots, 97.5):+.4f}]"
        rows.append(row)
out = pd.DataFrame(rows)
out.to_csv("results/cold_start_10seeds.csv", index=False)
pd.set_option("display.width", 250)
print(out[["protocol", "variant", "regret1", "ndcg5", "hit1", "tau", "p_regret1", "p_ndcg5", "seeds_better_regret",
           "p_regret1_vs_last", "p_ndcg5_vs_last", "ci95_regret1_vs_last"]].to_string(index=False))
