"""The logged pyfunc model served as MLflow users serve it: the real ``mlflow models serve
--env-manager local`` on a loopback port (``text/csv`` and JSON requests, strict JSON answers, one-line
errors without a stack trace), and ``mlflow.pyfunc.spark_udf`` in local Spark mode (one row per task).

One model is logged per module (from the session's exported bundle, into a temporary sqlite store) and
one server serves every request of the module."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

from medicalrec import constants as C

pytestmark = [
    pytest.mark.slow,  # a server process and a Spark job
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),  # pyspark's own toPandas on pandas 3
]

SERVER_START_LIMIT = 240  # seconds to wait for /ping (MLflow imports twice: the CLI, then uvicorn)
ERROR_LINE = ("Error: request (row 1 = its first data row): 1 invalid value(s); first: row 2, column 'n_samples': "
              "got -5.0, expected a whole number >= 1")


@pytest.fixture(scope="module")
def logged(scoring_bundle, tmp_path_factory):
    """The bundle logged as the pyfunc model in a temporary store: its URI, the store, the loaded model
    and a request of real tasks (the last row has every feature empty)."""
    import mlflow

    from medicalrec.bench.tasks import task_queries
    from medicalrec.mlops.model import log_bundle_model, request_frame
    from medicalrec.mlops.tracking import get_or_create_experiment

    _, bundle, records = scoring_bundle
    store = tmp_path_factory.mktemp("serving")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    queries = task_queries(records)
    request = request_frame(queries[queries[C.N_SAMPLES].notna()].head(4).reset_index())
    request.loc[len(request), C.TASK_ID] = "nothing known"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.delenv("MLFLOW_RUN_ID", raising=False)
        mlflow.set_tracking_uri(uri)
        with mlflow.start_run(experiment_id=get_or_create_experiment("serving")):  # artifacts beside the store
            info = log_bundle_model(bundle.directory, request.head(2))
        yield {"uri": info.model_uri, "store": uri, "model": mlflow.pyfunc.load_model(info.model_uri),
               "request": request, "directory": store}


@pytest.fixture(scope="module")
def server(logged):
    """``mlflow models serve`` of the logged model on a free loopback port: its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = logged["directory"] / "server.log"
    env = {**os.environ, "MLFLOW_TRACKING_URI": logged["store"]}
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", logged["uri"], "--env-manager", "local",
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=output, stderr=subprocess.STDOUT, env=env, cwd=logged["directory"], start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_LIMIT
        while not _pings(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow models serve did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the CLI and the uvicorn process it started
        process.wait(timeout=60)


def _pings(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _post(url: str, body: str, content_type: str) -> tuple[int, str]:
    request = urllib.request.Request(f"{url}/invocations", data=body.encode(), headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _strict_json(text: str):
    """``json.loads`` that refuses the NaN / Infinity tokens Python's json writes by default."""
    def refuse(token):
        raise AssertionError(f"not strict JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def _as_user_writes(request: pd.DataFrame) -> pd.DataFrame:
    """Counts as whole numbers (``10015``, not ``10015.0``), missing cells empty."""
    counts = [c for c in C.COUNT_COLUMNS if c in request]
    return request.astype({c: "Int64" for c in counts})


def test_csv_request_is_served_as_the_ranked_long_table_in_strict_json(server, logged):
    request = logged["request"]
    status, body = _post(server, _as_user_writes(request).to_csv(index=False), "text/csv")
    assert status == 200, body
    served = pd.DataFrame(_strict_json(body)["predictions"])
    expected = logged["model"].predict(request)
    n_models = len(logged["model"].unwrap_python_model().bundle.models)
    assert len(served) == len(request) * n_models  # every candidate: CSV carries no params
    assert list(served.columns) == list(C.OUTPUT_COLUMNS)
    assert served[C.TASK_ID].unique().tolist() == request[C.TASK_ID].tolist()
    assert served[C.RANK].tolist() == list(range(1, n_models + 1)) * len(request)
    assert served[C.MODEL].tolist() == expected[C.MODEL].tolist()
    np.testing.assert_allclose(served[C.SCORE], expected[C.SCORE])
    nothing_known = served[served[C.TASK_ID] == "nothing known"]
    assert nothing_known[C.DISTANCE].isna().all() and set(nothing_known[C.CONFIDENCE]) == {"low"}
    assert served[C.DISTANCE].notna().sum() == (len(request) - 1) * n_models
    assert "Infinity" not in body and "NaN" not in body


def test_json_request_with_params_gives_one_row_per_task(server, logged):
    request = logged["request"]
    payload = {"dataframe_split": json.loads(_as_user_writes(request).to_json(orient="split", index=False)),
               "params": {"top_k": 3, "output": "per_task"}}
    status, body = _post(server, json.dumps(payload), "application/json")
    assert status == 200, body
    served = _strict_json(body)["predictions"]
    long = logged["model"].predict(request, params={"top_k": 3})
    assert [row[C.TASK_ID] for row in served] == request[C.TASK_ID].tolist()
    for row, (task_id, ranked) in zip(served, long.groupby(C.TASK_ID, sort=False)):
        assert list(row) == list(C.PER_TASK_COLUMNS)
        assert row[C.RANKED_MODELS] == ranked[C.MODEL].tolist()
        assert row[C.RANKED_SCORES] == ranked[C.SCORE].tolist()
        assert row[C.SUPPORT] == ranked[C.SUPPORT].tolist()
        assert row[C.NEAREST_TASKS] == ranked[C.NEAREST_TASKS].iloc[0]
    assert served[-1][C.DISTANCE] is None


@pytest.mark.parametrize("body, content_type, last_line", [
    ("task_id,n_samples\na,10\nb,-5\n", "text/csv", ERROR_LINE),
    (json.dumps({"dataframe_records": [{"task_id": "a", "n_samples": 10}, {"task_id": "b", "n_samples": -5}]}),
     "application/json", ERROR_LINE),
    (json.dumps({"dataframe_records": [{"task_id": "a"}], "params": {"top_k": -3}}), "application/json",
     "Error: param top_k: got -3, expected a whole number >= 1, or 0 for every candidate"),
    (json.dumps({"dataframe_records": [{"task_id": "a"}], "params": {"output": "wide"}}), "application/json",
     "Error: param output: got 'wide', expected one of long, per_task"),
])
def test_bad_requests_are_400_with_one_line_and_no_stack_trace(server, body, content_type, last_line):
    status, text = _post(server, body, content_type)
    assert status == 400
    answer = _strict_json(text)
    assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
    # MLflow's server puts "Failed to predict data '<the request>'." before the model's one line.
    assert answer["message"].splitlines()[-1] == last_line
    assert "stack_trace" not in answer and "Traceback" not in text


def test_limit_params_pick_the_cheap_candidates_nearly_as_good_as_the_best(logged):
    model, request = logged["model"], logged["request"]
    everything = model.predict(request, params={"top_k": 0})
    cheap = model.predict(request, params={"top_k": 0, "max_params": 30.0, "within": 5.0})
    assert 0 < len(cheap) < len(everything)
    assert all(p <= 30 for p in cheap[C.PARAMS_M])
    for _, part in cheap.groupby(C.TASK_ID, sort=False):  # within 5 points of the task's first choice
        assert all(e >= part[C.EXPECTED].iloc[0] - 0.05 - 1e-9 for e in part[C.EXPECTED])
    per_task = model.predict(request, params={"top_k": 0, "max_params": 30.0, "within": 5.0, "output": "per_task"})
    assert len(per_task) == len(request)  # one row per request row, however many models each keeps
    assert [len(m) for m in per_task[C.RANKED_MODELS]] == cheap.groupby(C.TASK_ID, sort=False).size().tolist()
    first = cheap[cheap[C.TASK_ID] == per_task[C.TASK_ID].iloc[0]]
    assert list(per_task[C.EXPECTED].iloc[0]) == first[C.EXPECTED].tolist()  # the candidate columns travel as arrays
    assert list(per_task[C.GFLOPS].iloc[0]) == first[C.GFLOPS].tolist()
    # Unknown values are None (strict JSON), never NaN.
    assert not any(isinstance(v, float) and v != v for v in everything[C.PARAMS_M])
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match="param within: got -1.0, expected a finite number >= 0"):
        model.predict(request, params={"within": -1.0})


def test_rows_without_task_id_are_named_by_their_request_row_like_errors(logged):
    request = logged["request"].drop(columns=[C.TASK_ID])
    ranked = logged["model"].predict(request, params={"top_k": 1, "output": "per_task"})
    assert ranked[C.TASK_ID].tolist() == list(range(1, len(request) + 1))


def test_spark_udf_gives_one_row_per_task(spark, logged):
    import mlflow
    from pyspark.sql import functions as F

    from medicalrec.serving.pyfunc import PER_TASK_SPARK_TYPE

    request = logged["request"].dropna(axis=1, how="all")  # Spark types no all-empty column
    cells = request.astype(object).where(request.notna(), None)
    frame = spark.createDataFrame(cells).coalesce(1)  # one Python worker loads the model
    assert dict(frame.dtypes)[C.N_SAMPLES] == "double"  # the signature's type (MLflow refuses bigint -> double)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", logged["store"])
        recommend = mlflow.pyfunc.spark_udf(spark, logged["uri"], result_type=PER_TASK_SPARK_TYPE,
                                            params={"top_k": 3, "output": "per_task"}, env_manager="local")
    rows = frame.select(recommend(F.struct(*frame.columns)).alias("r")).select("r.*").collect()
    expected = logged["model"].predict(logged["request"], params={"top_k": 3, "output": "per_task"})
    assert sorted(row[C.TASK_ID] for row in rows) == sorted(request[C.TASK_ID])  # one row per task
    by_task = {row[C.TASK_ID]: row for row in rows}
    for _, want in expected.iterrows():
        row = by_task[want[C.TASK_ID]]
        assert row[C.RANKED_MODELS] == want[C.RANKED_MODELS].tolist()
        assert row[C.RANKED_SCORES] == want[C.RANKED_SCORES].tolist()
        assert row[C.SUPPORT] == want[C.SUPPORT].tolist()
        assert row[C.DISTANCE] == want[C.DISTANCE] and row[C.CONFIDENCE] == want[C.CONFIDENCE]
    assert by_task["nothing known"][C.DISTANCE] is None
