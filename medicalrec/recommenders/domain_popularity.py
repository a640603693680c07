"""Popularity within the task's clinical domain."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.features import normalise_category
from medicalrec.recommenders.base import Recommender, TrainingSet
from medicalrec.recommenders.params import NoParams, parse_params

# Weight of the global share added to the domain share: small enough never to reorder two models
# whose domain counts differ (a share difference is at least 1 / records of the domain), large
# enough to order the models the domain never reported by their global popularity instead of name.
_GLOBAL_TIE_BREAK = 1e-6


class DomainPopularity(Recommender):
    name = "domain_popularity"
    description = (
        "models ranked by their share of the training records of the task's domain, "
        "ties broken by global popularity"
    )
    unseen_task_policy = "a domain never seen in training, or no domain, falls back to global popularity"

    def __init__(self, seed: int = 0, **params):
        super().__init__(seed, **params)
        parse_params(NoParams, params, self.name)

    def _fit(self, data: TrainingSet) -> None:
        domains = data.records[C.DOMAIN].map(normalise_category) if C.DOMAIN in data.records else None
        known = sorted({d for d in domains if d is not None}) if domains is not None else []
        self.domains_ = known
        n_models = len(self.models_)
        self.global_share_ = np.bincount(data.record_model, minlength=n_models) / len(data.record_model)
        self.domain_share_ = np.zeros((len(known), n_models))
        for row, domain in enumerate(known):
            counts = np.bincount(data.record_model[(domains == domain).to_numpy()], minlength=n_models)
            self.domain_share_[row] = counts / counts.sum()

    def score(self, tasks: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        index = {d: i for i, d in enumerate(self.domains_)}
        scores = np.tile(self.global_share_, (len(tasks), 1))
        if C.DOMAIN not in tasks:
            return scores
        for row, value in enumerate(tasks[C.DOMAIN].map(normalise_category)):
            if value in index:
                scores[row] = self.domain_share_[index[value]] + _GLOBAL_TIE_BREAK * self.global_share_
        return scores

    def _metadata(self) -> dict:
        return {"domains": self.domains_}

    def _load_metadata(self, extra: dict) -> None:
        self.domains_ = list(extra["domains"])

    def _state(self) -> dict[str, np.ndarray]:
        return {"global_share": self.global_share_, "domain_share": self.domain_share_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.global_share_ = arrays["global_share"]
        self.domain_share_ = arrays["domain_share"]
