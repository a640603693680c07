"""The MLflow pyfunc model of a MedicalRec scoring bundle, logged as code (MLflow "models from code").

``mlops.model.log_bundle_model`` logs this file as ``python_model`` together with the artifact
``bundle`` (``model.onnx`` + ``medicalrec.json``). MLflow copies the file into the model and runs it
at load time; ``set_model`` below names the model object. Nothing is pickled: the weights are the
ONNX graph, everything else is JSON.

``predict(context, model_input, params)``: ``model_input`` is a DataFrame of task descriptions (any
feature columns, any of them empty; an optional ``task_id``). It is normalised and validated like a
bench file (``loading.normalize``: percentages become fractions, a bad value raises
``ValidationError`` naming row, column and value), and the result is the ranked long table of
``scorer.Scorer.rank`` (rounded like the batch output): ``task_id, rank, model, score, support, nearest_tasks, distance,
confidence``, every candidate model per task unless ``params={"top_k": k}`` with ``k > 0``.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

BUNDLE_ARTIFACT = "bundle"


class MedicalRecPyfunc(PythonModel):
    """Scores with ONNX Runtime on CPU (no torch); the session is built once per load."""

    def load_context(self, context) -> None:
        from medicalrec.serving.bundle import read_bundle
        from medicalrec.serving.scorer import Scorer

        self.bundle = read_bundle(context.artifacts[BUNDLE_ARTIFACT])
        self.scorer = Scorer(self.bundle, device="cpu")

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        from medicalrec.bench.loading import normalize
        from medicalrec.errors import ValidationError

        top_k = int((params or {}).get("top_k") or 0)
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        result = normalize(frame.reset_index(drop=True), "model input", required=())
        if result.problems:
            raise ValidationError("model input", result.problems, truncated=result.truncated)
        return self.scorer.rank(result.frame, top_k=top_k if top_k > 0 else None)


mlflow.models.set_model(MedicalRecPyfunc())
