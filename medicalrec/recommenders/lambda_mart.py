"""LightGBM LambdaMART over (task, model) pairs: the learning-to-rank reference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from medicalrec.errors import ConfigError, ModelError
from medicalrec.recommenders.base import Recommender, TrainingSet
from medicalrec.recommenders.best_mean_relevance import BestMeanRelevanceConfig, leaderboard_scores, task_gains
from medicalrec.recommenders.params import parse_params

BOOSTER_FILE = "booster.txt"  # LightGBM's own text format: no pickle


@dataclass
class LambdaMartConfig:
    n_estimators: int = 100  # boosting rounds
    learning_rate: float = 0.05  # shrinkage per round
    num_leaves: int = 15  # leaves per tree: few, for a few thousand (task, model) rows
    min_child_samples: int = 20  # rows a leaf needs (a floor against fitting single tasks)
    label_levels: int = 5  # within-task gain in [0, 1] binned into this many relevance grades

    def __post_init__(self):
        if self.n_estimators < 1 or self.label_levels < 2:
            raise ConfigError("lambda_mart: n_estimators must be >= 1 and label_levels >= 2")


class LambdaMart(Recommender):
    name = "lambda_mart"
    description = (
        "LightGBM lambdarank on (task features, model id, leaderboard prior) per evaluated pair, "
        "grouped by task (reference)"
    )
    unseen_task_policy = "task features stay missing (LightGBM's missing branch); the prior and model id carry the rest"

    def __init__(self, seed: int = 0, **params):
        super().__init__(seed, **params)
        self.config = parse_params(LambdaMartConfig, params, self.name)
        self.booster_ = None

    def _pairs(self, task_features: np.ndarray, models: np.ndarray) -> np.ndarray:
        """Rows of [task features, model id, prior] for (task i, model j) pairs."""
        return np.column_stack([task_features, models.astype(float), self.prior_[models]])

    def _fit(self, data: TrainingSet) -> None:
        import lightgbm

        self.prior_ = leaderboard_scores(data, BestMeanRelevanceConfig().prior_tasks)
        gains = task_gains(data)
        features = self.encoder.dense(data.task_frame, impute=False)
        tasks, models = np.nonzero(~np.isnan(gains))
        labels = np.rint(gains[tasks, models] * (self.config.label_levels - 1)).astype(int)
        groups = np.bincount(tasks, minlength=len(gains))
        ranker = lightgbm.LGBMRanker(
            objective="lambdarank", n_estimators=self.config.n_estimators, learning_rate=self.config.learning_rate,
            num_leaves=self.config.num_leaves, min_child_samples=self.config.min_child_samples,
            random_state=self.seed, n_jobs=1, verbose=-1, deterministic=True, force_row_wise=True,
        )
        ranker.fit(self._pairs(features[tasks], models), labels, group=groups[groups > 0],
                   categorical_feature=[features.shape[1]])
        self.booster_ = ranker.booster_

    def score(self, tasks: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        n_models = len(self.models_)
        features = self.encoder.dense(tasks, impute=False)
        rows = np.repeat(np.arange(len(tasks)), n_models)
        models = np.tile(np.arange(n_models), len(tasks))
        predicted = self.booster_.predict(self._pairs(features[rows], models), num_threads=1)
        return predicted.reshape(len(tasks), n_models)

    def _save_weights(self, directory: Path) -> None:
        self.booster_.save_model(str(directory / BOOSTER_FILE))
        np.savez(directory / "prior.npz", prior=self.prior_)

    def _load_weights(self, directory: Path) -> None:
        import lightgbm

        path = directory / BOOSTER_FILE
        if not path.exists():
            raise ModelError(f"{directory}: no {BOOSTER_FILE} for recommender {self.name!r}")
        self.booster_ = lightgbm.Booster(model_file=str(path))
        with np.load(directory / "prior.npz", allow_pickle=False) as arrays:
            self.prior_ = arrays["prior"]
