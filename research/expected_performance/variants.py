"""Variants of the expected-AUC estimate that lost, rerunnable: `python research/expected_performance/variants.py`.

Same leave-dataset-out folds as `medicalrec evaluate` (5 folds, seeds 0-2). Point estimates: each
model's mean on the training tasks (the issue's baseline), the mean shrunk towards the corpus mean,
and the median (what ships). Intervals: one global split-conformal offset pair (what ships) against
offsets scaled by each model's own spread (normalised conformal), both clipped to [0, 1] and nested like
`evaluation.expectation.held_out_predictions`. Every number is averaged over tasks first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.bench.defaults import resolve_data
from medicalrec.bench.loading import load_bench
from medicalrec.bench.splits import protocol_folds
from medicalrec.bench.tasks import with_task_ids
from medicalrec.serving.expectation import metric_table

SEEDS = (0, 1, 2)


def per_task_mean(values: pd.Series, tasks: pd.Series) -> float:
    return float(values.groupby(tasks).mean().mean())


def point_estimates(train: pd.DataFrame, test: pd.DataFrame, shrink: float) -> dict[str, np.ndarray]:
    by_model = train.groupby(C.MODEL)["value"]
    mean_all, median_all = train["value"].mean(), train["value"].median()
    shrunk = (by_model.sum() + shrink * mean_all) / (by_model.size() + shrink)
    return {"mean": test[C.MODEL].map(by_model.mean()).fillna(mean_all).to_numpy(),
            f"mean shrunk (k={shrink:g})": test[C.MODEL].map(shrunk).fillna(mean_all).to_numpy(),
            "median": test[C.MODEL].map(by_model.median()).fillna(median_all).to_numpy()}


def spread(train: pd.DataFrame, k: float) -> tuple[pd.Series, float]:
    """Each model's median absolute deviation from its median, shrunk towards the corpus's."""
    by_model = train.groupby(C.MODEL)["value"]
    deviation = (train["value"] - train[C.MODEL].map(by_model.median())).abs()
    overall = float((train["value"] - train["value"].median()).abs().median())
    n, mad = by_model.size(), deviation.groupby(train[C.MODEL]).median()
    return np.sqrt((n * mad ** 2 + k * overall ** 2) / (n + k)), overall


def held_out(records: pd.DataFrame, seed: int, scale_k: float | None):
    """Median estimate and, per pair, a residual scaled by the model's spread (1 when scale_k is None)."""
    rows = []
    for train, test in protocol_folds(records, C.PROTOCOL_TASK, 5, seed):
        a, b = metric_table(records.iloc[train]), metric_table(records.iloc[test])
        expected = point_estimates(a, b, 0)["median"]
        if scale_k is None:
            scale = np.ones(len(b))
        else:
            spreads, overall = spread(a, scale_k)
            scale = b[C.MODEL].map(spreads).fillna(overall).to_numpy()
        rows.append(b.assign(expected=expected, scale=scale))
    return pd.concat(rows, ignore_index=True)


def nested_interval(records: pd.DataFrame, seed: int, scale_k: float | None) -> tuple[float, float]:
    rows = []
    for train, test in protocol_folds(records, C.PROTOCOL_TASK, 5, seed):
        inner = held_out(records.iloc[train].reset_index(drop=True), seed, scale_k)
        low, high = np.quantile((inner["value"] - inner["expected"]) / inner["scale"], [0.1, 0.9])
        outer = held_out(records, seed, scale_k)  # same fold's predictions come from the same fit
        outer = outer[outer[C.TASK_ID].isin(metric_table(records.iloc[test])[C.TASK_ID])]
        rows.append(outer.assign(low=np.clip(outer["expected"] + low * outer["scale"], 0, 1),
                                 high=np.clip(outer["expected"] + high * outer["scale"], 0, 1)))
    p = pd.concat(rows, ignore_index=True)
    covered = ((p["value"] >= p["low"]) & (p["value"] <= p["high"])).astype(float)
    return per_task_mean(covered, p[C.TASK_ID]), per_task_mean(p["high"] - p["low"], p[C.TASK_ID])


def main() -> None:
    records = with_task_ids(load_bench(resolve_data("public")).frame).reset_index(drop=True)
    errors: dict[str, list[float]] = {}
    for seed in SEEDS:
        for shrink in (1, 4):
            parts = []
            for train, test in protocol_folds(records, C.PROTOCOL_TASK, 5, seed):
                a, b = metric_table(records.iloc[train]), metric_table(records.iloc[test])
                b = b.assign(**point_estimates(a, b, shrink))
                parts.append(b)
            p = pd.concat(parts, ignore_index=True)
            for name in [c for c in p.columns if c not in (C.TASK_ID, C.MODEL, "value")]:
                if shrink == 4 and name in ("mean", "median"):
                    continue
                errors.setdefault(name, []).append(per_task_mean((p["value"] - p[name]).abs(), p[C.TASK_ID]))
    print("point estimate: MAE per seed (0, 1, 2), averaged over tasks")
    for name, values in errors.items():
        print(f"  {name:22s} " + "  ".join(f"{v:.4f}" for v in values))
    print("80% interval: coverage / mean width per seed")
    for label, k in (("global offsets", None), ("scaled by model spread (k=3)", 3.0)):
        print(f"  {label:30s} " + "  ".join("{:.3f} / {:.3f}".format(*nested_interval(records, s, k)) for s in SEEDS))


if __name__ == "__main__":
    main()
