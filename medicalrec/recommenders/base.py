"""The one contract every recommender follows (RecBole style).

* ``fit(records, mode)`` learns from bench records (canonical columns, see ``bench.loading``);
* ``score(tasks)`` returns ``float [n_tasks, n_models]`` over the full candidate set ``models_``,
  which is sorted by name so that a stable sort on ``-score`` breaks ties by model name ascending;
* ``recommend(tasks, k)`` is the ranked top-k;
* ``save(dir)`` / ``load(dir)`` write weights (``weights.npz`` or a subclass's own non-pickle file)
  and ``metadata.json``: never pickle.

``TrainingSet`` is what all recommenders learn from, so that each sees the same targets: the model
of each record, and for every task a listwise target that puts more mass on better models.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.bench.modes import Mode, get_mode
from medicalrec.bench.tasks import add_relevance, scale_within_task, task_queries
from medicalrec.errors import ConfigError, ModelError
from medicalrec.features import FeatureEncoder

METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "weights.npz"

# Listwise target: softmax of the task-scaled relevance divided by this temperature; 0.25 gives the
# best model of a task about e^4 = 55 times the mass of the worst one.
DEFAULT_LISTWISE_TEMPERATURE = 0.25


@dataclass
class TrainingSet:
    """Records of one fit, encoded once.

    ``record_model[i]`` is the candidate index of record ``i``; ``task_of_record[i]`` its task row in
    ``task_targets``, a ``[n_tasks, n_models]`` distribution over the models evaluated on the task
    (better models get more mass; tasks without any relevance fall back to uniform over their models).
    ``task_frame`` holds one query row per task (see ``bench.tasks.task_queries``).
    """

    records: pd.DataFrame
    models: list[str]
    record_model: np.ndarray
    task_ids: list[str]
    task_of_record: np.ndarray
    task_targets: np.ndarray
    task_frame: pd.DataFrame
    _encoders: dict[str, FeatureEncoder] = field(default_factory=dict, repr=False)

    def encoder(self, mode: Mode) -> FeatureEncoder:
        """The feature encoder of ``mode`` fitted on these records, built once and shared by every
        recommender that trains on this set (a sweep fits 13 recommenders on one fold)."""
        if mode.name not in self._encoders:
            self._encoders[mode.name] = FeatureEncoder.fit(self.records, mode)
        return self._encoders[mode.name]

    @classmethod
    def build(cls, records: pd.DataFrame, temperature: float = DEFAULT_LISTWISE_TEMPERATURE) -> TrainingSet:
        if C.MODEL not in records:
            raise ConfigError("training records need a 'model' column")
        frame = add_relevance(records).reset_index(drop=True)
        frame = frame[frame[C.MODEL].notna()].reset_index(drop=True)
        if frame.empty:
            raise ConfigError("no training records with a model name")
        models = sorted(frame[C.MODEL].astype(str).unique())
        model_index = {m: i for i, m in enumerate(models)}
        record_model = frame[C.MODEL].astype(str).map(model_index).to_numpy()
        task_ids = list(dict.fromkeys(frame[C.TASK_ID]))
        task_index = {t: i for i, t in enumerate(task_ids)}
        task_of_record = frame[C.TASK_ID].map(task_index).to_numpy()
        targets = np.zeros((len(task_ids), len(models)))
        relevance = frame[C.RELEVANCE].to_numpy(dtype=float)
        for t in range(len(task_ids)):
            rows = np.flatnonzero(task_of_record == t)
            targets[t] = _listwise_target(record_model[rows], relevance[rows], len(models), temperature)
        queries = task_queries(frame).reindex(task_ids)
        return cls(frame, models, record_model, task_ids, task_of_record, targets, queries)


def _listwise_target(models: np.ndarray, relevance: np.ndarray, n_models: int, temperature: float) -> np.ndarray:
    target = np.zeros(n_models)
    known = ~np.isnan(relevance)
    if not known.any():
        np.add.at(target, models, 1.0)
        return target / target.sum()
    best = np.full(n_models, -np.inf)
    np.maximum.at(best, models[known], relevance[known])
    evaluated = np.isfinite(best)
    values = best[evaluated]
    scaled = scale_within_task(values)
    weights = np.exp((scaled - 1.0) / temperature)
    target[evaluated] = weights / weights.sum()
    return target


class Recommender(ABC):
    """Base class. Subclasses set ``name`` and implement ``_fit`` and ``score``; those with numpy
    weights implement ``_state``/``_load_state``; others override ``_save_weights``/``_load_weights``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    unseen_task_policy: ClassVar[str] = ""

    def __init__(self, seed: int = 0, **params: Any):
        self.seed = int(seed)
        self.params = dict(params)
        self.mode: Mode | None = None
        self.models_: list[str] = []
        self.encoder: FeatureEncoder | None = None

    @classmethod
    def protocol_params(cls, protocol: str) -> dict[str, Any]:
        """Parameters that train this recommender for an evaluation protocol (``constants.PROTOCOLS``);
        explicit parameters win over these. Most recommenders train one way for both."""
        return {}

    # --- training -------------------------------------------------------------------------------
    def fit(self, records: pd.DataFrame | TrainingSet, mode: str | Mode) -> Recommender:
        """Learn from bench records, or from a ``TrainingSet`` already built from them (a sweep
        builds one per fold and shares it, with its encoders, across recommenders and modes)."""
        self.mode = get_mode(mode)
        data = records if isinstance(records, TrainingSet) else TrainingSet.build(records)
        self.models_ = data.models
        self.encoder = data.encoder(self.mode)
        self._fit(data)
        return self

    @abstractmethod
    def _fit(self, data: TrainingSet) -> None: ...

    # --- inference ------------------------------------------------------------------------------
    @abstractmethod
    def score(self, tasks: pd.DataFrame) -> np.ndarray:
        """``float [len(tasks), len(models_)]``; higher is better."""

    def recommend(self, tasks: pd.DataFrame, k: int | None = 10) -> list[list[tuple[str, float]]]:
        """Top-``k`` ``(model, score)`` per task (all models when ``k`` is None), ties by name."""
        scores = self.score(tasks)
        order = ranking(scores)
        if k is not None:
            order = order[:, :k]
        return [[(self.models_[j], float(scores[i, j])) for j in row] for i, row in enumerate(order)]

    def _check_fitted(self) -> None:
        if self.encoder is None:
            raise ModelError(f"{self.name}: call fit() or load() before score()")

    # --- persistence ----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        metadata = {
            "recommender": self.name,
            "schema_version": C.SCHEMA_VERSION,
            "seed": self.seed,
            "params": self.params,
            "mode": self.mode.name,
            "models": self.models_,
            "encoder": self.encoder.to_json(),
            "extra": self._metadata(),
        }
        (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=1, sort_keys=True))
        self._save_weights(directory)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Recommender:
        directory = Path(directory)
        path = directory / METADATA_FILE
        if not path.exists():
            raise ModelError(f"{directory}: no {METADATA_FILE}; not a saved recommender")
        metadata = json.loads(path.read_text())
        from medicalrec.recommenders import get_recommender_class

        klass = get_recommender_class(metadata["recommender"]) if cls is Recommender else cls
        model = klass(seed=metadata["seed"], **klass.saved_params(metadata["params"], metadata["extra"]))
        model.mode = get_mode(metadata["mode"])
        model.models_ = list(metadata["models"])
        model.encoder = FeatureEncoder.from_json(metadata["encoder"])
        model._load_metadata(metadata["extra"])
        model._load_weights(directory)
        return model

    @classmethod
    def saved_params(cls, params: dict, extra: dict) -> dict:
        """Constructor parameters of a saved model; a subclass maps those of older saves here."""
        return params

    def _metadata(self) -> dict:
        """JSON-able state beyond weights (e.g. shapes, vocabularies)."""
        return {}

    def _load_metadata(self, extra: dict) -> None:
        pass

    def _state(self) -> dict[str, np.ndarray]:
        return {}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        pass

    def _save_weights(self, directory: Path) -> None:
        np.savez(directory / WEIGHTS_FILE, **self._state())

    def _load_weights(self, directory: Path) -> None:
        with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as arrays:
            self._load_state({k: arrays[k] for k in arrays.files})


def ranking(scores: np.ndarray) -> np.ndarray:
    """Column indices by descending score; ties keep index order (= model name ascending)."""
    return np.argsort(-np.asarray(scores, dtype=float), axis=1, kind="stable")
