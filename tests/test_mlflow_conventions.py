"""What an MLflow user expects: one store that lookups never create, one experiment (``medicalrec``)
whether a sweep starts from ``mlflow run`` or the CLI, and a FAILED run that says why.

The ``mlflow run`` tests launch the real MLflow launcher on this checkout (``--env-manager local``)
against a temporary sqlite store; the sweep is the demo table with two cheap recommenders.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from medicalrec.cli import main

ROOT = Path(__file__).resolve().parents[1]
CHEAP = ["-P", "data=decathlon", "-P", "modes=I", "-P", "recommenders=popularity,best_mean_relevance", "-P", "folds=2"]


def _env(store: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_REGISTRY_URI")}
    return {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}


def _mlflow_run(store: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlflow", "run", str(ROOT), "--env-manager", "local", *args],
                          cwd=store, env=_env(store), capture_output=True, text=True, timeout=600)


def _client(store: Path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{store / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.mark.parametrize("args", [["promote"], ["promote", "--rollback"],
                                  ["score", "--input", "tasks.csv", "--output", "recs.csv"]])
def test_a_lookup_from_another_folder_names_the_store_and_creates_nothing(tmp_path, monkeypatch, args):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # no MLproject at or above: the default store is ./mlflow.db, which does not exist
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: no MLflow store at sqlite:///{tmp_path.resolve()}/mlflow.db (MLFLOW_TRACKING_URI is not set and no "
        f"folder at or above {tmp_path.resolve()} holds an MLproject); run from the project folder where training "
        "ran, or set MLFLOW_TRACKING_URI to the store that holds the runs and models"]
    assert list(tmp_path.iterdir()) == []

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/elsewhere/mlflow.db")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert f"no MLflow store at sqlite:///{tmp_path}/elsewhere/mlflow.db (from MLFLOW_TRACKING_URI)" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_model_missing_from_an_existing_store_names_the_store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _client(tmp_path).search_experiments()  # a store, with nothing registered in it
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    Path("tasks.csv").write_text("task_id,modality\nt1,Chest X-Ray\n")
    result = CliRunner().invoke(main, ["score", "--input", "tasks.csv", "--output", "recs.csv"])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: cannot load model 'models:/medicalrec@production' from {uri}: ")


def test_scoring_a_bundle_directory_needs_no_store(scoring_bundle, tmp_path, monkeypatch):
    from medicalrec.bench.tasks import task_queries

    _, bundle, records = scoring_bundle
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    task_queries(records.head(20)).reset_index().to_csv("tasks.csv", index=False)
    result = CliRunner().invoke(main, ["score", "--model", str(bundle.directory), "--input", "tasks.csv",
                                       "--output", "recs.csv", "--quiet"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recs.csv", "tasks.csv"]


@pytest.mark.slow
def test_mlflow_run_without_experiment_name_still_lands_in_medicalrec(tmp_path):
    """MLflow puts a run launched without --experiment-name in ``Default``; the sweep goes to
    ``medicalrec`` (readable name, the data as a dataset, artifacts in mlruns/<id> beside the
    database) and the launcher's run points at it."""
    done = _mlflow_run(tmp_path, "-e", "evaluate", *CHEAP)
    assert done.returncode == 0, done.stderr[-3000:]
    client = _client(tmp_path)
    experiment = client.get_experiment_by_name("medicalrec")
    runs = client.search_runs([experiment.experiment_id])
    [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.info.status == "FINISHED" and parent.info.run_name.startswith("evaluate decathlon task task-2fold 20")
    assert sorted(r.info.run_name for r in runs if r is not parent) == ["I best_mean_relevance", "I popularity"]
    assert parent.info.artifact_uri.startswith((tmp_path / "mlruns" / experiment.experiment_id).as_uri())
    assert [d.dataset.name for d in parent.inputs.dataset_inputs] == ["decathlon"]
    assert parent.data.tags["medicalrec.outcome"] == "compared only (register=False)"
    [launched] = client.search_runs(["0"])
    assert launched.info.status == "FINISHED" and launched.data.tags["medicalrec.sweep_run_id"] == parent.info.run_id
    assert "--experiment-name medicalrec" in launched.data.tags["mlflow.note.content"]


@pytest.mark.slow
def test_mlflow_run_with_a_bad_parameter_fails_its_run_with_the_error_on_it(tmp_path):
    done = _mlflow_run(tmp_path, "-e", "train", "--experiment-name", "medicalrec", "-P", "seed=-1")
    assert done.returncode == 1  # mlflow run's code for any failed run; the entry point's own code is on the run
    assert "Error: Invalid value for '--seed': -1 is not in the range x>=0." in done.stderr
    client = _client(tmp_path)
    [run] = client.search_runs([client.get_experiment_by_name("medicalrec").experiment_id])
    assert run.info.status == "FAILED"
    line = "Error: Invalid value for '--seed': -1 is not in the range x>=0."
    assert (run.data.tags["medicalrec.error"], run.data.tags["medicalrec.exit_code"]) == (line, "2")
    assert run.data.tags["mlflow.note.content"] == f"FAILED (exit code 2): {line}"


def test_an_entry_point_puts_the_cli_error_on_the_launcher_run(tmp_path):
    """As ``mlflow run`` starts it (a run made first, its id in MLFLOW_RUN_ID): the CLI's one line
    and exit code 2, and the same line on the run."""
    client = _client(tmp_path)
    experiment_id = client.create_experiment("medicalrec")
    launcher = client.create_run(experiment_id)
    env = {**_env(tmp_path), "MLFLOW_RUN_ID": launcher.info.run_id, "MLFLOW_EXPERIMENT_ID": experiment_id}
    done = subprocess.run([sys.executable, str(ROOT / "entrypoints" / "train.py"), "--modes", "II,VII"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    line = "error: unknown mode 'VII'; choose from I, II, III, IV"
    assert (done.returncode, done.stderr.strip().splitlines()) == (2, [line])
    tags = client.get_run(launcher.info.run_id).data.tags
    assert (tags["medicalrec.error"], tags["medicalrec.exit_code"]) == (line, "2")


def test_the_line_put_on_a_failed_run_is_the_one_that_says_why():
    sys.path.insert(0, str(ROOT / "entrypoints"))
    try:
        from _cli import error_line
    finally:
        sys.path.remove(str(ROOT / "entrypoints"))
    log = "2026/12/02 14:00:00 INFO mlflow.store.db.utils: Creating initial MLflow database tables...\n"
    refusal = "medicalrec version 2: NOT promoted: NDCG@5 0.8 does not beat production version 1's 0.9\n"
    assert error_line(log, refusal) == refusal.strip()  # a refused promotion (exit 1) says so on stdout
    usage = "Usage: medicalrec train [OPTIONS]\nTry 'medicalrec train --help' for help.\n\nError: Invalid value\n"
    assert error_line(log + usage, "") == "Error: Invalid value"
    assert error_line(log + "error: bad.csv: row 3\n  more detail\n", "") == "error: bad.csv: row 3"
    traceback = "Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'encoder'\n"
    assert error_line(traceback, "[3/16] fold 1\n") == "KeyError: 'encoder'"
