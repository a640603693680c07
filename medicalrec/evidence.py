"""Why a recommendation can be trusted: the training tasks a scored task resembles.

``build_evidence`` runs at export time and stores, per training task (``ref`` + ``task``), a compact
description vector and the models evaluated on it; the result travels inside ``medicalrec.json``.
``EvidenceIndex.explain`` runs at scoring time and, for every (task, recommended model), says which
training tasks are nearest, how far the nearest is, how many nearby training records back the model,
and whether the task is so far from anything seen in training that the ranking is a guess.

Distance (missing-aware, like scikit-learn's ``nan_euclidean_distances``): each task is described by
the task-description features of the encoder's mode (performance fields of mode IV are excluded:
they describe one model's result, not the task). Numbers are standardised with the encoder's training
means and standard deviations (log scale for counts and sizes, as ``FeatureEncoder`` does); a
categorical mismatch counts ``CATEGORY_MISMATCH`` (a one-hot vector differing in two places; an
unseen category mismatches everything). Only features present on both sides count, and the sum is
scaled by ``n_features / n_shared``, so an empty field means "unknown", never "far"; a task sharing
no feature with a training task is at infinite distance from it.

Confidence is calibrated at build time on the training tasks themselves: the distance from each
training task to its nearest *other* training task (leave-one-out); above its 95th percentile a
scored task is "low" (further from the training data than almost any training task is from the
rest), at or below its median "high" (on the public bench the median is 0: most tasks have a twin
description, e.g. the same dataset in two papers), in between "ok". An unseen category is "low".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.bench.modes import PERFORMANCE_FEATURES
from medicalrec.features import FeatureEncoder, _numeric
from medicalrec.features import category_codes as encoder_category_codes

EVIDENCE_VERSION = 1
N_NEAREST_NAMED = 3  # training tasks named in ``nearest_tasks``
N_SUPPORT_TASKS = 5  # nearest training tasks whose records count towards ``support``
CATEGORY_MISMATCH = 2.0  # squared distance of two different categories (one-hot: two coordinates differ)
LOW_QUANTILE = 0.95  # leave-one-out nearest-neighbour distance quantile above which confidence is "low"
HIGH_QUANTILE = 0.5  # ... and at or below which it is "high"
_DIGITS = 6  # rounding of floats stored in the JSON
_ZERO = 1e-9  # squared distances below this (distance < 3e-5) are exact matches: stored vectors are rounded

SUPPORT = "support"
NEAREST_TASKS = "nearest_tasks"
DISTANCE = "distance"
CONFIDENCE = "confidence"
EVIDENCE_COLUMNS = (SUPPORT, NEAREST_TASKS, DISTANCE, CONFIDENCE)


def _space_features(encoder: FeatureEncoder) -> list[str]:
    return [f for f in encoder.features if f not in PERFORMANCE_FEATURES]


@dataclass
class _Space:
    """How a frame becomes (values, present) arrays: numeric z-scores and category codes."""

    numeric: list[str]
    means: list[float]
    stds: list[float]
    categorical: list[str]
    vocabularies: list[list[str]]

    @classmethod
    def from_encoder(cls, encoder: FeatureEncoder) -> _Space:
        features = _space_features(encoder)
        numeric = [f for f in features if f not in encoder.vocabularies]
        categorical = [f for f in features if f in encoder.vocabularies]
        return cls(numeric, [encoder.means[f] for f in numeric], [encoder.stds[f] for f in numeric],
                   categorical, [list(encoder.vocabularies[f]) for f in categorical])

    @property
    def n_features(self) -> int:
        return len(self.numeric) + len(self.categorical)

    def numbers(self, frame: pd.DataFrame) -> np.ndarray:
        """``[n, n_numeric]`` z-scores, NaN where missing."""
        out = np.full((len(frame), len(self.numeric)), np.nan)
        for j, column in enumerate(self.numeric):
            out[:, j] = (_numeric(frame, column) - self.means[j]) / self.stds[j]
        return out

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        """``[n, n_categorical]`` vocabulary index, ``-1`` unseen category, ``-2`` missing."""
        out = np.full((len(frame), len(self.categorical)), -2, dtype=np.int64)
        for j, column in enumerate(self.categorical):
            if column in frame:
                out[:, j] = category_codes(frame[column], self.vocabularies[j])
        return out


def category_codes(values: pd.Series, vocabulary: list[str]) -> np.ndarray:
    """Vocabulary index per value (``-1`` unseen, ``-2`` missing), as the feature encoder reads it."""
    codes, missing = encoder_category_codes(values, vocabulary)
    return np.where(missing, -2, codes)


def _pattern_tables(t_numbers: np.ndarray, t_codes: np.ndarray, present: np.ndarray, codes: np.ndarray,
                    n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query pattern (numeric presence + category codes) and training task: the summed squared
    categorical distance and the scale ``n_features / n_shared`` (NaN when nothing is shared)."""
    t_present = ~np.isnan(t_numbers)
    shared = present.astype(float) @ t_present.T.astype(float)
    categorical = np.zeros_like(shared)
    for j in range(codes.shape[1]):
        both = (codes[:, j, None] != -2) & (t_codes[None, :, j] != -2)
        shared += both
        categorical += CATEGORY_MISMATCH * (both & (codes[:, j, None] != t_codes[None, :, j]))
    with np.errstate(divide="ignore"):
        scale = np.where(shared > 0, n_features / shared, np.nan)
    return categorical, scale


def _patterns(present: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index of each distinct (presence, codes) pattern and each row's pattern: a batch of a
    million tasks has few patterns, so per-pattern work is cheap."""
    stacked = np.hstack([present.astype(np.int64), codes])
    if not len(stacked):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    low = stacked.min(axis=0)
    radix = stacked.max(axis=0) - low + 1
    if float(np.prod(radix.astype(float))) < 2.0 ** 62:
        key = np.zeros(len(stacked), dtype=np.int64)
        for j in range(stacked.shape[1]):
            key = key * radix[j] + (stacked[:, j] - low[j])
        inverse, _ = pd.factorize(key)
        first = np.unique(inverse, return_index=True)[1]
        return first, inverse
    _, first, inverse = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def _task_names(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """``ref`` and task name of each row of ``task_queries`` (the name is ``task_id`` minus ref)."""
    if C.REF in frame:
        refs = frame[C.REF].astype(object).where(frame[C.REF].notna(), "").astype(str).tolist()
    else:
        refs = [""] * len(frame)
    names = [task_id[len(ref) + 4:] if task_id.startswith(ref + " :: ") else task_id
             for ref, task_id in zip(refs, frame[C.TASK_ID].astype(str))]
    return refs, names


def _rounded(values: np.ndarray) -> list:
    return [None if not np.isfinite(v) else float(round(float(v), _DIGITS)) for v in values]


def build_evidence(records: pd.DataFrame, encoder: FeatureEncoder) -> dict:
    """JSON-able evidence from the training records (see the module docstring for the distance).

    ``tasks``: per training task ``ref``, ``task``, ``numbers`` (z-scores, null when missing),
    ``codes`` (vocabulary index, null when missing), ``models`` (indices into ``models``),
    ``relevance`` (the task protocol's relevance, best per model, null when unreported) and
    ``records`` (records per model on that task). ``model_records``: records per model overall.
    ``thresholds``: the calibrated ``low`` and ``high`` distances (leave-one-out quantiles).
    """
    from medicalrec.bench.tasks import add_relevance, task_queries

    space = _Space.from_encoder(encoder)
    frame = add_relevance(records)
    frame = frame[frame[C.MODEL].notna()].reset_index(drop=True)
    models = sorted(frame[C.MODEL].astype(str).unique())
    model_index = {m: i for i, m in enumerate(models)}
    frame[C.MODEL] = frame[C.MODEL].astype(str)
    per_model = (frame.groupby([C.TASK_ID, C.MODEL], sort=False)[C.RELEVANCE]
                 .agg(["max", "size"]).reset_index())
    queries = task_queries(frame).reset_index()
    refs, names = _task_names(queries)
    numbers = space.numbers(queries)
    codes = space.codes(queries)
    by_task = {task_id: group for task_id, group in per_model.groupby(C.TASK_ID, sort=False)}

    tasks = []
    for i, task_id in enumerate(queries[C.TASK_ID]):
        group = by_task[task_id].assign(index=lambda g: g[C.MODEL].map(model_index)).sort_values("index")
        tasks.append({
            "ref": refs[i],
            "task": names[i],
            "numbers": _rounded(numbers[i]),
            "codes": [None if c < 0 else int(c) for c in codes[i]],
            "models": group["index"].astype(int).tolist(),
            "relevance": _rounded(group["max"].to_numpy(dtype=float)),
            "records": group["size"].astype(int).tolist(),
        })
    counts = frame[C.MODEL].value_counts()
    evidence = {
        "version": EVIDENCE_VERSION,
        "numeric": space.numeric,
        "means": space.means,
        "stds": space.stds,
        "categorical": space.categorical,
        "vocabularies": space.vocabularies,
        "models": models,
        "model_records": [int(counts.get(m, 0)) for m in models],
        "tasks": tasks,
    }
    index = EvidenceIndex.from_json({**evidence, "thresholds": {"low": np.inf, "high": 0.0}})
    evidence["thresholds"] = index.calibrate()
    return evidence


class EvidenceIndex:
    """Training tasks in a form that answers nearest-task queries for millions of rows in blocks."""

    def __init__(self, evidence: dict, models: list[str] | None = None):
        self.space = _Space(list(evidence["numeric"]), list(evidence["means"]), list(evidence["stds"]),
                            list(evidence["categorical"]), [list(v) for v in evidence["vocabularies"]])
        tasks = evidence["tasks"]
        self.labels = np.array([f"{t['ref']} / {t['task']}" for t in tasks], dtype=object)
        n_num, n_cat = len(self.space.numeric), len(self.space.categorical)
        self._numbers = np.array([[np.nan if v is None else v for v in t["numbers"]] for t in tasks],
                                 dtype=float).reshape(len(tasks), n_num)
        self._codes = np.array([[-2 if v is None else v for v in t["codes"]] for t in tasks],
                               dtype=np.int64).reshape(len(tasks), n_cat)
        present = ~np.isnan(self._numbers)
        x = np.where(present, self._numbers, 0.0)
        # Query side [m*x^2, m, -2*m*x] times this gives sum over shared numbers of (x - y)^2.
        self._bt = np.ascontiguousarray(np.hstack([present, x * x * present, x]).T.astype(float))
        # Ties between training tasks are broken by task order: the task index is written into the
        # lowest mantissa bits of the (non-negative) squared distance, whose int64 view sorts like it.
        self._index_bits = max(1, int(len(tasks)).bit_length())
        self._chunk = max(1024, min(65536, 2 ** 21 // max(len(tasks), 1)))
        # Candidate order of the scorer (the bundle's models); evidence models absent there are dropped.
        evidence_models = list(evidence["models"])
        self.models = list(models) if models is not None else evidence_models
        position = {m: i for i, m in enumerate(self.models)}
        self.records = np.zeros((len(tasks), len(self.models)), dtype=np.int32)
        for t, task in enumerate(tasks):
            for model, count in zip(task["models"], task["records"]):
                j = position.get(evidence_models[model])
                if j is not None:
                    self.records[t, j] += count
        thresholds = evidence.get("thresholds", {})
        self.low = float(thresholds.get("low", np.inf))
        self.high = float(thresholds.get("high", 0.0))

    @classmethod
    def from_json(cls, evidence: dict, models: list[str] | None = None) -> EvidenceIndex:
        """``models``: the scorer's candidate list (indices passed to ``explain`` refer to it);
        defaults to the evidence's own (sorted) list, which is the same for a bundle from one fit."""
        return cls(evidence, models)

    @property
    def n_tasks(self) -> int:
        return len(self.labels)

    def _squared(self, numbers: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """``[n, n_tasks]`` squared distances: non-negative, NaN where no feature is shared."""
        present = ~np.isnan(numbers)
        x = np.where(present, numbers, 0.0)
        m = present.astype(float)
        squared = np.hstack([m * x * x, m, -2.0 * x]) @ self._bt
        first, inverse = _patterns(present, codes)
        categorical, scale = _pattern_tables(self._numbers, self._codes, present[first], codes[first],
                                             self.space.n_features)
        squared += categorical[inverse]
        np.maximum(squared, 0.0, out=squared)  # float noise of x^2 - 2xy + y^2; also turns -0.0 into +0.0
        squared *= scale[inverse]
        return squared

    def distances(self, frame: pd.DataFrame) -> np.ndarray:
        """``[len(frame), n_tasks]`` missing-aware distances (``inf`` where no feature is shared)."""
        squared = self._squared(self.space.numbers(frame), self.space.codes(frame))
        squared[squared < _ZERO] = 0.0
        return np.sqrt(np.where(np.isnan(squared), np.inf, squared))

    def calibrate(self) -> dict:
        """Leave-one-out nearest-neighbour distance of every training task to the others:
        ``low`` is its ``LOW_QUANTILE`` quantile, ``high`` its ``HIGH_QUANTILE`` quantile (finite
        values only; with fewer than two tasks nothing is "high" and only infinity is "low").
        Computed in blocks of rows, so thousands of training tasks need little memory."""
        if self.n_tasks < 2:
            return {"low": float("inf"), "high": 0.0}
        nearest = np.empty(self.n_tasks)
        for start in range(0, self.n_tasks, self._chunk):
            stop = min(start + self._chunk, self.n_tasks)
            squared = self._squared(self._numbers[start:stop], self._codes[start:stop])
            squared[np.arange(stop - start), np.arange(start, stop)] = np.inf  # leave the task itself out
            squared[np.isnan(squared)] = np.inf
            squared[squared < _ZERO] = 0.0
            nearest[start:stop] = np.sqrt(squared.min(axis=1))
        finite = nearest[np.isfinite(nearest)]
        if not len(finite):
            return {"low": float("inf"), "high": 0.0}
        return {"low": float(round(np.quantile(finite, LOW_QUANTILE), _DIGITS)),
                "high": float(round(np.quantile(finite, HIGH_QUANTILE), _DIGITS))}

    def nearest(self, frame: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices and distances of the ``k`` nearest training tasks per row, nearest first, ties
        by training-task order (distances equal to ~1e-12 relative count as ties)."""
        return self._nearest(self.space.numbers(frame), self.space.codes(frame), k)

    def _nearest(self, numbers: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.n_tasks)
        n = len(numbers)
        index = np.empty((n, k), dtype=np.int64)
        dist = np.empty((n, k))
        mask = np.int64((1 << self._index_bits) - 1)
        columns = np.arange(self.n_tasks, dtype=np.int64)
        for start in range(0, n, self._chunk):
            stop = start + self._chunk
            keys = self._squared(numbers[start:stop], codes[start:stop]).view(np.int64)
            keys &= ~mask
            keys |= columns
            if k < self.n_tasks:
                keys = np.partition(keys, k - 1, axis=1)[:, :k]
            keys = np.sort(keys, axis=1)
            values = (keys & ~mask).view(np.float64)  # NaN (nothing shared) sorts after every number
            values[np.isnan(values)] = np.inf
            values[values < _ZERO] = 0.0
            index[start:stop] = keys & mask
            dist[start:stop] = np.sqrt(values)
        # Noise-level distances snapped to 0 may now be out of task order: restore it.
        order = np.lexsort((index, dist), axis=-1) if n else np.zeros((0, k), dtype=np.int64)
        return np.take_along_axis(index, order, axis=1), np.take_along_axis(dist, order, axis=1)

    def explain(self, frame: pd.DataFrame, ranked: np.ndarray,
                label: Callable[[str], str] | None = None) -> dict[str, np.ndarray]:
        """Evidence per (task, ranked model), flattened row-major like ``ranked`` (``[n, k]``).

        * ``support``: training records of that model on the ``N_SUPPORT_TASKS`` training tasks
          nearest to the task (a model reported twice on one task counts twice; 0 = no nearby
          training task evaluated it, so the ranking rests on the network alone); training tasks at
          infinite distance (no shared feature) never count;
        * ``nearest_tasks``: the ``N_NEAREST_NAMED`` nearest training tasks as ``"ref / task"``,
          joined by ``" | "``, nearest first (the same for every model of a task; fewer or none
          when fewer training tasks share a feature with it); ``label``, when
          given, is applied to each distinct joined text (e.g. to escape it for a spreadsheet);
        * ``distance``: distance to the nearest training task (``inf`` when no feature is shared);
        * ``confidence``: ``"low"`` when the distance is above the calibrated ``low`` threshold (or
          infinite) or a category of the task never occurs in training (the network saw it as
          ``[UNK]``); ``"high"`` at or below the ``high`` threshold; else ``"ok"``.
        """
        per_task = self.explain_tasks(frame, ranked, label)
        k = np.asarray(ranked).shape[1]
        return {
            SUPPORT: per_task[SUPPORT].reshape(-1),
            NEAREST_TASKS: np.repeat(per_task[NEAREST_TASKS], k),
            DISTANCE: np.repeat(per_task[DISTANCE], k),
            CONFIDENCE: np.repeat(per_task[CONFIDENCE], k),
        }

    def explain_tasks(self, frame: pd.DataFrame, ranked: np.ndarray,
                      label: Callable[[str], str] | None = None) -> dict[str, np.ndarray]:
        """``explain`` before flattening: ``support`` ``[n, k]``, the other three ``[n]`` (one value
        per task), so a writer can repeat them cheaply."""
        ranked = np.asarray(ranked, dtype=np.int64)
        n, k = ranked.shape
        if self.n_tasks == 0:
            return {SUPPORT: np.zeros((n, k), dtype=np.int64), NEAREST_TASKS: np.full(n, "", dtype=object),
                    DISTANCE: np.full(n, np.inf), CONFIDENCE: np.full(n, "low", dtype=object)}
        numbers, codes = self.space.numbers(frame), self.space.codes(frame)
        index, dist = self._nearest(numbers, codes, max(N_SUPPORT_TASKS, N_NEAREST_NAMED))
        # A training task sharing no feature with the task (infinitely far) is no evidence for it.
        reachable = np.isfinite(dist)
        support = (self.records[index[:, :N_SUPPORT_TASKS, None], ranked[:, None, :]]
                   * reachable[:, :N_SUPPORT_TASKS, None]).sum(axis=1, dtype=np.int64)
        named = np.where(reachable[:, :N_NEAREST_NAMED], index[:, :N_NEAREST_NAMED], self.n_tasks)
        # Rows share few distinct neighbour lists: build each label string once.
        key = np.zeros(n, dtype=np.int64)
        for j in range(named.shape[1]):
            key = key * (self.n_tasks + 1) + named[:, j]
        group, _ = pd.factorize(key)
        first = np.unique(group, return_index=True)[1]
        texts = [" | ".join(self.labels[[t for t in named[i] if t < self.n_tasks]]) for i in first]
        labels = np.array([label(t) for t in texts] if label else texts, dtype=object)[group]
        nearest = dist[:, 0]
        unseen = (codes == -1).any(axis=1)
        confidence = np.where(unseen | ~np.isfinite(nearest) | (nearest > self.low), "low",
                              np.where(nearest <= self.high, "high", "ok")).astype(object)
        return {SUPPORT: support, NEAREST_TASKS: labels, DISTANCE: nearest, CONFIDENCE: confidence}
