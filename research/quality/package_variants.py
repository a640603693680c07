"""Variants of the package's own transformer against best_mean_relevance, with the package's evaluation.

    python research/quality/package_variants.py dataset|ref '{"label": {medicalrec params}}' [MODE]

Same folds as `medicalrec evaluate --folds 5 --repeats 3 --seed 0` (mode I unless MODE is given);
prints per-task means and the Wilcoxon p-values of regret@1 and NDCG@5 against best_mean_relevance.
"""
from __future__ import annotations

import json
import sys

import pandas as pd

from scipy.stats import wilcoxon

from medicalrec.bench.defaults import shipped_data_path
from medicalrec.bench.loading import load_bench
from medicalrec.evaluation.crossval import evaluate

METRICS = ["Regret@1", "NDCG@5", "HitRate@1", "KendallTau"]


def per_task(records, name: str, params: dict, mode: str = "I", group_by: str | None = None, workers: int = 2):
    """Per-task metrics (mean over the 3 repeats) of recommender ``name`` with ``params`` on the package's folds."""
    run = evaluate(records, "task", [mode], [name], 5, 0, params={name: params}, repeats=3, workers=workers,
                   group_by=group_by)
    return run.per_task.groupby("task_id")[METRICS].mean()


def paired_lines(base: pd.DataFrame, other: pd.DataFrame, metrics=None) -> list[str]:
    """Per metric (per-task frames indexed alike): the held-out tasks where ``other`` is higher and lower than
    ``base`` (lower is better for Regret@1) and the two-sided Wilcoxon signed-rank p-value, zeros dropped."""
    lines = []
    for metric in metrics or base.columns:
        diff = (other[metric] - base[metric]).dropna()
        p = wilcoxon(diff[diff != 0]).pvalue if (diff != 0).any() else 1.0
        lines.append(f"  {metric}: {(diff > 0).sum()} up, {(diff < 0).sum()} down, Wilcoxon p = {p:.3g}")
    return lines


def main() -> None:
    group_by = None if sys.argv[1] == "dataset" else sys.argv[1]
    variants = json.loads(sys.argv[2])
    mode = sys.argv[3] if len(sys.argv) > 3 else "I"
    records = load_bench(shipped_data_path()).frame
    base = per_task(records, "best_mean_relevance", {}, mode, group_by)
    print("best_mean_relevance", base.mean().round(4).to_dict())
    for label, params in variants.items():
        values = per_task(records, "medicalrec", params, mode, group_by)
        out = values.mean().round(4).to_dict()
        for metric in METRICS[:2]:
            differs = (values[metric] != base[metric]).any()
            out["p_" + metric] = round(float(wilcoxon(values[metric], base[metric]).pvalue), 4) if differs else 1.0
        print(label, out, flush=True)


if __name__ == "__main__":
    main()
