"""ONNX export: the exported graph reproduces torch and refuses to ship when it does not."""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.serving.bundle import read_bundle, resolve_bundle
from medicalrec.errors import ModelError
from medicalrec.mlops.export import check_parity, export_bundle, export_onnx, onnx_session

from conftest import REAL_BENCH as REAL  # noqa: E402


@pytest.fixture(scope="module")
def transformer():
    from medicalrec.recommenders.medicalrec_transformer import MedicalRecTransformer

    frame = pd.read_csv(REAL)
    frame = frame[frame[C.REF] == "Juodelyte2024 transferability"].reset_index(drop=True)
    return MedicalRecTransformer(seed=1, max_epochs=4, inner_folds=0).fit(frame, "IV"), frame


def test_onnx_matches_torch_for_any_batch_size(transformer, tmp_path):
    model, frame = transformer
    path = export_onnx(model, tmp_path / "m.onnx")
    graph = onnx.load(str(path))
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    session = onnx_session(path)
    for n in (1, 7, len(frame)):
        tokens = model.encoder.tokens(frame.head(n))
        onnx_scores = session.run(None, {"tokens": tokens})[0]
        np.testing.assert_allclose(onnx_scores, model.score_tokens(tokens), atol=1e-5)


def test_bundle_carries_everything_scoring_needs(transformer, tmp_path):
    model, frame = transformer
    bundle = export_bundle(model, tmp_path / "bundle", frame, frame.head(20), extra_metadata={"data_hash": "abc"})
    again = read_bundle(tmp_path / "bundle")
    assert again.models == model.models_
    assert again.mode == "IV"
    assert again.metadata["data_hash"] == "abc"
    assert again.metadata["parity_max_abs_diff"] <= 1e-4
    np.testing.assert_array_equal(again.encoder.tokens(frame), model.encoder.tokens(frame))
    assert resolve_bundle(tmp_path / "bundle").directory == bundle.directory


def test_parity_failure_is_loud(transformer, tmp_path):
    model, frame = transformer
    path = export_onnx(model, tmp_path / "m.onnx")
    import torch

    base = model.base_.copy()
    model.base_ = base + np.arange(len(model.models_)) / 100  # change torch after export: the two must now disagree
    try:
        with pytest.raises(ModelError, match="differs from torch"):
            check_parity(model, path, frame.head(5))
    finally:
        model.base_ = base


def test_a_folder_without_a_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="no medicalrec bundle"):
        resolve_bundle(tmp_path)
