"""Seeded, grouped splits: no group (``ref`` or task) is ever on both sides.

* record protocol: folds grouped by ``ref`` (no article on both sides),
* task protocol: folds grouped by ``dataset`` (no image collection on both sides: a user's task is
  a dataset the model has never seen); a record without a dataset is its task's own group, and a
  file without the column is grouped by task (leave-task-out when ``n_splits`` equals the number of
  groups).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.bench.tasks import with_task_ids
from medicalrec.errors import ConfigError


def grouped_folds(groups: pd.Series | np.ndarray, n_splits: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(train_positions, test_positions)``; groups are shuffled with ``seed`` then dealt
    round-robin by size (largest first) so folds are balanced in records.

    ``n_splits`` larger than the number of groups is clipped (leave-one-group-out).
    """
    values = np.asarray(pd.Series(groups).astype(str))
    unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    if len(unique) < 2:
        raise ConfigError(f"need at least 2 groups to split, found {len(unique)}")
    n_splits = min(int(n_splits), len(unique))
    if n_splits < 2:
        raise ConfigError(f"need at least 2 folds, got {n_splits}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(unique))
    order = order[np.argsort(-counts[order], kind="stable")]
    fold_of_group = np.empty(len(unique), dtype=int)
    load = np.zeros(n_splits, dtype=int)
    for group in order:
        fold = int(np.argmin(load))
        fold_of_group[group] = fold
        load[fold] += counts[group]
    fold_of_record = fold_of_group[inverse]
    positions = np.arange(len(values))
    for fold in range(n_splits):
        test = fold_of_record == fold
        yield positions[~test], positions[test]


GROUPINGS = (C.DATASET, C.REF, C.TASK)  # what task-protocol folds may hold out whole


def split_groups(records: pd.DataFrame, protocol: str, group_by: str | None = None) -> pd.Series:
    """The group of every record under a protocol: ``ref`` for record; for task the ``dataset``
    (``"dataset: <name>"``) where the record names one, else its ``task_id`` (``"task: <id>"``).

    ``group_by`` overrides the task protocol's grouping: ``ref`` holds out whole sources (leave-
    source-out: most of a source's models are then new to training), ``task`` single tasks."""
    if group_by is not None and group_by not in GROUPINGS:
        raise ConfigError(f"unknown grouping {group_by!r}; choose from {', '.join(GROUPINGS)}")
    if protocol == C.PROTOCOL_RECORD:
        if group_by not in (None, C.REF):
            raise ConfigError("the record protocol always holds out whole refs")
        return records[C.REF].astype(str)
    if protocol == C.PROTOCOL_TASK:
        task = "task: " + with_task_ids(records)[C.TASK_ID].astype(str)
        if group_by == C.REF:
            return "ref: " + records[C.REF].astype(str)
        if group_by == C.TASK or C.DATASET not in records:
            return task
        dataset = records[C.DATASET]
        named = dataset.notna() & (dataset.astype(str).str.strip() != "")
        return ("dataset: " + dataset.astype(str).str.strip()).where(named, task)
    raise ConfigError(f"unknown protocol {protocol!r}; choose from {', '.join(C.PROTOCOLS)}")


def cv_grouping(records: pd.DataFrame, protocol: str, group_by: str | None = None) -> str:
    """What the folds of ``split_groups`` hold out whole: ``ref``, ``dataset`` or ``task``."""
    if protocol == C.PROTOCOL_RECORD:
        return C.REF
    if group_by is not None:
        return group_by
    has_dataset = C.DATASET in records and records[C.DATASET].notna().any()
    return C.DATASET if has_dataset else C.TASK


def protocol_folds(records: pd.DataFrame, protocol: str, n_splits: int, seed: int,
                   group_by: str | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Grouped folds for a protocol, as positions into ``records``."""
    return grouped_folds(split_groups(records, protocol, group_by), n_splits, seed)


def validation_split(groups: pd.Series | np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One grouped train/validation split with about ``fraction`` of the groups held out
    (at least one group on each side when there are two or more)."""
    values = np.asarray(pd.Series(groups).astype(str))
    unique = np.unique(values)
    rng = np.random.default_rng(seed)
    n_val = int(round(len(unique) * fraction))
    n_val = min(max(n_val, 1 if len(unique) > 1 else 0), max(len(unique) - 1, 0))
    held = set(rng.choice(unique, size=n_val, replace=False).tolist()) if n_val else set()
    is_val = np.isin(values, list(held))
    positions = np.arange(len(values))
    return positions[~is_val], positions[is_val]
