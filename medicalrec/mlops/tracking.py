"""Where runs and registered models live: one rule for every entry point and CLI command.

* ``MLFLOW_TRACKING_URI`` set: it wins for tracking and the registry (a real server, or any store).
  ``MLFLOW_REGISTRY_URI`` is not consulted: MLflow itself writes it into the environment whenever a
  registry URI is set, so a stale value would silently point the registry at another store.
* Not set: an embedded store, ``sqlite:///<project>/mlflow.db``. ``<project>`` is the nearest parent
  of the working directory holding an ``MLproject`` file (else the working directory), as an absolute
  path, so that ``medicalrec`` typed anywhere inside the checkout and ``mlflow run .`` typed at its top
  see the same runs and models.

Artifacts of a local sqlite store go where MLflow itself puts them when ``mlflow run`` is typed next
to the database: ``mlruns/<experiment id>/`` beside ``mlflow.db``. Experiments created here
(``get_or_create_experiment``) get that location whatever the working directory, so an experiment
created by ``mlflow run --experiment-name medicalrec`` at the project's top and one created by the
CLI are laid out alike, and a ``sqlite:///tmp/x/mlflow.db`` used by tests keeps its artifacts under
``/tmp/x``.

Only training creates a store: commands that look something up (``promote``, scoring a ``models:/``
URI) call ``configure_tracking(create=False)``, which refuses a local store that does not exist
instead of letting MLflow create an empty one in whatever folder the command was typed in.

Browse with ``mlflow ui --backend-store-uri sqlite:///<project>/mlflow.db``.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

PROJECT_FILE = "MLproject"
DATABASE_FILE = "mlflow.db"
ARTIFACT_DIR = "mlruns"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
_SQLITE_PREFIX = "sqlite:///"
NOTE_TAG = "mlflow.note.content"  # what the MLflow UI shows as the description of an experiment or run


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


def configure_tracking(create: bool = True) -> str:
    """Point MLflow's tracking and registry at ``tracking_uri()`` and return it. Call it first in
    every entry point and CLI command that touches runs or models; ``create=False`` for those that
    only look something up (``require_store``)."""
    import mlflow

    uri = tracking_uri()
    if not create:
        require_store(uri)
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


def require_store(uri: str) -> None:
    """``ModelError`` naming ``uri`` when it is a local store (sqlite file or folder) that does not
    exist: MLflow would create an empty one, and the lookup would only say "not found"."""
    from medicalrec.errors import ModelError

    path = sqlite_path(uri) or _file_store_path(uri)
    if path is None or path.exists():
        return
    if os.environ.get(TRACKING_URI_ENV, "").strip():
        how = f"from {TRACKING_URI_ENV}"
    elif not (project_dir() / PROJECT_FILE).is_file():
        how = f"{TRACKING_URI_ENV} is not set and no folder at or above {Path.cwd()} holds an {PROJECT_FILE}"
    else:
        how = f"{TRACKING_URI_ENV} is not set: the project's own store"
    raise ModelError(f"no MLflow store at {uri} ({how}); run from the project folder where training ran, "
                     f"or set {TRACKING_URI_ENV} to the store that holds the runs and models")


def _file_store_path(uri: str) -> Path | None:
    """The folder of a local file store (``file:///...`` or a plain path), else None."""
    if uri.startswith("file:"):
        from urllib.parse import urlparse

        return Path(unquote(urlparse(uri).path))
    if "://" in uri or uri.startswith(("sqlite:", "databricks", "http:", "https:")):
        return None
    return Path(os.path.abspath(uri))


def artifact_location(uri: str | None = None) -> str | None:
    """Artifact root of new experiments: ``mlruns/`` next to a local sqlite database (as a
    ``file://`` URI; each experiment gets its id below it); None (the server's or MLflow's own
    choice) for any other store."""
    database = sqlite_path(uri or tracking_uri())
    if database is None:
        return None
    return (database.parent / ARTIFACT_DIR).as_uri()


def get_or_create_experiment(name: str, description: str | None = None) -> str:
    """Id of the experiment ``name``, created when missing (local sqlite store: artifacts in
    ``artifact_location()/<id>``, as MLflow lays them out); ``description`` is set as its note when it
    has none. Expects ``configure_tracking()`` to have run."""
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        root = artifact_location(mlflow.get_tracking_uri())
        if root is None:
            experiment_id = client.create_experiment(name)
        else:
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            experiment_id = SqlAlchemyStore(mlflow.get_tracking_uri(), root).create_experiment(name)
        experiment = client.get_experiment(experiment_id)
    elif experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    if description and not experiment.tags.get(NOTE_TAG):
        client.set_experiment_tag(experiment.experiment_id, NOTE_TAG, description)
    return experiment.experiment_id


ERROR_TAG = "medicalrec.error"  # the one-line error of a run that failed


def record_failure(run_id: str, message: str, exit_code: int | None = None) -> None:
    """Put the error that ended run ``run_id`` on it: tag ``medicalrec.error`` (and
    ``medicalrec.exit_code``), and first in its description, so a FAILED run in the UI says why."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    line = " ".join(message.split())[:1000]
    tags = client.get_run(run_id).data.tags
    note = tags.get(NOTE_TAG, "")
    if ERROR_TAG in tags:  # recorded once already (by training, then by the entry point): replace it
        note = note.split("\n\n", 1)[1] if "\n\n" in note else ""
    exit_text = "" if exit_code is None else f" (exit code {exit_code})"
    tags = {ERROR_TAG: line, NOTE_TAG: f"FAILED{exit_text}: {line}" + (f"\n\n{note}" if note else "")}
    if exit_code is not None:
        tags["medicalrec.exit_code"] = str(exit_code)
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


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
