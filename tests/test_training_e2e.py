"""End to end: the training sweep on the bundled MedMNIST data (70 records, 10 tasks) into a
temporary sqlite MLflow store: runs, metrics, artifacts, registration, ONNX parity, and the
registered pyfunc model ranking exactly like the transformer it was exported from.

2 modes x 3 recommenders x 2 folds and a tiny transformer keep it fast; the full sweep is the same
code with the MLproject defaults.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.errors import ConfigError

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TINY = {"max_epochs": 3, "d_model": 16, "n_heads": 2, "n_layers": 1, "dim_feedforward": 32}
MODES = "I,III"
RECOMMENDERS = "medicalrec,popularity,best_mean_relevance"


def _store(directory: Path) -> str:
    return f"sqlite:///{directory / 'mlflow.db'}"


@pytest.fixture(scope="module")
def head() -> str:
    """HEAD when the module's training ran (another commit may land while the tests run)."""
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, head):
    from medicalrec.mlops.training import TrainConfig, run_training

    directory = tmp_path_factory.mktemp("store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", _store(directory))
        patch.delenv("MLFLOW_RUN_ID", raising=False)
        steps = []
        config = TrainConfig(data="decathlon", modes=MODES, recommenders=RECOMMENDERS, folds=2, transformer_params=TINY)
        result = run_training(config, progress=lambda label, done, total: steps.append((label, done, total)))
        yield result, directory, steps


@pytest.fixture(scope="module")
def production(trained):
    """The first promotion of the trained model, made once for every test that needs a production
    version (so the tests hold in any order)."""
    from medicalrec.mlops.registry import promote

    _, directory, _ = trained
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", _store(directory))
        return promote("medicalrec")


@pytest.fixture
def client(trained):
    import mlflow
    from mlflow.tracking import MlflowClient

    _, directory, _ = trained
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", _store(directory))
        mlflow.set_tracking_uri(_store(directory))
        mlflow.set_registry_uri(_store(directory))
        yield MlflowClient()


def _children(client, result):
    runs = client.search_runs([result.experiment_id], f"tags.mlflow.parentRunId = '{result.parent_run_id}'")
    return {(r.data.params["mode"], r.data.params["recommender"]): r for r in runs}


def _artifacts(client, run_id: str, path: str) -> set[str]:
    return {Path(a.path).name for a in client.list_artifacts(run_id, path)}


def test_progress_counts_every_fit_and_the_shipping_steps(trained):
    _, _, steps = trained
    fits = 2 * 3 * 2  # modes x recommenders x folds
    assert [d for _, d, _ in steps] == list(range(1, fits + 5))
    assert {t for _, _, t in steps} == {fits + 4}
    assert steps[-1][0] == "registered medicalrec version 1"


def test_one_child_run_per_mode_and_recommender_with_params_metrics_and_plots(trained, client):
    result, directory, _ = trained
    children = _children(client, result)
    assert set(children) == {(m, r) for m in ("I", "III") for r in RECOMMENDERS.split(",")}
    for (mode, name), run in children.items():
        params = run.data.params
        assert params["seed"] == "0" and params["protocol"] == "task" and params["folds"] == "2"
        assert params["data_hash"] == result.data_hash
        part = result.evaluation.results[(result.evaluation.results["mode"] == mode) & (result.evaluation.results["recommender"] == name)]
        fold_values = part[part["metric"] == "NDCG@5"]["value"].to_numpy(dtype=float)
        assert len(fold_values) == 2
        # mean and sample standard deviation over the two folds, by hand
        assert run.data.metrics["NDCG_at_5"] == pytest.approx((fold_values[0] + fold_values[1]) / 2)
        assert run.data.metrics["NDCG_at_5_std"] == pytest.approx(abs(fold_values[0] - fold_values[1]) / np.sqrt(2))
        for key in ("HitRate_at_1", "HitRate_at_3", "NDCG_at_1", "NDCG_at_3", "Regret_at_1", "fit_seconds_total"):
            assert key in run.data.metrics
        assert _artifacts(client, run.info.run_id, "evaluation") == {"folds.csv", "ndcg_at_k.png"}
        folds = pd.read_csv(client.download_artifacts(run.info.run_id, "evaluation/folds.csv"))
        assert len(folds) == 2 * 8 and set(folds["fold"]) == {0, 1}  # 8 task-protocol metrics per fold
        # each fold its own metric, not steps of one curve
        assert [run.data.metrics[f"NDCG_at_5_fold{k}"] for k in (0, 1)] == pytest.approx(fold_values)
        assert not any(m.step for key in run.data.metrics for m in client.get_metric_history(run.info.run_id, key))
    transformer_params = children[("I", "medicalrec")].data.params
    assert transformer_params["param.max_epochs"] == "3" and transformer_params["param.d_model"] == "16"
    from medicalrec.recommenders.best_mean_relevance import BestMeanRelevanceConfig

    # a default, filled in
    assert children[("I", "best_mean_relevance")].data.params["param.prior_tasks"] == str(BestMeanRelevanceConfig().prior_tasks)
    # artifacts live next to the database as mlflow run lays them out (mlruns/<experiment id>), not in the
    # working directory
    artifacts = (directory / "mlruns" / result.experiment_id).as_uri()
    assert client.get_run(result.parent_run_id).info.artifact_uri.startswith(artifacts)


def test_parent_run_has_the_comparison_table_and_summary_plots(trained, client):
    result, _, _ = trained
    parent = client.get_run(result.parent_run_id)
    assert parent.data.params["data_hash"] == result.data_hash
    assert parent.data.tags["selected_mode"] == result.best_mode
    # the transformer picked, under the names its child run uses: one column per metric in the runs table
    picked = _children(client, result)[(result.best_mode, "medicalrec")].data.metrics
    for key in ("NDCG_at_5", "NDCG_at_5_std", "Regret_at_1", "HitRate_at_1", "NDCG_at_5_fold0", "NDCG_at_5_fold1"):
        assert parent.data.metrics[key] == pytest.approx(picked[key])
    report = _artifacts(client, result.parent_run_id, "report")
    assert {"comparison.csv", "comparison.md", "summary.csv", "summary.md", "results.csv"} <= report
    assert {"task_hitrate_at_k.png", "task_ndcg_at_k.png", "task_regret.png"} <= report
    # the expected-AUC interval, measured on the same held-out folds: metrics equal to the report's file
    assert {"expected_performance.csv", "expected_performance.json", "expected_performance.png"} <= report
    import json

    measured = json.loads(Path(client.download_artifacts(result.parent_run_id, "report/expected_performance.json")).read_text())
    assert parent.data.metrics["expected_coverage"] == pytest.approx(measured["expected_coverage"])
    assert 0 < measured["expected_coverage"] <= 1
    assert parent.data.metrics["expected_mae"] == pytest.approx(measured["expected_mae"])
    assert "refit_history.json" in _artifacts(client, result.parent_run_id, "")
    local = client.download_artifacts(result.parent_run_id, "report/comparison.csv")
    table = pd.read_csv(local)
    assert len(table) == 6 and set(table["mode"]) == {"I", "III"}
    for mode, part in table.groupby("mode"):
        assert part["NDCG@5"].iloc[0] == part["NDCG@5"].max()  # best first within each mode


def test_experiment_and_parent_run_say_what_they_are_and_the_data_is_a_dataset(trained, client):
    from medicalrec.bench.defaults import DECATHLON, shipped_data_path

    result, _, _ = trained
    experiment = client.get_experiment(result.experiment_id)
    assert experiment.name == "medicalrec" and "one child run per feature mode x recommender" in experiment.tags["mlflow.note.content"]
    parent = client.get_run(result.parent_run_id)
    assert parent.info.run_name.startswith("train decathlon task task-2fold 20")
    note = parent.data.tags["mlflow.note.content"]
    assert "2 feature mode(s) (I, III) x 3 recommender(s), task protocol, 2 folds grouped by task" in note
    assert f"decathlon ({shipped_data_path(DECATHLON)}): 70 records, data_hash {result.data_hash[:12]}" in note
    assert "best_mean_relevance on NDCG@5" in note and f"registered medicalrec version {result.model_version}" in note
    # the UI's Datasets column: name, digest, source, schema of the corpus trained on
    [logged] = parent.inputs.dataset_inputs
    assert (logged.dataset.name, logged.dataset.digest) == ("decathlon", result.data_hash[:12])
    assert str(shipped_data_path(DECATHLON)) in logged.dataset.source
    assert {tag.key: tag.value for tag in logged.tags}["mlflow.data.context"] == "training"
    assert '"num_rows": 70' in logged.dataset.profile


def test_the_best_transformer_mode_is_selected_and_registered_with_tags(trained, head, client):
    result, _, _ = trained
    frame = result.evaluation.results
    rows = frame[(frame["recommender"] == "medicalrec") & (frame["metric"] == "NDCG@5")]
    means = rows.groupby("mode")["value"].mean()
    assert result.best_mode == means.idxmax() and result.best_value == pytest.approx(means.max())

    version = client.get_model_version("medicalrec", result.model_version)
    # A promotion (when a test that needs production ran first) adds its own promotion.* record.
    tags = {key: value for key, value in version.tags.items() if not key.startswith("promotion.")}
    # what the promotion gate reads, the mode and the code; the rest is in the description
    from medicalrec.mlops.registry import CV_SCHEME_TAGS

    assert set(tags) == {"mode", "git_commit", *CV_SCHEME_TAGS, *(f"metric.{k}" for k in
                         ("NDCG_at_1", "NDCG_at_3", "NDCG_at_5", "HitRate_at_1", "HitRate_at_3", "HitRate_at_5",
                          "Regret_at_1", "KendallTau"))}
    assert (tags["mode"], tags["protocol"], tags["data_hash"]) == (result.best_mode, "task", result.data_hash)
    assert (tags["cv_grouping"], tags["folds"], tags["repeats"]) == ("task", "2", "1")
    assert float(tags["metric.NDCG_at_5"]) == pytest.approx(means.max())
    assert tags["git_commit"].removesuffix("-dirty") == head
    assert f"feature mode {result.best_mode}" in version.description and "decathlon (70 records" in version.description
    assert f"NDCG@5 {means.max():.4f} ± " in version.description and "ONNX opset 18" in version.description
    assert "best_mean_relevance" in client.get_registered_model("medicalrec").description
    # the verdict against the leaderboard: on the run (tag) and on the version (description)
    comparison = result.reference
    assert comparison["beats"] in (True, False) and set(comparison["metrics"]) == {"NDCG@5", "Regret@1"}
    verdict = "beats" if comparison["beats"] else "does NOT beat"
    assert f"{verdict} best_mean_relevance on NDCG@5" in version.description
    run = client.get_run(result.parent_run_id)
    assert run.data.tags["medicalrec.beats_best_mean"] == str(comparison["beats"]).lower()
    assert ("medicalrec.warning" in run.data.tags) == (not comparison["beats"])


def test_registered_bundle_reproduces_the_refit_transformer(trained, client):
    from medicalrec.bench.defaults import DECATHLON, shipped_data_path
    from medicalrec.serving.bundle import INPUT_NAME, OUTPUT_NAME, resolve_bundle
    from medicalrec.mlops.export import onnx_session
    from medicalrec.mlops.export import check_tasks_for

    result, _, _ = trained
    bundle = resolve_bundle(f"models:/medicalrec/{result.model_version}")
    records = pd.read_csv(shipped_data_path(DECATHLON))
    queries = check_tasks_for(records)
    assert len(queries) == 10 + 2  # every task of the bundled data plus the two probes
    tokens = bundle.encoder.tokens(queries)
    onnx_scores = onnx_session(bundle.onnx_path).run([OUTPUT_NAME], {INPUT_NAME: tokens})[0]
    torch_scores = result.transformer.score(queries)
    np.testing.assert_allclose(onnx_scores, torch_scores, atol=1e-4)
    assert bundle.models == result.transformer.models_
    assert bundle.mode == result.best_mode


def test_production_alias_loads_through_pyfunc_and_ranks_like_the_transformer(trained, production, client):
    import mlflow

    from medicalrec.bench.defaults import DECATHLON, shipped_data_path
    from medicalrec.bench.tasks import task_queries
    from medicalrec.mlops.model import request_frame

    result, _, _ = trained
    assert production.promoted and production.outcome == "first"
    model = mlflow.pyfunc.load_model("models:/medicalrec@production")
    queries = task_queries(pd.read_csv(shipped_data_path(DECATHLON))).reset_index()
    request = request_frame(queries)  # every feature of every mode, ints and NaN as a user would send them
    assert {C.N_TRAIN, C.MODALITY, C.TASK_ID} <= set(request.columns)
    ranked = model.predict(request)
    expected = result.transformer.recommend(queries, k=None)
    assert list(ranked.columns) == ["task_id", "rank", "model", "score", "support", "expected_auc", "expected_low",
                                    "expected_high", "expected_tasks", "params_m", "gflops", "trained_params_m", "pareto",
                                    "nearest_tasks", "distance", "confidence"]
    for (task_id, group), want in zip(ranked.groupby("task_id", sort=False), expected):
        assert group["rank"].tolist() == list(range(1, len(want) + 1))
        assert group["model"].tolist() == [m for m, _ in want]
        np.testing.assert_allclose(group["score"].to_numpy(), [s for _, s in want], atol=1e-4)
    top2 = model.predict(request.head(3), params={"top_k": 2})
    assert top2["rank"].tolist() == [1, 2] * 3


def test_data_hash_ignores_row_order_and_format_but_not_values():
    from medicalrec.bench.defaults import DECATHLON, shipped_data_path
    from medicalrec.bench.loading import load_bench
    from medicalrec.mlops.training import data_hash

    records = load_bench(shipped_data_path(DECATHLON)).frame
    shuffled = records.sample(frac=1.0, random_state=3)[list(reversed(records.columns))]
    assert data_hash(shuffled) == data_hash(records)
    changed = records.copy()
    changed.loc[5, C.ACCURACY] = 0.5
    assert data_hash(changed) != data_hash(records)
    one = pd.DataFrame({C.MODEL: ["a"], C.N_SAMPLES: [10.0]})
    canonical = f"{C.N_SAMPLES}\x1f{C.MODEL}\n10\x1fa\n"
    assert data_hash(one) == hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize("change, message", [
    ({"modes": "I,V"}, "unknown mode 'V'"),
    ({"data": "/nonexistent/bench.csv"}, "does not exist"),
    ({"recommenders": "popularity,nope"}, "unknown recommender 'nope'"),
    ({"metric": "MRR"}, "not reported by the task protocol"),
    ({"folds": 1}, "folds must be"),
    ({"transformer_params": {"max_epoch": 3}}, r"medicalrec: unknown parameter\(s\) max_epoch"),
    ({"transformer_params": {"max_epochs": "ten"}}, "medicalrec: parameter max_epochs must be an integer, got 'ten'"),
    ({"group_by": "ref"}, r"need at least 2 groups \(ref\)"),  # the demo table is one source
    ({"group_by": "model"}, "unknown grouping 'model'"),
])
def test_bad_parameters_fail_before_any_run(tmp_path, monkeypatch, change, message):
    from medicalrec.mlops.training import TrainConfig, run_training

    monkeypatch.setenv("MLFLOW_TRACKING_URI", _store(tmp_path))
    config = TrainConfig(**{"data": "decathlon", "modes": "I", "recommenders": "popularity,medicalrec", **change})
    with pytest.raises(ConfigError, match=message):
        run_training(config)
    assert not (tmp_path / "mlflow.db").exists()  # not even the store was created, let alone a run


def test_train_script_registers_and_bad_parameters_exit_2(tmp_path):
    import json

    env = {**os.environ, "MLFLOW_TRACKING_URI": _store(tmp_path)}
    env.pop("MLFLOW_RUN_ID", None)
    script = str(ROOT / "entrypoints" / "train.py")
    bad = subprocess.run([sys.executable, script, "--modes", "II,VII"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == ["error: unknown mode 'VII'; choose from I, II, III, IV"]
    assert not (tmp_path / "mlflow.db").exists()

    # as ``mlflow run`` launches it: a run created beforehand, passed in MLFLOW_RUN_ID, is the parent
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=_store(tmp_path), registry_uri=_store(tmp_path))
    experiment_id = client.create_experiment("launched", artifact_location=(tmp_path / "mlartifacts").as_uri())
    launcher = client.create_run(experiment_id)
    client.log_param(launcher.info.run_id, "seed", "0")  # mlflow run logs the entry point's parameters first
    own = tmp_path / "candidates.txt"
    own.write_text("# our candidates\nConvNeXt-T (fine-tune)\n\nour lab net v3\nresnet-50  (FINE-TUNE)\n")
    good = subprocess.run(
        [sys.executable, script, "--modes", "II,III", "--recommenders", "medicalrec", "--folds", "2",
         "--model-name", "scripted", "--transformer-params", json.dumps(TINY), "--candidates", str(own)],
        capture_output=True, text=True, env={**env, "MLFLOW_RUN_ID": launcher.info.run_id,
                                             "MLFLOW_EXPERIMENT_ID": experiment_id},
        cwd=tmp_path, timeout=600,
    )
    assert good.returncode == 0, good.stderr[-2000:]
    assert "registered scripted version 1" in good.stdout
    children = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{launcher.info.run_id}'")
    assert sorted(r.data.params["mode"] for r in children) == ["II", "III"]
    parent = client.get_run(launcher.info.run_id)
    assert "mode" not in parent.data.params and parent.data.tags["registered_version"] == "1"
    assert parent.info.run_name.startswith("train public task dataset-2fold 20")  # renamed from MLflow's random name
    version = client.get_model_version("scripted", "1")
    assert version.tags["mode"] == parent.data.tags["selected_mode"]

    # the user's own candidates: how each name was read, then ranked by the registered ONNX model
    assert "candidate 'ConvNeXt-T (fine-tune)': read from its name: architecture ConvNeXt-T" in good.stderr
    assert "candidate 'our lab net v3': not readable from its name" in good.stderr
    assert ("warning: 'resnet-50  (FINE-TUNE)' differs from the catalogue's 'ResNet-50 (fine-tune)' only in case or "
            "spacing") in good.stderr
    assert json.loads(parent.data.params["transformer_params"])["candidates"] == "3 names in candidates.txt"
    listed = client.download_artifacts(launcher.info.run_id, "candidates.txt", str(tmp_path))
    assert Path(listed).read_text().splitlines() == ["ConvNeXt-T (fine-tune)", "our lab net v3", "resnet-50  (FINE-TUNE)"]
    from medicalrec.bench.tasks import task_queries
    from medicalrec.serving.bundle import resolve_bundle
    from medicalrec.serving.scorer import Scorer

    import mlflow

    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()  # other tests of the module set their store
    mlflow.set_tracking_uri(_store(tmp_path))
    mlflow.set_registry_uri(_store(tmp_path))
    try:
        bundle = resolve_bundle("models:/scripted/1")
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
    assert {"ConvNeXt-T (fine-tune)", "our lab net v3"} <= set(bundle.models)
    assert bundle.metadata["parity_max_abs_diff"] <= 1e-4  # the export checked every candidate against torch
    from medicalrec.bench.loading import load_bench
    from medicalrec.bench.defaults import resolve_data

    ranked = Scorer(bundle, device="cpu").rank(task_queries(load_bench(resolve_data(None)).frame).head(3), top_k=None)
    own_rows = ranked[ranked[C.MODEL].isin(["ConvNeXt-T (fine-tune)", "our lab net v3"])]
    assert len(own_rows) == 6 and np.isfinite(own_rows[C.SCORE]).all()


def test_nightly_score_entry_point_writes_recommendations_and_logs_the_run(trained, production, client, tmp_path):
    """The MLproject ``score`` entry point against models:/medicalrec@production: output file,
    exit code 0, and an MLflow run holding the model version, input hash and counts; a bad input
    exits 2 and leaves yesterday's output untouched."""
    import subprocess
    import sys

    from medicalrec.bench.defaults import DECATHLON, shipped_data_path
    from medicalrec.bench.tasks import task_queries
    _, directory, _ = trained
    tasks = tmp_path / "tasks.csv"
    task_queries(pd.read_csv(shipped_data_path(DECATHLON))).reset_index().to_csv(tasks, index=False)
    output = tmp_path / "recs.csv"
    env = {**os.environ, "MLFLOW_TRACKING_URI": _store(directory)}
    env.pop("MLFLOW_RUN_ID", None)
    script = Path(__file__).resolve().parents[1] / "entrypoints" / "score.py"
    done = subprocess.run([sys.executable, str(script), "--input", str(tasks), "--output", str(output), "--top-k", "3"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    recommendations = pd.read_csv(output)
    assert len(recommendations) == 10 * 3 and recommendations["rank"].tolist()[:3] == [1, 2, 3]
    logged = [line for line in done.stderr.splitlines() if "logged to MLflow run" in line]
    run_id = logged[-1].split()[-1]  # the summary (on stderr, as the CLI prints it) names the run
    run = client.get_run(run_id)
    assert run.data.metrics["rows_scored"] == 10
    assert run.data.params["model_version"] and len(run.data.params["input_hash"]) == 64

    before = output.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("task_id,n_samples\nt1,-5\n")
    failed = subprocess.run([sys.executable, str(script), "--input", str(bad), "--output", str(output)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert failed.returncode == 2
    assert "n_samples" in failed.stderr and "-5" in failed.stderr
    assert output.read_bytes() == before
