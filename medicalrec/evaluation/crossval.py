"""Cross-validated evaluation of recommenders under both protocols of the spec, as pure functions
over DataFrames.

* **record**: folds grouped by ``ref``; every held-out record is a query scored on its own
  features, its ``model`` is the target. A target model that no training record reports is not a
  candidate, so it can never be recommended: it is a miss at every K (reciprocal rank 0).
* **task**: folds grouped by task; the query of a held-out task is ``task_queries`` (columns that
  differ between its records, such as per-model accuracy, become missing) and the truth is
  ``task_table``. Metrics are computed over the task's evaluated models only; models the
  recommender never saw in training stay in that list with a score below every known model's,
  ordered among themselves by name. Tasks with fewer than 2 evaluated models (with a relevance) are
  skipped: ranking one model says nothing.

Fold metrics are means over the fold's queries (records or tasks); ``KendallTau`` is the mean over
the tasks where it is defined (NaN when it is defined for none). ``summarize`` then gives mean,
standard deviation (ddof 1) and count of non-missing values over folds.

Folds: ``n_splits`` grouped folds (default 5). ``n_splits=0`` (or ``"loo"``) is leave-one-group-out:
for the task protocol one fold per task, i.e. 106 fits per recommender and mode on the real corpus,
which is why grouped K-fold over tasks is the default. The same folds are used for every mode and
recommender, so comparisons are paired.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.evaluation import metrics as M
from medicalrec.bench.modes import Mode, get_mode
from medicalrec.bench.splits import cv_grouping, protocol_folds, split_groups
from medicalrec.bench.tasks import task_queries, task_table, with_task_ids
from medicalrec.errors import ConfigError, ModelError
from medicalrec.recommenders.base import Recommender, TrainingSet

DEFAULT_N_SPLITS = C.DEFAULT_FOLDS
LEAVE_ONE_OUT = 0  # n_splits value meaning one fold per group (leave-task-out / leave-ref-out)
MIN_TASK_MODELS = 2  # tasks with fewer evaluated models are skipped by the task protocol

REFERENCE = "best_mean_relevance"  # the recommender every other one is paired against (Wilcoxon)

RecommenderSpec = str | type[Recommender]


def metric_names(protocol: str) -> list[str]:
    """The metrics a protocol reports, in report order."""
    _check_protocol(protocol)
    return M.record_metric_names() if protocol == C.PROTOCOL_RECORD else M.task_metric_names()


def resolve_n_splits(records: pd.DataFrame, protocol: str, n_splits: int | str, group_by: str | None = None) -> int:
    """Number of folds actually used: ``0``/``"loo"`` means one per group; more folds than groups
    are clipped to the number of groups."""
    n_groups = split_groups(records, protocol, group_by).nunique()
    if n_groups < 2:
        raise ConfigError(f"need at least 2 groups ({cv_grouping(records, protocol, group_by)}) to cross-validate, "
                          f"found {n_groups}")
    if isinstance(n_splits, str):
        text = n_splits.strip().lower()
        if text == "loo":
            return n_groups
        try:
            n_splits = int(text)
        except ValueError:
            raise ConfigError(f"folds must be an integer >= 2, 0 or 'loo', got {n_splits!r}") from None
    n_splits = int(n_splits)
    if n_splits == LEAVE_ONE_OUT:
        return n_groups
    if n_splits < 2:
        raise ConfigError(f"folds must be an integer >= 2, 0 or 'loo', got {n_splits}")
    return min(n_splits, n_groups)


def n_steps(records: pd.DataFrame, protocol: str, modes: Sequence, recommenders: Sequence,
            n_splits: int | str = DEFAULT_N_SPLITS, repeats: int = 1) -> int:
    """How many times ``evaluate`` calls ``progress``: one per (repeat, fold, mode, recommender) fit."""
    return len(modes) * len(recommenders) * resolve_n_splits(records, protocol, n_splits) * check_repeats(repeats)


def default_workers() -> int:
    """Fit processes of a sweep unless told otherwise: one per CPU core."""
    import os

    return max(os.cpu_count() or 1, 1)


def check_repeats(repeats: int) -> int:
    """``repeats`` as a positive int, else ``ConfigError``."""
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ConfigError(f"repeats must be a whole number >= 1, got {repeats!r}")
    return int(repeats)


@dataclass
class Evaluation:
    """What ``evaluate`` measured.

    ``results``: one row per (mode, recommender, repeat, fold, metric), the fold's mean over its
    queries (``RESULT_COLUMNS``). ``per_task``: task protocol only, one row per (mode, recommender,
    repeat, fold, task) with one column per metric, the paired data of ``paired_tests`` (empty for
    the record protocol). ``timings``: one row per fit with ``fit_seconds`` and ``score_seconds``.
    """

    results: pd.DataFrame
    per_task: pd.DataFrame
    timings: pd.DataFrame
    n_folds: int
    repeats: int
    workers: int
    grouping: str  # what folds hold out whole: ref, dataset or task (``splits.cv_grouping``)
    seconds: float = 0.0


@dataclass(frozen=True)
class _Job:
    split: int
    mode: str
    recommender: str


def evaluate(
    records: pd.DataFrame,
    protocol: str,
    modes: Sequence[Mode | str],
    recommenders: Sequence[RecommenderSpec],
    n_splits: int | str = DEFAULT_N_SPLITS,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    params: dict[str, dict] | None = None,
    repeats: int = 1,
    workers: int = 1,
    group_by: str | None = None,
) -> Evaluation:
    """Cross-validate every (mode, recommender) on the same grouped folds (see ``Evaluation``).

    ``recommenders`` are registry names or ``Recommender`` subclasses (instantiated with ``seed``
    and ``params[name]``, default none: each recommender's documented defaults). ``repeats``
    repeats the grouped K-fold with seeds ``seed``, ``seed + 1``, ...; ``workers`` fits in that many
    processes (results are the same for any number of workers). ``progress(label)`` is called after
    each fit and its scoring.
    """
    started = time.perf_counter()
    _check_protocol(protocol)
    modes = [get_mode(m) for m in modes]
    factories = [_factory(spec, protocol, params or {}) for spec in recommenders]
    if not modes or not factories:
        raise ConfigError("need at least one mode and one recommender")
    if C.MODEL not in records:
        raise ConfigError("evaluation records need a 'model' column")
    repeats = check_repeats(repeats)
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ConfigError(f"workers must be a whole number >= 1, got {workers!r}")
    frame = with_task_ids(records.reset_index(drop=True))
    n_folds = resolve_n_splits(frame, protocol, n_splits, group_by)
    if repeats > 1 and n_folds == split_groups(frame, protocol, group_by).nunique():
        raise ConfigError("repeats > 1 needs K-fold: leave-one-group-out splits are the same for every seed")
    splits = [(repeat, fold, test) for repeat in range(repeats)
              for fold, (_, test) in enumerate(protocol_folds(frame, protocol, n_folds, seed + repeat, group_by))]
    jobs = [_Job(i, mode.name, name) for i in range(len(splits)) for mode in modes for name, _ in factories]
    state = _SweepState(frame, protocol, [test for _, _, test in splits], dict(factories), seed)
    outputs = _run_jobs(state, jobs, workers, progress, splits, n_folds)

    rows, task_rows, timing_rows = [], [], []
    for job, (values, n_queries, per_task, fit_seconds, score_seconds) in zip(jobs, outputs):
        repeat, fold, _ = splits[job.split]
        key = {C.PROTOCOL: protocol, C.MODE: job.mode, C.RECOMMENDER: job.recommender, C.REPEAT: repeat, C.FOLD: fold}
        for metric, value in values.items():
            rows.append({**key, C.METRIC: metric, C.VALUE: value, "n_queries": n_queries, "fit_seconds": fit_seconds})
        for task_id, metrics in per_task:
            task_rows.append({**key, C.TASK_ID: task_id, **metrics})
        timing_rows.append({**key, "fit_seconds": fit_seconds, "score_seconds": score_seconds})
    names = metric_names(protocol)
    results = _ordered(pd.DataFrame(rows, columns=list(C.RESULT_COLUMNS)), modes, factories, names)
    per_task = pd.DataFrame(task_rows, columns=[*C.KEY_COLUMNS, C.TASK_ID, *names])
    timings = pd.DataFrame(timing_rows, columns=list(C.TIMING_COLUMNS))
    return Evaluation(results, per_task, timings, n_folds, repeats, int(workers), cv_grouping(frame, protocol, group_by),
                      time.perf_counter() - started)


def _ordered(results: pd.DataFrame, modes: list[Mode], factories: list, names: list[str]) -> pd.DataFrame:
    """Rows by mode, recommender (both as given), repeat, fold and metric (report order)."""
    mode_rank = {m.name: i for i, m in enumerate(modes)}
    rec_rank = {name: i for i, (name, _) in enumerate(factories)}
    metric_rank = {m: i for i, m in enumerate(names)}
    order = np.lexsort((
        results[C.METRIC].map(metric_rank), results[C.FOLD], results[C.REPEAT],
        results[C.RECOMMENDER].map(rec_rank), results[C.MODE].map(mode_rank),
    ))
    return results.iloc[order].reset_index(drop=True)


class _SweepState:
    """Everything a fit needs, built once per process: the records, the held-out positions of every
    split and, on first use, each split's ``TrainingSet`` (its encoders built once per mode) and its
    queries and truth."""

    def __init__(self, frame: pd.DataFrame, protocol: str, tests: list[np.ndarray], factories: dict, seed: int):
        self.frame, self.protocol, self.tests, self.factories, self.seed = frame, protocol, tests, factories, seed
        self._splits: dict[int, tuple] = {}

    def split(self, index: int) -> tuple[TrainingSet, pd.DataFrame, pd.DataFrame]:
        if index not in self._splits:
            held = np.zeros(len(self.frame), dtype=bool)
            held[self.tests[index]] = True
            train = TrainingSet.build(self.frame[~held])
            queries, truth = _fold_queries(self.frame[held], self.protocol)
            if len(self._splits) >= 2:  # jobs come split by split: two cover a worker's overlap
                self._splits.pop(next(iter(self._splits)))
            self._splits[index] = (train, queries, truth)
        return self._splits[index]

    def run(self, job: _Job) -> tuple:
        train, queries, truth = self.split(job.split)
        recommender = self.factories[job.recommender](self.seed)
        start = time.perf_counter()
        recommender.fit(train, job.mode)
        fit_seconds = time.perf_counter() - start
        values, n_queries, per_task = _score_fold(recommender, self.protocol, queries, truth)
        return values, n_queries, per_task, fit_seconds, time.perf_counter() - start - fit_seconds


_WORKER_STATE: _SweepState | None = None


def _init_worker(state: _SweepState) -> None:
    global _WORKER_STATE
    _WORKER_STATE = state


def _run_in_worker(job: _Job) -> tuple:
    return _WORKER_STATE.run(job)


def _run_jobs(state: _SweepState, jobs: list[_Job], workers: int, progress, splits: list, n_folds: int) -> list[tuple]:
    """Every job's output, in job order; in this process or in ``workers`` spawned processes."""

    def label(job: _Job) -> str:
        repeat, fold, _ = splits[job.split]
        again = f" repeat {repeat + 1}" if len(splits) > n_folds else ""
        return f"{job.mode} {job.recommender} fold {fold + 1}/{n_folds}{again}"

    if workers == 1 or len(jobs) < 2:
        outputs = []
        for job in jobs:
            outputs.append(state.run(job))
            if progress is not None:
                progress(label(job))
        return outputs
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the parent may hold MLflow or torch threads; chunks of one split keep each
    # worker's split cache warm.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                             initargs=(state,)) as pool:
        outputs = []
        for job, output in zip(jobs, pool.map(_run_in_worker, jobs, chunksize=1)):
            outputs.append(output)
            if progress is not None:
                progress(label(job))
    return outputs


def _check_protocol(protocol: str) -> None:
    if protocol not in C.PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; choose from {', '.join(C.PROTOCOLS)}")


def _factory(spec: RecommenderSpec, protocol: str, params: dict[str, dict]) -> tuple[str, Callable[[int], Recommender]]:
    if isinstance(spec, type) and issubclass(spec, Recommender):
        klass, name = spec, spec.name
    else:
        from medicalrec.recommenders import get_recommender_class

        klass, name = get_recommender_class(str(spec)), str(spec)
    kwargs = {**klass.protocol_params(protocol), **params.get(name, {})}
    return name, _Factory(klass, kwargs)


@dataclass(frozen=True)
class _Factory:
    """A recommender class and its parameters; picklable, so worker processes can build it."""

    klass: type[Recommender]
    kwargs: dict

    def __call__(self, seed: int) -> Recommender:
        return self.klass(seed=seed, **self.kwargs)


def _fold_queries(test: pd.DataFrame, protocol: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Queries and truth of one test fold.

    record: one query per record with a model (the ``model`` column is dropped from the query so
    a recommender cannot read its target); truth is that model per query.
    task: one query per task with at least ``MIN_TASK_MODELS`` evaluated models; truth is the
    (task_id, model, relevance) table.
    """
    if protocol == C.PROTOCOL_RECORD:
        test = test[test[C.MODEL].notna()]
        return test.drop(columns=[C.MODEL]), test[[C.MODEL]].astype(str)
    truth = task_table(test)
    sizes = truth.groupby(C.TASK_ID, sort=False)[C.MODEL].size()
    kept = sizes.index[sizes >= MIN_TASK_MODELS]
    truth = truth[truth[C.TASK_ID].isin(kept)]
    queries = task_queries(test)
    return queries.loc[queries.index.isin(kept)], truth


def _score_fold(recommender: Recommender, protocol: str, queries: pd.DataFrame,
                truth: pd.DataFrame) -> tuple[dict[str, float], int, list[tuple[str, dict[str, float]]]]:
    """The fold's mean metrics, its number of queries and (task protocol) every task's metrics."""
    names = metric_names(protocol)
    if queries.empty:
        return {m: float("nan") for m in names}, 0, []
    scores = np.asarray(recommender.score(queries), dtype=float)
    models = list(recommender.models_)
    if scores.shape != (len(queries), len(models)):
        raise ModelError(
            f"{recommender.name}: score() returned shape {scores.shape}, "
            f"expected ({len(queries)} queries, {len(models)} models)"
        )
    if protocol == C.PROTOCOL_RECORD:
        index = {m: i for i, m in enumerate(models)}
        target = truth[C.MODEL].map(lambda m: index.get(m, -1)).to_numpy(dtype=int)
        return M.record_metrics(M.rank_of_target(scores, target)), len(queries), []
    per_task = [
        (str(queries.index[row]), M.task_metrics(*task_vectors(scores[row], models, group)))
        for row, group in _task_groups(queries, truth)
    ]
    table = pd.DataFrame([metrics for _, metrics in per_task], columns=names)
    means = {m: float(table[m].mean()) if table[m].notna().any() else float("nan") for m in names}
    return means, len(per_task), per_task


def _task_groups(queries: pd.DataFrame, truth: pd.DataFrame):
    """``(query row, truth rows of its task)`` for every query."""
    groups = dict(tuple(truth.groupby(C.TASK_ID, sort=False)))
    for row, task_id in enumerate(queries.index):
        yield row, groups[task_id]


def task_vectors(score_row: np.ndarray, models: list[str], truth: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Scores and relevances of one task's evaluated models, ordered by model name.

    Known models keep the recommender's score (a non-finite score is put just below every finite
    one); models the recommender does not know get a score below all of them, so they rank last,
    by name, and count as tied with each other for Kendall's tau.
    """
    truth = truth.sort_values(C.MODEL, kind="stable")
    index = {m: i for i, m in enumerate(models)}
    column = truth[C.MODEL].astype(str).map(lambda m: index.get(m, -1)).to_numpy(dtype=int)
    known = column >= 0
    values = np.full(len(column), np.nan)
    values[known] = np.asarray(score_row, dtype=float)[column[known]]
    finite = np.isfinite(values)
    floor = float(values[finite].min()) if finite.any() else 0.0
    values[known & ~finite] = floor - 1.0
    values[~known] = floor - 2.0
    return values, truth[C.RELEVANCE].to_numpy(dtype=float)
