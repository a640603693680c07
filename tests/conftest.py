"""Shared test fixtures: where the real data is, MLflow's global state, one exported scoring bundle."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

# The real evaluation data sits in shared/ beside the repository (never copied into it).
REAL_BENCH = Path(__file__).resolve().parents[2] / "shared" / "data" / "medicalrec_public_bench.csv"


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


def pytest_addoption(parser):
    parser.addoption("--reverse", action="store_true",
                     help="Run the tests in reverse collection order (with -p no:randomly), to check that no "
                          "test depends on an earlier one.")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--reverse"):
        items.reverse()
