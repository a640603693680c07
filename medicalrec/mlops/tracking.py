"""Where runs and registered models live: one rule for every entry point and CLI command.

* ``MLFLOW_TRACKING_URI`` set: it wins for tracking and the registry (a real server, or any store).
  ``MLFLOW_REGISTRY_URI`` is not consulted: MLflow itself writes it into the environment whenever a
  registry URI is set, so a stale value would silently point the registry at another store.
* Not set: an embedded store, ``sqlite:///<project>/mlflow.db``, with artifacts in
  ``<project>/mlartifacts/``. ``<project>`` is the nearest parent of the working directory holding an
  ``MLproject`` file (else the working directory), as an absolute path, so that ``medicalrec`` typed
  anywhere inside the checkout and ``mlflow run .`` typed at its top see the same runs and models.

MLflow itself puts the artifacts of a local sqlite store in ``./mlruns`` of whatever directory a
process happens to start in; experiments created here (``get_or_create_experiment``) get an explicit
artifact location instead: ``mlartifacts/`` next to the database for any local sqlite store, so a
``sqlite:///tmp/x/mlflow.db`` used by tests keeps its artifacts under ``/tmp/x`` too.

``mlflow run`` passes its own tracking URI to the entry point; without ``MLFLOW_TRACKING_URI`` that
is MLflow's default ``sqlite:///mlflow.db`` in the directory the command was typed in. Typed at the
project's top (``mlflow run . -e train``) it is exactly the embedded default; typed elsewhere, set
``MLFLOW_TRACKING_URI``. (Experiments that ``mlflow run --experiment-name`` creates keep MLflow's
artifact location, ``./mlruns`` of that directory.)

Browse with ``mlflow ui --backend-store-uri sqlite:///<project>/mlflow.db``.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

PROJECT_FILE = "MLproject"
DATABASE_FILE = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
_SQLITE_PREFIX = "sqlite:///"


def project_dir(start: str | Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: the working directory) that holds an
    ``MLproject`` file; ``start`` itself when there is none. Always absolute."""
    here = Path(start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / PROJECT_FILE).is_file():
            return directory
    return here


def default_tracking_uri(start: str | Path | None = None) -> str:
    """The embedded store of the project around ``start``: ``sqlite:///<abs path>/mlflow.db``."""
    return _SQLITE_PREFIX + (project_dir(start) / DATABASE_FILE).as_posix()


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set (and not empty), else the embedded default."""
    return os.environ.get(TRACKING_URI_ENV, "").strip() or default_tracking_uri()


def configure_tracking() -> str:
    """Point MLflow's tracking and registry at ``tracking_uri()`` and return it. Call it first in
    every entry point and CLI command that touches runs or models."""
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def sqlite_path(uri: str) -> Path | None:
    """The database file of a local ``sqlite:///`` URI, else None."""
    if not uri.startswith(_SQLITE_PREFIX):
        return None
    path = unquote(uri[len(_SQLITE_PREFIX):].split("?", 1)[0])
    if not path or path == ":memory:":
        return None
    return Path(path if os.path.isabs(path) else os.path.abspath(path))


def artifact_location(uri: str | None = None) -> str | None:
    """Artifact root for new experiments: ``mlartifacts/`` next to a local sqlite database (as a
    ``file://`` URI); None (the server's or MLflow's own choice) for any other store."""
    database = sqlite_path(uri or tracking_uri())
    if database is None:
        return None
    return (database.parent / ARTIFACT_DIR).as_uri()


def get_or_create_experiment(name: str) -> str:
    """Id of the experiment ``name``, created (with ``artifact_location()``) when missing.
    Expects ``configure_tracking()`` to have run."""
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=artifact_location(mlflow.get_tracking_uri()))


def metric_key(name: str) -> str:
    """An MLflow-safe metric key: ``NDCG@5`` -> ``NDCG_at_5`` (MLflow refuses ``@``)."""
    return name.replace("@", "_at_")


def log_params_missing(run_id: str, params: dict[str, object]) -> None:
    """Log ``params`` except keys the run already has (``mlflow run`` logs the entry point's own
    parameters first, as typed, and MLflow refuses to change a param's value)."""
    import mlflow
    from mlflow.entities import Param

    existing = mlflow.tracking.MlflowClient().get_run(run_id).data.params
    fresh = [Param(k, str(v)[:6000]) for k, v in params.items() if k not in existing]
    if fresh:
        mlflow.tracking.MlflowClient().log_batch(run_id, params=fresh)


def log_scoring_run(summary, experiment: str | None = None) -> str:
    """Log a ``serving.batch.ScoringSummary`` as a run (params: model URI and version, input hash,
    top-k as asked and ``top_k_effective``, device; metrics: row counts, seconds, tasks/s); returns
    the run id. The caller decides whether to log (``score --log-mlflow``, the MLproject ``score``
    entry point); under ``mlflow run`` the run is the launcher's, whose ``top_k`` is kept as typed."""
    import mlflow

    if experiment:
        mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name="score") as run:
        mlflow.set_tags({"medicalrec.job": "score"})
        log_params_missing(run.info.run_id, {
            "model_uri": summary.model_uri,
            "model_version": summary.model_version or "",
            "input_path": summary.input_path,
            "input_hash": summary.input_hash,
            "output_path": summary.output_path,
            "top_k": "all" if summary.top_k is None else summary.top_k,
            "top_k_effective": summary.top_k_effective,
            "device": summary.device,
            "task_id_source": summary.task_id_source,
            "data_hash": summary.data_hash or "",
        })
        mlflow.log_metrics({
            "rows_read": summary.rows_read,
            "rows_scored": summary.rows_scored,
            "rows_rejected": summary.rows_rejected,
            "rows_blank": summary.rows_blank,
            "output_rows": summary.output_rows,
            "seconds": summary.seconds,
            "tasks_per_second": summary.tasks_per_second,
        })
        return run.info.run_id
