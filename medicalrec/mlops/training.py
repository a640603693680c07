"""Train every feature mode and recommender under MLflow, ship the best MedicalRec transformer.

``run_training`` does, in order:

1. **validate** every parameter (``validate_config``) and load the data: a bad mode, recommender,
   metric, protocol, fold count, transformer parameter or data file is a ``ConfigError`` (or the
   loader's typed error) before any MLflow run exists;
2. **cross-validate** each (mode x recommender) with ``evaluation.crossval.evaluate`` on the same grouped
   folds (task protocol: grouped by ``dataset``; ``repeats`` times with seeds seed, seed+1, ...;
   fits in ``workers`` processes), and log one child run per pair under one parent run: params,
   ``data_hash``, every metric of the protocol (``evaluation.report.summarize``: the mean over held-out
   tasks) plus ``<metric>_std`` (standard deviation over folds) and ``<metric>_p`` (Wilcoxon
   signed-rank p-value against ``best_mean_relevance``),
   fit time, the selection metric of each fold (``NDCG_at_5_fold0``, ...: one name per fold, not
   steps of one curve) and plots; the parent gets the training data as an MLflow dataset, the
   comparison table (CSV + Markdown), the full report and summary plots
   (``evaluation.report.write_report``) and where the time went (``time_<recommender>_seconds``
   metrics and ``report/timings.csv``);
3. **select**: the transformer (recommender ``medicalrec``) of the mode with the best chosen
   validation metric (lowest for ``Regret@1``; ties go to the mode listed first); its metrics go on
   the parent under the children's names, with its verdict against ``best_mean_relevance``;
4. **refit** that transformer on all the data given, **export** it (``export.export_bundle``, ONNX
   parity checked on every task's query plus all-missing and unseen probe rows, since no task is held
   out any more), log it as an MLflow pyfunc model (``serving/pyfunc.py`` via ``mlops.model``, models-from-code: no
   pickle) and **register** it under ``model_name`` with the tags the promotion gate reads
   (``version_tags``) and a description (``version_note``). Promotion is separate: ``registry.promote``.

The experiment, the parent run, the registered model and the version each carry a description
(``mlflow.note.content`` / ``description``). Under ``mlflow run`` the run the launcher created
(``MLFLOW_RUN_ID``) is the parent run, renamed like any other (``_run_name``), in the launcher's
experiment (``mlflow run --experiment-name medicalrec``); a launcher run left in MLflow's
``Default`` experiment (no ``--experiment-name``) only points at the parent run created in
``TrainConfig.experiment``, so sweeps never land in ``Default``.

MLflow metric names cannot contain ``@``: ``NDCG@5`` is logged as ``NDCG_at_5`` (``metric_key``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.evaluation import metrics as M
from medicalrec.bench.defaults import DEFAULT_DATA
from medicalrec.bench.splits import cv_grouping
from medicalrec.errors import ConfigError
from medicalrec.mlops.tracking import metric_key

TRANSFORMER = "medicalrec"  # registry name of the MedicalRec transformer: the model that ships
CANDIDATES_ARTIFACT = "candidates.txt"  # the parent run's list of the user's own candidate names, one per line
KEY_METRICS = (C.DEFAULT_METRIC, "HitRate@1", "Regret@1", "KendallTau", "MRR")  # in the version's description

Progress = Callable[[str, int, int], None]  # (label, steps done, steps in total)


def _default_workers() -> int:
    from medicalrec.evaluation.crossval import default_workers

    return default_workers()


@dataclass
class TrainConfig:
    """Parameters of one training sweep; the defaults are the MLproject's ``train`` defaults."""

    data: str | None = None  # bench file, or a shipped one by name (bench.defaults); None: the public corpus
    protocol: str = C.PROTOCOL_TASK  # "task" (which model is best for this task?) or "record"
    modes: str = "I,II,III,IV"  # comma list of feature modes, or "all"
    recommenders: str = "all"  # comma list of registry names, or "all" (13)
    seed: int = 0  # folds, model initialisation and every random choice
    metric: str = C.DEFAULT_METRIC  # selection metric; must be one the protocol reports
    folds: int = C.DEFAULT_FOLDS  # grouped folds; 0 = leave-one-group-out; more than groups is clipped
    repeats: int = 1  # grouped K-fold repeated with seeds seed, seed+1, ... (metrics averaged per task)
    group_by: str | None = None  # what task-protocol folds hold out whole (bench.splits.GROUPINGS); None: dataset, else task
    workers: int = field(default_factory=_default_workers)  # fit processes; results do not depend on it
    model_name: str = C.DEFAULT_MODEL_NAME  # registered model name
    experiment: str = C.DEFAULT_MODEL_NAME  # MLflow experiment (ignored under ``mlflow run``: its run's experiment)
    register: bool = True  # refit, export and register the best transformer (False: compare only)
    transformer_params: dict = field(default_factory=dict)  # TransformerConfig overrides (e.g. max_epochs)
    recommender_params: dict[str, dict] = field(default_factory=dict)  # other recommenders' overrides


@dataclass
class TrainPlan:
    """A validated configuration with its data loaded: nothing left that can be a user error."""

    config: TrainConfig
    records: pd.DataFrame
    source: str
    notes: list[str]
    modes: list[str]
    recommenders: list[str]
    n_folds: int
    repeats: int
    data_hash: str
    params: dict[str, dict]

    @property
    def grouping(self) -> str:
        """What the folds hold out whole: ref, dataset or task (``bench.splits.cv_grouping``)."""
        return cv_grouping(self.records, self.config.protocol, self.config.group_by)

    @property
    def exports(self) -> bool:
        return self.config.register and TRANSFORMER in self.recommenders

    @property
    def total_steps(self) -> int:
        """Progress steps: one per cross-validation fit, one for logging, three for refit, export
        and registration."""
        cv = len(self.modes) * len(self.recommenders) * self.n_folds * self.repeats
        return cv + 1 + (3 if self.exports else 0)


@dataclass
class TrainResult:
    parent_run_id: str
    experiment_id: str
    child_run_ids: dict[str, str]  # "<mode>/<recommender>" -> run id
    evaluation: object  # evaluation.Evaluation: fold results, per-task metrics, timings
    summary: pd.DataFrame  # evaluation.report.summarize
    data_hash: str
    best_mode: str | None = None  # mode of the shipped transformer (None: no transformer trained)
    best_value: float | None = None  # its cross-validated selection metric
    model_uri: str | None = None  # the logged MLflow model
    model_version: str | None = None  # registered version
    parity_max_abs_diff: float | None = None
    reference: dict | None = None  # the shipped transformer against best_mean_relevance (``compare_with_reference``)
    seconds: float = 0.0
    transformer: object | None = None  # the refit MedicalRecTransformer (in memory only; the registry holds its ONNX export)


# --- validation -----------------------------------------------------------------------------------

def validate_config(config: TrainConfig) -> TrainPlan:
    """Check every parameter and load the data; raise one clear ``ConfigError`` on the first
    problem. Nothing is logged anywhere."""
    from medicalrec.bench.loading import load_bench
    from medicalrec.bench.modes import parse_modes
    from medicalrec.bench.defaults import resolve_data
    from medicalrec.evaluation.crossval import check_repeats, metric_names, resolve_n_splits
    from medicalrec.recommenders import create, get_recommender_class, parse_recommenders

    if config.protocol not in C.PROTOCOLS:
        raise ConfigError(f"unknown protocol {config.protocol!r}; choose from {', '.join(C.PROTOCOLS)}")
    modes = [m.name for m in parse_modes(str(config.modes))]
    recommenders = parse_recommenders(str(config.recommenders))
    reported = metric_names(config.protocol)
    if config.metric not in reported:
        raise ConfigError(
            f"metric {config.metric!r} is not reported by the {config.protocol} protocol; "
            f"choose from {', '.join(reported)}"
        )
    try:
        seed = int(config.seed)
    except (TypeError, ValueError):
        raise ConfigError(f"seed must be an integer, got {config.seed!r}") from None
    if not str(config.model_name).strip():
        raise ConfigError("model name must not be empty")
    unknown = sorted(set(config.recommender_params) - set(recommenders))
    if unknown:
        raise ConfigError(f"parameters given for recommender(s) not in the run: {', '.join(unknown)}")
    params = {name: {**get_recommender_class(name).protocol_params(config.protocol),
                     **config.recommender_params.get(name, {})} for name in recommenders}
    if config.transformer_params:
        if TRANSFORMER not in recommenders:
            raise ConfigError(f"transformer parameters given but {TRANSFORMER!r} is not among the recommenders")
        params[TRANSFORMER].update(config.transformer_params)
    for name in recommenders:
        try:
            create(name, seed, **params[name])
        except TypeError as error:
            raise ConfigError(f"{name}: bad parameter(s) {sorted(params[name])}: {error}") from None

    repeats = check_repeats(config.repeats)
    if isinstance(config.workers, bool) or not isinstance(config.workers, int) or config.workers < 1:
        raise ConfigError(f"workers must be a whole number >= 1, got {config.workers!r}")
    if seed < 0:
        raise ConfigError(f"seed must be a whole number >= 0, got {seed}")
    path = resolve_data(config.data)
    bench = load_bench(path)
    records = bench.frame
    n_folds = resolve_n_splits(records, config.protocol, config.folds, config.group_by)
    return TrainPlan(
        config=config, records=records, source=str(path), notes=list(bench.notes), modes=modes,
        recommenders=recommenders, n_folds=n_folds, repeats=repeats, data_hash=data_hash(records), params=params,
    )


def data_hash(records: pd.DataFrame) -> str:
    """sha256 of the canonical records: the canonical columns, values written in one fixed way
    (shortest round-trip floats, empty for missing), rows sorted. The same records give the same
    hash whatever the file's format, header spellings or row order."""
    columns = [c for c in C.CANONICAL_COLUMNS if c in records]
    cells = []
    for column in columns:
        values = records[column].astype(object)
        cells.append([_canonical_cell(v) for v in values])
    rows = sorted("\x1f".join(row) for row in zip(*cells)) if cells else []
    digest = hashlib.sha256()
    digest.update(("\x1f".join(columns) + "\n").encode())
    for row in rows:
        digest.update((row + "\n").encode())
    return digest.hexdigest()


def _canonical_cell(value: object) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return ""
        value = float(value)
        return repr(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    return str(value)


# --- the sweep ------------------------------------------------------------------------------------

def run_training(config: TrainConfig, progress: Progress | None = None) -> TrainResult:
    """Validate, cross-validate, log, select, refit, export and register (module docstring)."""
    started = time.perf_counter()
    plan = validate_config(config)
    from medicalrec.mlops.tracking import configure_tracking

    configure_tracking()
    import mlflow

    from medicalrec.mlops.tracking import NOTE_TAG, get_or_create_experiment

    step = _Stepper(progress, plan.total_steps)
    client = mlflow.tracking.MlflowClient()
    # Under ``mlflow run`` the launcher's run is the parent. Taken out of the environment so that
    # the nested ``start_run`` calls below create child runs instead of resuming it.
    launcher_run = os.environ.pop(LAUNCHER_RUN_ENV, None)
    launcher_experiment = client.get_run(launcher_run).info.experiment_id if launcher_run else None
    stray = None
    if launcher_experiment == DEFAULT_EXPERIMENT_ID:
        stray, launcher_run = launcher_run, None  # `mlflow run` without --experiment-name: not under Default
    if launcher_run:
        get_or_create_experiment(client.get_experiment(launcher_experiment).name, EXPERIMENT_NOTE)
        client.update_run(launcher_run, name=_run_name(plan))
        run_context = mlflow.start_run(run_id=launcher_run)
    else:
        experiment_id = get_or_create_experiment(config.experiment, EXPERIMENT_NOTE)
        run_context = mlflow.start_run(experiment_id=experiment_id, run_name=_run_name(plan))
    with run_context as parent:
        try:
            return _sweep(plan, step, parent, started, stray, client)
        except Exception as error:
            from medicalrec.mlops.tracking import record_failure

            record_failure(parent.info.run_id, f"error: {error}" if isinstance(error, ConfigError) else
                           f"{type(error).__name__}: {error}")
            raise


def _sweep(plan: TrainPlan, step: _Stepper, parent, started: float, stray: str | None, client) -> TrainResult:
    """``run_training`` inside its parent run."""
    import mlflow

    from medicalrec.mlops.tracking import NOTE_TAG

    config = plan.config
    experiment_id = parent.info.experiment_id
    if stray:
        _point_to(client, stray, parent, config.experiment)
    mlflow.set_tag(NOTE_TAG, _parent_note(plan))
    _log_parent_params(parent.info.run_id, plan)
    mlflow.log_input(training_dataset(plan), context="training")
    evaluation = _cross_validate(plan, step)
    from medicalrec.evaluation.report import summarize

    summary = summarize(evaluation)
    with tempfile.TemporaryDirectory(prefix="medicalrec-train-") as scratch:
        child_ids = _log_children(plan, evaluation.results, summary, experiment_id, Path(scratch) / "children")
        _log_parent_report(plan, evaluation, summary, Path(scratch) / "report")
        step("logged runs")
        result = TrainResult(
            parent_run_id=parent.info.run_id, experiment_id=experiment_id, child_run_ids=child_ids,
            evaluation=evaluation, summary=summary, data_hash=plan.data_hash,
        )
        _log_pick(plan, summary, result)
        if plan.exports:
            _ship_best_transformer(plan, summary, result, Path(scratch) / "bundle", step)
        outcome = _outcome(plan, result)
        mlflow.set_tags({"medicalrec.outcome": outcome, NOTE_TAG: _parent_note(plan, result, outcome)})
    result.seconds = time.perf_counter() - started
    mlflow.log_metric("total_seconds", result.seconds)
    return result


LAUNCHER_RUN_ENV = "MLFLOW_RUN_ID"  # the run ``mlflow run`` created for the entry point
DEFAULT_EXPERIMENT_ID = "0"  # MLflow's ``Default``, where ``mlflow run`` puts a run without --experiment-name
EXPERIMENT_NOTE = (
    "MedicalRec training: which classifier to train for a medical image classification task, learned from "
    "published results. One parent run per `medicalrec train` / `mlflow run . -e train` (or `-e evaluate`: "
    "compared only), with the training data under Datasets, the comparison table under report/ and, for train, "
    "the registered model version; one child run per feature mode x recommender with its cross-validated "
    "metrics (same names as the parent's, which are those of the transformer picked). Promotion decisions: "
    "experiment medicalrec-promotions."
)


def data_label(plan: TrainPlan) -> str:
    """The training data as the user named it: ``public``, ``decathlon`` or a file name."""
    return Path(str(plan.config.data or DEFAULT_DATA)).name


def _scheme(plan: TrainPlan) -> str:
    """``dataset-5fold`` (``x3`` for 3 repeats): what the folds hold out whole, and how many."""
    return f"{plan.grouping}-{plan.n_folds}fold" + (f"x{plan.repeats}" if plan.repeats > 1 else "")


def _run_name(plan: TrainPlan) -> str:
    """``train public task dataset-5fold 2026-12-02 14:30``: readable in the runs table."""
    verb = "train" if plan.config.register else "evaluate"
    return f"{verb} {data_label(plan)} {plan.config.protocol} {_scheme(plan)} {time.strftime('%Y-%m-%d %H:%M')}"


def _point_to(client, stray: str, parent, experiment: str) -> None:
    """Tell the run ``mlflow run`` made in ``Default`` where the sweep went instead."""
    from medicalrec.mlops.tracking import NOTE_TAG

    text = (f"`mlflow run` was started without --experiment-name, so MLflow put this run in experiment Default; "
            f"the training sweep ran in experiment {experiment!r}, run {parent.info.run_name} ({parent.info.run_id}). "
            f"Next time: mlflow run . -e train --experiment-name {experiment}")
    client.update_run(stray, name=f"{parent.info.run_name}: in experiment {experiment}")
    client.set_tag(stray, NOTE_TAG, text)
    client.set_tag(stray, "medicalrec.sweep_run_id", parent.info.run_id)


def _parent_note(plan: TrainPlan, result: TrainResult | None = None, outcome: str | None = None) -> str:
    """The parent run's description: what ran, on which data, and (once done) the result."""
    config = plan.config
    lines = [
        f"{'Training' if config.register else 'Comparison'} sweep: {len(plan.modes)} feature mode(s) "
        f"({', '.join(plan.modes)}) x {len(plan.recommenders)} recommender(s), {config.protocol} protocol, "
        f"{plan.n_folds} folds grouped by {plan.grouping} x {plan.repeats} repeat(s), seed {int(config.seed)}; "
        f"selection metric {config.metric}. One child run per mode x recommender.",
        f"Data: {data_label(plan)} ({plan.source}): {len(plan.records):,} records, data_hash {plan.data_hash[:12]}.",
    ]
    if result is not None:
        if result.reference is not None:
            lines.append(f"Result: {describe_comparison(result.reference)}.")
        lines.append(f"Outcome: {outcome}.")
    return "\n\n".join(lines)


def training_dataset(plan: TrainPlan):
    """The records as an MLflow dataset (the UI's Datasets column: name, digest, source); its
    digest is the start of ``data_hash``, which does not depend on row order or file format."""
    import mlflow

    return mlflow.data.from_pandas(plan.records, source=plan.source, name=data_label(plan), digest=plan.data_hash[:12])


def _outcome(plan: TrainPlan, result: TrainResult) -> str:
    if result.model_version:
        return f"registered {plan.config.model_name} version {result.model_version} (mode {result.best_mode})"
    if not plan.config.register:
        return "compared only (register=False)"
    return f"compared only ({TRANSFORMER!r} not among the recommenders)"


class _Stepper:
    def __init__(self, progress: Progress | None, total: int):
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, label: str) -> None:
        self.done = min(self.done + 1, self.total)
        if self.progress is not None:
            self.progress(label, self.done, self.total)


def _cross_validate(plan: TrainPlan, step: _Stepper):
    from medicalrec.evaluation.crossval import evaluate

    return evaluate(
        plan.records, plan.config.protocol, plan.modes, plan.recommenders, n_splits=plan.n_folds,
        seed=int(plan.config.seed), progress=step, params=plan.params, repeats=plan.repeats,
        workers=plan.config.workers, group_by=plan.config.group_by,
    )


def _common_params(plan: TrainPlan) -> dict[str, str]:
    config = plan.config
    return {
        "protocol": config.protocol, "seed": str(int(config.seed)), "folds": str(plan.n_folds),
        "repeats": str(plan.repeats), "cv_grouping": plan.grouping,
        C.METRIC: config.metric, "data_path": plan.source, "data_hash": plan.data_hash,
        "n_records": str(len(plan.records)),
    }


def _log_parent_params(run_id: str, plan: TrainPlan) -> None:
    import mlflow

    from medicalrec.mlops.tracking import log_params_missing

    config = plan.config
    transformer = plan.params.get(TRANSFORMER, {})
    params = {
        **_common_params(plan), "data": config.data or DEFAULT_DATA, "workers": str(config.workers),
        "modes": ",".join(plan.modes),
        "recommenders": ",".join(plan.recommenders), "model_name": config.model_name,
        "register": str(bool(config.register)),
        "transformer_params": json.dumps(_listed_candidates(transformer), sort_keys=True),
    }
    log_params_missing(run_id, params)
    candidates = transformer.get("candidates")
    if candidates:  # every name, whatever its length (a param holds 6,000 characters)
        mlflow.log_text("".join(f"{name}\n" for name in candidates), CANDIDATES_ARTIFACT)
    mlflow.set_tags({"medicalrec.role": "sweep", "data_hash": plan.data_hash, C.PROTOCOL: config.protocol,
                     "git_commit": git_commit()})
    if plan.notes:
        mlflow.set_tag("data_notes", "; ".join(plan.notes)[:5000])


def _listed_candidates(params: dict) -> dict:
    """``params`` with a list of the user's own candidates replaced by how many there are and where
    the names are: a long list would be cut at MLflow's param length into invalid JSON."""
    if not params.get("candidates"):
        return params
    return {**params, "candidates": f"{len(params['candidates'])} names in {CANDIDATES_ARTIFACT}"}


def recommender_params(name: str, seed: int, params: dict) -> dict[str, str]:
    """Every hyperparameter of a recommender as built (its config dataclass when it has one, with
    defaults filled in), as ``param.<name>`` strings."""
    from medicalrec.recommenders import create

    instance = create(name, seed, **params)
    config = getattr(instance, "config", None)
    values = _listed_candidates(asdict(config) if is_dataclass(config) else dict(instance.params))
    return {f"param.{k}": json.dumps(v) if isinstance(v, (dict, list, tuple)) else str(v) for k, v in values.items()}


def _log_children(plan: TrainPlan, results: pd.DataFrame, summary: pd.DataFrame, experiment_id: str,
                  scratch: Path) -> dict[str, str]:
    """One nested run per (mode, recommender): params, tags and metrics in one ``log_batch`` call,
    then ``evaluation/`` (per-fold values and the at-K plot of the selection metric's family)."""
    import mlflow
    from mlflow.entities import Metric, Param, RunTag

    from medicalrec.evaluation import metrics as M
    from medicalrec.evaluation import plots

    client = mlflow.tracking.MlflowClient()
    family = plan.config.metric.split("@")[0] if "@" in plan.config.metric else M.NDCG
    child_ids: dict[str, str] = {}
    for mode in plan.modes:
        for name in plan.recommenders:
            part = results[(results[C.MODE] == mode) & (results[C.RECOMMENDER] == name)]
            rows = summary[(summary[C.MODE] == mode) & (summary[C.RECOMMENDER] == name)]
            with mlflow.start_run(experiment_id=experiment_id, run_name=f"{mode} {name}", nested=True) as child:
                now = int(time.time() * 1000)
                fit = part.drop_duplicates(C.FOLD)["fit_seconds"].to_numpy(dtype=float)
                values = {**_summary_metrics(rows), "fit_seconds_mean": float(fit.mean()) if fit.size else 0.0,
                          "fit_seconds_total": float(fit.sum())}
                values.update(_fold_metrics(plan, part))
                metrics = [Metric(k, v, now, 0) for k, v in values.items()]
                params = {C.MODE: mode, C.RECOMMENDER: name, **_common_params(plan),
                          **recommender_params(name, int(plan.config.seed), plan.params[name])}
                tags = {"medicalrec.role": "candidate", C.MODE: mode, C.RECOMMENDER: name,
                        "data_hash": plan.data_hash, C.PROTOCOL: plan.config.protocol}
                client.log_batch(child.info.run_id, metrics=metrics,
                                 params=[Param(k, str(v)) for k, v in params.items()],
                                 tags=[RunTag(k, v) for k, v in tags.items()])
                out = scratch / f"{mode}_{name}"
                out.mkdir(parents=True)
                part.to_csv(out / "folds.csv", index=False)
                plots.plot_at_k(rows, family, out / f"{family.lower()}_at_k.png",
                                title=f"{family}@K, {name}, mode {mode}, {plan.config.protocol} protocol")
                mlflow.log_artifacts(str(out), "evaluation")
                child_ids[f"{mode}/{name}"] = child.info.run_id
    return child_ids


def _fold_metrics(plan: TrainPlan, part: pd.DataFrame) -> dict[str, float]:
    """The selection metric of each held-out fold as its own metric, ``NDCG_at_5_fold0`` (with
    ``_repeat<r>`` when repeated): folds are not steps of a curve, and a name each charts as a column."""
    out = {}
    key = metric_key(plan.config.metric)
    selected = part[part[C.METRIC] == plan.config.metric]
    for repeat, fold, value in selected[[C.REPEAT, C.FOLD, C.VALUE]].itertuples(index=False):
        if np.isfinite(value):
            out[f"{key}_fold{int(fold)}" if plan.repeats == 1 else f"{key}_repeat{int(repeat)}_fold{int(fold)}"] = float(value)
    return out


def _summary_metrics(rows: pd.DataFrame) -> dict[str, float]:
    """Mean, ``_std`` and ``_p`` (Wilcoxon against best-mean) per metric; NaN (undefined) is left
    out, not logged as 0."""
    out = {}
    for metric, mean, std, p_value in rows[[C.METRIC, "mean", "std", "p_value"]].itertuples(index=False):
        for key, value in ((metric_key(metric), mean), (f"{metric_key(metric)}_std", std),
                           (f"{metric_key(metric)}_p", p_value)):
            if pd.notna(value):
                out[key] = float(value)
    return out


def _log_parent_report(plan: TrainPlan, evaluation, summary: pd.DataFrame, out: Path) -> None:
    import mlflow

    from medicalrec.evaluation.report import CELL_LEGEND, describe_scheme, timing_breakdown, to_markdown, write_report

    paths = write_report(evaluation, out, data_label=Path(plan.source).name)
    from medicalrec.evaluation.report import comparison_table

    table = comparison_table(summary, plan.config.metric)
    table.to_csv(out / "comparison.csv", index=False)
    timings = timing_breakdown(evaluation)
    mlflow.log_metrics({f"time_{name}_seconds": float(fit + score) for name, fit, score
                        in timings[[C.RECOMMENDER, "fit_seconds", "score_seconds"]].itertuples(index=False)})
    mlflow.log_metric("cv_seconds", float(evaluation.seconds))
    if plan.config.protocol == C.PROTOCOL_TASK:
        from medicalrec.evaluation.expectation import write_expected_report

        expected = write_expected_report(plan.records, out, plan.n_folds, plan.config.seed, plan.repeats,
                                         plan.config.group_by, data_label=Path(plan.source).name)
        if expected is not None:
            mlflow.log_metrics(expected[0])
    heading = (f"# {plan.config.metric} by mode and recommender\n\n{describe_scheme(evaluation, Path(plan.source).name)}. "
               f"{CELL_LEGEND}\n\n")
    (out / "comparison.md").write_text(heading + to_markdown(summary, [plan.config.metric]) + "\n" + paths["markdown"].read_text())
    mlflow.log_artifacts(str(out), "report")
    best = table.groupby(C.MODE, sort=False).head(1)
    for mode, name, value in best[[C.MODE, C.RECOMMENDER, plan.config.metric]].itertuples(index=False):
        if pd.notna(value):
            mlflow.log_metric(f"best_{metric_key(plan.config.metric)}_mode_{mode}", float(value))


# --- selection, refit, export, registration -------------------------------------------------------

def select_mode(summary: pd.DataFrame, metric: str, recommender: str = TRANSFORMER) -> tuple[str, float]:
    """The mode whose ``recommender`` has the best mean ``metric`` (lowest for ``Regret@1``); ties
    go to the mode that comes first in ``summary``. ``ConfigError`` when no mode has a value."""
    rows = summary[(summary[C.RECOMMENDER] == recommender) & (summary[C.METRIC] == metric)]
    rows = rows[rows["mean"].notna()]
    if rows.empty:
        raise ConfigError(f"{metric} is undefined for {recommender!r} in every mode: no task to rank in any fold")
    values = rows["mean"].to_numpy(dtype=float)
    best = int(np.argmin(values) if M.lower_is_better(metric) else np.argmax(values))
    return str(rows[C.MODE].iloc[best]), float(values[best])


def compare_with_reference(summary: pd.DataFrame, mode: str, metric: str) -> dict:
    """The transformer of ``mode`` against ``best_mean_relevance`` (the leaderboard) on the sweep's
    own cross-validation: both means of ``metric`` (and Regret@1 where the protocol has it), the
    paired p-value and whether the transformer is better on ``metric``. ``beats`` is None when the
    reference was not part of the sweep."""
    from medicalrec.evaluation.crossval import REFERENCE

    table = summary[summary[C.MODE] == mode].set_index([C.RECOMMENDER, C.METRIC])
    out = {"reference": REFERENCE, "mode": mode, "metric": metric, "beats": None, "metrics": {}}
    for name in dict.fromkeys((metric, M.REGRET_AT_1)):
        if (TRANSFORMER, name) in table.index and (REFERENCE, name) in table.index:
            ours, theirs = float(table.at[(TRANSFORMER, name), "mean"]), float(table.at[(REFERENCE, name), "mean"])
            p_value = _finite(table.at[(TRANSFORMER, name), "p_value"])
            out["metrics"][name] = {"transformer": ours, "reference": theirs, "p_value": p_value}
    if metric in out["metrics"]:
        values = out["metrics"][metric]
        better = values["transformer"] < values["reference"] if M.lower_is_better(metric) else values["transformer"] > values["reference"]
        out["beats"] = bool(better)
    return out


def describe_comparison(comparison: dict) -> str:
    """One line: the transformer against the leaderboard, per metric, with the paired p-value."""
    parts = []
    for name, values in comparison["metrics"].items():
        p_value = "n/a" if values["p_value"] is None else f"{values['p_value']:.2g}"
        parts.append(f"{name} {values['transformer']:.4f} vs {values['reference']:.4f} (Wilcoxon p={p_value})")
    if comparison["beats"] is None:
        return f"{comparison['reference']} was not in the sweep: no comparison"
    verdict = "beats" if comparison["beats"] else "does NOT beat"
    return (f"transformer (mode {comparison['mode']}) {verdict} {comparison['reference']} on {comparison['metric']} "
            f"in the sweep's cross-validation: " + "; ".join(parts))


def _log_pick(plan: TrainPlan, summary: pd.DataFrame, result: TrainResult) -> None:
    """The transformer of the best mode (``select_mode``) on the parent run: its metrics under the
    children's names (so parent and children chart in the same columns) and its verdict against
    the leaderboard. Nothing when the transformer was not in the sweep, or (compare only) when the
    selection metric is undefined in every mode."""
    import mlflow

    config = plan.config
    if TRANSFORMER not in plan.recommenders:
        return
    try:
        mode, value = select_mode(summary, config.metric)
    except ConfigError:
        if plan.exports:
            raise
        return
    result.best_mode, result.best_value = mode, value
    rows = summary[(summary[C.MODE] == mode) & (summary[C.RECOMMENDER] == TRANSFORMER)]
    results = result.evaluation.results
    part = results[(results[C.MODE] == mode) & (results[C.RECOMMENDER] == TRANSFORMER)]
    mlflow.log_metrics({**_summary_metrics(rows), **_fold_metrics(plan, part)})
    mlflow.set_tags({"selected_mode": mode, "selection_metric": config.metric})
    # The product's reason to exist is ranking better than the leaderboard: say loudly when it does
    # not (train registers all the same so that scoring keeps working).
    result.reference = compare_with_reference(summary, mode, config.metric)
    verdict = describe_comparison(result.reference)
    mlflow.set_tags({"medicalrec.beats_best_mean": str(result.reference["beats"]).lower(), "medicalrec.comparison": verdict})
    if result.reference["beats"] is False:
        mlflow.set_tag("medicalrec.warning", "WARNING: " + verdict)


def _ship_best_transformer(plan: TrainPlan, summary: pd.DataFrame, result: TrainResult, bundle_dir: Path,
                           step: _Stepper) -> None:
    import mlflow

    from medicalrec.evaluation.crossval import metric_names
    from medicalrec.mlops.export import check_tasks_for, export_bundle
    from medicalrec.mlops.model import input_example, log_bundle_model
    from medicalrec.recommenders import create

    config = plan.config
    mode = result.best_mode
    transformer = create(TRANSFORMER, int(config.seed), **plan.params[TRANSFORMER])
    fit_started = time.perf_counter()
    transformer.fit(plan.records, mode)
    result.transformer = transformer
    mlflow.log_metric("refit_seconds", time.perf_counter() - fit_started)
    mlflow.log_dict(_jsonable(transformer.history_), "refit_history.json")  # epochs run, early-stopping epoch
    step(f"refit {TRANSFORMER} mode {mode} on all {len(plan.records)} records")

    rows = summary[(summary[C.RECOMMENDER] == TRANSFORMER) & (summary[C.MODE] == mode)].set_index(C.METRIC)
    cv_metrics = {m: _finite(rows["mean"].get(m)) for m in metric_names(config.protocol)}
    cv_std = {m: _finite(rows["std"].get(m)) for m in metric_names(config.protocol)}
    bundle = export_bundle(
        transformer, bundle_dir, plan.records, check_tasks_for(plan.records),
        expectation_folds=(plan.n_folds, int(config.seed), config.group_by),
        extra_metadata={
            "metrics": cv_metrics, "metrics_std": cv_std, "data_hash": plan.data_hash,
            "protocol": config.protocol, "selection_metric": config.metric, "folds": plan.n_folds,
            "repeats": plan.repeats, "cv_grouping": plan.grouping,
            "seed": int(config.seed), "data_source": Path(plan.source).name, "training_run_id": result.parent_run_id,
        },
    )
    result.parity_max_abs_diff = float(bundle.metadata["parity_max_abs_diff"])
    mlflow.log_metric("onnx_parity_max_abs_diff", result.parity_max_abs_diff)
    step("exported ONNX bundle (parity checked)")

    info = log_bundle_model(bundle_dir, input_example(plan.records))
    result.model_uri = info.model_uri
    version = mlflow.register_model(info.model_uri, config.model_name, tags=version_tags(plan, mode, cv_metrics))
    result.model_version = str(version.version)
    client = mlflow.tracking.MlflowClient()
    client.update_registered_model(config.model_name, description=MODEL_NOTE)
    client.update_model_version(config.model_name, version.version,
                                description=version_note(plan, result, cv_metrics, cv_std, bundle.metadata))
    mlflow.set_tags({"registered_model": config.model_name, "registered_version": result.model_version})
    step(f"registered {config.model_name} version {result.model_version}")


def _jsonable(value):
    """``value`` with numpy scalars as Python numbers, for ``json``."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _finite(value) -> float | None:
    return float(value) if value is not None and pd.notna(value) else None


MODEL_NOTE = (
    "MedicalRec transformer: ranks the classifiers worth training for a medical image classification task "
    "(described by modality, size, classes, ...), learned from published results, exported to ONNX. "
    "Registered by `medicalrec train` / `mlflow run . -e train`; each version's description says its data, "
    "cross-validation and result against best_mean_relevance (the leaderboard). Alias production: what batch "
    "scoring uses (models:/NAME@production), moved by `medicalrec promote`; previous: the one before."
)


def version_tags(plan: TrainPlan, mode: str, cv_metrics: dict) -> dict[str, str]:
    """Tags of a registered version: what ``registry.promote`` reads (``CV_SCHEME_TAGS`` and
    ``metric.<key>``, the cross-validated mean of every metric of the protocol), the feature mode
    and the code; everything else a reader needs is in the description (``version_note``)."""
    tags = {
        C.MODE: mode, C.PROTOCOL: plan.config.protocol, "data_hash": plan.data_hash, "cv_grouping": plan.grouping,
        "folds": str(plan.n_folds), "repeats": str(plan.repeats), "git_commit": git_commit(),
    }
    for metric, value in cv_metrics.items():
        if value is not None:
            tags[f"metric.{metric_key(metric)}"] = repr(value)
    return tags


def version_note(plan: TrainPlan, result: TrainResult, cv_metrics: dict, cv_std: dict, metadata: dict) -> str:
    """A version's description: what it is, the data, how it was cross-validated and how it did."""
    key = [m for m in dict.fromkeys((plan.config.metric, *KEY_METRICS)) if cv_metrics.get(m) is not None]
    scores = ", ".join(f"{m} {cv_metrics[m]:.4f}" + ("" if cv_std.get(m) is None else f" ± {cv_std[m]:.4f}") for m in key)
    return "\n\n".join([
        f"MedicalRec transformer, feature mode {result.best_mode} (best {plan.config.metric} of "
        f"{', '.join(plan.modes)}), refit on all of {data_label(plan)} ({len(plan.records):,} records, "
        f"data_hash {plan.data_hash[:12]}).",
        f"Cross-validated ({plan.config.protocol} protocol, {plan.n_folds} folds grouped by {plan.grouping} x "
        f"{plan.repeats} repeat(s), seed {int(plan.config.seed)}; mean ± std over folds): {scores}.",
        f"{describe_comparison(result.reference)}.",
        f"ONNX opset {metadata['onnx_opset']}, largest difference from torch {float(metadata['parity_max_abs_diff']):.2g}. "
        f"Training run {result.parent_run_id}, code {git_commit()}.",
    ])


def git_commit() -> str:
    """HEAD of the git checkout holding this package (with ``-dirty`` when it has uncommitted
    changes), or "unknown" outside git."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = head.stdout.strip()
    return commit + ("-dirty" if status.returncode == 0 and status.stdout.strip() else "")


