"""Random ranking: the floor every other recommender must beat."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medicalrec.recommenders.base import Recommender, TrainingSet
from medicalrec.recommenders.params import NoParams, parse_params


class RandomRanker(Recommender):
    name = "random"
    description = "a uniformly random ranking of all models, drawn from the seed"
    unseen_task_policy = "the same as for any task: a random ranking"

    def __init__(self, seed: int = 0, **params):
        super().__init__(seed, **params)
        parse_params(NoParams, params, self.name)

    def _fit(self, data: TrainingSet) -> None:
        """Nothing to learn: the candidate set ``models_`` is all it needs."""

    def score(self, tasks: pd.DataFrame) -> np.ndarray:
        """A fresh generator from the seed on every call, so the same tasks in the same order always
        get the same scores, while different rows of one call get different rankings."""
        self._check_fitted()
        return np.random.default_rng(self.seed).random((len(tasks), len(self.models_)))
