"""Fitting and honestly measuring ``serving.expectation.ExpectedPerformance``.

Every number comes from tasks whose dataset the fitted model never saw: ``held_out_predictions``
fits on the training folds of a grouped K-fold (by dataset, like the task protocol) and predicts
the held-out tasks. The interval used on a held-out fold is calibrated by an inner K-fold of the
training part only (nested split conformal), so coverage is measured on folds that neither the
point estimate nor its interval saw. ``fit_expectation`` is what export ships: fitted on every
record, its interval calibrated on the leave-dataset-out residuals of all records.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.serving.expectation import EXPECTED_METRIC, INTERVAL, ExpectedPerformance, metric_table

DEFAULT_FOLDS = C.DEFAULT_FOLDS


def held_out_predictions(records: pd.DataFrame, n_splits: int = DEFAULT_FOLDS, seed: int = 0,
                         metric: str = EXPECTED_METRIC, group_by: str | None = None,
                         calibrate: bool = True) -> pd.DataFrame:
    """One row per held-out (task, model) reporting ``metric``: ``task_id, model, fold, actual,
    expected, baseline`` (the model's mean on the training tasks, else their overall mean: the
    reference the issue asks to beat) and, with ``calibrate``, ``low, high`` from an interval
    calibrated on the training part alone."""
    from medicalrec.bench.splits import protocol_folds
    from medicalrec.bench.tasks import with_task_ids

    records = with_task_ids(records).reset_index(drop=True)
    parts = []
    for fold, (train, test) in enumerate(protocol_folds(records, C.PROTOCOL_TASK, n_splits, seed, group_by)):
        train_records = records.iloc[train]
        truth, train_table = metric_table(records.iloc[test], metric), metric_table(train_records, metric)
        if truth.empty or train_table.empty:
            continue
        model = ExpectedPerformance.fit(train_table, metric)
        if calibrate:
            inner = held_out_predictions(train_records, n_splits, seed, metric, group_by, calibrate=False)
            model = model.with_interval(inner["actual"] - inner["expected"])
        out = truth.rename(columns={C.VALUE: "actual"}).assign(**{C.FOLD: fold})
        out["expected"] = model.expected(out[C.MODEL])
        means = train_table.groupby(C.MODEL)[C.VALUE].mean()
        out["baseline"] = out[C.MODEL].map(means).fillna(float(train_table[C.VALUE].mean())).to_numpy(dtype=float)
        if calibrate:
            out["low"], out["high"] = model.interval(out["expected"].to_numpy())
        parts.append(out)
    if not parts:
        raise ValueError(f"no held-out task reports {metric}")
    return pd.concat(parts, ignore_index=True)


def repeated_predictions(records: pd.DataFrame, n_splits: int = DEFAULT_FOLDS, seed: int = 0, repeats: int = 1,
                         metric: str = EXPECTED_METRIC, group_by: str | None = None) -> pd.DataFrame:
    """``held_out_predictions`` for seeds ``seed, seed + 1, ...`` (as ``evaluate --repeats``), with
    a ``repeat`` column."""
    return pd.concat([held_out_predictions(records, n_splits, seed + r, metric, group_by).assign(**{C.REPEAT: r})
                      for r in range(repeats)], ignore_index=True)


def interval_report(predictions: pd.DataFrame) -> dict[str, float]:
    """Summary of ``held_out_predictions``, every value averaged over tasks first (a task with many
    models counts once):

    * ``expected_coverage``: share of pairs with ``low <= actual <= high``;
    * ``expected_interval_width``: mean ``high - low``;
    * ``expected_mae`` and ``expected_baseline_mae``: mean ``|actual - expected|`` and
      ``|actual - baseline|``;
    * ``expected_pairs``, ``expected_tasks``: how many held-out pairs and tasks were measured.

    With several ``repeat`` values, each is summarised alone and the summaries are averaged.
    """
    p = predictions
    if C.REPEAT in p and p[C.REPEAT].nunique() > 1:
        reports = [interval_report(part.drop(columns=C.REPEAT)) for _, part in p.groupby(C.REPEAT)]
        return {key: float(np.mean([r[key] for r in reports])) for key in reports[0]}
    per_task = p.assign(
        covered=((p["actual"] >= p["low"]) & (p["actual"] <= p["high"])).astype(float),
        width=p["high"] - p["low"],
        error=(p["actual"] - p["expected"]).abs(),
        baseline_error=(p["actual"] - p["baseline"]).abs(),
    ).groupby(C.TASK_ID)[["covered", "width", "error", "baseline_error"]].mean()
    return {
        "expected_coverage": float(per_task["covered"].mean()),
        "expected_interval_width": float(per_task["width"].mean()),
        "expected_mae": float(per_task["error"].mean()),
        "expected_baseline_mae": float(per_task["baseline_error"].mean()),
        "expected_pairs": float(len(p)),
        "expected_tasks": float(len(per_task)),
    }


def write_expected_report(records: pd.DataFrame, out: str | Path, n_splits: int = DEFAULT_FOLDS, seed: int = 0,
                          repeats: int = 1, group_by: str | None = None,
                          data_label: str = "") -> tuple[dict[str, float], dict[str, Path]] | None:
    """Measure the expectation on held-out datasets (``repeated_predictions``) and write
    ``expected_performance.csv`` (every pair), ``.json`` (``interval_report``) and ``.png``
    (``plots.plot_expected`` of the first repeat) into ``out``. None when no task reports the metric.
    ``evaluate`` prints the report; ``train`` logs it as metrics of the parent run."""
    import json

    from medicalrec.bench.splits import cv_grouping
    from medicalrec.evaluation.plots import plot_expected
    from medicalrec.atomic import write_together

    try:
        predictions = repeated_predictions(records, n_splits, seed, repeats, group_by=group_by)
    except ValueError:
        return None
    report = interval_report(predictions)
    out = Path(out)
    first = predictions[predictions[C.REPEAT] == 0]
    subtitle = (f"{data_label}, folds grouped by {cv_grouping(records, C.PROTOCOL_TASK, group_by)}, {n_splits} folds "
                f"(seed {seed}): {first[C.TASK_ID].nunique()} held-out tasks reporting AUC, {len(first)} (task, model) pairs")
    paths = write_together({
        "expected": (out / "expected_performance.csv", lambda path: predictions.to_csv(path, index=False)),
        "expected_summary": (out / "expected_performance.json",
                             lambda path: path.write_text(json.dumps(report, indent=2))),
        "expected_plot": (out / "expected_performance.png", lambda path: plot_expected(first, path, subtitle=subtitle)),
    })
    return report, paths


def describe_expected(report: dict[str, float]) -> str:
    """One line for people."""
    return (f"expected AUC on held-out datasets ({int(report['expected_tasks'])} tasks, "
            f"{int(report['expected_pairs'])} pairs): 80% interval covers {report['expected_coverage']:.1%}, "
            f"mean width {report['expected_interval_width']:.3f}; MAE {report['expected_mae']:.4f} against "
            f"{report['expected_baseline_mae']:.4f} for each model's mean on the training tasks")


def fit_expectation(records: pd.DataFrame, n_splits: int = DEFAULT_FOLDS, seed: int = 0, group_by: str | None = None,
                    metric: str = EXPECTED_METRIC) -> ExpectedPerformance | None:
    """The shipped model: fitted on all ``records``, interval from their leave-dataset-out
    residuals. None when the records cannot support it (no record reports ``metric``, or fewer
    than two groups to hold out): the scorer then leaves the expected columns empty."""
    from medicalrec.errors import ConfigError

    table = metric_table(records, metric)
    if table.empty:
        return None
    try:
        held_out = held_out_predictions(records, n_splits, seed, metric, group_by, calibrate=False)
    except (ConfigError, ValueError):
        return None
    return ExpectedPerformance.fit(table, metric).with_interval(held_out["actual"] - held_out["expected"], INTERVAL)
