"""The scoring bundle: everything batch scoring needs, with no torch and no pickle.

A bundle is a directory with two files:

* ``model.onnx``: input ``tokens`` ``int64 [batch, n_features]`` (``FeatureEncoder.tokens``),
  output ``scores`` ``float32 [batch, n_models]`` (softmax over candidates, in ``models`` order);
* ``medicalrec.json``: ``schema_version``, ``mode``, ``encoder`` (``FeatureEncoder.to_json``),
  ``models`` (candidate names, sorted), ``evidence`` (``evidence.build_evidence``), ``metrics``,
  ``data_hash``, ``onnx_opset``, ``recommender``, ``expected`` (expected AUC and its interval,
  ``serving.expectation``), ``costs`` (parameters and GFLOPs per candidate, from the catalogue), and ``onnx_sha256``: the SHA-256 of
  ``model.onnx``, checked on every read, so corrupted weights fail loudly instead of scoring.

The exported MLflow model carries the bundle as its artifact ``bundle``; ``resolve_bundle`` accepts
a ``models:/`` or ``runs:/`` URI, a downloaded MLflow model directory, or a bundle directory.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from medicalrec import constants as C
from medicalrec.errors import ModelError, shown_value
from medicalrec.features import FeatureEncoder
from medicalrec.serving.files import file_sha256

ONNX_FILE = "model.onnx"
METADATA_FILE = "medicalrec.json"
ARTIFACT_KEY = "bundle"
INPUT_NAME = "tokens"
OUTPUT_NAME = "scores"
CHECKSUM_KEY = "onnx_sha256"
REQUIRED_KEYS = ("schema_version", "mode", "encoder", "models", CHECKSUM_KEY)


@dataclass
class Bundle:
    directory: Path
    metadata: dict

    @property
    def onnx_path(self) -> Path:
        return self.directory / ONNX_FILE

    @property
    def encoder(self) -> FeatureEncoder:
        return FeatureEncoder.from_json(self.metadata["encoder"])

    @property
    def models(self) -> list[str]:
        return list(self.metadata["models"])

    @property
    def mode(self) -> str:
        return self.metadata["mode"]

    @property
    def evidence(self) -> dict:
        return self.metadata.get("evidence", {})

    @property
    def expected(self) -> dict | None:
        """``serving.expectation.ExpectedPerformance.to_json`` (absent in bundles of medicalrec < 0.2)."""
        return self.metadata.get("expected")

    @property
    def costs(self) -> dict[str, list]:
        """``{model: [params_m, gflops, trained_params_m]}``, None where unknown."""
        return self.metadata.get("costs", {})


def write_bundle(directory: str | Path, onnx_file: str | Path, metadata: dict) -> Bundle:
    """Copy ``onnx_file`` and write the metadata JSON into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if Path(onnx_file).resolve() != (directory / ONNX_FILE).resolve():
        shutil.copyfile(onnx_file, directory / ONNX_FILE)
    metadata = {"schema_version": C.SCHEMA_VERSION, **metadata, CHECKSUM_KEY: file_sha256(directory / ONNX_FILE)}
    (directory / METADATA_FILE).write_text(json.dumps(metadata, sort_keys=True))
    return Bundle(directory, metadata)


def read_bundle(directory: str | Path) -> Bundle:
    directory = Path(directory)
    for name in (ONNX_FILE, METADATA_FILE):
        if not (directory / name).is_file():
            raise ModelError(f"{directory}: no {name}; not a medicalrec scoring bundle")
    try:
        metadata = json.loads((directory / METADATA_FILE).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelError(f"{directory / METADATA_FILE}: not valid JSON ({error}); re-export the model") from None
    if not isinstance(metadata, dict):
        raise ModelError(f"{directory / METADATA_FILE}: expected a JSON object; re-export the model")
    version = metadata.get("schema_version")
    if version != C.SCHEMA_VERSION:
        raise ModelError(
            f"{directory}: bundle schema version {version!r}, this medicalrec reads {C.SCHEMA_VERSION!r}; "
            "re-export the model with this version"
        )
    missing = [key for key in REQUIRED_KEYS if key not in metadata]
    if missing:
        raise ModelError(f"{directory / METADATA_FILE}: missing {', '.join(missing)}; re-export the model")
    try:
        FeatureEncoder.from_json(metadata["encoder"]).vocab_sizes  # every feature has its vocabulary or buckets
    except (TypeError, KeyError, ValueError, AttributeError) as error:
        raise ModelError(f"{directory / METADATA_FILE}: malformed 'encoder' ({type(error).__name__}: "
                         f"{shown_value(str(error), 160)}); re-export the model") from None
    models = metadata["models"]
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models) \
            or len(set(models)) != len(models):
        raise ModelError(f"{directory / METADATA_FILE}: 'models' must be a list of distinct model names, got "
                         f"{shown_value(models)}; re-export the model")
    actual = file_sha256(directory / ONNX_FILE)
    if actual != metadata[CHECKSUM_KEY]:
        raise ModelError(
            f"{directory / ONNX_FILE}: SHA-256 {actual[:12]}... does not match the bundle's "
            f"{str(metadata[CHECKSUM_KEY])[:12]}...; the weights are corrupted or were changed: re-export or re-download"
        )
    return Bundle(directory, metadata)


def check_session(bundle: Bundle, session) -> None:
    """``ModelError`` when the ONNX graph does not fit the metadata: its ``tokens`` input must take
    one column per encoder feature and its ``scores`` output give one column per model."""
    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    expected = {INPUT_NAME: (inputs, len(bundle.encoder.features), "encoder features"),
                OUTPUT_NAME: (outputs, len(bundle.models), "models")}
    for name, (found, width, what) in expected.items():
        if name not in found:
            raise ModelError(f"{bundle.onnx_path}: the graph has no {name!r} ({', '.join(found)}); re-export the model")
        shape = found[name]
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != width):
            raise ModelError(f"{bundle.onnx_path}: {name!r} has shape {shape}, but {METADATA_FILE} lists {width} "
                             f"{what}; the two files do not belong together: re-export the model")


def is_model_uri(model: str | Path) -> bool:
    """Whether ``model`` names an MLflow model or artifact (``models:/``, ``runs:/``, ``s3://``...)
    rather than a local bundle directory: only these need MLflow."""
    text = str(model)
    return "://" in text or text.startswith(("models:/", "runs:/"))


def resolve_bundle(model: str | Path) -> Bundle:
    """A bundle from a model URI (``models:/name@alias``, ``runs:/...``) or a local directory."""
    text = str(model)
    if is_model_uri(text):
        import mlflow

        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=text))
        except Exception as error:  # mlflow raises several types for a missing model or alias
            store = f" from {mlflow.get_tracking_uri()}" if text.startswith(("models:/", "runs:/")) else ""
            raise ModelError(f"cannot load model {text!r}{store}: {error}") from None
    else:
        local = Path(text)
        if not local.exists():
            raise ModelError(f"model {text!r} does not exist (give a models:/ URI or a bundle directory)")
    for candidate in (local, local / "artifacts" / ARTIFACT_KEY, local / ARTIFACT_KEY):
        if (candidate / METADATA_FILE).is_file():
            return read_bundle(candidate)
    raise ModelError(f"{text}: no medicalrec bundle inside (expected {METADATA_FILE} and {ONNX_FILE})")
