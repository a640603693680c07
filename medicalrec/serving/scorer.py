"""The ONNX scorer: a scoring bundle's ONNX Runtime session that turns task descriptions into the
long ranked table.

Only ONNX Runtime and numpy run the model (no torch, no pickle): the scoring bundle
(``bundle.py``) carries the ONNX graph, the feature encoder and the evidence index as JSON.

``Scorer.arrow_table`` builds the table every engine writes (``batch.score_file`` to CSV/Parquet,
``spark.score_spark`` on the executors); ``Scorer.rank`` is the same table as a DataFrame (the
pyfunc model's output). Columns ``constants.OUTPUT_COLUMNS``: ``task_id, rank, model, score,
support`` (see ``evidence.EvidenceIndex.explain_tasks`` for support), the candidate columns of
``candidate_facts`` (expected AUC, interval, tasks behind it, costs, Pareto flag), and the per-task
evidence ``nearest_tasks, distance, confidence``. ``score`` is the model's softmax probability over all candidates and ``distance``
the evidence distance, both rounded to 6 significant digits; ties are broken by model name
ascending.

Evidence layout (``EVIDENCE_LAYOUTS``): ``inline`` repeats the per-task evidence (``nearest_tasks``,
``distance``, ``confidence``) on every ranked row, one self-contained table; ``side`` writes the
ranked rows without it (``constants.RANKED_COLUMNS``) and the evidence once per task
(``constants.EVIDENCE_COLUMNS``) to a side file, ``evidence_path_for(output)``. The
``nearest_tasks`` text is most of an inline row's bytes, so with hundreds of ranked models per task
(``top_k`` all) the side layout is the default (``evidence_layout``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.errors import ConfigError, ModelError, shown_value
from medicalrec.features import category_codes, normalise_category
from medicalrec.serving.bundle import INPUT_NAME, METADATA_FILE, OUTPUT_NAME, Bundle, check_session
from medicalrec.serving.evidence import EvidenceIndex
from medicalrec.serving.expectation import ExpectedPerformance
from medicalrec.serving.tradeoff import Limits, allowed, near_first, pareto_front
from medicalrec.serving.files import escape_formula, escape_formulas

DEVICES = ("auto", "cpu", "cuda")
DEFAULT_TOP_K = C.DEFAULT_TOP_K
SIGNIFICANT_DIGITS = 6
ORT_BATCH = 256  # rows per ONNX Runtime call: on CPU, bigger batches only add memory traffic
# Distinct rows scored and cut to their top-k at a time (memory per chunk in top_k); a multiple of
# ORT_BATCH, so that ONNX Runtime sees the same batches as without blocks.
RANK_BLOCK = 16 * ORT_BATCH
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
EVIDENCE_INLINE = "inline"
EVIDENCE_SIDE = "side"
EVIDENCE_LAYOUTS = (EVIDENCE_INLINE, EVIDENCE_SIDE)
FEATURELESS_SHOWN = 3  # task ids named in the featureless-tasks note
UNSEEN_SHOWN = 5  # unseen category values named in a note (the most frequent)
UNSEEN_KEPT = 1000  # distinct unseen values counted by name per feature (free text must not grow memory)
CLOSE_SPELLING = 0.8  # difflib ratio above which a known value is offered for an unseen one (typos, plurals)


# ---------------------------------------------------------------------------------------------
# Small pure helpers


def round_significant(values: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """Round to ``digits`` significant digits (0, inf and NaN unchanged), so that the shortest
    decimal form of each float is at most ``digits`` digits long and files stay byte-stable."""
    x = np.asarray(values, dtype=np.float64)
    out = x.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        power = digits - 1 - np.floor(np.log10(np.abs(x)))
    # Finite, non-zero and not so tiny that 10**power overflows (those stay as they are).
    todo = np.isfinite(power) & (power < 300)
    if not todo.any():
        return out
    v, p = x[todo], power[todo]
    up = p >= 0
    rounded = np.empty_like(v)
    # integer / 10^p with an exact 10^p (p <= 22) is the double nearest to the decimal: its shortest
    # repr is the rounded decimal itself.
    rounded[up] = np.round(v[up] * 10.0 ** p[up]) / 10.0 ** p[up]
    rounded[~up] = np.round(v[~up] / 10.0 ** -p[~up]) * 10.0 ** -p[~up]
    out[todo] = rounded
    return out


def top_k_indices(scores: np.ndarray, k: int | None) -> np.ndarray:
    """``int64 [n, k]`` column indices by descending score, ties by column (= model name) ascending:
    exactly a stable argsort of ``-scores``, but ``O(n * m)`` with ``np.partition`` for small ``k``.

    Each score's order-preserving integer form and its column index are packed into one int64 key,
    so partition and sort need no tie-breaking pass."""
    scores = np.ascontiguousarray(scores, dtype=np.float32) + np.float32(0.0)  # -0.0 -> +0.0
    n, m = scores.shape
    k = m if k is None else min(int(k), m)
    if n == 0 or k == 0:
        return np.zeros((n, k), dtype=np.int64)
    bits = scores.view(np.int32).astype(np.int64)
    ordered = np.where(bits < 0, bits ^ 0x7FFFFFFF, bits)  # int order == float order
    shift = max(1, int(m - 1).bit_length())
    keys = (-ordered) << shift
    keys |= np.arange(m, dtype=np.int64)
    if k < m:
        keys = np.partition(keys, k - 1, axis=1)[:, :k]
    keys.sort(axis=1)
    return keys & ((1 << shift) - 1)



def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)



# ---------------------------------------------------------------------------------------------
# The scorer


class Scorer:
    """An ONNX Runtime session over a scoring bundle, created once and reused for every chunk.

    ``device``: ``cpu``; ``cuda`` (``ModelError`` when ONNX Runtime has no CUDA provider here: a job
    that asked for a GPU should fail loudly rather than run 10x slower unnoticed); ``auto`` (CUDA when
    ``CUDAExecutionProvider`` is available, else CPU, with the reason in ``device_note``).
    The library prints nothing: callers show ``device_note``.
    """

    def __init__(self, bundle: Bundle, device: str = "auto", threads: int | None = None):
        import onnxruntime as ort

        check_device(device)
        available = ort.get_available_providers()
        has_cuda = CUDA_PROVIDER in available
        self.device_note = ""
        if device == "cuda" and not has_cuda:
            raise ModelError(
                f"--device cuda: ONNX Runtime here has no {CUDA_PROVIDER} (available: {', '.join(available)}); "
                "install onnxruntime-gpu with a matching CUDA, or use --device cpu/auto"
            )
        if device == "auto" and not has_cuda:
            self.device_note = f"device auto: CUDA not available to ONNX Runtime ({', '.join(available)}); scoring on CPU"
        use_cuda = has_cuda and device in ("auto", "cuda")
        providers = [CUDA_PROVIDER, CPU_PROVIDER] if use_cuda else [CPU_PROVIDER]
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # Every core of the process's CPU set; inter-op parallelism is useless for this graph, and
        # spinning threads only steal CPU from the rest of the pipeline (and from other jobs).
        options.intra_op_num_threads = threads or _available_cpus()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            self.session = ort.InferenceSession(str(bundle.onnx_path), sess_options=options, providers=providers)
        except Exception as error:  # onnxruntime raises its own exception types for a bad graph
            raise ModelError(f"{bundle.onnx_path}: ONNX Runtime cannot load the model: {error}") from None
        check_session(bundle, self.session)
        self.device = "cuda" if use_cuda else "cpu"
        self.bundle = bundle
        self.encoder = bundle.encoder
        self.models = np.array(bundle.models, dtype=object)
        self._csv_models = escape_formulas(self.models)
        try:
            self.evidence = EvidenceIndex.from_json(bundle.evidence, models=bundle.models) if bundle.evidence else None
            self.candidates = candidate_facts(bundle)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
            raise ModelError(f"{bundle.directory / METADATA_FILE}: malformed evidence, expectation or costs "
                             f"({type(error).__name__}: {shown_value(str(error))}); re-export the model") from None

    def candidate_mask(self, limits: Limits | None) -> np.ndarray | None:
        """``candidate_mask`` of this bundle's candidates."""
        return candidate_mask(self.candidates, limits)

    @property
    def n_models(self) -> int:
        return len(self.models)

    def _run(self, tokens: np.ndarray) -> np.ndarray:
        """ONNX Runtime in batches of ``ORT_BATCH`` rows: large batches only add memory traffic."""
        out = np.empty((len(tokens), self.n_models), dtype=np.float32)
        for start in range(0, len(tokens), ORT_BATCH):
            batch = np.ascontiguousarray(tokens[start:start + ORT_BATCH], dtype=np.int64)
            out[start:start + ORT_BATCH] = self.session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
        return out

    def _top_k_distinct(self, tokens: np.ndarray, top_k: int | None, mask: np.ndarray | None,
                        limits: Limits | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
        """``(ranked, scores, valid, widest)`` of distinct token rows, ``RANK_BLOCK`` rows at a time, so
        the ``[rows, candidates]`` scores exist for one block only: a chunk whose rows are all
        distinct needs memory in ``top_k``, not in the number of candidates. ``valid`` (None without
        a ``mask``) marks the ranked candidates within ``limits`` (those outside score -inf and sort
        last); ``widest`` is the most candidates any row keeps."""
        n, m = len(tokens), self.n_models
        k = m if top_k is None else min(int(top_k), m)
        ranked = np.zeros((n, k), dtype=np.int64)
        scores = np.zeros((n, k), dtype=np.float32)
        valid = None if mask is None else np.ones((n, k), dtype=bool)
        widest = 0
        for start in range(0, n, RANK_BLOCK):
            block = self._run(tokens[start:start + RANK_BLOCK])
            rows = slice(start, start + len(block))
            keep = None
            if mask is not None:
                keep = np.broadcast_to(mask, block.shape).copy()
                if limits.within is not None:
                    best = np.argmax(np.where(keep, block, -np.inf), axis=1)  # first column on ties, as top_k_indices
                    keep &= near_first(self.candidates[C.EXPECTED], best, limits.within)
                block = np.where(keep, block, -np.inf).astype(np.float32)
                widest = max(widest, int(keep.sum(axis=1).max()))
            ranked[rows] = top_k_indices(block, k)
            scores[rows] = np.take_along_axis(block, ranked[rows], axis=1)
            if keep is not None:
                valid[rows] = np.take_along_axis(keep, ranked[rows], axis=1)
        return ranked, scores, valid, widest

    def _rank(self, frame: pd.DataFrame, top_k: int | None, csv_safe: bool = False,
              limits: Limits | None = None) -> _Ranking:
        """Top-k of every task among the candidates within ``limits``; the network runs once per
        distinct token row (tasks whose fields fall in the same buckets are identical to it),
        evidence runs on every task."""
        mask = self.candidate_mask(limits)
        tokens = self.encoder.tokens(frame)
        first, inverse = unique_rows(tokens)
        unique_ranked, unique_scores, unique_valid, widest = self._top_k_distinct(tokens[first], top_k, mask, limits)
        valid = None
        if mask is not None:
            k = widest if top_k is None else min(top_k, widest)
            unique_ranked, unique_scores, unique_valid = (a[:, :k] for a in (unique_ranked, unique_scores, unique_valid))
            valid = unique_valid[inverse]
        ranked = unique_ranked[inverse]
        scores = unique_scores[inverse]
        if self.evidence is not None:
            evidence = self.evidence.explain_tasks(frame, ranked, label=escape_formula if csv_safe else None)
        else:
            n, k = ranked.shape
            evidence = {C.SUPPORT: np.zeros((n, k), dtype=np.int64), C.NEAREST_TASKS: np.full(n, "", dtype=object),
                        C.DISTANCE: np.full(n, np.nan), C.CONFIDENCE: np.full(n, "low", dtype=object)}
        return _Ranking(ranked, scores, evidence, valid)

    def rank(self, frame: pd.DataFrame, top_k: int | None = DEFAULT_TOP_K, limits: Limits | None = None) -> pd.DataFrame:
        """``arrow_table`` of every task in ``frame`` (canonical columns, e.g. ``loading.normalize``'s
        frame) as a DataFrame: the rows ``score_file`` writes (same rounding, not formula-escaped),
        with ``task_id`` taken from the ``task_id`` column, else the index (kept as it is), and
        ``rank`` and ``support`` as int64. ``top_k=None`` ranks every candidate (within ``limits``)."""
        ids = frame[C.TASK_ID].to_numpy(dtype=object) if C.TASK_ID in frame else frame.index.to_numpy(dtype=object)
        texts = np.array([None if pd.isna(i) else str(i) for i in ids], dtype=object)
        table = self.arrow_table(frame, texts, top_k, csv_safe=False, limits=limits).cast(output_schema(dictionary=False))
        out = table.to_pandas()
        out[C.TASK_ID] = ids[np.cumsum(out[C.RANK].to_numpy() == 1) - 1] if len(out) else ids[:0]
        return out.astype({C.RANK: np.int64, C.SUPPORT: np.int64})

    def arrow_table(self, frame: pd.DataFrame, ids: np.ndarray, top_k: int | None, csv_safe: bool,
                    limits: Limits | None = None):
        """The long output of ``frame`` with the evidence inline, as an Arrow table
        (``output_schema(dictionary=True)``): ``arrow_tables(..., EVIDENCE_INLINE)[0]``."""
        return self.arrow_tables(frame, ids, top_k, csv_safe, EVIDENCE_INLINE, limits)[0]

    def arrow_tables(self, frame: pd.DataFrame, ids: np.ndarray, top_k: int | None, csv_safe: bool,
                     evidence: str = EVIDENCE_INLINE, limits: Limits | None = None):
        """``(ranked, per_task)`` Arrow tables of ``frame``: with ``EVIDENCE_INLINE`` the long table
        (``C.OUTPUT_COLUMNS``) and None; with ``EVIDENCE_SIDE`` the long table without the per-task
        evidence (``C.RANKED_COLUMNS``) and one row per task of it (``C.EVIDENCE_COLUMNS``). Floats
        rounded to ``SIGNIFICANT_DIGITS``, a NaN ``distance`` is null (an empty cell); texts
        dictionary-encoded, so a task's long ``nearest_tasks`` text is stored once in memory.
        ``limits``: only candidates within them are ranked (``Scorer.candidate_mask``)."""
        import pyarrow as pa

        check_evidence_layout(evidence)
        ranking = self._rank(frame, check_top_k(top_k), csv_safe, limits)
        n, k = ranking.ranked.shape
        e = ranking.evidence
        models = self._csv_models if csv_safe else self.models

        def encoded(indices: np.ndarray, dictionary: np.ndarray):
            return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32, copy=False)),
                                                  pa.array(dictionary, type=pa.string(), from_pandas=True))

        def factorized(values: np.ndarray):
            codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
            return encoded(codes, np.asarray(uniques, dtype=object))

        per_task = {
            C.TASK_ID: encoded(np.arange(n), escape_formulas(ids) if csv_safe else np.asarray(ids, dtype=object)),
            C.NEAREST_TASKS: factorized(e[C.NEAREST_TASKS]),
            C.DISTANCE: pa.array(round_significant(e[C.DISTANCE]), from_pandas=True),
            C.CONFIDENCE: factorized(e[C.CONFIDENCE]),
        }
        # Rows outside the limits are the tail of their task's row (scored -inf): drop them.
        kept = slice(None) if ranking.valid is None else ranking.valid.reshape(-1)
        chosen = ranking.ranked.reshape(-1)[kept]
        rows = pa.array(np.repeat(np.arange(n, dtype=np.int32), k)[kept])
        ranked = {
            C.RANK: pa.array(np.tile(np.arange(1, k + 1, dtype=np.int32), n)[kept]),
            C.MODEL: encoded(chosen, models),
            C.SCORE: pa.array(round_significant(ranking.scores.reshape(-1)[kept])),
            C.SUPPORT: pa.array(e[C.SUPPORT].reshape(-1)[kept].astype(np.int32)),
            **{name: pa.array(values[chosen], from_pandas=True, type=output_schema(columns=(name,)).field(name).type)
               for name, values in self.candidates.items()},
        }
        if evidence == EVIDENCE_SIDE:
            return (_table({C.TASK_ID: per_task[C.TASK_ID].take(rows), **ranked}, C.RANKED_COLUMNS),
                    _table(per_task, C.EVIDENCE_COLUMNS))
        return _table({**{name: column.take(rows) for name, column in per_task.items()}, **ranked}, C.OUTPUT_COLUMNS), None


def _table(columns: dict, names: tuple[str, ...]):
    import pyarrow as pa

    return pa.Table.from_arrays([columns[name] for name in names], schema=output_schema(dictionary=True, columns=names))


class InputNotes:
    """What the task descriptions of a run left the model blind to, for the summary, a chunk at a
    time: tasks with every feature of the model empty (nothing tells them apart, no evidence), and
    category values training never saw (read as unknown, they tell the model nothing; an unknown
    domain or modality also loses the in-context order of the list). Spellings that normalise alike
    count as one value; at most ``UNSEEN_KEPT`` distinct values per feature are kept by name."""

    def __init__(self, features: list[str], vocabularies: dict[str, list[str]]):
        self.features = list(features)
        self.vocabularies = {f: vocabularies[f] for f in self.features if f in vocabularies}
        self.count = 0
        self.ids: list[str] = []
        self.unseen: dict[str, dict[str, list]] = {f: {} for f in self.vocabularies}  # normalised -> [as typed, tasks]
        self.unseen_other = {f: 0 for f in self.vocabularies}  # tasks whose value came after UNSEEN_KEPT others
        self.context = next((f for f in C.CONTEXT_FEATURES if f in self.features), None)
        self.without_context = 0  # tasks with some feature but an empty context feature
        self.without_context_ids: list[str] = []

    def add(self, frame: pd.DataFrame, ids: np.ndarray) -> None:
        present = [f for f in self.features if f in frame]
        empty = frame[present].isna().all(axis=1).to_numpy() if present else np.ones(len(frame), dtype=bool)
        self.count += int(empty.sum())
        self.ids += [str(i) for i in np.asarray(ids, dtype=object)[empty][:FEATURELESS_SHOWN - len(self.ids)]]
        if self.context is not None and self.context not in frame:
            self._add_without_context(~empty, ids)
        for feature, vocabulary in self.vocabularies.items():
            if feature not in frame:
                continue
            codes, missing = category_codes(frame[feature], vocabulary)
            if feature == self.context:
                self._add_without_context(missing & ~empty, ids)
            kept = self.unseen[feature]
            for value, n in frame[feature][(codes < 0) & ~missing].value_counts(sort=False).items():
                key = normalise_category(value)
                if key in kept:
                    kept[key][1] += int(n)
                elif len(kept) < UNSEEN_KEPT:
                    kept[key] = [str(value), int(n)]
                else:
                    self.unseen_other[feature] += int(n)

    def _add_without_context(self, rows: np.ndarray, ids: np.ndarray) -> None:
        self.without_context += int(rows.sum())
        shown = FEATURELESS_SHOWN - len(self.without_context_ids)
        self.without_context_ids += [str(i) for i in np.asarray(ids, dtype=object)[rows][:shown]]

    def notes(self) -> list[str]:
        """One note for featureless tasks, one for tasks without the context feature and one per
        feature with unseen values, when there are any."""
        notes = []
        if self.count:
            shown = ", ".join(repr(i) for i in self.ids) + (", ..." if self.count > len(self.ids) else "")
            notes.append(f"{self.count} task(s) have every feature the model uses empty ({shown}): each gets the "
                         "same ranking, with no evidence (distance empty, confidence low); fill in what is known "
                         "about them")
        if self.without_context:
            shown = ", ".join(repr(i) for i in self.without_context_ids)
            more = ", ..." if self.without_context > len(self.without_context_ids) else ""
            notes.append(f"{self.without_context} task(s) leave the {self.context} empty ({shown}{more}): models "
                         f"rated in their {self.context} do not come first (confidence low); fill it in where known")
        for feature, kept in self.unseen.items():
            if kept:
                notes.append(self._unseen_note(feature, kept))
        return notes

    def _unseen_note(self, feature: str, kept: dict[str, list]) -> str:
        import difflib

        common = sorted(kept.items(), key=lambda item: (-item[1][1], item[0]))
        shown = ", ".join(f"{shown_value(typed)} ({n})" for _, (typed, n) in common[:UNSEEN_SHOWN])
        hidden = max(len(common) - UNSEEN_SHOWN, 0)
        if self.unseen_other[feature]:
            more = f" and over {hidden} more" if hidden else " and more"
        else:
            more = f" and {hidden} more" if hidden else ""
        tasks = sum(n for _, n in kept.values()) + self.unseen_other[feature]
        effect = (f"models rated in the {feature} you mean do not come first" if feature == self.context
                  else "it tells the model nothing about them")
        vocabulary = self.vocabularies[feature]
        close = sorted({m for key, _ in common[:UNSEEN_SHOWN]
                        for m in difflib.get_close_matches(key, vocabulary, n=2, cutoff=CLOSE_SPELLING)})
        hint = f"; close in spelling among those: {', '.join(map(repr, close))}" if close else ""
        return (f"{tasks} task(s) have a {feature} training never saw: {shown}{more}; read as unknown, so {effect} "
                f"(confidence low). Use one of the model's {len(vocabulary)} known {feature} values where one fits "
                f"(the encoder's vocabularies in the bundle's {METADATA_FILE}){hint}")


@dataclass
class _Ranking:
    ranked: np.ndarray  # int64 [n, k] candidate indices
    scores: np.ndarray  # float32 [n, k]
    evidence: dict[str, np.ndarray]  # EvidenceIndex.explain_tasks
    valid: np.ndarray | None = None  # bool [n, k]: within the limits (a prefix of each row); None: all


def unique_rows(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first, inverse)``: the first row of each distinct token row, in order of appearance, and
    each row's distinct-row number, so that ``tokens[first][inverse] == tokens``.

    Features are packed into an int64 key (mixed radix, re-coded with ``pd.factorize`` before it
    could overflow): a hash pass, not a sort."""
    tokens = np.asarray(tokens, dtype=np.int64)
    n = len(tokens)
    if n == 0 or tokens.shape[1] == 0:
        return np.zeros(min(n, 1), dtype=np.int64), np.zeros(n, dtype=np.int64)
    key = np.zeros(n, dtype=np.int64)
    span = 1
    for column in tokens.T:
        low, size = int(column.min()), int(column.max() - column.min()) + 1
        if span * size >= 2 ** 62:
            key, uniques = pd.factorize(key)
            key, span = key.astype(np.int64), len(uniques)
        key = key * size + (column - low)
        span *= size
    inverse, uniques = pd.factorize(key)
    first = np.empty(len(uniques), dtype=np.int64)
    first[inverse[::-1]] = np.arange(n - 1, -1, -1)
    return first, inverse.astype(np.int64)



def candidate_facts(bundle: Bundle) -> dict[str, np.ndarray]:
    """Per candidate (bundle order) the ``C.CANDIDATE_COLUMNS``: expected metric and interval,
    rounded to ``SIGNIFICANT_DIGITS``, the training tasks behind it, costs, and the Pareto flag
    (``expected_tasks`` and ``pareto`` as object arrays with None). NaN/None where the bundle does
    not know (no expectation, unknown cost)."""
    models = bundle.models
    n = len(models)
    if bundle.expected:
        expectation = ExpectedPerformance.from_json(bundle.expected)
        expected = expectation.expected(models)
        low, high = expectation.interval(expected)
        tasks = np.array([expectation.tasks.get(m, 0) for m in models], dtype=object)
    else:
        expected = low = high = np.full(n, np.nan)
        tasks = np.full(n, None, dtype=object)
    costs = np.array([[np.nan if v is None else v for v in bundle.costs.get(m, [None] * 3)] for m in models],
                     dtype=float).reshape(n, 3)
    front = pareto_front(expected, costs[:, 0], costs[:, 1])
    pareto = np.array([None if np.isnan(f) else bool(f) for f in front], dtype=object)
    return {C.EXPECTED: round_significant(expected), C.EXPECTED_LOW: round_significant(low),
            C.EXPECTED_HIGH: round_significant(high), C.EXPECTED_TASKS: tasks, C.PARAMS_M: costs[:, 0], C.GFLOPS: costs[:, 1],
            C.TRAINED_PARAMS_M: costs[:, 2], C.PARETO: pareto}


def candidate_mask(facts: dict[str, np.ndarray], limits: Limits | None) -> np.ndarray | None:
    """Mask of the candidates (``candidate_facts``) within the cost limits (None: no limit);
    ``ConfigError`` when ``within`` needs an expectation the bundle lacks, or the cost limits leave
    no candidate. Needs no ONNX session, so a Spark driver checks limits before any executor work."""
    if limits is None or not limits.active:
        return None
    if limits.within is not None and not np.isfinite(facts[C.EXPECTED]).any():
        raise ConfigError("--within needs the expected metric, which this model does not carry (exported by an "
                          "older medicalrec): retrain it, or leave --within out")
    mask = allowed(facts[C.PARAMS_M], facts[C.GFLOPS], limits)
    if not mask.any():
        smallest = ", ".join(f"the smallest known {name} is {np.nanmin(facts[column]):g}"
                             for name, column in (("parameter count (M)", C.PARAMS_M), ("GFLOPs", C.GFLOPS))
                             if np.isfinite(facts[column]).any())
        raise ConfigError(f"no candidate model is within {limits.describe()} ({smallest}); loosen the limits")
    return mask


def output_schema(dictionary: bool = False, columns: tuple[str, ...] = C.OUTPUT_COLUMNS):
    """Column types of the output (``columns``: ``C.OUTPUT_COLUMNS``, ``C.RANKED_COLUMNS`` or
    ``C.EVIDENCE_COLUMNS``); text columns dictionary-encoded in memory (``dictionary``), plain
    strings in a Parquet file so that readers get strings, not categoricals."""
    import pyarrow as pa

    text = pa.dictionary(pa.int32(), pa.string()) if dictionary else pa.string()
    types = {C.TASK_ID: text, C.RANK: pa.int32(), C.MODEL: text, C.SCORE: pa.float64(), C.SUPPORT: pa.int32(),
             C.NEAREST_TASKS: text, C.DISTANCE: pa.float64(), C.CONFIDENCE: text, C.PARETO: pa.bool_(),
             C.EXPECTED_TASKS: pa.int32(),
             **{column: pa.float64() for column in C.CANDIDATE_COLUMNS if column not in (C.PARETO, C.EXPECTED_TASKS)}}
    return pa.schema([(column, types[column]) for column in columns])


def evidence_layout(evidence: str | None, top_k: int | None) -> str:
    """``evidence``, or when None the default: ``EVIDENCE_SIDE`` when every candidate is ranked
    (``top_k`` None: the evidence would repeat on hundreds of rows per task), else inline."""
    if evidence is None:
        return EVIDENCE_SIDE if top_k is None else EVIDENCE_INLINE
    return check_evidence_layout(evidence)


def check_evidence_layout(evidence: str) -> str:
    if evidence not in EVIDENCE_LAYOUTS:
        raise ConfigError(f"evidence must be one of {', '.join(EVIDENCE_LAYOUTS)}, got {evidence!r}")
    return evidence


def evidence_path_for(output: str | Path) -> Path:
    """``<output stem>.evidence<suffix>`` beside the output: the side file of ``EVIDENCE_SIDE``."""
    output = Path(output)
    return output.with_name(f"{output.stem}.evidence{output.suffix}")


def check_top_k(top_k: int | None) -> int | None:
    """``top_k`` as a positive int or None (every candidate), else ``ConfigError``."""
    if top_k is not None and (isinstance(top_k, bool) or int(top_k) < 1):
        raise ConfigError(f"top_k must be a positive number of models or None (all), got {top_k!r}")
    return None if top_k is None else int(top_k)


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    return device

