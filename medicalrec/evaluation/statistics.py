"""Statistics over cross-validation results: per-task means over repeats and the paired
Wilcoxon signed-rank test that every summary reports against the reference recommender."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medicalrec import constants as C


def task_means(per_task: pd.DataFrame) -> pd.DataFrame:
    """Per-task metrics averaged over repeats: one row per (protocol, mode, recommender, task)."""
    keys = [C.PROTOCOL, C.MODE, C.RECOMMENDER, C.TASK_ID]
    metrics = [c for c in per_task.columns if c not in (*C.KEY_COLUMNS, C.TASK_ID)]
    return per_task.groupby(keys, sort=False)[metrics].mean().reset_index()


def wins_losses(values: np.ndarray, reference: np.ndarray, lower_is_better: bool = False) -> tuple[int, int]:
    """Paired tasks where ``values`` is better than ``reference``, and where it is worse (ties and
    pairs with a NaN count as neither). The direction a two-sided p-value does not give."""
    values, reference = np.asarray(values, dtype=float), np.asarray(reference, dtype=float)
    keep = np.isfinite(values) & np.isfinite(reference)
    differences = values[keep] - reference[keep]
    if lower_is_better:
        differences = -differences
    return int((differences > 0).sum()), int((differences < 0).sum())


def wilcoxon_p(values: np.ndarray, reference: np.ndarray) -> float:
    """Two-sided p-value of the Wilcoxon signed-rank test on paired values (``scipy.stats.wilcoxon``,
    zero differences dropped): ``d_i = values_i - reference_i``, ``W = min(W+, W-)`` with
    ``W+ = sum of ranks of |d_i| over d_i > 0``. Pairs with a NaN are dropped; NaN when no
    difference is left (identical rankings)."""
    from scipy.stats import wilcoxon

    values, reference = np.asarray(values, dtype=float), np.asarray(reference, dtype=float)
    keep = np.isfinite(values) & np.isfinite(reference)
    differences = values[keep] - reference[keep]
    if not np.any(differences != 0):
        return float("nan")
    return float(wilcoxon(differences).pvalue)
