"""How much of the transformer's gain over the leaderboard survives resampling whole datasets (or sources).

    python research/quality/cluster_bootstrap.py reports/task [dataset|ref] [MODE]

Reads ``per_task.csv`` of a ``medicalrec evaluate`` run. The per-task Wilcoxon test treats tasks of one image
dataset as independent; here the groups themselves are resampled (10,000 times), and the 95% interval of the
mean per-task difference (medicalrec minus best_mean_relevance) is printed for each headline metric.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

METRICS = ["Regret@1", "NDCG@5", "HitRate@1"]


def cluster_interval(diff: pd.Series, clusters, rng: np.random.Generator, draws: int = 10_000) -> tuple[float, float]:
    """95% interval of the mean per-task ``diff`` when whole clusters (datasets, sources) are resampled: each draw
    takes as many clusters as there are, with replacement, and averages over all their tasks."""
    per = diff.groupby(np.asarray(clusters)).agg(["sum", "count"])
    sums, counts = per["sum"].to_numpy(), per["count"].to_numpy()
    picks = rng.integers(0, len(sums), (draws, len(sums)))
    low, high = np.percentile(sums[picks].sum(1) / counts[picks].sum(1), [2.5, 97.5])
    return float(low), float(high)


def main() -> None:
    from medicalrec import constants as C
    from medicalrec.bench.defaults import shipped_data_path
    from medicalrec.bench.loading import load_bench
    from medicalrec.bench.tasks import with_task_ids

    report = Path(sys.argv[1])
    by = sys.argv[2] if len(sys.argv) > 2 else "dataset"
    mode = sys.argv[3] if len(sys.argv) > 3 else "I"
    per_task = pd.read_csv(report / "per_task.csv")
    per_task = per_task[per_task["mode"] == mode]
    records = with_task_ids(load_bench(shipped_data_path()).frame)
    group = records.groupby(C.TASK_ID)[C.REF if by == "ref" else C.DATASET].first()
    rng = np.random.default_rng(0)
    for metric in METRICS:
        table = per_task.groupby(["recommender", "task_id"])[metric].mean().unstack(0)
        diff = table["medicalrec"] - table["best_mean_relevance"]
        groups = group.reindex(diff.index)
        groups = groups.where(groups.notna(), diff.index.to_series()).astype(str)  # no dataset: its own group
        low, high = cluster_interval(diff, groups, rng)
        print(f"{metric}: medicalrec - best_mean_relevance = {diff.mean():+.4f} per task; 95% interval resampling "
              f"{groups.nunique()} {by}s: [{low:+.4f}, {high:+.4f}]")


if __name__ == "__main__":
    main()
