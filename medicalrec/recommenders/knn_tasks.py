"""Nearest training tasks (auto-sklearn style meta-learning): recommend what won on similar tasks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medicalrec.errors import ConfigError
from medicalrec.features import MISSING_TOKEN, FeatureEncoder
from medicalrec.recommenders.base import Recommender, TrainingSet
from medicalrec.recommenders.best_mean_relevance import task_gains
from medicalrec.recommenders.params import parse_params

# Models that no neighbour evaluated are ordered by their mean gain over all training tasks, with a
# weight too small to reorder models that the neighbours did evaluate.
_GLOBAL_TIE_BREAK = 1e-6
_QUERY_CHUNK = 512


@dataclass
class KnnTasksConfig:
    # Neighbours per query (fewer when training has fewer tasks).
    k: int = 10
    # Squared distance of two different categories (unknown counts as different), in the units of
    # standardised numeric features: 2.0 is the squared distance of two different one-hot vectors.
    category_mismatch: float = 2.0
    # Added to the distance before inverting it into a weight: an identical training task weighs
    # 1 / epsilon and dominates, as it should.
    epsilon: float = 1e-3

    def __post_init__(self):
        if int(self.k) < 1:
            raise ConfigError(f"knn_tasks: k must be >= 1, got {self.k!r}")
        if not (self.category_mismatch >= 0 and self.epsilon > 0):
            raise ConfigError("knn_tasks: category_mismatch must be >= 0 and epsilon > 0")
        self.k = int(self.k)


def split_features(encoder: FeatureEncoder, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(numeric, categorical)``: standardised numbers with NaN for missing, and category tokens
    (0 missing, 1 unknown), each in the encoder's feature order."""
    dense = encoder.dense(frame, impute=False)
    tokens = encoder.tokens(frame)
    numeric_columns, categorical_columns, offset = [], [], 0
    for j, column in enumerate(encoder.features):
        if column in encoder.vocabularies:
            categorical_columns.append(j)
            offset += len(encoder.vocabularies[column])
        else:
            numeric_columns.append(offset)
            offset += 1
    return dense[:, numeric_columns], tokens[:, categorical_columns]


class KnnTasks(Recommender):
    name = "knn_tasks"
    description = (
        "the k training tasks nearest to the query on scaled features (missing-aware distance); "
        "each model scores the inverse-distance weighted mean of its within-task scaled relevance "
        "on those tasks (0 where a neighbour did not evaluate it)"
    )
    unseen_task_policy = (
        "distance uses only the features both tasks report (rescaled to all features), unknown "
        "categories count as different; a query sharing no feature with any training task "
        "weighs every training task equally (the mean scaled relevance over all tasks)"
    )

    def __init__(self, seed: int = 0, **params):
        super().__init__(seed, **params)
        self.config = parse_params(KnnTasksConfig, params, self.name)

    def _fit(self, data: TrainingSet) -> None:
        self.numeric_, self.categorical_ = split_features(self.encoder, data.task_frame)
        gains = task_gains(data)
        # A task that reports no relevance at all still says which models were tried on it.
        unrated = np.isnan(gains).all(axis=1)
        gains[unrated] = (data.task_targets[unrated] > 0).astype(float)
        self.gains_ = np.nan_to_num(gains, nan=0.0)

    def distances(self, tasks: pd.DataFrame) -> np.ndarray:
        """``[len(tasks), n_training_tasks]`` missing-aware Euclidean distances; inf where the two
        tasks share no reported feature."""
        numeric, categorical = split_features(self.encoder, tasks)
        n_features = numeric.shape[1] + categorical.shape[1]
        out = np.empty((len(tasks), len(self.gains_)))
        for start in range(0, len(tasks), _QUERY_CHUNK):
            q_num = numeric[start:start + _QUERY_CHUNK, None, :]
            q_cat = categorical[start:start + _QUERY_CHUNK, None, :]
            diff = q_num - self.numeric_[None, :, :]
            shared_num = ~np.isnan(diff)
            squared = np.where(shared_num, diff, 0.0) ** 2
            shared_cat = (q_cat != MISSING_TOKEN) & (self.categorical_[None, :, :] != MISSING_TOKEN)
            mismatch = shared_cat & (q_cat != self.categorical_[None, :, :])
            total = squared.sum(axis=2) + self.config.category_mismatch * mismatch.sum(axis=2)
            shared = shared_num.sum(axis=2) + shared_cat.sum(axis=2)
            with np.errstate(divide="ignore", invalid="ignore"):
                scaled = np.where(shared > 0, total * n_features / np.maximum(shared, 1), np.inf)
            out[start:start + _QUERY_CHUNK] = np.sqrt(scaled)
        return out

    def score(self, tasks: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        distances = self.distances(tasks)
        k = min(self.config.k, distances.shape[1])
        nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
        near_distances = np.take_along_axis(distances, nearest, axis=1)
        weights = np.where(np.isfinite(near_distances), 1.0 / (near_distances + self.config.epsilon), 0.0)
        scores = np.einsum("qk,qkm->qm", weights, self.gains_[nearest])
        total = weights.sum(axis=1)
        fallback = self.gains_.mean(axis=0)
        scores = np.where(total[:, None] > 0, scores / np.where(total > 0, total, 1.0)[:, None], fallback)
        return scores + _GLOBAL_TIE_BREAK * fallback

    def _state(self) -> dict[str, np.ndarray]:
        return {"numeric": self.numeric_, "categorical": self.categorical_, "gains": self.gains_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.numeric_ = arrays["numeric"]
        self.categorical_ = arrays["categorical"]
        self.gains_ = arrays["gains"]
