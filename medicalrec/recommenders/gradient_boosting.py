"""Histogram gradient boosting from the record's mode features to its model; NaN handled natively."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medicalrec.recommenders.sklearn_utils import ClassifierConfig, ClassifierRecommender


@dataclass
class GradientBoostingConfig(ClassifierConfig):
    # A multi-class booster grows one tree per candidate model per iteration (hundreds of trees per
    # iteration on the public corpus), so iterations and leaves are few: leave-dataset-out on the
    # public corpus (mode III), 2 iterations of 8 leaves ranked as well as 4 and as 15 of 15 leaves.
    max_iter: int = 2  # boosting iterations (each grows one tree per candidate model)
    learning_rate: float = 0.3  # shrinkage; large, as there are only two iterations
    max_leaf_nodes: int = 8  # leaves per tree
    min_samples_leaf: int = 20  # records a leaf needs (a floor against fitting single papers)
    l2_regularization: float = 1.0  # on leaf values


class GradientBoosting(ClassifierRecommender):
    name = "gradient_boosting"
    description = "histogram gradient boosting classifier: record features (NaN kept) -> model"
    unseen_task_policy = (
        "missing numbers follow the branch learned for missing values; an unseen category has an "
        "all-zero one-hot block, like a task of another category"
    )
    config_class = GradientBoostingConfig
    impute = False
    trusted_types = frozenset({"sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"})

    def _make_estimator(self):
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=self.config.max_iter,
            learning_rate=self.config.learning_rate,
            max_leaf_nodes=self.config.max_leaf_nodes,
            min_samples_leaf=self.config.min_samples_leaf,
            l2_regularization=self.config.l2_regularization,
            early_stopping=False,
            random_state=self.seed,
        )

    def _fit_estimator(self, estimator, X: np.ndarray, y: np.ndarray, weights: np.ndarray) -> None:
        """scikit-learn's binning fails on a column that is missing in every training row (e.g.
        ``augmentation`` in the public corpus). Such a column carries no information, so it is
        filled with a constant for training: a constant column is never split on, hence whatever
        value it has at scoring time is ignored."""
        empty = np.isnan(X).all(axis=0)
        estimator.fit(np.where(empty, 0.0, X), y, sample_weight=weights)
