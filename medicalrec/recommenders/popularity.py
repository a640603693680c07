"""Global popularity: how many training records each model has."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medicalrec.recommenders.base import Recommender, TrainingSet
from medicalrec.recommenders.params import NoParams, parse_params


class Popularity(Recommender):
    name = "popularity"
    description = "models ranked by the number of training records that report them"
    unseen_task_policy = "the same global ranking for every task"

    def __init__(self, seed: int = 0, **params):
        super().__init__(seed, **params)
        parse_params(NoParams, params, self.name)

    def _fit(self, data: TrainingSet) -> None:
        self.counts_ = np.bincount(data.record_model, minlength=len(self.models_)).astype(float)

    def score(self, tasks: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        return np.tile(self.counts_, (len(tasks), 1))

    def _state(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.counts_ = arrays["counts"]
