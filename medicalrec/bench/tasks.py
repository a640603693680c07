"""Tasks: which records belong together, how good each model was on its task, what a task looks like.

A task is ``ref`` + ``task``. Files with the published MedicalRec-Bench headers have no ``task``
column; there, records of one ``ref`` that agree on every task-description column form one task.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from medicalrec import constants as C


def assign_task_ids(records: pd.DataFrame) -> pd.Series:
    """A stable task key per record: ``"<ref> :: <task>"``.

    Without a ``task`` column (or where it is empty) the task name is derived from the
    task-description columns, so identical descriptions inside one ``ref`` share a task.
    """
    return (_text(records, C.REF).fillna("") + " :: " + task_names(records)).rename(C.TASK_ID)


def task_names(records: pd.DataFrame) -> pd.Series:
    """Each record's task name without its ``ref``: the ``task`` cell, or where that is empty the
    task-description columns joined."""
    task = _text(records, C.TASK)
    return task.where(task.notna() & (task != ""), _description_key(records))


def task_key(text: object) -> str:
    """How two spellings of one task or source compare: case and runs of white space ignored, so
    ``Brain MRI`` and ``brain  mri`` name the same thing."""
    return " ".join(str(text).casefold().split())


def _text(records: pd.DataFrame, column: str) -> pd.Series:
    if column not in records:
        return pd.Series([None] * len(records), index=records.index, dtype=object)
    return records[column].astype(object).where(records[column].notna(), None)


def _description_key(records: pd.DataFrame) -> pd.Series:
    parts = []
    for column in C.TASK_DESCRIPTION_COLUMNS:
        if column in records:
            values = records[column].astype(object)
            parts.append(values.where(values.notna(), "?").astype(str))
    if not parts:
        return pd.Series(["?"] * len(records), index=records.index)
    key = parts[0]
    for part in parts[1:]:
        key = key + "|" + part
    return key


def with_task_ids(records: pd.DataFrame) -> pd.DataFrame:
    """Records with a ``task_id`` column (kept if already there)."""
    if C.TASK_ID in records:
        return records
    out = records.copy()
    out[C.TASK_ID] = assign_task_ids(records)
    return out


def add_relevance(records: pd.DataFrame) -> pd.DataFrame:
    """Add ``relevance`` and ``relevance_metric`` per record (spec, task protocol).

    The metric of a task is ``auc`` where every record of the task reports it, else ``accuracy``,
    else ``balanced_accuracy``, else ``f1``; where no metric is complete, the first one any record
    reports is used and records without it get a missing relevance (never an invented number).
    """
    out = with_task_ids(records).copy()
    metric_of_task: dict[str, str | None] = {}
    for task_id, group in out.groupby(C.TASK_ID, sort=False):
        metric_of_task[task_id] = _relevance_metric(group)
    metric = out[C.TASK_ID].map(metric_of_task)
    relevance = pd.Series(np.nan, index=out.index, dtype=float)
    for name in C.RELEVANCE_PRIORITY:
        if name in out:
            mask = metric == name
            relevance[mask] = pd.to_numeric(out.loc[mask, name], errors="coerce")
    out[C.RELEVANCE_METRIC] = metric
    out[C.RELEVANCE] = relevance
    return out


def _relevance_metric(group: pd.DataFrame) -> str | None:
    present = [m for m in C.RELEVANCE_PRIORITY if m in group]
    for name in present:
        if group[name].notna().all():
            return name
    for name in present:
        if group[name].notna().any():
            return name
    return None


def task_queries(records: pd.DataFrame, features: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One row per task: what a user would describe before training anything.

    A column keeps its value where every record of the task agrees on it and is missing otherwise.
    Reported performance (accuracy, auc, ...) is always missing: it is a per-model result, and a task
    with a single record (or tied results) would otherwise leak it into the query. Index: ``task_id``.
    """
    frame = with_task_ids(records)
    columns = [c for c in (features or C.CANONICAL_COLUMNS) if c in frame and c != C.MODEL]
    grouped = frame.groupby(C.TASK_ID, sort=False)[columns]
    first = grouped.first()
    constant = grouped.nunique(dropna=False) <= 1
    queries = first.where(constant)
    for column in C.METRIC_COLUMNS:
        if column in queries:
            queries[column] = np.nan
    return queries


def task_table(records: pd.DataFrame) -> pd.DataFrame:
    """Long table of (task_id, model, relevance): the truth of the task protocol.

    Where a model appears several times in one task its best relevance counts.
    """
    frame = add_relevance(records)
    frame = frame[frame[C.RELEVANCE].notna()]
    return (
        frame.groupby([C.TASK_ID, C.MODEL], sort=False)[C.RELEVANCE]
        .max()
        .reset_index()
    )


def scale_within_task(relevance: np.ndarray) -> np.ndarray:
    """One task's relevances min-max scaled: ``(r - min) / (max - min)``, so its best model has 1
    and its worst 0; when every model ties, all get 1 (every order is ideal). The one within-task
    scaling of the package (graded NDCG gains, recommenders' task gains and listwise targets)."""
    relevance = np.asarray(relevance, dtype=float)
    spread = relevance.max() - relevance.min()
    if spread <= 0:
        return np.ones_like(relevance)
    return (relevance - relevance.min()) / spread
