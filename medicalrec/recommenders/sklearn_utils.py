"""Shared base of the scikit-learn classifier baselines: as in the MedicalRec paper, classify a
record's model from the record's mode features and rank models by predicted probability; by default
each record is weighted by how well its model did on its task (``ClassifierConfig.weighting``).

Estimators are saved with ``skops`` (no pickle). Loading accepts only the types a class declares in
``trusted_types``; anything else in the file is refused with a ``ModelError`` that names it.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from zipfile import ZIP_DEFLATED

import numpy as np
import pandas as pd

from medicalrec.bench.modes import PERFORMANCE_FEATURES
from medicalrec.errors import ConfigError, ModelError
from medicalrec.recommenders.base import Recommender, TrainingSet
from medicalrec.recommenders.params import parse_params

ESTIMATOR_FILE = "estimator.skops"
WEIGHTINGS = ("record", "listwise")

# BLAS / OpenMP threads while fitting and predicting. The problems are small (thousands of rows, a
# hundred columns), so a second thread saves little on an idle machine, while on a busy one OpenMP's
# spin-waiting made a gradient-boosting fit 10-20 times slower in our measurements.
COMPUTE_THREADS = 1


@dataclass
class ClassifierConfig:
    # Train on every record twice, once as reported and once with the performance features
    # (accuracy, precision, recall, f1, auc) missing: a user asking "which model?" usually has none
    # of them, and without such rows "missing AUC" would only ever mean "the sources that omit AUC".
    mask_performance: bool = True
    # "record": every record weighs 1 (the MedicalRec paper's baselines: predict the model a record
    # reports). "listwise": a record weighs its model's share of the task's listwise target (times
    # the task's record count), so the classifier learns which models did well, not just which ones
    # were tried.
    weighting: str = "listwise"

    def __post_init__(self):
        if self.weighting not in WEIGHTINGS:
            raise ConfigError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {self.weighting!r}")


def record_weights(data: TrainingSet, weighting: str) -> np.ndarray:
    """Per-record sample weights, mean 1 within every task (see ``ClassifierConfig.weighting``)."""
    if weighting == "record":
        return np.ones(len(data.record_model))
    pairs = data.task_of_record * len(data.models) + data.record_model
    _, inverse, pair_counts = np.unique(pairs, return_inverse=True, return_counts=True)
    task_counts = np.bincount(data.task_of_record)
    share = data.task_targets[data.task_of_record, data.record_model]
    return share / pair_counts[inverse] * task_counts[data.task_of_record]


def training_matrix(recommender: Recommender, data: TrainingSet, impute: bool, mask_performance: bool,
                    weighting: str = "listwise") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X, y, sample_weight)`` for a record classifier: dense mode features, the record's model index."""
    X = recommender.encoder.dense(data.records, impute=impute)
    y = data.record_model
    w = record_weights(data, weighting)
    masked_columns = [c for c in PERFORMANCE_FEATURES if c in recommender.mode.features and c in data.records]
    if mask_performance and masked_columns and data.records[masked_columns].notna().any().any():
        masked = data.records.copy()
        masked[masked_columns] = np.nan
        X = np.vstack([X, recommender.encoder.dense(masked, impute=impute)])
        y = np.concatenate([y, y])
        w = np.concatenate([w, w])
    return X, y, w


class ClassifierRecommender(Recommender):
    """Subclasses set ``config_class``, ``impute``, ``trusted_types`` and build the estimator."""

    config_class: ClassVar[type] = ClassifierConfig
    # Whether the estimator needs imputed features (zeros + missing indicators) or takes NaN.
    impute: ClassVar[bool] = True
    # Fully qualified type names, beyond skops' defaults, that a saved estimator may contain.
    trusted_types: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, seed: int = 0, **params: Any):
        super().__init__(seed, **params)
        self.config = parse_params(self.config_class, params, self.name)
        self.estimator_ = None
        self.constant_model_: int | None = None

    @abstractmethod
    def _make_estimator(self):
        """A fresh, unfitted, seeded scikit-learn classifier."""

    def _fit(self, data: TrainingSet) -> None:
        X, y, weights = training_matrix(self, data, self.impute, self.config.mask_performance, self.config.weighting)
        classes = np.unique(y)
        if len(classes) < 2:
            # A classifier needs two classes; with one model there is nothing to choose anyway.
            self.estimator_, self.constant_model_ = None, int(classes[0])
            return
        from threadpoolctl import threadpool_limits

        # Built before limiting: the limit only reaches thread pools of libraries already loaded.
        self.estimator_ = self._make_estimator()
        with threadpool_limits(limits=COMPUTE_THREADS):
            self._fit_estimator(self.estimator_, X, y, weights)
        self.constant_model_ = None

    def _fit_estimator(self, estimator, X: np.ndarray, y: np.ndarray, weights: np.ndarray) -> None:
        """A fixed iteration budget is the point (fast, reproducible), so not converging within it
        is expected and not worth a warning on every fit."""
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y, sample_weight=weights)

    def score(self, tasks: pd.DataFrame) -> np.ndarray:
        """Predicted probability of each model; a model the classifier never saw as a class gets 0."""
        self._check_fitted()
        scores = np.zeros((len(tasks), len(self.models_)))
        if self.estimator_ is None:
            scores[:, self.constant_model_] = 1.0
            return scores
        if len(tasks):
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=COMPUTE_THREADS):
                proba = self.estimator_.predict_proba(self.encoder.dense(tasks, impute=self.impute))
            scores[:, self.estimator_.classes_.astype(int)] = proba
        return scores

    def _metadata(self) -> dict:
        return {"constant_model": self.constant_model_}

    def _load_metadata(self, extra: dict) -> None:
        self.constant_model_ = extra.get("constant_model")

    def _save_weights(self, directory: Path) -> None:
        if self.estimator_ is not None:
            from skops.io import dump

            # Deflate: tree nodes store one value per model, mostly zeros (79 MB -> 5 MB for the forest).
            dump(self.estimator_, directory / ESTIMATOR_FILE, compression=ZIP_DEFLATED)

    def _load_weights(self, directory: Path) -> None:
        if self.constant_model_ is not None:
            self.estimator_ = None
            return
        from skops.io import get_untrusted_types, load

        path = directory / ESTIMATOR_FILE
        if not path.exists():
            raise ModelError(f"{directory}: no {ESTIMATOR_FILE} for recommender {self.name!r}")
        untrusted = get_untrusted_types(file=path)
        unexpected = sorted(set(untrusted) - self.trusted_types)
        if unexpected:
            raise ModelError(f"{path}: refusing to load unexpected type(s) {', '.join(unexpected)}")
        self.estimator_ = load(path, trusted=untrusted)
