"""python report.py -> results/summary.csv and results/summary.md (every variant x view x protocol).

Baseline for Wilcoxon = best_mean (view main) under the same protocol/cold setting; per-task values
are averaged over the 3 repeats first, then paired by task.
"""
import glob
import os

import pandas as pd

import harness

rows = []
frames = {}
for f in sorted(glob.glob("results/*__*.csv")):
    if os.path.basename(f).startswith("summary"):
        continue
    df = pd.read_csv(f)
    key = os.path.basename(f)[:-4]
    variant, protocol, *cold = key.split("__")
    frames[key] = (variant, protocol, bool(cold), df)
for key, (variant, protocol, cold, df) in frames.items():
    base_key = f"best_mean__{protocol}" + ("__cold" if cold else "")
    base = frames.get(base_key)
    base = base[3][base[3].view == "main"] if base else None
    for view, g in df.groupby("view", sort=False):
        s = harness.summarise(g, base)
        rows.append(dict(variant=variant, view=view, protocol=protocol + ("+cold" if cold else ""),
                         fit_s=g.fit_s.iloc[0], n_tasks=g.tid.nunique(), **s))
out = pd.DataFrame(rows)
out.to_csv("results/summary.csv", index=False)


def fmt(r):
    return (f"| {r.variant} | {r.view} | {r.protocol} | {r.regret1:.4f} ± {r.regret1_sd:.4f} | {r.ndcg5:.3f} ± {r.ndcg5_sd:.3f} "
            f"| {r.hit1:.3f} ± {r.hit1_sd:.3f} | {r.hit3:.3f} ± {r.hit3_sd:.3f} | {r.tau:.3f} ± {r.tau_sd:.3f} "
            f"| {r.get('d_regret1', float('nan')):+.4f} (p={r.get('p_regret1', float('nan')):.2g}, n={r.get('nz_regret1', 0):.0f}) "
            f"| {r.get('d_ndcg5', float('nan')):+.4f} (p={r.get('p_ndcg5', float('nan')):.2g}) | {r.fit_s:.2f} |")


with open("results/summary.md", "w") as fh:
    fh.write("| variant | view | protocol | regret@1 | NDCG@5 | Hit@1 | Hit@3 | tau-b | Δregret vs best_mean (Wilcoxon p, tasks differing) | ΔNDCG@5 (p) | fit s/fold |\n")
    fh.write("|---|---|---|---|---|---|---|---|---|---|---|\n")
    for _, r in out.sort_values(["protocol", "regret1"]).iterrows():
        fh.write(fmt(r) + "\n")
print(open("results/summary.md").read())
