"""The leaderboard prior corrected by what the nearest training tasks say about each model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medicalrec.errors import ConfigError
from medicalrec.features import CATEGORY_MISMATCH, TaskDistance, TaskSpace
from medicalrec.recommenders.base import Recommender, TrainingSet
from medicalrec.recommenders.best_mean_relevance import leaderboard_scores, task_gains
from medicalrec.recommenders.params import parse_params


@dataclass
class PriorKnnResidualConfig:
    k: int = 10  # nearest training tasks per query (task distance of ``features.TaskDistance``)
    residual_weight: float = 0.5  # share of the neighbours' residual added to the prior
    shrinkage: float = 2.0  # a model's residual from n neighbours is shrunk by n / (n + shrinkage)
    prior_tasks: float = 2.0  # pseudo-tasks of the prior (as best_mean_relevance)

    def __post_init__(self):
        if int(self.k) < 1 or self.residual_weight < 0 or self.shrinkage < 0:
            raise ConfigError("prior_knn_residual: k must be >= 1, residual_weight and shrinkage >= 0")
        self.k = int(self.k)


class PriorKnnResidual(Recommender):
    name = "prior_knn_residual"
    description = (
        "best_mean_relevance's prior plus half the shrunk mean deviation of each model from its prior "
        "on the 10 nearest training tasks (reference)"
    )
    unseen_task_policy = (
        "neighbours by the missing-aware task distance; a query sharing no feature with any training "
        "task gets the prior alone"
    )

    def __init__(self, seed: int = 0, **params):
        super().__init__(seed, **params)
        self.config = parse_params(PriorKnnResidualConfig, params, self.name)

    def _fit(self, data: TrainingSet) -> None:
        self.prior_ = leaderboard_scores(data, self.config.prior_tasks)
        gains = task_gains(data)
        self.rated_ = ~np.isnan(gains)
        self.residuals_ = np.where(self.rated_, gains - self.prior_[None, :], 0.0)
        space = TaskSpace.from_encoder(self.encoder)
        self.numeric_, self.categorical_ = space.numbers(data.task_frame), space.codes(data.task_frame)

    def score(self, tasks: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        space = TaskSpace.from_encoder(self.encoder)
        distance = TaskDistance(self.numeric_, self.categorical_, CATEGORY_MISMATCH)
        distances = distance.distances(space.numbers(tasks), space.codes(tasks))
        k = min(self.config.k, distances.shape[1])
        nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
        usable = np.isfinite(np.take_along_axis(distances, nearest, axis=1))[:, :, None]
        count = (self.rated_[nearest] & usable).sum(axis=1)
        total = np.where(usable, self.residuals_[nearest], 0.0).sum(axis=1)
        mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
        shrunk = mean * count / (count + self.config.shrinkage)
        return self.prior_[None, :] + self.config.residual_weight * shrunk

    def _state(self) -> dict[str, np.ndarray]:
        return {"prior": self.prior_, "rated": self.rated_, "residuals": self.residuals_,
                "numeric": self.numeric_, "categorical": self.categorical_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.prior_, self.rated_, self.residuals_ = arrays["prior"], arrays["rated"].astype(bool), arrays["residuals"]
        self.numeric_, self.categorical_ = arrays["numeric"], arrays["categorical"]
