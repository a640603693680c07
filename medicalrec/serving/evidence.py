"""Why a recommendation can be trusted: the training tasks a scored task resembles.

``build_evidence`` runs at export time and stores, per training task (``ref`` + ``task``), a compact
description vector and the models evaluated on it; the result travels inside ``medicalrec.json``.
``EvidenceIndex.explain_tasks`` runs at scoring time and, for every (task, recommended model), says which
training tasks are nearest, how far the nearest is, how many nearby training records back the model,
and whether the task is so far from anything seen in training that the ranking is a guess.

Distance: ``features.TaskDistance``, the package's one missing-aware task distance (the
``knn_tasks`` recommender uses it too), over the task-description features of the encoder's mode
(performance fields of mode IV are excluded: they describe one model's result, not the task); the
training tasks' z-scores are stored rounded to 6 digits.

Confidence is calibrated at build time on the training tasks themselves: the distance from each
training task to its nearest *other* training task (leave-one-out); above its 95th percentile a
scored task is "low" (further from the training data than almost any training task is from the
rest), at or below its median "high" (on the public bench the median is 0: most tasks have a twin
description, e.g. the same dataset in two papers), in between "ok". An unseen category, or an
empty context feature (domain or modality, by mode), is "low".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.bench.modes import PERFORMANCE_FEATURES
from medicalrec.features import CODE_MISSING, CODE_UNSEEN, FeatureEncoder, TaskDistance, TaskSpace, finish_squared

EVIDENCE_VERSION = 1
N_NEAREST_NAMED = 3  # training tasks named in ``nearest_tasks``
N_SUPPORT_TASKS = 5  # nearest training tasks whose records count towards ``support``
LOW_QUANTILE = 0.95  # leave-one-out nearest-neighbour distance quantile above which confidence is "low"
HIGH_QUANTILE = 0.5  # ... and at or below which it is "high"
_DIGITS = 6  # rounding of floats stored in the JSON


def _space(encoder: FeatureEncoder) -> TaskSpace:
    return TaskSpace.from_encoder(encoder, [f for f in encoder.features if f not in PERFORMANCE_FEATURES])


def _task_names(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """``ref`` and task name of each row of ``task_queries`` (the name is ``task_id`` minus ref)."""
    if C.REF in frame:
        refs = frame[C.REF].astype(object).where(frame[C.REF].notna(), "").astype(str).tolist()
    else:
        refs = [""] * len(frame)
    names = [task_id[len(ref) + 4:] if task_id.startswith(ref + " :: ") else task_id
             for ref, task_id in zip(refs, frame[C.TASK_ID].astype(str))]
    return refs, names


def training_tasks(evidence: dict) -> tuple[set[str], set[str]]:
    """``(tasks, refs)``: the ``task_key`` of every training task an evidence dict lists (both as
    ``ref :: task`` and as the bare name, which is how a file's own ``task_id`` spells it) and of
    every non-empty ``ref``, so a file's tasks can be checked against what a bundle was trained on."""
    from medicalrec.bench.tasks import task_key

    tasks, refs = set(), set()
    for task in evidence.get("tasks", []):
        tasks.update({task_key(f"{task['ref']} :: {task['task']}"), task_key(task["task"])})
        if task["ref"]:
            refs.add(task_key(task["ref"]))
    return tasks, refs


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

    space = _space(encoder)
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
        self.space = TaskSpace(list(evidence["numeric"]), list(evidence["means"]), list(evidence["stds"]),
                            list(evidence["categorical"]), [list(v) for v in evidence["vocabularies"]])
        tasks = evidence["tasks"]
        self.labels = np.array([f"{t['ref']} / {t['task']}" for t in tasks], dtype=object)
        n_num, n_cat = len(self.space.numeric), len(self.space.categorical)
        self._numbers = np.array([[np.nan if v is None else v for v in t["numbers"]] for t in tasks],
                                 dtype=float).reshape(len(tasks), n_num)
        self._codes = np.array([[CODE_MISSING if v is None else v for v in t["codes"]] for t in tasks],
                               dtype=np.int64).reshape(len(tasks), n_cat)
        self._distance = TaskDistance(self._numbers, self._codes)
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

    def _without_context(self, codes: np.ndarray) -> np.ndarray:
        """``bool [n]``: the task leaves the context feature (domain in modes I-II, modality in
        III-IV) empty, so the model gives it the corpus-wide list, whatever the rest matches."""
        context = next((f for f in C.CONTEXT_FEATURES if f in self.space.categorical), None)
        if context is None:
            return np.zeros(len(codes), dtype=bool)
        return codes[:, self.space.categorical.index(context)] == CODE_MISSING

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
        return self._distance.squared(numbers, codes)

    def distances(self, frame: pd.DataFrame) -> np.ndarray:
        """``[len(frame), n_tasks]`` missing-aware distances (``inf`` where no feature is shared)."""
        return self._distance.distances(self.space.numbers(frame), self.space.codes(frame))

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
            nearest[start:stop] = finish_squared(squared).min(axis=1)
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
            index[start:stop] = keys & mask
            dist[start:stop] = finish_squared(values)
        # Noise-level distances snapped to 0 may now be out of task order: restore it.
        order = np.lexsort((index, dist), axis=-1) if n else np.zeros((0, k), dtype=np.int64)
        return np.take_along_axis(index, order, axis=1), np.take_along_axis(dist, order, axis=1)

    def explain_tasks(self, frame: pd.DataFrame, ranked: np.ndarray,
                      label: Callable[[str], str] | None = None) -> dict[str, np.ndarray]:
        """Evidence for every task of ``frame`` and its ranked models ``ranked`` (``[n, k]`` indices
        into ``models``): ``support`` ``[n, k]``, the other three ``[n]`` (one value per task, so a
        writer repeats them cheaply).

        * ``support``: training records of that model on the ``N_SUPPORT_TASKS`` training tasks
          nearest to the task (a model reported twice on one task counts twice; 0 = no nearby
          training task evaluated it, so the ranking rests on the network alone); training tasks at
          infinite distance (no shared feature) never count;
        * ``nearest_tasks``: the ``N_NEAREST_NAMED`` nearest training tasks as ``"ref / task"``,
          joined by ``" | "``, nearest first (fewer or none when fewer training tasks share a
          feature with it); ``label``, when given, is applied to each distinct joined text (e.g. to
          escape it for a spreadsheet);
        * ``distance``: distance to the nearest training task; NaN when the task shares no feature
          with any training task (every feature empty, say): there is no distance to give, and an
          infinite one would read as "measured, very far" (and is not valid JSON);
        * ``confidence``: ``"low"`` when the distance is above the calibrated ``low`` threshold (or
          NaN), a category of the task never occurs in training (the network saw it as ``[UNK]``)
          or the context feature is empty (both leave the task the corpus-wide list: a task given
          only its image count is at distance 0 from every task of that size, and no closer to
          being understood); ``"high"`` at or below the ``high`` threshold; else ``"ok"``.
        """
        ranked = np.asarray(ranked, dtype=np.int64)
        n, k = ranked.shape
        if self.n_tasks == 0:
            return {C.SUPPORT: np.zeros((n, k), dtype=np.int64), C.NEAREST_TASKS: np.full(n, "", dtype=object),
                    C.DISTANCE: np.full(n, np.nan), C.CONFIDENCE: np.full(n, "low", dtype=object)}
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
        nearest = np.where(reachable[:, 0], dist[:, 0], np.nan)
        unseen = (codes == CODE_UNSEEN).any(axis=1) | self._without_context(codes)
        confidence = np.where(unseen | ~np.isfinite(nearest) | (nearest > self.low), "low",
                              np.where(nearest <= self.high, "high", "ok")).astype(object)
        return {C.SUPPORT: support, C.NEAREST_TASKS: labels, C.DISTANCE: nearest, C.CONFIDENCE: confidence}
