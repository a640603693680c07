"""What a candidate is expected to score on a task, with an 80% interval: the question behind
"is the cheaper model nearly as good?".

The point estimate of the metric (``EXPECTED_METRIC``, AUC: the one most tasks of the corpus
report) is the candidate's median over the training tasks that report it (the median of every
training value for a candidate without one). On datasets held out whole, it beat the candidate's
mean and every task-aware variant we tried (nearest-task levels, within-task effects, local
residuals: see the README), so a new task's description does not move it: how hard a new dataset
is cannot be read from its description in this corpus, and the interval says so.

The interval is split-conformal: ``expected + [low_offset, high_offset]``, the two offsets being
quantiles of ``actual - expected`` on tasks held out by leave-dataset-out folds
(``evaluation.expectation``). Only numpy and pandas: this runs inside the scorer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from medicalrec import constants as C

EXPECTED_METRIC = C.AUC
INTERVAL = 0.8  # nominal coverage of [expected_low, expected_high]
_DIGITS = 6


def metric_table(records: pd.DataFrame, metric: str = EXPECTED_METRIC) -> pd.DataFrame:
    """``task_id, model, value``: the best ``metric`` each model reports on each task (as in the
    task protocol's relevance, a model reported twice on a task counts with its best result)."""
    from medicalrec.bench.tasks import with_task_ids

    frame = with_task_ids(records)
    if metric not in frame:
        return pd.DataFrame({C.TASK_ID: pd.Series(dtype=object), C.MODEL: pd.Series(dtype=object),
                             C.VALUE: pd.Series(dtype=float)})
    values = pd.to_numeric(frame[metric], errors="coerce")
    keep = values.notna() & frame[C.MODEL].notna()
    table = pd.DataFrame({C.TASK_ID: frame.loc[keep, C.TASK_ID].astype(str),
                          C.MODEL: frame.loc[keep, C.MODEL].astype(str), C.VALUE: values[keep]})
    return table.groupby([C.TASK_ID, C.MODEL], sort=False)[C.VALUE].max().reset_index()


@dataclass(frozen=True)
class ExpectedPerformance:
    """Per-candidate medians of one metric and the interval's offsets around them."""

    metric: str
    fallback: float  # median of every training value: the expectation of a candidate never seen
    medians: dict[str, float]
    tasks: dict[str, int]  # training tasks behind each median
    low_offset: float = 0.0
    high_offset: float = 0.0
    coverage: float = INTERVAL

    @classmethod
    def fit(cls, table: pd.DataFrame, metric: str = EXPECTED_METRIC) -> ExpectedPerformance:
        """Fit on ``metric_table`` rows (the interval is calibrated separately: ``with_interval``)."""
        if table.empty:
            raise ValueError(f"no training record reports {metric}; cannot estimate expected {metric}")
        by_model = table.groupby(C.MODEL)[C.VALUE]
        return cls(metric=metric, fallback=float(table[C.VALUE].median()),
                   medians={m: float(v) for m, v in by_model.median().items()},
                   tasks={m: int(n) for m, n in by_model.size().items()})

    def with_interval(self, residuals: np.ndarray, coverage: float = INTERVAL) -> ExpectedPerformance:
        """A copy whose offsets are the ``(1 - coverage) / 2`` and ``(1 + coverage) / 2`` quantiles
        of held-out ``actual - expected`` residuals."""
        residuals = np.asarray(residuals, dtype=float)
        residuals = residuals[np.isfinite(residuals)]
        if not len(residuals):
            raise ValueError("no held-out residuals to calibrate the interval on")
        low, high = np.quantile(residuals, [(1 - coverage) / 2, (1 + coverage) / 2])
        return replace(self, low_offset=float(low), high_offset=float(high), coverage=coverage)

    def expected(self, candidates) -> np.ndarray:
        """Expected metric of each candidate name (``[len(candidates)]``)."""
        return np.array([self.medians.get(m, self.fallback) for m in candidates], dtype=float)

    def interval(self, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``expected_low, expected_high``, clipped to the metric's range [0, 1]."""
        expected = np.asarray(expected, dtype=float)
        return np.clip(expected + self.low_offset, 0.0, 1.0), np.clip(expected + self.high_offset, 0.0, 1.0)

    def to_json(self) -> dict:
        return {"metric": self.metric, "fallback": round(self.fallback, _DIGITS),
                "medians": {m: round(v, _DIGITS) for m, v in sorted(self.medians.items())},
                "tasks": dict(sorted(self.tasks.items())),
                "low_offset": round(self.low_offset, _DIGITS), "high_offset": round(self.high_offset, _DIGITS),
                "coverage": self.coverage}

    @classmethod
    def from_json(cls, data: dict) -> ExpectedPerformance:
        return cls(metric=str(data["metric"]), fallback=float(data["fallback"]),
                   medians={str(m): float(v) for m, v in data["medians"].items()},
                   tasks={str(m): int(n) for m, n in data["tasks"].items()},
                   low_offset=float(data["low_offset"]), high_offset=float(data["high_offset"]),
                   coverage=float(data["coverage"]))
