"""A small multi-layer perceptron from the record's mode features to its model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medicalrec.recommenders.sklearn_utils import ClassifierConfig, ClassifierRecommender


@dataclass
class MLPConfig(ClassifierConfig):
    hidden_layer_sizes: tuple[int, ...] = (64,)
    # L2 penalty; a little more than scikit-learn's 1e-4 because ~100 tasks are easy to memorise.
    alpha: float = 1e-3
    # Epochs. Leave-dataset-out on the public corpus (mode III), 12 ranked as well as 25, 60 and 200.
    max_iter: int = 12

    def __post_init__(self):
        super().__post_init__()
        self.hidden_layer_sizes = tuple(int(h) for h in self.hidden_layer_sizes)


class MLP(ClassifierRecommender):
    name = "mlp"
    description = "multi-layer perceptron classifier (Adam): record features (imputed + missing indicators) -> model"
    unseen_task_policy = (
        "an unseen category has an all-zero one-hot block and missing numbers are the training mean "
        "with a missing indicator, so the prediction leans on the features the task does report"
    )
    config_class = MLPConfig
    impute = True
    trusted_types = frozenset({"sklearn.neural_network._stochastic_optimizers.AdamOptimizer"})

    def _make_estimator(self):
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(
            hidden_layer_sizes=self.config.hidden_layer_sizes,
            alpha=self.config.alpha,
            max_iter=self.config.max_iter,
            random_state=self.seed,
        )
