"""Evaluation of both protocols: hand-computed results on a small fixture, the real corpus end to
end, grouping (no group on both sides), reproducibility, an oracle, and the report files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.bench.splits import protocol_folds
from medicalrec.bench.tasks import task_table, with_task_ids
from medicalrec.errors import ConfigError, ModelError
from medicalrec.evaluation.crossval import evaluate, metric_names, n_steps, resolve_n_splits, task_vectors
from medicalrec.evaluation.report import summarize, timing_breakdown, to_markdown, write_report
from medicalrec.evaluation.statistics import wilcoxon_p, wins_losses
from medicalrec.recommenders import recommender_names
from medicalrec.recommenders.base import Recommender, TrainingSet

from conftest import REAL_BENCH as REAL_DATA  # noqa: E402
LOG2_3 = math.log2(3)

# 5 tasks, one per ref; relevance is auc (every record of every task has it).
# Record counts: A 4 (twice in T1), B 3, C 3, D 2, E 1.
FIXTURE = [
    ("R1", "T1", "A", 0.90), ("R1", "T1", "A", 0.75), ("R1", "T1", "B", 0.80), ("R1", "T1", "C", 0.70),
    ("R2", "T2", "A", 0.60), ("R2", "T2", "B", 0.85), ("R2", "T2", "D", 0.75),
    ("R3", "T3", "A", 0.88), ("R3", "T3", "C", 0.92),
    ("R4", "T4", "B", 0.70), ("R4", "T4", "C", 0.65), ("R4", "T4", "D", 0.80),
    ("R5", "T5", "E", 0.90),
]


@pytest.fixture
def records() -> pd.DataFrame:
    frame = pd.DataFrame(FIXTURE, columns=[C.REF, C.TASK, C.MODEL, C.AUC])
    frame[C.DOMAIN] = frame[C.REF].map({"R1": "Skin", "R2": "Skin", "R3": "Lung", "R4": "Lung", "R5": "Eye"})
    frame[C.N_SAMPLES] = frame[C.REF].map({"R1": 100, "R2": 200, "R3": 300, "R4": 400, "R5": 500})
    frame[C.WIDTH] = 224
    frame[C.HEIGHT] = 224
    frame[C.N_CLASSES] = 2
    return frame


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return pd.read_csv(REAL_DATA)


@pytest.fixture(scope="module")
def real_subset(real) -> pd.DataFrame:
    """Three sources, ~330 records, 34 tasks: small enough for every recommender."""
    refs = ["Yang2023 MedMNIST v2", "kaiko eva leaderboard 2024-08", "Juodelyte2024 transferability"]
    return real[real[C.REF].isin(refs)].reset_index(drop=True)


def _fold_of(records: pd.DataFrame, protocol: str, group: str, seed: int = 0) -> int:
    """The fold in which ``group`` (a ref or a task name) is held out, as ``evaluate`` splits."""
    frame = with_task_ids(records)
    key = frame[C.REF] if protocol == C.PROTOCOL_RECORD else frame[C.TASK]
    n = key.nunique()
    for fold, (_, test) in enumerate(protocol_folds(frame, protocol, n, seed)):
        if set(key.iloc[test]) == {group}:
            return fold
    raise AssertionError(group)


def _values(results: pd.DataFrame, fold: int) -> dict[str, float]:
    part = results[results["fold"] == fold]
    return dict(zip(part["metric"], part["value"]))


# --- hand-computed results ------------------------------------------------------------------------

def test_task_protocol_popularity_by_hand(records):
    evaluation = evaluate(records, "task", ["I"], ["popularity"], n_splits=0)
    results = evaluation.results
    assert results["fold"].nunique() == 5  # leave-task-out

    # T1 held out: counts A2 B2 C2 D2 -> tie, order A B C by name; A is best
    t1 = _values(results, _fold_of(records, "task", "T1"))
    assert (t1["HitRate@1"], t1["NDCG@1"], t1["NDCG@3"], t1["Regret@1"]) == (1.0, 1.0, 1.0, 0.0)
    assert math.isnan(t1["KendallTau"])  # all scores equal

    # T2 held out: counts A3 B2 D1 -> order A B D; truth B .85 > D .75 > A .60
    t2 = _values(results, _fold_of(records, "task", "T2"))
    assert (t2["HitRate@1"], t2["HitRate@3"], t2["HitRate@5"]) == (0.0, 1.0, 1.0)
    assert t2["NDCG@1"] == 0.0  # A has gain 0
    assert t2["NDCG@3"] == pytest.approx((1 / LOG2_3 + 0.6 / 2) / (1 + 0.6 / LOG2_3))
    assert t2["KendallTau"] == pytest.approx(-1 / 3)
    assert t2["Regret@1"] == pytest.approx(0.25)

    # T3 held out: counts A3 C2 -> order A C; C is best
    t3 = _values(results, _fold_of(records, "task", "T3"))
    assert (t3["HitRate@1"], t3["NDCG@1"], t3["KendallTau"]) == (0.0, 0.0, -1.0)
    assert t3["NDCG@3"] == pytest.approx(1 / LOG2_3)
    assert t3["Regret@1"] == pytest.approx(0.04)

    # T4 held out: counts B2 C2 D1 -> order B C D; truth D .80 > B .70 > C .65
    t4 = _values(results, _fold_of(records, "task", "T4"))
    assert (t4["HitRate@1"], t4["HitRate@3"]) == (0.0, 1.0)
    assert t4["NDCG@1"] == pytest.approx(1 / 3)
    assert t4["NDCG@3"] == pytest.approx((1 / 3 + 1 / 2) / (1 + (1 / 3) / LOG2_3))
    assert t4["KendallTau"] == pytest.approx(-2 / math.sqrt(6))
    assert t4["Regret@1"] == pytest.approx(0.10)

    # T5 has one evaluated model: skipped, so its fold has no query and missing values
    t5_fold = _fold_of(records, "task", "T5")
    assert all(math.isnan(v) for v in _values(results, t5_fold).values())
    assert results.loc[results["fold"] == t5_fold, "n_queries"].unique().tolist() == [0]

    summary = summarize(evaluation).set_index("metric")
    assert summary.at["HitRate@1", "mean"] == pytest.approx(0.25)
    assert summary.at["HitRate@1", "n"] == 4 and summary.at["HitRate@1", "n_tasks"] == 4
    assert summary.at["KendallTau", "mean"] == pytest.approx((-1 / 3 - 1 - 2 / math.sqrt(6)) / 3)
    assert summary.at["KendallTau", "n"] == 3
    assert summary.at["Regret@1", "mean"] == pytest.approx((0 + 0.25 + 0.04 + 0.10) / 4)


def test_record_protocol_popularity_by_hand(records):
    results = evaluate(records, "record", ["I"], ["popularity"], n_splits="loo").results
    assert results["fold"].nunique() == 5  # leave-ref-out

    # R1 held out: counts A2 B2 C2 D2 E1 -> order A B C D E; targets A A B C -> ranks 1 1 2 3
    r1 = _values(results, _fold_of(records, "record", "R1"))
    assert r1["HitRate@1"] == pytest.approx(2 / 4)
    assert r1["HitRate@5"] == 1.0
    assert r1["NDCG@5"] == pytest.approx((1 + 1 + 1 / LOG2_3 + 1 / 2) / 4)
    assert r1["MRR"] == pytest.approx((1 + 1 + 1 / 2 + 1 / 3) / 4)

    # R2 held out: counts A3 C3 B2 D1 E1 -> order A C B D E; targets A B D -> ranks 1 3 4
    r2 = _values(results, _fold_of(records, "record", "R2"))
    assert r2["HitRate@1"] == pytest.approx(1 / 3)
    assert r2["HitRate@5"] == 1.0
    assert r2["MRR"] == pytest.approx((1 + 1 / 3 + 1 / 4) / 3)

    # R5 held out: its model E is in no training record, so it is a miss at every K, even K=100
    r5_fold = _fold_of(records, "record", "R5")
    r5 = _values(results, r5_fold)
    assert r5["HitRate@100"] == 0.0 and r5["NDCG@100"] == 0.0 and r5["MRR"] == 0.0
    assert results.loc[results["fold"] == r5_fold, "n_queries"].unique().tolist() == [1]


def test_results_structure(records):
    labels: list[str] = []
    results = evaluate(records, "task", ["I", "II"], ["popularity", "random"], n_splits=2, progress=labels.append).results
    assert list(results.columns) == ["protocol", "mode", "recommender", "repeat", "fold", "metric", "value", "n_queries",
                                     "fit_seconds"]
    assert len(labels) == n_steps(records, "task", ["I", "II"], ["popularity", "random"], 2) == 2 * 2 * 2
    assert labels[0] == "I popularity fold 1/2"
    assert results["mode"].unique().tolist() == ["I", "II"]
    assert results["recommender"].unique().tolist() == ["popularity", "random"]
    per_fit = results.groupby(["mode", "recommender", "fold"])
    assert (per_fit["metric"].apply(list) == pd.Series([metric_names("task")] * 8, index=per_fit.size().index)).all()
    assert (per_fit["fit_seconds"].nunique() == 1).all() and (results["fit_seconds"] >= 0).all()


# --- task vectors ---------------------------------------------------------------------------------

def test_unseen_models_rank_last_by_name():
    truth = pd.DataFrame({C.MODEL: ["Z", "B", "A", "Y"], C.RELEVANCE: [0.9, 0.5, 0.6, 0.7]})
    scores, relevance = task_vectors(np.array([0.2, np.nan, 0.1]), ["A", "B", "C"], truth)
    # ordered by name A B Y Z; B's NaN goes below A; unseen Y, Z go below both and tie
    assert relevance.tolist() == [0.6, 0.5, 0.7, 0.9]
    assert scores[0] == 0.2 and scores[1] < scores[0] and scores[2] == scores[3] < scores[1]


# --- the real corpus ------------------------------------------------------------------------------

class _Instrumented(Recommender):
    """Popularity that remembers which groups it was trained on and asked about."""

    name = "instrumented"
    seen: list[tuple[set, set]] = []

    def _fit(self, data: TrainingSet) -> None:
        self.trained = (set(data.records[C.REF]), set(data.records[C.TASK_ID]))
        self.counts_ = np.bincount(data.record_model, minlength=len(self.models_)).astype(float)

    def score(self, tasks: pd.DataFrame) -> np.ndarray:
        assert C.MODEL not in tasks and C.RELEVANCE not in tasks
        queried = set(tasks[C.REF]), set(tasks[C.TASK_ID] if C.TASK_ID in tasks else tasks.index)
        type(self).seen.append((self.trained, queried))
        return np.tile(self.counts_, (len(tasks), 1))


@pytest.mark.parametrize("protocol,level", [("record", 0), ("task", 1)])
def test_no_group_on_both_sides(real_subset, protocol, level):
    _Instrumented.seen = []
    evaluate(real_subset, protocol, ["I"], [_Instrumented], n_splits=3, seed=4)
    assert len(_Instrumented.seen) == 3
    held_out = set()
    for trained, queried in _Instrumented.seen:
        assert queried[level] and not trained[level] & queried[level]
        held_out |= queried[level]
    # every group is tested exactly once (tasks with < 2 models would be skipped; there are none)
    column = C.REF if level == 0 else C.TASK_ID
    assert held_out == set(with_task_ids(real_subset)[column])


def test_reproducible_for_a_seed(real_subset):
    names = ["random", "popularity", "knn_tasks"]
    names = [n for n in names if n in recommender_names()]
    first = evaluate(real_subset, "task", ["III"], names, n_splits=3, seed=7).results
    second = evaluate(real_subset, "task", ["III"], names, n_splits=3, seed=7).results
    other = evaluate(real_subset, "task", ["III"], names, n_splits=3, seed=8).results
    columns = ["mode", "recommender", "fold", "metric", "value", "n_queries"]
    pd.testing.assert_frame_equal(first[columns], second[columns])
    assert not first[columns].equals(other[columns])


class _Oracle(Recommender):
    """Scores every task's models with their true relevance (read from the full corpus)."""

    name = "oracle"
    truth: pd.DataFrame = pd.DataFrame()

    def _fit(self, data: TrainingSet) -> None:
        # know every model, even those only tested: the oracle is not limited by training data
        self.models_ = sorted(self.truth[C.MODEL].unique())

    def score(self, tasks: pd.DataFrame) -> np.ndarray:
        table = self.truth.pivot(index=C.TASK_ID, columns=C.MODEL, values=C.RELEVANCE)
        table = table.reindex(index=tasks.index, columns=self.models_)
        return table.fillna(-1.0).to_numpy()


def test_oracle_is_perfect_in_the_task_protocol(real):
    _Oracle.truth = task_table(real)
    evaluation = evaluate(real, "task", ["I"], [_Oracle], n_splits=3)
    results = evaluation.results
    summary = summarize(evaluation).set_index("metric")["mean"]
    for metric in ("HitRate@1", "HitRate@3", "NDCG@1", "NDCG@3", "NDCG@5", "KendallTau"):
        assert summary[metric] == pytest.approx(1.0)
    assert summary["Regret@1"] == 0.0
    assert results.groupby("fold")["n_queries"].first().sum() == 295  # every task has 2+ rated models


def test_real_corpus_popularity_record_protocol(real):
    evaluation = evaluate(real, "record", ["I", "IV"], ["popularity"], n_splits=5, seed=0)
    results = evaluation.results
    summary = summarize(evaluation)
    assert set(summary["n"]) == {5}
    values = summary.set_index(["mode", "metric"])["mean"]
    # popularity ignores features: every mode gives the same numbers
    assert values["I"].equals(values["IV"])
    hits = [values[("I", f"HitRate@{k}")] for k in C.RECORD_KS]
    assert hits == sorted(hits) and 0 <= hits[0] <= hits[-1] <= 1
    assert results.groupby("fold")["n_queries"].first().sum() == len(real)


# registry recommenders (as they land): mode III, 2 folds, on a small subset, with short training
FAST = {
    "medicalrec": {"max_epochs": 1, "inner_folds": 0},
    "mlp": {"max_iter": 20},
    "gradient_boosting": {"max_iter": 1},
    "logistic_regression": {"max_iter": 100},
    "factorization_machine": {"epochs": 2},
    "deepfm": {"epochs": 2},
    "two_tower": {"epochs": 2},
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", recommender_names())
def test_every_registered_recommender_evaluates(real_subset, name):
    small = real_subset[real_subset[C.REF] != "Juodelyte2024 transferability"]
    results = evaluate(small, "task", ["III"], [name], n_splits=2, seed=0, params={name: FAST.get(name, {})}).results
    assert len(results) == 2 * len(metric_names("task"))
    bounded = results[results["metric"] != "KendallTau"]["value"]
    assert bounded.notna().all() and bounded.between(0, 1).all()
    assert results["value"].between(-1, 1).all()


# --- errors, summary, report ----------------------------------------------------------------------

def test_bad_arguments_fail_fast(records):
    with pytest.raises(ConfigError, match="protocol"):
        evaluate(records, "paper", ["I"], ["popularity"])
    with pytest.raises(ConfigError, match="folds"):
        evaluate(records, "task", ["I"], ["popularity"], n_splits=1)
    with pytest.raises(ConfigError, match="unknown recommender"):
        evaluate(records, "task", ["I"], ["nope"])
    with pytest.raises(ConfigError, match="unknown mode"):
        evaluate(records, "task", ["V"], ["popularity"])
    assert resolve_n_splits(records, "task", 99) == 5 and resolve_n_splits(records, "task", "loo") == 5


def test_markdown_table_by_hand():
    summary = pd.DataFrame({
        "protocol": "task", "mode": ["I", "I", "I", "I"], "recommender": ["a", "a", "b", "b"],
        "metric": ["HitRate@1", "Regret@1"] * 2, "mean": [0.5, 0.02, 0.25, 0.01],
        "std": [0.1, np.nan, 0.05, 0.0], "n": [5, 1, 5, 5], "fit_seconds": 0.1,
    })
    assert to_markdown(summary) == (
        "| mode | recommender | HitRate@1 | Regret@1 |\n"
        "|---|---|---:|---:|\n"
        "| I | a | **0.500 ± 0.100** | 0.020 |\n"
        "| I | b | 0.250 ± 0.050 | **0.010 ± 0.000** |\n"
    )


def test_write_report(records, tmp_path):
    evaluation = evaluate(records, "task", ["I", "II"], ["popularity", "random"], n_splits=2)
    results = evaluation.results
    paths = write_report(evaluation, tmp_path / "out")
    assert set(paths) == {"results", "summary", "markdown", "timings", "per_task", "task_hitrate", "task_ndcg",
                          "task_regret"}
    for path in paths.values():
        assert path.exists() and path.stat().st_size > 0
    for name in ("task_hitrate", "task_ndcg", "task_regret"):
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    reread = pd.read_csv(paths["results"])
    assert len(reread) == len(results)
    assert "| II | random |" in paths["markdown"].read_text()


def test_a_report_that_fails_midway_leaves_the_earlier_one_whole(records, tmp_path, monkeypatch):
    """The regret plot is written after every table: when it fails, no table of the new run is in
    place and no temporary file is left."""
    from medicalrec.evaluation import plots

    out = tmp_path / "out"
    first = write_report(evaluate(records, "task", ["I"], ["popularity"], n_splits=2), out)
    before = {name: path.read_bytes() for name, path in first.items()}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(plots, "plot_regret", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(evaluate(records, "task", ["I", "II"], ["popularity", "random"], n_splits=2), out)
    assert {name: path.read_bytes() for name, path in first.items()} == before
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in first.values())


class _WrongShape(Recommender):
    name = "wrong_shape"

    def _fit(self, data: TrainingSet) -> None:
        pass

    def score(self, tasks: pd.DataFrame) -> np.ndarray:
        return np.zeros((len(tasks), len(self.models_) + 1))


def test_a_recommender_returning_the_wrong_shape_is_named(records):
    with pytest.raises(ModelError, match=r"wrong_shape: score\(\) returned shape \((\d+), (\d+)\), expected \(\1 queries"):
        evaluate(records, "task", ["I"], [_WrongShape], n_splits=2)


def test_the_transformer_is_trained_for_the_protocol_it_is_evaluated_on():
    """evaluate() itself asks each recommender how to train for the protocol, so library callers
    get the record objective under the record protocol without passing it; explicit params win."""
    from medicalrec.recommenders.medicalrec_transformer import MedicalRecTransformer
    from medicalrec.evaluation.crossval import _factory

    for protocol, objective in (("record", "record"), ("task", "task")):
        _, make = _factory("medicalrec", protocol, {})
        assert make(0).config.objective == objective
    _, make = _factory(MedicalRecTransformer, "record", {"medicalrec": {"objective": "task"}})
    assert make(0).config.objective == "task"
    _, make = _factory("popularity", "record", {})
    assert make(0).params == {}


# --- leave-dataset-out, repeats, workers, paired statistics ---------------------------------------

def test_wilcoxon_signed_rank_by_hand():
    """d = 1, 2, 3, 4, -5, 6: |d| ranks 1..6, W- = 5. Exactly 10 of the 2^6 sign patterns give a
    rank sum <= 5 (sums 0, 1, 2, 3, 3, 4, 4, 5, 5, 5), so the two-sided p is 2 * 10 / 64."""
    values = np.array([1.0, 2.0, 3.0, 4.0, -5.0, 6.0])
    assert wilcoxon_p(values, np.zeros(6)) == pytest.approx(2 * 10 / 64)
    # a zero difference and a missing value are dropped, not counted
    assert wilcoxon_p(np.append(values, [0.3, np.nan]), np.append(np.zeros(6), [0.3, 0.1])) == pytest.approx(2 * 10 / 64)
    assert math.isnan(wilcoxon_p(np.array([0.5, 0.7]), np.array([0.5, 0.7])))  # identical rankings: no test


def test_wins_and_losses_by_hand():
    values, reference = np.array([0.9, 0.5, 0.7, np.nan, 0.2]), np.array([0.8, 0.6, 0.7, 0.1, 0.1])
    assert wins_losses(values, reference) == (2, 1)  # 0.9 > 0.8 and 0.2 > 0.1 win; 0.5 < 0.6 loses; tie, NaN neither
    assert wins_losses(values, reference, lower_is_better=True) == (1, 2)


def test_no_dataset_is_on_both_sides_of_any_fold(real):
    """The task protocol holds out whole image collections: every repeat's folds partition the 98
    datasets, and no dataset has records on both sides of a fold."""
    from medicalrec.bench.splits import split_groups

    frame = with_task_ids(real)
    groups = split_groups(frame, "task")
    assert groups.nunique() == frame[C.DATASET].nunique() == 98
    for seed in (0, 1, 2):
        seen: set[str] = set()
        for train, test in protocol_folds(frame, "task", 5, seed):
            train_sets, test_sets = set(frame[C.DATASET].iloc[train]), set(frame[C.DATASET].iloc[test])
            assert not train_sets & test_sets
            assert not seen & test_sets
            seen |= test_sets
        assert seen == set(frame[C.DATASET])


def test_repeated_cv_is_seeded_and_averaged_per_task(real_subset):
    names = ["popularity", "best_mean_relevance"]
    first = evaluate(real_subset, "task", ["I"], names, n_splits=3, repeats=2, seed=5)
    again = evaluate(real_subset, "task", ["I"], names, n_splits=3, repeats=2, seed=5)
    columns = ["mode", "recommender", "repeat", "fold", "metric", "value", "n_queries"]
    pd.testing.assert_frame_equal(first.results[columns], again.results[columns])
    assert sorted(first.results["repeat"].unique()) == [0, 1]
    # each repeat tests every task once, with its own shuffle of the datasets
    per_task = first.per_task
    assert (per_task.groupby(["recommender", "repeat"])[C.TASK_ID].nunique() == 34).all()
    fold_of = per_task[per_task["recommender"] == "popularity"].pivot(index=C.TASK_ID, columns="repeat", values="fold")
    assert (fold_of[0] != fold_of[1]).any()
    # the summary mean is the mean over tasks of each task's mean over repeats
    summary = summarize(first).set_index(["recommender", "metric"])
    by_task = per_task[per_task["recommender"] == "popularity"].groupby(C.TASK_ID)["NDCG@5"].mean()
    assert summary.at[("popularity", "NDCG@5"), "mean"] == pytest.approx(by_task.mean())
    assert summary.at[("popularity", "NDCG@5"), "n"] == 6 and summary.at[("popularity", "NDCG@5"), "n_tasks"] == 34
    with pytest.raises(ConfigError, match="repeats"):
        evaluate(real_subset, "task", ["I"], names, n_splits=3, repeats=0)


def test_summary_pairs_every_recommender_with_best_mean(real_subset):
    from scipy.stats import wilcoxon

    evaluation = evaluate(real_subset, "task", ["I"], ["popularity", "best_mean_relevance"], n_splits=3, seed=0)
    summary = summarize(evaluation).set_index(["recommender", "metric"])
    assert math.isnan(summary.at[("best_mean_relevance", "Regret@1"), "p_value"])
    per_task = evaluation.per_task.pivot(index=C.TASK_ID, columns="recommender", values="Regret@1")
    differences = per_task["popularity"] - per_task["best_mean_relevance"]
    expected = wilcoxon(differences[differences != 0]).pvalue
    assert summary.at[("popularity", "Regret@1"), "p_value"] == pytest.approx(expected)
    # lower regret is a win: the direction the two-sided p-value does not give
    assert summary.at[("popularity", "Regret@1"), "wins"] == (differences < 0).sum()
    assert summary.at[("popularity", "Regret@1"), "losses"] == (differences > 0).sum()
    wins, losses = int((differences < 0).sum()), int((differences > 0).sum())
    assert f", {wins}:{losses})" in to_markdown(summary.reset_index())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_one_or_two_workers_give_identical_metrics(real_subset):
    """Fits in spawned worker processes: same folds, same seeds, same numbers as in this process."""
    names = ["best_mean_relevance", "two_tower", "mlp"]
    params = {"two_tower": {"epochs": 2}, "mlp": {"max_iter": 5}}
    one = evaluate(real_subset, "task", ["I", "III"], names, n_splits=2, seed=3, params=params, workers=1)
    two = evaluate(real_subset, "task", ["I", "III"], names, n_splits=2, seed=3, params=params, workers=2)
    assert two.workers == 2
    columns = ["mode", "recommender", "repeat", "fold", "metric", "value", "n_queries"]
    pd.testing.assert_frame_equal(one.results[columns], two.results[columns])
    pd.testing.assert_frame_equal(one.per_task, two.per_task)
    timings = timing_breakdown(two)
    assert set(timings["recommender"]) == set(names) and (timings["fits"] == 4).all()
