"""Random forest from the record's mode features to its model."""

from __future__ import annotations

from dataclasses import dataclass

from medicalrec.recommenders.sklearn_utils import ClassifierConfig, ClassifierRecommender


@dataclass
class RandomForestConfig(ClassifierConfig):
    n_estimators: int = 150  # trees averaged
    # Depth and leaf limits keep the forest (and its saved file) small: the real corpus has ~100
    # distinct tasks, so deeper trees only memorise records.
    max_depth: int | None = 12
    min_samples_leaf: int = 5
    n_jobs: int = 1  # processes while fitting: the sweep already runs folds in parallel


class RandomForest(ClassifierRecommender):
    name = "random_forest"
    description = "random forest classifier: record features (imputed + missing indicators) -> model"
    unseen_task_policy = (
        "an unseen category has an all-zero one-hot block and missing numbers are the training mean "
        "with a missing indicator; the forest averages the leaves such a task falls into"
    )
    config_class = RandomForestConfig
    impute = True
    trusted_types = frozenset({"sklearn.tree._tree.Tree"})

    def _make_estimator(self):
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=self.config.n_estimators,
            max_depth=self.config.max_depth,
            min_samples_leaf=self.config.min_samples_leaf,
            n_jobs=self.config.n_jobs,
            random_state=self.seed,
        )
