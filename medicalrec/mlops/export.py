"""Export a fitted MedicalRec transformer to a scoring bundle (single-file ONNX + JSON metadata).

The export is checked, not trusted: ONNX Runtime's output on held-out tasks is compared with torch's
and the export fails with ``ModelError`` if any score differs by more than ``tolerance``. A model
refit on all records has no held-out task left: ``check_tasks_for`` gives every training task's
query plus ``parity_probes`` (all fields missing; unseen categories and out-of-range numbers).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.errors import ModelError
from medicalrec.serving.bundle import INPUT_NAME, OUTPUT_NAME, Bundle, write_bundle

ONNX_OPSET = 18
PARITY_TOLERANCE = 1e-4


def export_onnx(transformer, path: str | Path, opset: int = ONNX_OPSET) -> Path:
    """Write ``transformer.scoring_module()`` as one ONNX file with a dynamic batch axis."""
    import torch

    path = Path(path)
    example = torch.zeros((2, len(transformer.encoder.features)), dtype=torch.int64)
    torch.onnx.export(
        transformer.scoring_module(), (example,), str(path),
        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        opset_version=opset, dynamo=False,
    )
    import onnx

    onnx.checker.check_model(str(path))
    return path


def onnx_session(path: str | Path, providers: list[str] | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=providers or ["CPUExecutionProvider"])


def check_parity(transformer, onnx_path: str | Path, tasks: pd.DataFrame, tolerance: float = PARITY_TOLERANCE) -> float:
    """Largest absolute score difference between torch and ONNX Runtime on ``tasks``; raises
    ``ModelError`` above ``tolerance``."""
    tokens = transformer.encoder.tokens(tasks)
    if len(tokens) == 0:
        raise ModelError("parity check needs at least one task")
    expected = transformer.score_tokens(tokens)
    actual = onnx_session(onnx_path).run([OUTPUT_NAME], {INPUT_NAME: tokens})[0]
    difference = float(np.max(np.abs(actual.astype(np.float64) - expected)))
    if not difference <= tolerance:
        raise ModelError(f"ONNX export differs from torch by {difference:.3g} (> {tolerance:g}); not exported")
    return difference


def export_bundle(transformer, directory: str | Path, records: pd.DataFrame, check_tasks: pd.DataFrame,
                  extra_metadata: dict | None = None, tolerance: float = PARITY_TOLERANCE,
                  expectation_folds: tuple[int, int, str | None] | None = None) -> Bundle:
    """ONNX + metadata (encoder, candidates, evidence, expected AUC and costs from ``records`` and
    the catalogue) into ``directory``.

    ``check_tasks`` are the tasks the parity check runs on (held-out tasks where there are any).
    ``expectation_folds``: ``(n_splits, seed, group_by)`` of the held-out residuals that calibrate the
    expected-AUC interval: training passes its own, so the coverage it logs describes the shipped interval.
    """
    from medicalrec.catalogue import Catalogue
    from medicalrec.evaluation.expectation import fit_expectation
    from medicalrec.serving.evidence import build_evidence

    expected = fit_expectation(records, *(expectation_folds or ()))
    with tempfile.TemporaryDirectory() as scratch:
        onnx_path = export_onnx(transformer, Path(scratch) / "model.onnx")
        difference = check_parity(transformer, onnx_path, check_tasks, tolerance)
        metadata = {
            "recommender": transformer.name,
            "mode": transformer.mode.name,
            "models": transformer.models_,
            "encoder": transformer.encoder.to_json(),
            "evidence": build_evidence(records, transformer.encoder),
            "expected": None if expected is None else expected.to_json(),
            "costs": Catalogue.load().costs(transformer.models_),
            "onnx_opset": ONNX_OPSET,
            "parity_max_abs_diff": difference,
            **(extra_metadata or {}),
        }
        return write_bundle(directory, onnx_path, metadata)


def parity_probes(records: pd.DataFrame) -> pd.DataFrame:
    """Rows the exported model must score exactly like torch beyond the training tasks: one with
    every field missing and one with unseen categories and out-of-range numbers."""
    unseen = {
        C.DOMAIN: "parity probe: unseen domain", C.MODALITY: "parity probe: unseen modality",
        C.TASK_TYPE: "ordinal", C.N_SAMPLES: 1e9, C.N_TRAIN: 1.0, C.N_TEST: 0.0, C.N_VAL: 0.0, C.K_FOLD: 3.0,
        C.WIDTH: 1.0, C.HEIGHT: 65536.0, C.CHANNELS: 7.0, C.N_CLASSES: 1000.0, C.AUGMENTATION: 1.0,
        C.ACCURACY: 0.0, C.PRECISION: 1.0, C.RECALL: 0.5, C.F1: 0.25, C.AUC: 1.0,
    }
    return pd.DataFrame([{}, unseen], columns=list(C.CANONICAL_COLUMNS))


def check_tasks_for(records: pd.DataFrame) -> pd.DataFrame:
    """Parity-check queries for a model trained on all of ``records``: every task's query (all are
    training tasks now) plus ``parity_probes``."""
    from medicalrec.bench.tasks import task_queries

    queries = task_queries(records).reset_index(drop=True)
    probes = parity_probes(records)
    return pd.concat([queries.astype(object), probes.astype(object)], ignore_index=True)
