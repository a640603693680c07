"""Shared test fixtures: where the real data is, MLflow's global state, one exported scoring bundle."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

# The real evaluation data sits in shared/ beside the repository (never copied into it).
REAL_BENCH = Path(__file__).resolve().parents[2] / "shared" / "data" / "medicalrec_public_bench.csv"
SPARK_BATCH_ROWS = 50  # spark.sql.execution.arrow.maxRecordsPerBatch: many small batches per task
QUIET_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.console.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %p %c{1}: %m%n
"""


@pytest.fixture(scope="module", autouse=True)
def _restore_mlflow_globals():
    """MLflow keeps the tracking and registry URIs in module globals and writes them into
    ``os.environ``; put both back after each module so the next sees the store it configures."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    yield
    import sys

    if "mlflow" in sys.modules:
        import mlflow

        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def scoring_bundle(tmp_path_factory):
    """A transformer fitted on 300 real records (mode III) and its exported ONNX bundle:
    ``(transformer, bundle, records)``."""
    from medicalrec.serving.bundle import resolve_bundle
    from medicalrec.mlops.export import export_bundle
    from medicalrec.recommenders.medicalrec_transformer import MedicalRecTransformer

    records = pd.read_csv(REAL_BENCH).sample(300, random_state=0).reset_index(drop=True)
    transformer = MedicalRecTransformer(seed=0, max_epochs=5, inner_folds=0).fit(records, "III")
    directory = tmp_path_factory.mktemp("bundle")
    export_bundle(transformer, directory, records, records.head(40))
    return transformer, resolve_bundle(directory), records


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One ``local[2]`` session for every Spark test (a JVM start costs seconds): reused Python
    workers, 50-row Arrow batches; the JVM logs errors only."""
    pytest.importorskip("pyspark", reason="the Spark engine is optional: pip install 'medicalrec[spark]'")
    from pyspark.sql import SparkSession

    scratch = tmp_path_factory.mktemp("spark")
    log4j = scratch / "log4j2.properties"
    log4j.write_text(QUIET_LOG4J)
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        # Workers run this interpreter (with its medicalrec and onnxruntime), not whatever python3 is on PATH.
        patch.setenv("PYSPARK_PYTHON", sys.executable)
        patch.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
        patch.setenv("SPARK_LOCAL_IP", "127.0.0.1")  # no "hostname resolves to a loopback address" warning
        session = (SparkSession.builder.master("local[2]").appName("medicalrec-test")
                   .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={log4j.as_uri()}")
                   .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))  # not ./spark-warehouse
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.shuffle.partitions", "2")
                   .config("spark.python.worker.reuse", "true")
                   .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(SPARK_BATCH_ROWS))
                   .getOrCreate())
        yield session
        session.stop()


def pytest_addoption(parser):
    parser.addoption("--reverse", action="store_true",
                     help="Run the tests in reverse collection order (with -p no:randomly), to check that no "
                          "test depends on an earlier one.")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--reverse"):
        items.reverse()
