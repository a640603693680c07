"""Nearest training tasks (auto-sklearn style meta-learning): recommend what won on similar tasks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medicalrec.errors import ConfigError
from medicalrec.features import (
    CATEGORY_MISMATCH,
    CODE_MISSING,
    FIRST_VALUE_TOKEN,
    MISSING_TOKEN,
    TaskDistance,
    TaskSpace,
)
from medicalrec.recommenders.base import Recommender, TrainingSet
from medicalrec.recommenders.best_mean_relevance import task_gains
from medicalrec.recommenders.params import parse_params

# Models that no neighbour evaluated are ordered by their mean gain over all training tasks, with a
# weight too small to reorder models that the neighbours did evaluate.
_GLOBAL_TIE_BREAK = 1e-6


@dataclass
class KnnTasksConfig:
    # Neighbours per query (fewer when training has fewer tasks).
    k: int = 10
    # Squared distance of two different categories (unknown counts as different), in the units of
    # standardised numeric features: 2.0 is the squared distance of two different one-hot vectors.
    category_mismatch: float = CATEGORY_MISMATCH
    # Added to the distance before inverting it into a weight: an identical training task weighs
    # 1 / epsilon and dominates, as it should.
    epsilon: float = 1e-3

    def __post_init__(self):
        if int(self.k) < 1:
            raise ConfigError(f"knn_tasks: k must be >= 1, got {self.k!r}")
        if not (self.category_mismatch >= 0 and self.epsilon > 0):
            raise ConfigError("knn_tasks: category_mismatch must be >= 0 and epsilon > 0")
        self.k = int(self.k)


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
        space = TaskSpace.from_encoder(self.encoder)
        self.numeric_, self.categorical_ = space.numbers(data.task_frame), space.codes(data.task_frame)
        gains = task_gains(data)
        # A task that reports no relevance at all still says which models were tried on it.
        unrated = np.isnan(gains).all(axis=1)
        gains[unrated] = (data.task_targets[unrated] > 0).astype(float)
        self.gains_ = np.nan_to_num(gains, nan=0.0)

    def distances(self, tasks: pd.DataFrame) -> np.ndarray:
        """``[len(tasks), n_training_tasks]`` missing-aware distances (``features.TaskDistance``, the
        one the served evidence uses too, over every feature of the mode); inf where the two tasks
        share no reported feature."""
        space = TaskSpace.from_encoder(self.encoder)
        distance = TaskDistance(self.numeric_, self.categorical_, self.config.category_mismatch)
        return distance.distances(space.numbers(tasks), space.codes(tasks))

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
        return {"numeric": self.numeric_, "codes": self.categorical_, "gains": self.gains_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.numeric_ = arrays["numeric"]
        if "codes" in arrays:
            self.categorical_ = arrays["codes"]
        else:  # saved before the shared distance: category tokens (0 missing, 1 unseen, 2.. known)
            tokens = np.asarray(arrays["categorical"], dtype=np.int64)
            self.categorical_ = np.where(tokens == MISSING_TOKEN, CODE_MISSING, tokens - FIRST_VALUE_TOKEN)
        self.gains_ = arrays["gains"]
