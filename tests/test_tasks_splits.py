"""Tasks (grouping, relevance, queries) and grouped, seeded splits."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.bench.loading import load_bench
from medicalrec.bench.splits import cv_grouping, grouped_folds, protocol_folds, split_groups, validation_split
from medicalrec.bench.tasks import add_relevance, assign_task_ids, task_queries, task_table, with_task_ids
from medicalrec.errors import ConfigError

NAN = np.nan
from conftest import REAL_BENCH  # noqa: E402


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return load_bench(REAL_BENCH).frame


def published_style() -> pd.DataFrame:
    """No ``task`` column: tasks come from the task-description columns inside each ref."""
    return pd.DataFrame(
        {
            C.REF: ["R1", "R1", "R1", "R1", "R2"],
            C.DOMAIN: ["Skin", "Skin", "Skin", "Skin", "Skin"],
            C.N_SAMPLES: [100.0, 100.0, 200.0, 200.0, 100.0],
            C.WIDTH: [28.0, 28.0, 28.0, NAN, 28.0],
            C.ACCURACY: [0.9, 0.8, 0.7, 0.6, 0.5],
            C.MODEL: ["A", "B", "A", "B", "A"],
        }
    )


# ----------------------------------------------------------------------------- task grouping


def test_task_ids_from_the_task_column():
    frame = pd.DataFrame({C.REF: ["R1", "R1", "R2"], C.TASK: ["t1", "t1", "t1"], C.MODEL: ["A", "B", "A"]})
    assert assign_task_ids(frame).tolist() == ["R1 :: t1", "R1 :: t1", "R2 :: t1"]


def test_task_ids_without_a_task_column_follow_the_description():
    ids = assign_task_ids(published_style())
    assert ids.iloc[0] == ids.iloc[1]  # same ref, same description, different models and results
    assert ids.iloc[2] != ids.iloc[0]  # other n_samples
    assert ids.iloc[3] != ids.iloc[2]  # width missing in one of them
    assert ids.iloc[4] != ids.iloc[0]  # same description, other ref
    assert ids.nunique() == 4
    assert ids.str.startswith(("R1 :: ", "R2 :: ")).all()


def test_empty_task_names_fall_back_to_the_description():
    frame = published_style().assign(**{C.TASK: ["t1", "t1", None, "", "t1"]})
    ids = assign_task_ids(frame)
    assert ids.iloc[0] == "R1 :: t1" and ids.iloc[4] == "R2 :: t1"
    assert ids.iloc[2] == assign_task_ids(published_style()).iloc[2]
    assert ids.iloc[3] != ids.iloc[2]


def test_real_bench_tasks_with_and_without_the_task_column(real: pd.DataFrame):
    assert assign_task_ids(real).nunique() == 295
    derived = assign_task_ids(real.drop(columns=[C.TASK]))
    # Without task names, tasks that differ only by name collapse (e.g. same sizes): never more tasks.
    assert derived.nunique() <= 295
    by_name = pd.DataFrame({"named": assign_task_ids(real), "derived": derived})
    # A named task whose records agree on every description column is one derived task (some
    # sources vary a size column between the models of one task; those split, as documented).
    columns = [c for c in C.TASK_DESCRIPTION_COLUMNS if c in real]
    agree = real.assign(named=by_name["named"]).groupby("named")[columns].nunique(dropna=False).le(1).all(axis=1)
    assert agree.sum() > 250
    assert (by_name.groupby("named")["derived"].nunique()[agree] == 1).all()


# ----------------------------------------------------------------------------- relevance


def relevance_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.REF: ["auc"] * 2 + ["acc"] * 2 + ["bal"] * 2 + ["f1"] * 2 + ["partial"] * 2 + ["none"],
            C.TASK: ["t"] * 11,
            C.AUC: [0.9, 0.8, 0.9, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
            C.ACCURACY: [0.7, 0.6, 0.8, 0.75, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
            C.BALANCED_ACCURACY: [NAN, NAN, NAN, NAN, 0.66, 0.61, NAN, NAN, 0.5, NAN, NAN],
            C.F1: [NAN, NAN, NAN, NAN, 0.5, NAN, 0.4, 0.45, NAN, 0.3, NAN],
            C.MODEL: ["A", "B", "A", "B", "A", "B", "A", "B", "A", "B", "A"],
        }
    )


def test_relevance_metric_priority():
    out = add_relevance(relevance_frame())
    metric = dict(zip(out[C.REF], out[C.RELEVANCE_METRIC]))
    assert pd.isna(metric.pop("none"))  # no metric at all
    assert metric == {
        "auc": C.AUC,  # every record has auc
        "acc": C.ACCURACY,  # auc incomplete, accuracy complete
        "bal": C.BALANCED_ACCURACY,
        "f1": C.F1,
        "partial": C.BALANCED_ACCURACY,  # nothing complete: the first metric any record reports
    }
    assert out[C.RELEVANCE].tolist()[:8] == [0.9, 0.8, 0.8, 0.75, 0.66, 0.61, 0.4, 0.45]
    assert out[C.RELEVANCE].iloc[8] == 0.5
    assert np.isnan(out[C.RELEVANCE].iloc[9])  # never invented from another metric
    assert np.isnan(out[C.RELEVANCE].iloc[10])


def test_task_table_keeps_the_best_result_of_a_repeated_model():
    frame = pd.DataFrame(
        {C.REF: ["R"] * 3, C.TASK: ["t"] * 3, C.AUC: [0.7, 0.9, 0.8], C.MODEL: ["A", "A", "B"]}
    )
    table = task_table(frame)
    assert table.set_index(C.MODEL)[C.RELEVANCE].to_dict() == {"A": 0.9, "B": 0.8}
    assert set(table[C.TASK_ID]) == {"R :: t"}


# ----------------------------------------------------------------------------- task queries


def test_task_queries_keep_shared_description_and_drop_results():
    frame = pd.DataFrame(
        {
            C.REF: ["R1", "R1", "R2"],
            C.TASK: ["t1", "t1", "solo"],
            C.DOMAIN: ["Skin", "Skin", "Eye"],
            C.N_SAMPLES: [100.0, 100.0, 50.0],
            C.N_TEST: [20.0, 25.0, 10.0],  # disagrees inside t1
            C.ACCURACY: [0.9, 0.9, 0.8],  # tied inside t1; single record in solo
            C.AUC: [0.95, 0.85, 0.7],
            C.MODEL: ["A", "B", "A"],
        }
    )
    queries = task_queries(frame)
    assert list(queries.index) == ["R1 :: t1", "R2 :: solo"]
    assert C.MODEL not in queries
    assert queries.loc["R1 :: t1", C.DOMAIN] == "Skin"
    assert queries.loc["R1 :: t1", C.N_SAMPLES] == 100.0
    assert pd.isna(queries.loc["R1 :: t1", C.N_TEST])
    for metric in (C.ACCURACY, C.AUC):
        assert queries[metric].isna().all(), metric  # no per-model result leaks, not even for one record


def test_real_task_queries_leak_no_metric(real: pd.DataFrame):
    queries = task_queries(real)
    assert len(queries) == 295
    assert queries[list(C.METRIC_COLUMNS)].isna().all().all()
    assert queries[C.DOMAIN].notna().all()


# ----------------------------------------------------------------------------- splits


def test_grouped_folds_never_split_a_group():
    groups = pd.Series(list("aaaaabbbccdd") + list("eeeffg"))
    test_positions = []
    for train, test in grouped_folds(groups, n_splits=3, seed=7):
        assert set(groups.iloc[train]).isdisjoint(set(groups.iloc[test]))
        assert len(train) + len(test) == len(groups)
        test_positions.extend(test.tolist())
    assert sorted(test_positions) == list(range(len(groups)))  # every record tested exactly once


def test_grouped_folds_balance_records_largest_group_first():
    groups = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"] * 2)
    sizes = sorted(len(test) for _, test in grouped_folds(groups, n_splits=2, seed=0))
    assert sizes == [5, 7]  # a(5) | b(3)+c(2) | then a tie 5:5 sends d(2) to the first fold


def test_grouped_folds_are_reproducible_per_seed():
    groups = np.repeat(np.arange(20), 3).astype(str)

    def folds(seed: int) -> list[tuple[int, ...]]:
        return [tuple(test) for _, test in grouped_folds(groups, n_splits=4, seed=seed)]

    assert folds(3) == folds(3)
    assert len({tuple(folds(seed)) for seed in range(6)}) > 1


def test_leave_one_group_out_clipping_and_errors():
    groups = ["x", "x", "y", "z", "z", "w"]
    folds = list(grouped_folds(groups, n_splits=100, seed=1))
    assert len(folds) == 4
    held = sorted(tuple(sorted({groups[i] for i in test})) for _, test in folds)
    assert held == [("w",), ("x",), ("y",), ("z",)]
    with pytest.raises(ConfigError):
        list(grouped_folds(groups, n_splits=1, seed=1))
    with pytest.raises(ConfigError):
        list(grouped_folds(["only"] * 3, n_splits=2, seed=1))


def test_protocol_folds_on_the_real_bench(real: pd.DataFrame):
    datasets = real[C.DATASET]
    for protocol, key in ((C.PROTOCOL_TASK, datasets), (C.PROTOCOL_RECORD, real[C.REF])):
        prefix = "dataset: " if protocol == C.PROTOCOL_TASK else ""
        assert split_groups(real, protocol).tolist() == (prefix + key.astype(str)).tolist()
        n_folds = 0
        for train, test in protocol_folds(real, protocol, n_splits=5, seed=0):
            assert set(key.iloc[train]).isdisjoint(set(key.iloc[test]))
            n_folds += 1
        assert n_folds == 5
    with pytest.raises(ConfigError):
        split_groups(real, "leave-nothing-out")


def test_task_folds_group_by_dataset_else_by_task():
    """Records that name a dataset are grouped by it across refs and tasks; a record without one is
    its task's own group; a file without the column groups by task."""
    frame = pd.DataFrame({
        C.REF: ["A", "A", "B", "B", "C"], C.TASK: ["t1", "t2", "t1", "t1", "t9"], C.MODEL: list("mnmno"),
        C.DATASET: ["ISIC 2019", "ISIC 2019", "ISIC 2019", "ISIC 2019", None],
    })
    groups = split_groups(frame, C.PROTOCOL_TASK).tolist()
    assert groups == ["dataset: ISIC 2019"] * 4 + ["task: C :: t9"]
    assert cv_grouping(frame, C.PROTOCOL_TASK) == C.DATASET
    without = frame.drop(columns=[C.DATASET])
    assert split_groups(without, C.PROTOCOL_TASK).tolist() == ["task: A :: t1", "task: A :: t2", "task: B :: t1",
                                                              "task: B :: t1", "task: C :: t9"]
    assert cv_grouping(without, C.PROTOCOL_TASK) == C.TASK and cv_grouping(frame, C.PROTOCOL_RECORD) == C.REF
    # leave-source-out on request: whole refs, whatever their datasets
    assert split_groups(frame, C.PROTOCOL_TASK, group_by=C.REF).tolist() == ["ref: A"] * 2 + ["ref: B"] * 2 + ["ref: C"]
    assert cv_grouping(frame, C.PROTOCOL_TASK, C.REF) == C.REF
    with pytest.raises(ConfigError, match="grouping"):
        split_groups(frame, C.PROTOCOL_TASK, group_by="model")
    with pytest.raises(ConfigError, match="record protocol"):
        split_groups(frame, C.PROTOCOL_RECORD, group_by=C.DATASET)


def test_validation_split_is_grouped_and_reproducible():
    groups = np.repeat(np.array(list("abcdefghij")), 2)
    train, val = validation_split(groups, fraction=0.2, seed=5)
    assert len(set(groups[val])) == 2
    assert set(groups[train]).isdisjoint(set(groups[val]))
    again = validation_split(groups, fraction=0.2, seed=5)
    assert again[1].tolist() == val.tolist()
    train, val = validation_split(np.array(["a", "a", "b"]), fraction=0.0, seed=0)
    assert len(set(np.array(["a", "a", "b"])[val])) == 1 and len(train) > 0  # one group each side
