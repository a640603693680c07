"""The MLflow model of a scoring bundle: request schema, signature, input example, and logging the
bundle as a models-from-code pyfunc model (``serving/pyfunc.py``, no pickle)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from medicalrec import constants as C

MODEL_ARTIFACT = "model"  # name of the logged MLflow model inside the parent run

# Columns a scoring request may carry (all optional): the task description and the performance
# fields of mode IV, plus a caller's row id.
REQUEST_TEXT_COLUMNS = (C.TASK_ID, C.DOMAIN, C.MODALITY, C.TASK_TYPE)
REQUEST_NUMBER_COLUMNS = C.COUNT_COLUMNS + C.BOOLEAN_COLUMNS + (C.ACCURACY, C.PRECISION, C.RECALL, C.F1, C.AUC)


def input_example(records: pd.DataFrame, n: int = 2) -> pd.DataFrame:
    """The first ``n`` task queries as a scoring request (request columns only)."""
    from medicalrec.bench.tasks import task_queries

    queries = task_queries(records).head(n).reset_index()
    return request_frame(queries)


def request_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` reduced to the request columns of the signature, text as ``object`` (None for
    missing) and numbers as ``float64`` (NaN for missing)."""
    out = pd.DataFrame(index=range(len(frame)))
    for column in REQUEST_TEXT_COLUMNS:
        if column in frame:
            values = frame[column].astype(object).to_numpy()
            out[column] = pd.Series([None if pd.isna(v) else str(v) for v in values], dtype=object)
    for column in REQUEST_NUMBER_COLUMNS:
        if column in frame:
            out[column] = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return out


def model_signature():
    """Every request column optional (a user leaves fields empty), text as ``string`` and numbers as
    ``double`` (concrete types: ``mlflow models serve`` parses ``text/csv`` and JSON with them; a
    DataFrame given to ``predict`` or ``spark_udf`` needs float columns, MLflow refuses int64 -> double);
    the output is the long ranked table (``distance``, expected AUC, costs and ``pareto`` None where
    unknown); ``top_k`` (0 = every model), ``output`` (``long`` or ``per_task``, see
    ``serving/pyfunc.py``) and the limits ``max_params``, ``max_gflops``, ``within`` (None = no limit)
    are per-call parameters."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    from medicalrec.serving.tradeoff import LIMIT_NAMES

    inputs = Schema(
        [ColSpec("string", c, required=False) for c in REQUEST_TEXT_COLUMNS]
        + [ColSpec("double", c, required=False) for c in REQUEST_NUMBER_COLUMNS]
    )
    output_types = {C.TASK_ID: "string", C.RANK: "long", C.MODEL: "string", C.SCORE: "double", C.SUPPORT: "long",
                    C.NEAREST_TASKS: "string", C.DISTANCE: "double", C.CONFIDENCE: "string", C.PARETO: "boolean",
                    C.EXPECTED_TASKS: "long", **{c: "double" for c in C.CANDIDATE_COLUMNS if c not in (C.PARETO, C.EXPECTED_TASKS)}}
    optional = {C.DISTANCE, *C.CANDIDATE_COLUMNS}  # None where unknown
    outputs = Schema([ColSpec(output_types[c], c, required=c not in optional) for c in C.OUTPUT_COLUMNS])
    params = ParamSchema([ParamSpec("top_k", "long", 0), ParamSpec("output", "string", C.OUTPUT_LONG)]
                         + [ParamSpec(name, "double", None) for name in LIMIT_NAMES])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def log_bundle_model(bundle_dir: str | Path, example: pd.DataFrame):
    """Log the bundle as an MLflow pyfunc model in the active run. Models-from-code: the model is
    ``medicalrec/serving/pyfunc.py`` plus the bundle artifact, and a copy of this package travels as
    ``code_paths`` so the model loads where medicalrec is not installed; nothing is pickled.
    Returns MLflow's ``ModelInfo``."""
    import shutil

    import mlflow

    from medicalrec.serving.bundle import ARTIFACT_KEY

    package = Path(__file__).resolve().parents[1]  # the medicalrec package
    with tempfile.TemporaryDirectory(prefix="medicalrec-code-") as scratch:
        code = shutil.copytree(package, Path(scratch) / package.name,
                               ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        # MLflow stores an artifact directory under its own base name; ``bundle.resolve_bundle``
        # looks for ``artifacts/bundle``.
        if Path(bundle_dir).name != ARTIFACT_KEY:
            bundle_dir = shutil.copytree(bundle_dir, Path(scratch) / ARTIFACT_KEY)
        return mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=str(package / "serving" / "pyfunc.py"),
            artifacts={ARTIFACT_KEY: str(bundle_dir)},
            code_paths=[str(code)],
            signature=model_signature(),
            input_example=example,
            pip_requirements=scoring_requirements(),
        )


def scoring_requirements() -> list[str]:
    """What loading the pyfunc model needs (ONNX Runtime, not torch), pinned to this environment;
    medicalrec itself travels as code."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for package in ("mlflow", "numpy", "pandas", "pyarrow", "onnxruntime"):
        try:
            out.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return out
