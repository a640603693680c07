"""Quality-gated promotion of registered MedicalRec models, with aliases (never stages).

Aliases of a registered model:

* ``production``: the version batch scoring uses (``models:/medicalrec@production``);
* ``previous``: the version that held ``production`` before the last promotion or rollback.

``promote`` moves ``production`` to a candidate (default: the newest version) when

1. no version holds ``production`` yet (first promotion), or
2. the candidate beats the production version on the *same* validation data by ``metric``
   (strictly; lowest wins for ``Regret@1``):

   * both versions carry cross-validated metrics (``metric.<key>`` tags written by training) that
     are comparable only when they were measured the same way: equal ``CV_SCHEME_TAGS`` (data,
     protocol, what the folds hold out whole, folds and repeats);
   * otherwise, when ``data`` is given, both versions' bundles are scored on that file with the task
     protocol (``evaluation.crossval.task_vectors`` + ``evaluation.metrics.task_metrics``, mean over
     its tasks), leaving out the tasks either version was trained on (its bundle's evidence lists
     them): on its own training tasks a version would win by having seen the answers;
   * otherwise the promotion is refused with a message saying how to compare them; or

3. ``force=True``: promoted whatever the metrics say, recorded as forced.

A version that was rolled back (tag ``rolled_back=true``) is refused unless forced, so that a
model pulled from production for a reason the metrics do not show is not promoted again by the next
``promote`` that defaults to the newest version.

``rollback`` swaps ``production`` and ``previous``: the version rolled back from becomes ``previous``
(tagged ``rolled_back``), so a second rollback undoes the first. Going further back is an explicit
``promote --version N --force``.

Every decision (including refusals) is written to a run in the experiment ``medicalrec-promotions``
and, except "unchanged", to the tags of the version decided about (``promotion.*``, ``rollback.*``);
``Decision.message()`` is what the CLI prints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medicalrec import constants as C
from medicalrec.errors import ConfigError, ModelError

PRODUCTION = C.PRODUCTION_ALIAS
PREVIOUS = "previous"
PROMOTIONS_EXPERIMENT = "medicalrec-promotions"
DEFAULT_MODEL_NAME = C.DEFAULT_MODEL_NAME
DEFAULT_METRIC = C.DEFAULT_METRIC
ROLLED_BACK_TAG = "rolled_back"

# Decision outcomes.
FIRST = "first"  # no production version existed
BETTER = "better"  # beat production
FORCED = "forced"
REFUSED = "refused"
UNCHANGED = "unchanged"  # the candidate already is production
ROLLED_BACK = "rolled_back"

# Version tags that must be equal for two versions' cross-validated metrics to be comparable.
CV_SCHEME_TAGS = ("data_hash", "protocol", "cv_grouping", "folds", "repeats")

PROMOTIONS_NOTE = (
    "One run per `medicalrec promote` (or `mlflow run . -e promote`) decision, refusals included: which version "
    "of which registered model, the production version before, the metric compared and both values, and why "
    "(tag reason). The model versions carry the same outcome in their promotion.* tags."
)

CV = "cv"  # compared by cross-validated metrics (tags)
RESCORED = "rescored"  # compared by scoring both bundles on ``data``


@dataclass
class Decision:
    action: str  # "promote" or "rollback"
    model_name: str
    version: str | None  # the candidate (promote) or the version restored to production (rollback)
    promoted: bool  # whether ``production`` moved
    outcome: str  # FIRST, BETTER, FORCED, REFUSED, UNCHANGED or ROLLED_BACK
    reason: str
    metric: str
    production_version: str | None = None  # version that held ``production`` before the decision
    candidate_value: float | None = None
    production_value: float | None = None
    comparison: str | None = None  # CV or RESCORED when metrics were compared
    forced: bool = False
    data: str | None = None
    run_id: str | None = None  # the run in ``medicalrec-promotions`` that records the decision

    def message(self) -> str:
        """One line for the user: what happened and why."""
        verb = {FIRST: "promoted", BETTER: "promoted", FORCED: "promoted (forced)", REFUSED: "NOT promoted",
                UNCHANGED: "unchanged", ROLLED_BACK: "rolled back"}[self.outcome]
        if self.action == "rollback":
            return (f"{self.model_name}: {verb}: production is now version {self.version} "
                    f"(was {self.production_version}); {self.reason}")
        return f"{self.model_name} version {self.version}: {verb}: {self.reason}"



def _client():
    from mlflow.tracking import MlflowClient

    from medicalrec.mlops.tracking import configure_tracking

    configure_tracking(create=False)  # promotion looks models up: it never creates a store
    return MlflowClient()


def _registered_versions(client, model_name: str) -> list:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model_name)
    except MlflowException:
        import mlflow

        raise ModelError(
            f"no registered model {model_name!r} in {mlflow.get_tracking_uri()}; "
            "train and register one first (mlflow run . -e train)"
        ) from None
    versions = client.search_model_versions(f"name='{model_name}'")
    if not versions:
        raise ModelError(f"registered model {model_name!r} has no versions; train one first (mlflow run . -e train)")
    return sorted(versions, key=lambda v: int(v.version))


def _alias_version(client, model_name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None


def _check_metric(metric: str) -> None:
    from medicalrec.evaluation.crossval import metric_names

    known = list(dict.fromkeys(metric_names(C.PROTOCOL_TASK) + metric_names(C.PROTOCOL_RECORD)))
    if metric not in known:
        raise ConfigError(f"unknown metric {metric!r}; choose from {', '.join(known)}")


def _better(candidate: float, production: float, metric: str) -> bool:
    from medicalrec.evaluation.metrics import lower_is_better

    return candidate < production if lower_is_better(metric) else candidate > production


def _tag_value(version, metric: str) -> float | None:
    from medicalrec.mlops.tracking import metric_key

    text = version.tags.get(f"metric.{metric_key(metric)}")
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and np.isfinite(value) else None


def promote(model_name: str = DEFAULT_MODEL_NAME, version: int | str | None = None, force: bool = False,
            metric: str = DEFAULT_METRIC, data: str | Path | None = None) -> Decision:
    """Move ``production`` to ``version`` (default: the newest) if it earns it (module docstring).
    The decision is recorded whether or not production moves."""
    _check_metric(metric)
    client = _client()
    versions = _registered_versions(client, model_name)
    if version is None or str(version).strip() in ("", "latest", "newest"):
        candidate = versions[-1]
    else:
        by_number = {str(v.version): v for v in versions}
        if str(version).strip() not in by_number:
            raise ConfigError(
                f"{model_name} has no version {version}; versions: {', '.join(by_number)}"
            )
        candidate = by_number[str(version).strip()]
    production = _alias_version(client, model_name, PRODUCTION)
    decision = Decision(action="promote", model_name=model_name, version=str(candidate.version), promoted=False,
                        outcome=REFUSED, reason="", metric=metric, forced=bool(force),
                        production_version=None if production is None else str(production.version),
                        data=None if data is None else str(data))
    decision.candidate_value = _tag_value(candidate, metric)
    if production is not None:
        decision.production_value = _tag_value(production, metric)

    if production is not None and str(production.version) == str(candidate.version):
        decision.outcome, decision.reason = UNCHANGED, f"version {candidate.version} already holds '{PRODUCTION}'"
    elif force:
        decision.outcome = FORCED
        decision.reason = ("forced by the user" + ("" if production is None else
                           f" over production version {production.version} without a quality check"))
    elif candidate.tags.get(ROLLED_BACK_TAG) == "true":
        decision.reason = (f"version {candidate.version} was rolled back from production; "
                           "promote it again only with --force")
    elif production is None:
        decision.outcome, decision.reason = FIRST, f"no version held '{PRODUCTION}'"
    else:
        _compare(client, decision, candidate, production, data)

    if decision.outcome in (FIRST, BETTER, FORCED):
        if production is not None and str(production.version) != str(candidate.version):
            client.set_registered_model_alias(model_name, PREVIOUS, production.version)
        client.set_registered_model_alias(model_name, PRODUCTION, candidate.version)
        if candidate.tags.get(ROLLED_BACK_TAG) is not None:
            client.delete_model_version_tag(model_name, candidate.version, ROLLED_BACK_TAG)
        decision.promoted = True
    _record(client, decision)
    return decision


def _scheme(version) -> str:
    """How a version's metrics were cross-validated, from its tags (``?`` where a tag is missing)."""
    tags = version.tags
    return ", ".join(f"{key} {tags.get(key, '?')[:12]}" for key in CV_SCHEME_TAGS)


def _compare(client, decision: Decision, candidate, production, data) -> None:
    """Fill ``decision`` with the comparison of ``candidate`` against ``production``."""
    metric = decision.metric
    same_data = all(
        candidate.tags.get(key) is not None and candidate.tags.get(key) == production.tags.get(key)
        for key in CV_SCHEME_TAGS
    )
    if same_data and decision.candidate_value is not None and decision.production_value is not None:
        decision.comparison = CV
        where = (f"cross-validated the same way ({candidate.tags['protocol']} protocol, folds grouped by "
                 f"{candidate.tags['cv_grouping']}, {candidate.tags['folds']} folds x {candidate.tags['repeats']} "
                 f"repeat(s), data_hash {candidate.tags['data_hash'][:12]})")
    elif data is not None:
        values, used, seen = compare_on_data(decision.model_name, [candidate.version, production.version], data, metric)
        decision.candidate_value, decision.production_value = values[str(candidate.version)], values[str(production.version)]
        decision.comparison = RESCORED
        left_out = (f"; {seen} task(s) left out as training tasks of a version or tasks of a source it was "
                    "trained on") if seen else ""
        where = f"scored on {used} task(s) of {data} with the task protocol{left_out}"
        if decision.candidate_value is None or decision.production_value is None:
            decision.reason = (f"{metric} is undefined on {data}: no task with 2 or more evaluated models that "
                               f"neither version was trained on{left_out}; compare on tasks new to both, or "
                               "promote anyway with --force")
            return
    else:
        why = ("cross-validated on different data or a different scheme" if not same_data
               else f"missing a cross-validated {metric}")
        decision.reason = (
            f"version {candidate.version} ({_scheme(candidate)}) and production version {production.version} "
            f"({_scheme(production)}) were {why}, so their {metric} values are not comparable; compare both "
            f"on one validation file with --data FILE, or promote anyway with --force"
        )
        return
    c, p = decision.candidate_value, decision.production_value
    if _better(c, p, metric):
        decision.outcome = BETTER
        decision.reason = f"{metric} {c:.4f} beats production version {production.version}'s {p:.4f}, {where}"
    else:
        decision.reason = f"{metric} {c:.4f} does not beat production version {production.version}'s {p:.4f}, {where}"


def compare_on_data(model_name: str, versions: list, data: str | Path,
                    metric: str) -> tuple[dict[str, float | None], int, int]:
    """``(values, used, seen)``: mean ``metric`` over the tasks of ``data`` (task protocol, tasks
    with at least 2 evaluated models) for each registered version's bundle, scored with ONNX
    Runtime, on the ``used`` tasks that no version lists as a training task in its evidence; the
    ``seen`` others would favour the version that was trained on them (a model promoted on its own
    training data). A value is None when no task is left."""
    from medicalrec.evaluation import metrics as M
    from medicalrec.bench.loading import load_bench
    from medicalrec.bench.tasks import task_queries, task_table
    from medicalrec.serving.bundle import INPUT_NAME, OUTPUT_NAME, resolve_bundle
    from medicalrec.evaluation.crossval import MIN_TASK_MODELS, task_vectors
    from medicalrec.mlops.export import onnx_session
    from medicalrec.bench.defaults import resolve_data

    if metric not in M.task_metric_names():
        raise ConfigError(
            f"comparing on --data uses the task protocol; {metric!r} is not one of its metrics "
            f"({', '.join(M.task_metric_names())})"
        )
    records = load_bench(resolve_data(str(data))).frame
    truth = task_table(records)
    sizes = truth.groupby(C.TASK_ID, sort=False)[C.MODEL].size()
    bundles = {str(version): resolve_bundle(f"models:/{model_name}/{version}") for version in versions}
    trained = _seen_task_ids(records, [bundle.evidence for bundle in bundles.values()])
    rated = [task_id for task_id in sizes.index[sizes >= MIN_TASK_MODELS]]
    kept = [task_id for task_id in rated if task_id not in trained]
    queries = task_queries(records).loc[kept] if kept else None
    groups = dict(tuple(truth.groupby(C.TASK_ID, sort=False)))
    out: dict[str, float | None] = {}
    for version, bundle in bundles.items():
        if queries is None:
            out[version] = None
            continue
        tokens = bundle.encoder.tokens(queries)
        scores = onnx_session(bundle.onnx_path).run([OUTPUT_NAME], {INPUT_NAME: tokens})[0]
        values = [M.task_metrics(*task_vectors(scores[i], bundle.models, groups[task_id]))[metric]
                  for i, task_id in enumerate(kept)]
        finite = [v for v in values if np.isfinite(v)]
        out[version] = float(np.mean(finite)) if finite else None
    return out, len(kept), len(rated) - len(kept)


def _seen_task_ids(records, evidences: list[dict]) -> set[str]:
    """The ``task_id`` of every task of ``records`` that one of the bundles (their ``evidences``)
    was trained on: its ``ref :: name`` (the bare name when it has no ``ref``) or the file's own
    ``task_id`` names a training task, or its ``ref`` is a training source."""
    import pandas as pd

    from medicalrec.bench.tasks import task_key, task_names, with_task_ids
    from medicalrec.serving.evidence import training_tasks

    tasks, refs = set(), set()
    for evidence in evidences:
        more_tasks, more_refs = training_tasks(evidence)
        tasks |= more_tasks
        refs |= more_refs
    records = with_task_ids(records)
    ref = (records[C.REF].astype(object).fillna("").map(task_key) if C.REF in records
           else pd.Series("", index=records.index))
    names = task_names(records).map(task_key)
    derived = (ref + " :: " + names).where(ref != "", names)
    seen = derived.isin(tasks) | records[C.TASK_ID].map(task_key).isin(tasks) | ((ref != "") & ref.isin(refs))
    return set(records.loc[seen, C.TASK_ID])


def rollback(model_name: str = DEFAULT_MODEL_NAME) -> Decision:
    """Swap ``production`` and ``previous``; the version rolled back from is tagged
    ``rolled_back=true`` (refused by ``promote`` unless forced)."""
    client = _client()
    _registered_versions(client, model_name)
    production = _alias_version(client, model_name, PRODUCTION)
    previous = _alias_version(client, model_name, PREVIOUS)
    if production is None or previous is None:
        missing = PRODUCTION if production is None else PREVIOUS
        raise ModelError(f"{model_name}: nothing to roll back to: no version holds '{missing}'")
    client.set_registered_model_alias(model_name, PRODUCTION, previous.version)
    client.set_registered_model_alias(model_name, PREVIOUS, production.version)
    client.set_model_version_tag(model_name, production.version, ROLLED_BACK_TAG, "true")
    if previous.tags.get(ROLLED_BACK_TAG) is not None:
        client.delete_model_version_tag(model_name, previous.version, ROLLED_BACK_TAG)
    decision = Decision(
        action="rollback", model_name=model_name, version=str(previous.version), promoted=True,
        outcome=ROLLED_BACK, metric="", production_version=str(production.version),
        reason=f"version {production.version} is now '{PREVIOUS}' and tagged {ROLLED_BACK_TAG}=true",
    )
    _record(client, decision)
    return decision


def _record(client, decision: Decision) -> None:
    """Version tags on the version decided about, and a run in ``medicalrec-promotions``."""
    from mlflow.entities import Metric, Param

    from medicalrec.mlops.tracking import NOTE_TAG, get_or_create_experiment, metric_key

    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    subject = decision.production_version if decision.action == "rollback" else decision.version
    tags = {"promotion.outcome": decision.outcome, "promotion.reason": decision.reason[:4000],
            "promotion.time": stamp, "promotion.forced": str(decision.forced).lower()}
    if decision.action == "rollback":
        tags = {"rollback.time": stamp, "rollback.restored_version": str(decision.version)}
    if decision.outcome == UNCHANGED:
        tags = {}  # keep the tags of the decision that made it production; the run below records this one
    for key, value in tags.items():
        client.set_model_version_tag(decision.model_name, subject, key, value)

    experiment_id = get_or_create_experiment(PROMOTIONS_EXPERIMENT, PROMOTIONS_NOTE)
    name = f"{decision.action} {decision.model_name} v{decision.version}: {decision.outcome}"
    run = client.create_run(experiment_id, run_name=name, tags={
        "action": decision.action, "outcome": decision.outcome, "promoted": str(decision.promoted).lower(),
        "forced": str(decision.forced).lower(), "reason": decision.reason[:4000], "model_name": decision.model_name,
        NOTE_TAG: decision.message()[:4000],
    })
    params = {"model_name": decision.model_name, "version": decision.version,
              "production_before": decision.production_version, "metric": decision.metric,
              "force": decision.forced, "comparison": decision.comparison, "data": decision.data}
    now = int(time.time() * 1000)
    metrics = []
    for label, value in (("candidate", decision.candidate_value), ("production", decision.production_value)):
        if value is not None:
            metrics.append(Metric(f"{label}_{metric_key(decision.metric)}", float(value), now, 0))
    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items() if v is not None],
                     metrics=metrics)
    client.set_terminated(run.info.run_id)
    decision.run_id = run.info.run_id
