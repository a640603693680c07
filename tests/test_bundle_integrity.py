"""A bundle that was corrupted or hand-edited fails with one clear line instead of scoring."""

from __future__ import annotations

import json
import shutil

import pytest

from medicalrec.errors import ModelError
from medicalrec.serving.bundle import CHECKSUM_KEY, METADATA_FILE, ONNX_FILE, read_bundle
from medicalrec.serving.files import file_sha256


@pytest.fixture
def copy(scoring_bundle, tmp_path):
    _, bundle, _ = scoring_bundle
    return shutil.copytree(bundle.directory, tmp_path / "bundle")


def test_the_bundle_records_the_checksum_of_its_weights(copy):
    bundle = read_bundle(copy)
    assert bundle.metadata[CHECKSUM_KEY] == file_sha256(copy / ONNX_FILE)


def test_a_flipped_weight_byte_is_refused(copy):
    data = bytearray((copy / ONNX_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / ONNX_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256 .* does not match .* corrupted"):
        read_bundle(copy)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
])
def test_malformed_metadata_is_one_line(copy, text, message):
    (copy / METADATA_FILE).write_text(text)
    with pytest.raises(ModelError, match=message) as caught:
        read_bundle(copy)
    assert "\n" not in str(caught.value)


def test_metadata_without_the_encoder_names_the_key(copy):
    metadata = json.loads((copy / METADATA_FILE).read_text())
    del metadata["encoder"]
    (copy / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match="missing encoder"):
        read_bundle(copy)


@pytest.mark.parametrize("key, value", [
    ("evidence", {"version": 1, "tasks": []}),  # the distance's fields are gone
    ("expected", {"metric": "auc", "medians": "oops"}),
    ("costs", {"AlexNet (fine-tune)": "cheap"}),
])
def test_malformed_evidence_expectation_or_costs_are_one_line(copy, key, value):
    from medicalrec.serving.scorer import Scorer

    metadata = json.loads((copy / METADATA_FILE).read_text())
    metadata[key] = value
    (copy / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match=f"{METADATA_FILE}: malformed evidence, expectation or costs") as caught:
        Scorer(read_bundle(copy), device="cpu")
    assert "\n" not in str(caught.value)
