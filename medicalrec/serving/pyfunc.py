"""The MLflow pyfunc model of a MedicalRec scoring bundle, logged as code (MLflow "models from code").

``mlops.model.log_bundle_model`` logs this file as ``python_model`` together with the artifact
``bundle`` (``model.onnx`` + ``medicalrec.json``). MLflow copies the file into the model and runs it
at load time; ``set_model`` below names the model object. Nothing is pickled: the weights are the
ONNX graph, everything else is JSON.

``predict(context, model_input, params)``: ``model_input`` is a DataFrame of task descriptions (any
feature columns, any of them empty; an optional ``task_id``, else a task is named by its request row,
1 for the first). It is normalised and validated like a bench file (``loading.normalize``:
percentages become fractions); a bad value raises ``MlflowException`` (``INVALID_PARAMETER_VALUE``,
no stack trace) whose one line names the request row (1 = the request's first data row), column and
value. Params:

* ``top_k``: models per task, 0 (the default) for every candidate.
* ``max_params``, ``max_gflops``, ``within``: rank only the candidates within them, as the CLI's
  ``--max-params``, ``--max-gflops`` and ``--within`` (None, the default: no limit).
* ``output``: ``long`` (default): the ranked long table of ``scorer.Scorer.rank``, one row per task and
  model (``constants.OUTPUT_COLUMNS``); ``per_task``: one row per request row
  (``constants.PER_TASK_COLUMNS``, models, scores, support and the expected-AUC and cost columns as
  arrays in rank order), which is what
  ``mlflow.pyfunc.spark_udf`` needs (with ``result_type=PER_TASK_SPARK_TYPE``).

``distance`` (no comparable training task), the expected AUC and the costs are None where unknown,
so that the scoring server's JSON holds no ``NaN``/``Infinity`` token.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel

from medicalrec import constants as C
from medicalrec.errors import ConfigError, MedicalRecError, ValidationError, shown_value

BUNDLE_ARTIFACT = "bundle"
OUTPUTS = (C.OUTPUT_LONG, C.OUTPUT_PER_TASK)
# ``result_type`` of ``mlflow.pyfunc.spark_udf(..., params={"output": "per_task"})``.
PER_TASK_SPARK_TYPE = (f"{C.TASK_ID} string, {C.RANKED_MODELS} array<string>, {C.RANKED_SCORES} array<double>, "
                       f"{C.SUPPORT} array<bigint>, "
                       + "".join(f"{c} array<{'boolean' if c == C.PARETO else 'bigint' if c == C.EXPECTED_TASKS else 'double'}>, "
                                 for c in C.CANDIDATE_COLUMNS)
                       + f"{C.NEAREST_TASKS} string, {C.DISTANCE} double, "
                       f"{C.CONFIDENCE} string")
REQUEST = "request (row 1 = its first data row)"  # how errors name the request and count its rows


class MedicalRecPyfunc(PythonModel):
    """Scores with ONNX Runtime on CPU (no torch); the session is built once per load."""

    def load_context(self, context) -> None:
        from medicalrec.serving.bundle import read_bundle
        from medicalrec.serving.scorer import Scorer

        self.bundle = read_bundle(context.artifacts[BUNDLE_ARTIFACT])
        self.scorer = Scorer(self.bundle, device="cpu")

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        params = params or {}
        try:
            top_k, output, limits = _top_k(params.get("top_k")), _output(params.get("output")), _limits(params)
            frame = _request(model_input)
            ranked = self.scorer.rank(frame, top_k=top_k, limits=limits)
        except MedicalRecError as error:
            raise MlflowException(str(error), error_code=INVALID_PARAMETER_VALUE) from None
        for column in (C.DISTANCE, *C.CANDIDATE_COLUMNS):
            if ranked[column].dtype.kind == "f":  # expected_tasks too, when the bundle has no expectation
                ranked[column] = finite_or_none(ranked[column])
        return per_task(ranked, len(frame)) if output == C.OUTPUT_PER_TASK else ranked


def _request(model_input) -> pd.DataFrame:
    """The request normalised like a bench file; rows are named 1, 2, ... as its errors count them."""
    from medicalrec.bench.loading import normalize

    frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
    # row_offset -1: a Problem's row is the request's data row counted from 1 (no header row).
    result = normalize(frame.reset_index(drop=True), REQUEST, required=(), row_offset=-1)
    if result.problems:
        raise ValidationError(REQUEST, result.problems, truncated=result.truncated)
    out = result.frame
    out.index = pd.RangeIndex(1, len(out) + 1)
    return out


def _top_k(value) -> int | None:
    if value is None or value == 0:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(f"param top_k: got {shown_value(value)}, expected a whole number >= 1, "
                          "or 0 for every candidate")
    return int(value)


def _limits(params: dict):
    """``tradeoff.Limits`` from the params (None or absent: no limit), with the CLI's rules and the
    params' own names in the message."""
    from medicalrec.serving.tradeoff import LIMIT_NAMES, Limits, valid_limit

    values = {}
    for name in LIMIT_NAMES:
        value = params.get(name)
        if value is not None and not valid_limit(value):
            raise ConfigError(f"param {name}: got {shown_value(value)}, expected a finite number >= 0")
        values[name] = None if value is None else float(value)
    return Limits(**values)


def _output(value) -> str:
    if value is None:
        return C.OUTPUT_LONG
    if value not in OUTPUTS:
        raise ConfigError(f"param output: got {shown_value(value)}, expected one of {', '.join(OUTPUTS)}")
    return value


def finite_or_none(values: pd.Series) -> pd.Series:
    """Floats as an object column with None for NaN and infinities (JSON has no token for them)."""
    numbers = values.to_numpy(dtype=float)
    out = numbers.astype(object)
    out[~np.isfinite(numbers)] = None
    return pd.Series(out, index=values.index, dtype=object)


def per_task(ranked: pd.DataFrame, n_tasks: int) -> pd.DataFrame:
    """The long table ``ranked`` (one block of rows per task, rank 1..k; k may differ between tasks
    under limits) as one row per task."""
    if n_tasks == 0:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in C.PER_TASK_COLUMNS})
    starts = np.flatnonzero(ranked[C.RANK].to_numpy() == 1)
    first = ranked.iloc[starts].reset_index(drop=True)

    def arrays(column: str) -> list[np.ndarray]:
        return np.split(ranked[column].to_numpy(), starts[1:])

    return pd.DataFrame({
        C.TASK_ID: first[C.TASK_ID],
        C.RANKED_MODELS: arrays(C.MODEL),
        C.RANKED_SCORES: arrays(C.SCORE),
        C.SUPPORT: arrays(C.SUPPORT),
        **{column: arrays(column) for column in C.CANDIDATE_COLUMNS},
        C.NEAREST_TASKS: first[C.NEAREST_TASKS],
        C.DISTANCE: first[C.DISTANCE],
        C.CONFIDENCE: first[C.CONFIDENCE],
    })


mlflow.models.set_model(MedicalRecPyfunc())
