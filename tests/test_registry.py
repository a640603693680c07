"""Promotion and rollback against a real sqlite MLflow registry.

One tiny transformer is trained and logged once; the versions the tests promote are registrations
of that logged model with the tags training writes (data hash, protocol, cross-validated metrics),
set to hand-picked values so every decision has a known right answer. The ``--data`` path scores
real bundles: the trained one and a copy whose candidate list is reversed (a deliberately wrong
model).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.errors import ConfigError, ModelError
from medicalrec.mlops.registry import (
    BETTER, FIRST, FORCED, PREVIOUS, PRODUCTION, PROMOTIONS_EXPERIMENT, REFUSED, RESCORED, ROLLED_BACK, UNCHANGED,
    promote, rollback,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TINY = {"max_epochs": 3, "d_model": 16, "n_heads": 2, "n_layers": 1, "dim_feedforward": 32}
HASH_A, HASH_B = "a" * 64, "b" * 64


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A tmp sqlite store holding one trained model (``trained`` version 1) and a reversed copy."""
    import mlflow

    from medicalrec.mlops.training import TrainConfig, run_training

    from medicalrec.mlops.model import input_example, log_bundle_model

    directory = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{directory / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.delenv("MLFLOW_RUN_ID", raising=False)
        result = run_training(TrainConfig(data="decathlon", modes="III", recommenders="medicalrec", folds=2, model_name="trained",
                                          transformer_params=TINY))
        bundle = mlflow.artifacts.download_artifacts(f"models:/trained/{result.model_version}")
        reversed_dir = directory / "reversed"
        shutil.copytree(Path(bundle) / "artifacts" / "bundle", reversed_dir)
        metadata = json.loads((reversed_dir / "medicalrec.json").read_text())
        metadata["models"] = metadata["models"][::-1]
        (reversed_dir / "medicalrec.json").write_text(json.dumps(metadata))
        from medicalrec.bench.defaults import DECATHLON, shipped_data_path
        from medicalrec.bench.loading import load_bench

        records = load_bench(shipped_data_path(DECATHLON)).frame
        with mlflow.start_run(experiment_id=result.experiment_id, run_name="reversed copy"):
            reversed_info = log_bundle_model(reversed_dir, input_example(records))
        yield {"uri": uri, "model_uri": result.model_uri, "reversed_uri": reversed_info.model_uri,
               "result": result, "records": records, "directory": directory}


@pytest.fixture
def registry(store, monkeypatch, request):
    """A fresh registered model name per test, and a function that registers a version with tags."""
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    mlflow.set_tracking_uri(store["uri"])
    mlflow.set_registry_uri(store["uri"])
    client = MlflowClient()
    name = "reg-" + request.node.name.replace("[", "-").replace("]", "")

    def add(ndcg: float | None = None, data_hash: str = HASH_A, protocol: str = "task", regret: float | None = None,
            model_uri: str | None = None, folds: str = "5", repeats: str = "1", grouping: str = "dataset") -> str:
        tags = {"data_hash": data_hash, "protocol": protocol, "cv_grouping": grouping, "folds": folds, "repeats": repeats}
        if ndcg is not None:
            tags["metric.NDCG_at_5"] = repr(ndcg)
        if regret is not None:
            tags["metric.Regret_at_1"] = repr(regret)
        return str(mlflow.register_model(model_uri or store["model_uri"], name, tags=tags).version)

    return name, add, client


def _alias(client, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except Exception:
        return None


def test_first_promotion_when_no_version_holds_production(registry):
    name, add, client = registry
    add(0.5)
    add(0.4)
    decision = promote(name)  # default: the newest version, even though it is the worse one
    assert (decision.version, decision.outcome, decision.promoted) == ("2", FIRST, True)
    assert _alias(client, name, PRODUCTION) == "2" and _alias(client, name, PREVIOUS) is None
    tags = client.get_model_version(name, "2").tags
    assert tags["promotion.outcome"] == FIRST and tags["promotion.forced"] == "false"


def test_refuses_a_worse_candidate_on_the_same_data(registry):
    name, add, client = registry
    add(0.80)
    promote(name)
    add(0.75)
    decision = promote(name)
    assert (decision.outcome, decision.promoted, decision.comparison) == (REFUSED, False, "cv")
    assert (decision.candidate_value, decision.production_value) == (0.75, 0.80)
    assert "does not beat production version 1" in decision.reason
    assert _alias(client, name, PRODUCTION) == "1"
    assert client.get_model_version(name, "2").tags["promotion.outcome"] == REFUSED


def test_a_tie_is_not_an_improvement(registry):
    name, add, _ = registry
    add(0.8)
    promote(name)
    add(0.8)
    assert promote(name).outcome == REFUSED


def test_accepts_a_better_candidate_and_keeps_the_old_one_as_previous(registry):
    name, add, client = registry
    add(0.70)
    promote(name)
    add(0.72)
    decision = promote(name)
    assert (decision.outcome, decision.promoted, decision.production_version) == (BETTER, True, "1")
    assert _alias(client, name, PRODUCTION) == "2" and _alias(client, name, PREVIOUS) == "1"


def test_regret_is_lower_is_better(registry):
    name, add, client = registry
    add(regret=0.05)
    promote(name, metric="Regret@1")
    add(regret=0.01)
    assert promote(name, metric="Regret@1").outcome == BETTER
    add(regret=0.02)
    assert promote(name, metric="Regret@1").outcome == REFUSED
    assert _alias(client, name, PRODUCTION) == "2"


def test_force_promotes_a_worse_version_and_records_it(registry, store):
    name, add, client = registry
    add(0.9)
    promote(name)
    add(0.1)
    decision = promote(name, force=True)
    assert (decision.outcome, decision.promoted, decision.forced) == (FORCED, True, True)
    assert _alias(client, name, PRODUCTION) == "2" and _alias(client, name, PREVIOUS) == "1"
    assert client.get_model_version(name, "2").tags["promotion.forced"] == "true"
    run = client.get_run(decision.run_id)
    assert run.data.tags["forced"] == "true" and run.data.tags["outcome"] == FORCED
    assert run.data.params["version"] == "2" and run.data.params["production_before"] == "1"
    assert run.data.metrics["candidate_NDCG_at_5"] == 0.1 and run.data.metrics["production_NDCG_at_5"] == 0.9


def test_every_decision_is_a_run_in_the_promotions_experiment(registry):
    name, add, client = registry
    add(0.5)
    decisions = [promote(name), promote(name)]  # first, then "already production"
    assert [d.outcome for d in decisions] == [FIRST, UNCHANGED]
    experiment = client.get_experiment_by_name(PROMOTIONS_EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id], f"tags.model_name = '{name}'")
    assert sorted(r.data.tags["outcome"] for r in runs) == sorted([FIRST, UNCHANGED])
    assert {r.info.run_id for r in runs} == {d.run_id for d in decisions}
    assert {r.data.tags["mlflow.note.content"] for r in runs} == {d.message() for d in decisions}
    assert "One run per `medicalrec promote`" in experiment.tags["mlflow.note.content"]


def test_metrics_from_different_data_are_not_compared(registry):
    name, add, client = registry
    add(0.5, data_hash=HASH_A)
    promote(name)
    add(0.9, data_hash=HASH_B)
    decision = promote(name)
    assert decision.outcome == REFUSED and decision.comparison is None
    assert "not comparable" in decision.reason and "--data" in decision.reason and "--force" in decision.reason
    add(0.9, protocol="record")
    assert "not comparable" in promote(name).reason
    assert _alias(client, name, PRODUCTION) == "1"


@pytest.mark.parametrize("scheme", [{"folds": "3"}, {"repeats": "3"}, {"grouping": "task"}])
def test_metrics_from_another_cv_scheme_on_the_same_data_are_not_compared(registry, scheme):
    """5-fold and 3-fold (or single and repeated, or task- and dataset-grouped) CV scores of the
    same data are different evidence: the gate refuses to rank them against each other."""
    name, add, client = registry
    add(0.5)
    promote(name)
    add(0.9, **scheme)
    decision = promote(name)
    assert decision.outcome == REFUSED and decision.comparison is None
    assert "not comparable" in decision.reason
    assert _alias(client, name, PRODUCTION) == "1"


def _expected_on_data(store, reverse: bool) -> float:
    """Mean NDCG@5 over the bundled tasks, from the refit transformer's torch scores (the reversed
    copy maps column j to the j-th model from the end)."""
    from medicalrec.evaluation import metrics as M
    from medicalrec.bench.tasks import task_queries, task_table
    from medicalrec.evaluation.crossval import task_vectors

    transformer = store["result"].transformer
    records = store["records"]
    truth = task_table(records)
    queries = task_queries(records)
    models = transformer.models_[::-1] if reverse else transformer.models_
    scores = transformer.score(queries)
    values = [M.task_metrics(*task_vectors(scores[i], models, truth[truth[C.TASK_ID] == task_id]))["NDCG@5"]
              for i, task_id in enumerate(queries.index)]
    return float(np.mean(values))


def _replication(store, path: Path) -> Path:
    """The training table under another ``ref``: tasks new to both versions by name (a replication
    study), with known right answers."""
    records = store["records"].copy()
    records[C.REF] = records[C.REF] + " (replication)"
    records.to_csv(path, index=False)
    return path


def test_different_data_is_compared_by_scoring_both_on_the_given_file(registry, store, tmp_path):
    name, add, client = registry
    add(0.99, data_hash=HASH_A, model_uri=store["reversed_uri"])  # wrong model with a flattering CV tag
    promote(name)
    add(0.10, data_hash=HASH_B)  # the real model, cross-validated elsewhere
    replication = _replication(store, tmp_path / "replication.csv")
    decision = promote(name, data=str(replication))
    right, wrong = _expected_on_data(store, reverse=False), _expected_on_data(store, reverse=True)
    assert right > wrong
    assert decision.comparison == RESCORED
    assert decision.candidate_value == pytest.approx(right, abs=1e-4)
    assert decision.production_value == pytest.approx(wrong, abs=1e-4)
    assert (decision.outcome, _alias(client, name, PRODUCTION)) == (BETTER, "2")
    assert f"scored on 10 task(s) of {replication}" in decision.reason and "left out" not in decision.reason
    # and the reverse direction is refused on the same file
    add(0.5, data_hash=HASH_A, model_uri=store["reversed_uri"])
    assert promote(name, data=str(replication)).outcome == REFUSED


def test_a_versions_own_training_tasks_do_not_judge_it(registry, store, tmp_path):
    """Both versions were trained on the demo table: on it the gate has nothing fair to score, and
    says so; mixed with new tasks, only the new ones count."""
    from medicalrec.bench.defaults import DECATHLON, shipped_data_path

    name, add, client = registry
    add(0.5, data_hash=HASH_A)
    promote(name)
    add(0.6, data_hash=HASH_B, model_uri=store["reversed_uri"])
    refused = promote(name, data=str(shipped_data_path(DECATHLON)))
    assert (refused.outcome, _alias(client, name, PRODUCTION)) == (REFUSED, "1")
    assert "neither version was trained on; 10 task(s) left out as training tasks of a version" in refused.reason
    mixed = tmp_path / "mixed.csv"
    new = pd.read_csv(_replication(store, tmp_path / "replication.csv"))
    pd.concat([store["records"], new.head(len(new) // 2)]).to_csv(mixed, index=False)
    decision = promote(name, data=str(mixed))
    assert decision.comparison == RESCORED and "left out as training tasks" in decision.reason
    assert "task(s) left out" in decision.reason and not decision.reason.startswith("NDCG@5 is undefined")


@pytest.mark.parametrize("respell", ["case and spaces", "own task ids", "empty ref", "same source"])
def test_training_tasks_respelled_still_do_not_judge_it(registry, store, tmp_path, respell):
    """The demo table under another spelling is still the versions' training data: ref and task in
    other case and spacing, the file's own ``task_id`` column, an empty ``ref``, or new task names
    from a source the versions were trained on."""
    from medicalrec.bench.defaults import DECATHLON, shipped_data_path

    name, add, client = registry
    add(0.5, data_hash=HASH_A)
    promote(name)
    add(0.6, data_hash=HASH_B, model_uri=store["reversed_uri"])
    records = pd.read_csv(shipped_data_path(DECATHLON))
    if respell == "case and spaces":
        records[C.REF] = "  " + records[C.REF].str.upper().str.replace(" ", "  ")
        records[C.TASK] = records[C.TASK].str.lower()
        records[C.DOMAIN] = records[C.DOMAIN].str.upper()
    elif respell == "own task ids":
        records[C.TASK_ID] = records[C.TASK]
        records[C.REF] = records[C.REF] + " (copy)"
    elif respell == "no ref":
        records[C.REF] = ""
    else:
        records[C.TASK] = records[C.TASK] + " (new split)"
    path = tmp_path / "respelled.csv"
    records.to_csv(path, index=False)
    refused = promote(name, data=str(path))
    assert (refused.outcome, _alias(client, name, PRODUCTION)) == (REFUSED, "1")
    assert "10 task(s) left out as training tasks of a version" in refused.reason


def test_rollback_swaps_production_and_previous_and_blocks_the_bad_version(registry):
    name, add, client = registry
    add(0.6)
    promote(name)
    add(0.7)
    promote(name)
    decision = rollback(name)
    assert (decision.outcome, decision.version, decision.production_version) == (ROLLED_BACK, "1", "2")
    assert _alias(client, name, PRODUCTION) == "1" and _alias(client, name, PREVIOUS) == "2"
    assert client.get_model_version(name, "2").tags["rolled_back"] == "true"
    refused = promote(name)  # the newest is the one just rolled back: not again without --force
    assert refused.outcome == REFUSED and "rolled back" in refused.reason
    assert promote(name, version=2, force=True).outcome == FORCED
    assert "rolled_back" not in client.get_model_version(name, "2").tags
    assert _alias(client, name, PRODUCTION) == "2" and _alias(client, name, PREVIOUS) == "1"


def test_rollback_needs_a_previous_version(registry):
    name, add, _ = registry
    add(0.6)
    promote(name)
    with pytest.raises(ModelError, match="nothing to roll back to"):
        rollback(name)


def test_bad_requests_are_clear_errors(registry):
    name, add, _ = registry
    with pytest.raises(ModelError, match="no registered model"):
        promote(name)
    add(0.5)
    with pytest.raises(ConfigError, match="has no version 7; versions: 1"):
        promote(name, version=7)
    with pytest.raises(ConfigError, match="unknown metric"):
        promote(name, metric="accuracy")


def test_promote_script_prints_the_decision_and_exits_1_on_refusal(registry, store):
    name, add, _ = registry
    add(0.8)
    promote(name)
    add(0.7)
    env = {**os.environ, "MLFLOW_TRACKING_URI": store["uri"]}
    script = str(ROOT / "entrypoints" / "promote.py")
    run = subprocess.run([sys.executable, script, "--model-name", name], capture_output=True, text=True, env=env)
    assert run.returncode == 1
    assert run.stdout.strip() == f"{name} version 2: NOT promoted: NDCG@5 0.7000 does not beat production version 1's " \
        f"0.8000, cross-validated the same way (task protocol, folds grouped by dataset, 5 folds x 1 repeat(s), " \
        f"data_hash {HASH_A[:12]})"


# --- where runs and models live (medicalrec.mlops.tracking) -----------------------------------------------

def test_embedded_store_is_the_nearest_project_directory(tmp_path, monkeypatch):
    from medicalrec.mlops import tracking

    project = tmp_path / "checkout"
    (project / "a" / "b").mkdir(parents=True)
    (project / "MLproject").write_text("name: x\n")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(project / "a" / "b")
    assert tracking.project_dir() == project.resolve()
    assert tracking.tracking_uri() == f"sqlite:///{project.resolve()}/mlflow.db"
    assert tracking.artifact_location() == (project.resolve() / "mlruns").as_uri()
    monkeypatch.chdir(tmp_path)  # no MLproject above: the working directory itself
    assert tracking.tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_promote_and_rollback_never_create_a_store(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{missing}")
    for action in (promote, rollback):
        with pytest.raises(ModelError, match=f"no MLflow store at sqlite:///{missing} \\(from MLFLOW_TRACKING_URI\\)"):
            action("medicalrec")
    assert list(tmp_path.iterdir()) == []


def test_the_environment_variable_overrides_the_embedded_store(monkeypatch):
    from medicalrec.mlops import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert tracking.tracking_uri() == "http://mlflow.example:5000"
    assert tracking.artifact_location() is None  # a server decides where artifacts go
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////srv/store/mlflow.db")
    assert tracking.artifact_location() == "file:///srv/store/mlruns"
