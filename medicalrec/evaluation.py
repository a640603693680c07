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
from pathlib import Path

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec import metrics as M
from medicalrec.bench.modes import Mode, get_mode
from medicalrec.bench.splits import protocol_folds, split_groups
from medicalrec.bench.tasks import task_queries, task_table, with_task_ids
from medicalrec.errors import ConfigError, ModelError
from medicalrec.recommenders.base import Recommender

DEFAULT_N_SPLITS = 5
LEAVE_ONE_OUT = 0  # n_splits value meaning one fold per group (leave-task-out / leave-ref-out)
MIN_TASK_MODELS = 2  # tasks with fewer evaluated models are skipped by the task protocol

RESULT_COLUMNS = ("protocol", "mode", "recommender", "fold", "metric", "value", "n_queries", "fit_seconds")
SUMMARY_COLUMNS = ("protocol", "mode", "recommender", "metric", "mean", "std", "n", "fit_seconds")

RecommenderSpec = str | type[Recommender]


def metric_names(protocol: str) -> list[str]:
    """The metrics a protocol reports, in report order."""
    _check_protocol(protocol)
    return M.record_metric_names() if protocol == C.PROTOCOL_RECORD else M.task_metric_names()


def resolve_n_splits(records: pd.DataFrame, protocol: str, n_splits: int | str) -> int:
    """Number of folds actually used: ``0``/``"loo"`` means one per group; more folds than groups
    are clipped to the number of groups."""
    n_groups = split_groups(records, protocol).nunique()
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


def n_steps(records: pd.DataFrame, protocol: str, modes: Sequence, recommenders: Sequence, n_splits: int | str = DEFAULT_N_SPLITS) -> int:
    """How many times ``evaluate`` calls ``progress``: one per (mode, recommender, fold) fit."""
    return len(modes) * len(recommenders) * resolve_n_splits(records, protocol, n_splits)


def evaluate(
    records: pd.DataFrame,
    protocol: str,
    modes: Sequence[Mode | str],
    recommenders: Sequence[RecommenderSpec],
    n_splits: int | str = DEFAULT_N_SPLITS,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    params: dict[str, dict] | None = None,
) -> pd.DataFrame:
    """Long results, one row per (mode, recommender, fold, metric); see ``RESULT_COLUMNS``.

    ``recommenders`` are registry names or ``Recommender`` subclasses (instantiated with ``seed``
    and ``params[name]``, default none: each recommender's documented defaults).
    ``progress(label)`` is called after each fit and its scoring.
    """
    _check_protocol(protocol)
    modes = [get_mode(m) for m in modes]
    factories = [_factory(spec, protocol, params or {}) for spec in recommenders]
    if not modes or not factories:
        raise ConfigError("need at least one mode and one recommender")
    if C.MODEL not in records:
        raise ConfigError("evaluation records need a 'model' column")
    frame = with_task_ids(records.reset_index(drop=True))
    n_folds = resolve_n_splits(frame, protocol, n_splits)
    folds = list(protocol_folds(frame, protocol, n_folds, seed))
    rows: list[dict] = []
    for fold, (train_pos, test_pos) in enumerate(folds):
        train, test = frame.iloc[train_pos], frame.iloc[test_pos]
        queries, truth = _fold_queries(test, protocol)
        for mode in modes:
            for name, make in factories:
                recommender = make(seed)
                start = time.perf_counter()
                recommender.fit(train, mode)
                fit_seconds = time.perf_counter() - start
                values, n_queries = _score_fold(recommender, protocol, queries, truth)
                for metric, value in values.items():
                    rows.append({
                        "protocol": protocol, "mode": mode.name, "recommender": name, "fold": fold,
                        "metric": metric, "value": value, "n_queries": n_queries, "fit_seconds": fit_seconds,
                    })
                if progress is not None:
                    progress(f"{mode.name} {name} fold {fold + 1}/{n_folds}")
    results = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    mode_rank = {m.name: i for i, m in enumerate(modes)}
    rec_rank = {name: i for i, (name, _) in enumerate(factories)}
    metric_rank = {m: i for i, m in enumerate(metric_names(protocol))}
    key = pd.DataFrame({
        "m": results["mode"].map(mode_rank), "r": results["recommender"].map(rec_rank),
        "f": results["fold"], "k": results["metric"].map(metric_rank),
    })
    order = np.lexsort((key["k"], key["f"], key["r"], key["m"]))
    return results.iloc[order].reset_index(drop=True)


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
    return name, lambda seed: klass(seed=seed, **kwargs)


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


def _score_fold(recommender: Recommender, protocol: str, queries: pd.DataFrame, truth: pd.DataFrame) -> tuple[dict[str, float], int]:
    names = metric_names(protocol)
    if queries.empty:
        return {m: float("nan") for m in names}, 0
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
        return M.record_metrics(M.rank_of_target(scores, target)), len(queries)
    per_task = [
        M.task_metrics(*task_vectors(scores[row], models, group))
        for row, group in _task_groups(queries, truth)
    ]
    table = pd.DataFrame(per_task, columns=names)
    means = {m: float(table[m].mean()) if table[m].notna().any() else float("nan") for m in names}
    return means, len(per_task)


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


# --- summaries and reports ------------------------------------------------------------------------

def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation (ddof 1) and number of non-missing fold values per
    (protocol, mode, recommender, metric), plus the mean fit time; input order kept."""
    keys = ["protocol", "mode", "recommender", "metric"]
    grouped = results.groupby(keys, sort=False)
    summary = grouped["value"].agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    summary["fit_seconds"] = grouped["fit_seconds"].mean()
    return summary.reset_index()[list(SUMMARY_COLUMNS)]


def _cell(mean: float, std: float, decimals: int) -> str:
    if pd.isna(mean):
        return "n/a"
    if pd.isna(std):
        return f"{mean:.{decimals}f}"
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def to_markdown(summary: pd.DataFrame, metrics: Sequence[str] | None = None, decimals: int = 3) -> str:
    """A Markdown table: one row per (mode, recommender), one column per metric with
    ``mean ± std`` over folds. The best mean per mode and metric is bold (lowest for Regret@1)."""
    if metrics is None:
        present = list(dict.fromkeys(summary["metric"]))
        protocols = list(dict.fromkeys(summary["protocol"])) if "protocol" in summary else list(C.PROTOCOLS)
        known = [m for p in protocols if p in C.PROTOCOLS for m in metric_names(p)]
        metrics = [m for m in dict.fromkeys(known) if m in present] + [m for m in present if m not in known]
    metrics = list(metrics)
    means = summary.pivot_table(index=["mode", "recommender"], columns="metric", values="mean", sort=False, dropna=False)
    stds = summary.pivot_table(index=["mode", "recommender"], columns="metric", values="std", sort=False, dropna=False)
    rows = list(dict.fromkeys(zip(summary["mode"], summary["recommender"])))
    best: dict[tuple[str, str], float] = {}
    for metric in metrics:
        if metric not in means:
            continue
        for mode, column in means[metric].groupby(level="mode", sort=False):
            if column.notna().any():
                best[(mode, metric)] = column.min() if metric == M.REGRET_AT_1 else column.max()
    header = ["mode", "recommender", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * len(metrics)) + "|"]
    for mode, recommender in rows:
        cells = [str(mode), str(recommender)]
        for metric in metrics:
            if metric not in means:
                cells.append("n/a")
                continue
            mean, std = means.at[(mode, recommender), metric], stds.at[(mode, recommender), metric]
            text = _cell(mean, std, decimals)
            if not pd.isna(mean) and round(mean, decimals) == round(best.get((mode, metric), np.nan), decimals):
                text = f"**{text}**"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(results: pd.DataFrame, out_dir: str | Path) -> dict[str, Path]:
    """Write ``results.csv``, ``summary.csv``, ``summary.md`` and the plots of the protocol(s) in
    ``results``; returns name -> path."""
    from medicalrec import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)
    paths = {"results": out / "results.csv", "summary": out / "summary.csv", "markdown": out / "summary.md"}
    results.to_csv(paths["results"], index=False)
    summary.to_csv(paths["summary"], index=False)
    sections = []
    for protocol, part in summary.groupby("protocol", sort=False):
        sections.append(f"## {protocol} protocol\n\n" + to_markdown(part, metric_names(protocol)))
    paths["markdown"].write_text("\n".join(sections))
    for protocol, part in summary.groupby("protocol", sort=False):
        for family in (M.HIT_RATE, M.NDCG):
            path = out / f"{protocol}_{family.lower()}_at_k.png"
            paths[f"{protocol}_{family.lower()}"] = plots.plot_at_k(part, family, path)
        if protocol == C.PROTOCOL_TASK:
            paths[f"{protocol}_regret"] = plots.plot_regret(part, out / f"{protocol}_regret.png")
    return paths
