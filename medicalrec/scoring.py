"""Batch scoring: the nightly job that turns a file of task descriptions into ranked recommendations.

Only ONNX Runtime and numpy run the model (no torch, no pickle): the scoring bundle
(``bundle.py``) carries the ONNX graph, the feature encoder and the evidence index as JSON.

``score_file`` streams the input chunk by chunk (read -> validate -> encode -> ONNX -> top-k ->
evidence -> append), so memory stays flat in the input size apart from the set of task ids seen
(needed to reject duplicates across chunks; ~100 bytes per id). It writes into a hidden temporary
file beside the target and renames it onto the target only when everything succeeded: a failure,
Ctrl-C or SIGTERM removes the temporary file and leaves an existing output untouched. (SIGKILL
cannot be caught: the target is still untouched, but a ``.<name>.<pid>.tmp`` file may remain.)

Output (long format, one row per task and ranked model): ``task_id, rank, model, score, support,
nearest_tasks, distance, confidence`` (see ``evidence.EvidenceIndex.explain`` for the last four).
``score`` is the model's softmax probability over all candidates, rounded to 6 significant digits;
ties are broken by model name ascending. Output bytes depend only on the input, the bundle and
``top_k``/``chunk_size``.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.bundle import INPUT_NAME, OUTPUT_NAME, Bundle, resolve_bundle
from medicalrec.errors import ConfigError, DataFileError, ModelError, Problem, SchemaError, ValidationError
from medicalrec.evidence import CONFIDENCE, DISTANCE, NEAREST_TASKS, SUPPORT, EvidenceIndex

OUTPUT_COLUMNS = (C.TASK_ID, C.RANK, C.MODEL, C.SCORE, SUPPORT, NEAREST_TASKS, DISTANCE, CONFIDENCE)
OUTPUT_FORMATS = {".csv": "csv", ".parquet": "parquet"}
REJECT_COLUMNS = ("row", C.TASK_ID, "column", "value", "reason")
DEVICES = ("auto", "cpu", "cuda")
ON_ERROR = ("fail", "skip")
DEFAULT_TOP_K = 10
DEFAULT_CHUNK_SIZE = 50_000
SIGNIFICANT_DIGITS = 6
ORT_BATCH = 256  # rows per ONNX Runtime call: on CPU, bigger batches only add memory traffic
PARQUET_ROW_GROUP = 65_536
MAX_NOTES = 20  # loader notes (encoding, percent metrics, merged spellings) kept in the summary
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"

# OWASP "CSV injection": a cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


# ---------------------------------------------------------------------------------------------
# Small pure helpers


def escape_formula(text: str | None) -> str | None:
    """``'`` + text when a spreadsheet would read the text as a formula (it starts with ``=``,
    ``+``, ``-``, ``@``, tab or CR); plain numbers such as ``-5`` or ``+1e3`` are left alone,
    a spreadsheet reads them as the number they are."""
    if text and text[0] in FORMULA_STARTS and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def escape_formulas(values: np.ndarray) -> np.ndarray:
    """``escape_formula`` over an object array, touching only cells that start with a trigger."""
    out = np.asarray(values, dtype=object).copy()
    if not len(out):
        return out
    first = pd.Series(out, dtype=object).str[:1]
    for i in np.flatnonzero(first.isin(FORMULA_STARTS).to_numpy()):
        out[i] = escape_formula(out[i])
    return out


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


def file_sha256(path: str | Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


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

        if device not in DEVICES:
            raise ConfigError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
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
        self.device = "cuda" if use_cuda else "cpu"
        self.bundle = bundle
        self.encoder = bundle.encoder
        self.models = np.array(bundle.models, dtype=object)
        self._csv_models = escape_formulas(self.models)
        self.evidence = EvidenceIndex.from_json(bundle.evidence, models=bundle.models) if bundle.evidence else None

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

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """``float32 [len(frame), n_models]`` softmax scores, in ``bundle.models`` order."""
        tokens = self.encoder.tokens(frame)
        first, inverse = unique_rows(tokens)
        return self._run(tokens[first])[inverse]

    def _rank(self, frame: pd.DataFrame, top_k: int | None, csv_safe: bool = False) -> _Ranking:
        """Top-k of every task; the network runs once per distinct token row (tasks whose fields
        fall in the same buckets are identical to it), evidence runs on every task."""
        tokens = self.encoder.tokens(frame)
        first, inverse = unique_rows(tokens)
        unique_scores = self._run(tokens[first])
        unique_ranked = top_k_indices(unique_scores, top_k)
        ranked = unique_ranked[inverse]
        scores = np.take_along_axis(unique_scores, unique_ranked, axis=1)[inverse]
        if self.evidence is not None:
            evidence = self.evidence.explain_tasks(frame, ranked, label=escape_formula if csv_safe else None)
        else:
            n, k = ranked.shape
            evidence = {SUPPORT: np.zeros((n, k), dtype=np.int64), NEAREST_TASKS: np.full(n, "", dtype=object),
                        DISTANCE: np.full(n, np.nan), CONFIDENCE: np.full(n, "low", dtype=object)}
        return _Ranking(ranked, scores, evidence)

    def rank(self, frame: pd.DataFrame, top_k: int | None = DEFAULT_TOP_K) -> pd.DataFrame:
        """Long ranking of every task in ``frame`` (canonical columns, e.g. ``loading.normalize``'s
        frame): ``task_id`` (the ``task_id`` column, else the index), ``rank`` (1-based), ``model``,
        ``score``, ``support``, ``nearest_tasks``, ``distance``, ``confidence``; ``top_k=None``
        ranks every candidate. Values are exact here; ``score_file`` rounds and escapes them."""
        ranking = self._rank(frame, top_k)
        n, k = ranking.ranked.shape
        ids = frame[C.TASK_ID].to_numpy(dtype=object) if C.TASK_ID in frame else frame.index.to_numpy(dtype=object)
        e = ranking.evidence
        return pd.DataFrame({
            C.TASK_ID: np.repeat(ids, k),
            C.RANK: np.tile(np.arange(1, k + 1, dtype=np.int64), n),
            C.MODEL: self.models[ranking.ranked.reshape(-1)],
            C.SCORE: ranking.scores.reshape(-1).astype(np.float64),
            SUPPORT: e[SUPPORT].reshape(-1),
            NEAREST_TASKS: np.repeat(e[NEAREST_TASKS], k),
            DISTANCE: np.repeat(e[DISTANCE], k),
            CONFIDENCE: np.repeat(e[CONFIDENCE], k),
        }, columns=list(OUTPUT_COLUMNS))

    def arrow_table(self, frame: pd.DataFrame, ids: np.ndarray, top_k: int | None, csv_safe: bool):
        """The long output of ``frame`` as an Arrow table (``_output_schema(dictionary=True)``):
        floats rounded to ``SIGNIFICANT_DIGITS``; texts dictionary-encoded, so a task's long
        ``nearest_tasks`` text is stored once, not once per ranked model."""
        import pyarrow as pa

        ranking = self._rank(frame, top_k, csv_safe)
        n, k = ranking.ranked.shape
        per_task = np.repeat(np.arange(n, dtype=np.int32), k)
        e = ranking.evidence
        models = self._csv_models if csv_safe else self.models

        def encoded(indices: np.ndarray, dictionary: np.ndarray):
            return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32, copy=False)),
                                                  pa.array(dictionary, type=pa.string(), from_pandas=True))

        def repeated(values: np.ndarray):
            codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
            return encoded(codes[per_task], np.asarray(uniques, dtype=object))

        columns = [
            encoded(per_task, escape_formulas(ids) if csv_safe else np.asarray(ids, dtype=object)),
            pa.array(np.tile(np.arange(1, k + 1, dtype=np.int32), n)),
            encoded(ranking.ranked.reshape(-1), models),
            pa.array(round_significant(ranking.scores.reshape(-1))),
            pa.array(e[SUPPORT].reshape(-1).astype(np.int32)),
            repeated(e[NEAREST_TASKS]),
            pa.array(np.repeat(round_significant(e[DISTANCE]), k)),
            repeated(e[CONFIDENCE]),
        ]
        return pa.Table.from_arrays(columns, schema=_output_schema(dictionary=True))


@dataclass
class _Ranking:
    ranked: np.ndarray  # int64 [n, k] candidate indices
    scores: np.ndarray  # float32 [n, k]
    evidence: dict[str, np.ndarray]  # EvidenceIndex.explain_tasks


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


# ---------------------------------------------------------------------------------------------
# Run summary


@dataclass
class ScoringSummary:
    """What one ``score_file`` run did; ``format_summary`` prints it, ``log_scoring_run`` logs it."""

    model_uri: str
    input_path: str
    output_path: str
    input_hash: str  # sha256 of the input file's bytes
    rows_read: int = 0  # data rows in the input, blank rows included
    rows_scored: int = 0  # tasks with recommendations in the output
    rows_rejected: int = 0  # rows written to the rejects file (on_error="skip")
    rows_blank: int = 0  # rows with every cell empty: ignored
    output_rows: int = 0
    seconds: float = 0.0
    top_k: int | None = DEFAULT_TOP_K
    device: str = "cpu"
    task_id_source: str = ""
    rejects_path: str | None = None
    model_version: str | None = None
    data_hash: str | None = None  # of the training data, when the bundle records it
    recommender: str | None = None
    mode: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def tasks_per_second(self) -> float:
        return self.rows_scored / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "tasks_per_second": self.tasks_per_second}


def format_summary(summary: ScoringSummary) -> str:
    """A few human lines for the end of a run."""
    version = f" (version {summary.model_version})" if summary.model_version else ""
    per_task = "all models" if summary.top_k is None else f"top {summary.top_k}"
    lines = [
        f"model      {summary.model_uri}{version}: {summary.recommender or '?'} mode {summary.mode or '?'}, device {summary.device}",
        f"input      {summary.input_path} (sha256 {summary.input_hash[:12]}...), task ids: {summary.task_id_source}",
        f"rows       {summary.rows_read} read, {summary.rows_scored} scored, {summary.rows_rejected} rejected"
        + (f", {summary.rows_blank} blank" if summary.rows_blank else ""),
        f"output     {summary.output_path}: {summary.output_rows} rows ({per_task} per task)",
    ]
    if summary.rejects_path:
        lines.append(f"rejects    {summary.rejects_path}")
    lines.append(f"time       {summary.seconds:.1f} s ({summary.tasks_per_second:,.0f} tasks/s)")
    lines += [f"note       {note}" for note in summary.notes]
    return "\n".join(lines)


def log_scoring_run(summary: ScoringSummary, experiment: str | None = None) -> str:
    """Log a run to MLflow (params: model URI and version, input hash, top-k, device; metrics:
    row counts, seconds, tasks/s); returns the run id. The caller decides whether to log."""
    import mlflow

    if experiment:
        mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name="score") as run:
        mlflow.set_tags({"medicalrec.job": "score"})
        mlflow.log_params({
            "model_uri": summary.model_uri,
            "model_version": summary.model_version or "",
            "input_path": summary.input_path,
            "input_hash": summary.input_hash,
            "output_path": summary.output_path,
            "top_k": "all" if summary.top_k is None else summary.top_k,
            "device": summary.device,
            "task_id_source": summary.task_id_source,
            "data_hash": summary.data_hash or "",
        })
        mlflow.log_metrics({
            "rows_read": summary.rows_read,
            "rows_scored": summary.rows_scored,
            "rows_rejected": summary.rows_rejected,
            "rows_blank": summary.rows_blank,
            "output_rows": summary.output_rows,
            "seconds": summary.seconds,
            "tasks_per_second": summary.tasks_per_second,
        })
        return run.info.run_id


def _model_version(uri: str) -> str | None:
    """The registry version behind a ``models:/name@alias`` or ``models:/name/N`` URI, else None."""
    if not uri.startswith("models:/"):
        return None
    name_part = uri[len("models:/"):]
    if "@" in name_part:
        try:
            from mlflow import MlflowClient

            name, alias = name_part.split("@", 1)
            return str(MlflowClient().get_model_version_by_alias(name, alias).version)
        except Exception:  # the version is a nicety for the summary; the model itself already loaded
            return None
    parts = name_part.split("/")
    return parts[1] if len(parts) == 2 and parts[1].isdigit() else None


# ---------------------------------------------------------------------------------------------
# Writers: a temporary file beside the target, renamed onto it at the end


def _output_schema(dictionary: bool = False):
    """Column types of the output; text columns dictionary-encoded in memory (``dictionary``),
    plain strings in a Parquet file so that readers get strings, not categoricals."""
    import pyarrow as pa

    text = pa.dictionary(pa.int32(), pa.string()) if dictionary else pa.string()
    return pa.schema([
        (C.TASK_ID, text), (C.RANK, pa.int32()), (C.MODEL, text), (C.SCORE, pa.float64()),
        (SUPPORT, pa.int32()), (NEAREST_TASKS, text), (DISTANCE, pa.float64()), (CONFIDENCE, text),
    ])


class _TableWriter:
    """Appends ``Scorer.arrow_table`` tables to a CSV or Parquet file, with settings that make the
    bytes reproducible (no timestamps; Parquet row groups of ``PARQUET_ROW_GROUP`` rows at most)."""

    def __init__(self, path: Path, kind: str):
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        self.kind = kind
        if kind == "csv":  # the CSV writer decodes dictionaries itself, batch by batch
            self._writer = pa_csv.CSVWriter(str(path), _output_schema(dictionary=True),
                                            write_options=pa_csv.WriteOptions(quoting_header="none"))
        else:
            self.schema = _output_schema(dictionary=False)
            self._writer = pq.ParquetWriter(str(path), self.schema, compression="zstd", compression_level=3,
                                            use_dictionary=True, write_statistics=True, store_schema=True)

    def write(self, table) -> None:
        if self.kind == "csv":
            self._writer.write_table(table)
            return
        for start in range(0, table.num_rows, PARQUET_ROW_GROUP):  # decode one row group at a time
            self._writer.write_table(table.slice(start, PARQUET_ROW_GROUP).cast(self.schema))

    def close(self) -> None:
        self._writer.close()

    def abandon(self) -> None:
        """Close after a failure; the file is about to be deleted, so errors do not matter."""
        try:
            self._writer.close()
        except Exception:  # noqa: BLE001 - a half-written file's footer may fail; it is removed next
            pass


class _Interrupted(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C so the temporary files are removed."""


def _temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def rejects_path_for(output: str | Path) -> Path:
    """``<output stem>.rejects.csv`` beside the output."""
    output = Path(output)
    return output.with_name(f"{output.stem}.rejects.csv")


# ---------------------------------------------------------------------------------------------
# score_file


def _task_id_position(headers: list[str], source: str) -> int | None:
    from medicalrec.bench.schema import header_key

    key = header_key(C.TASK_ID)
    found = [i for i, h in enumerate(headers) if h is not None and header_key(h) == key]
    if len(found) > 1:
        names = " and ".join(repr(headers[i]) for i in found)
        raise SchemaError(f"{source}: columns {names} all mean {C.TASK_ID!r}; keep only one of them", column=C.TASK_ID)
    return found[0] if found else None


@dataclass
class _Chunk:
    """One validated chunk: rows to score, their ids, and the rejected rows' problems."""

    frame: pd.DataFrame
    ids: np.ndarray
    problems: list[Problem]
    truncated: bool
    bad_positions: np.ndarray
    blank: int
    notes: list[str]


class _Validator:
    """Runs ``loading.normalize`` on each raw chunk and adds the scorer's own checks: a present
    ``task_id`` column needs a value in every row, and ids must be unique across the whole file."""

    def __init__(self, source: str, encoder_features: list[str], skip: bool):
        self.source = source
        self.features = encoder_features
        self.skip = skip
        self.seen: set[str] = set()
        self.headers: list[str] | None = None
        self.id_position: int | None = None

    def start(self, raw: pd.DataFrame) -> None:
        from medicalrec.bench.schema import canonical_column

        self.headers = ["" if h is None else str(h) for h in raw.columns]
        self.id_position = _task_id_position(self.headers, self.source)
        known = {canonical_column(h) for h in self.headers if h.strip()}
        if not known.intersection(self.features):
            raise SchemaError(
                f"{self.source}: none of the model's features ({', '.join(self.features)}) is a column of the "
                f"input (columns: {', '.join(repr(h) for h in self.headers[:12])}); is this a task file?"
            )

    def validate(self, raw: pd.DataFrame) -> _Chunk:
        from medicalrec.bench.loading import DEFAULT_MAX_PROBLEMS, normalize

        offset = int(raw.index[0]) if len(raw) else 0
        cells = raw.to_numpy(dtype=object)
        blank_rows = pd.isna(cells).all(axis=1) if len(raw) else np.zeros(0, dtype=bool)
        cap = cells.size + 1 if self.skip else DEFAULT_MAX_PROBLEMS
        result = normalize(raw, self.source, required=(), max_problems=cap, row_offset=offset)
        problems = list(result.problems)
        bad = np.zeros(len(raw), dtype=bool)
        bad[list(result.bad_rows)] = True
        if self.id_position is not None:
            ids = pd.Series(cells[:, self.id_position], dtype=object).str.strip()
            ids = ids.where(ids != "", None).to_numpy(dtype=object)
            header = self.headers[self.id_position].strip()
            missing = pd.isna(ids) & ~blank_rows
            for i in np.flatnonzero(missing):
                problems.append(Problem(offset + int(i) + 2, header, cells[i, self.id_position],
                                        "a task id (the task_id column is present, so every row needs one)"))
            present = ~pd.isna(ids) & ~blank_rows
            repeated = np.zeros(len(raw), dtype=bool)
            repeated[present] = pd.Series(ids[present], dtype=object).duplicated(keep="first").to_numpy()
            seen = self.seen
            repeated[present] |= np.fromiter((v in seen for v in ids[present]), dtype=bool, count=int(present.sum()))
            for i in np.flatnonzero(repeated):
                problems.append(Problem(offset + int(i) + 2, header, ids[i],
                                        "a task id not used by an earlier row (duplicate)"))
            bad |= missing | repeated
        else:
            ids = (np.arange(len(raw)) + offset + 2).astype(str).astype(object)
        bad &= ~blank_rows
        good = ~bad & ~blank_rows
        position = {h: i for i, h in reversed(list(enumerate(h.strip() for h in self.headers)))}
        problems.sort(key=lambda p: (p.row, position.get(p.column, len(position))))
        truncated = result.truncated or (not self.skip and len(problems) > DEFAULT_MAX_PROBLEMS)
        if not self.skip:
            problems = problems[:DEFAULT_MAX_PROBLEMS]
        if self.id_position is not None:
            self.seen.update(ids[~pd.isna(ids)])
        return _Chunk(result.frame[good], ids[good], problems, truncated, np.flatnonzero(bad), int(blank_rows.sum()),
                      result.notes)


def score_file(
    model: str | Path | Bundle,
    input_path: str | Path,
    output_path: str | Path,
    top_k: int | None = DEFAULT_TOP_K,
    device: str = "auto",
    on_error: str = "fail",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    quiet: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ScoringSummary:
    """Score every task of ``input_path`` and write the top-``top_k`` models per task (all with
    ``None``) to ``output_path`` (``.csv`` or ``.parquet``). Returns a ``ScoringSummary``.

    Input: task descriptions in the bench schema (CSV, TSV, Parquet, XLSX; any mode's features, any
    of them missing; no ``model`` column needed) and optionally a ``task_id`` column; without one,
    a task's id is its row number in the file (header = row 1, first task = row 2).

    ``on_error="fail"``: the first chunk with a bad value raises ``ValidationError`` (row, column,
    value of each problem in it) and nothing is written. ``"skip"``: good rows are scored and every
    problem of a bad row goes to ``<output stem>.rejects.csv`` (row, task_id, column, value, reason;
    written, possibly empty, on every skip run so a stale one never survives).

    ``progress(rows_done)`` is called after each chunk with the number of input rows handled so far.
    ``quiet`` is accepted for symmetry with the CLI: the library never prints.
    """
    del quiet  # the library never prints; the CLI decides what to show
    started = time.perf_counter()
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    if top_k is not None and (isinstance(top_k, bool) or int(top_k) < 1):
        raise ConfigError(f"top_k must be a positive number of models or None (all), got {top_k!r}")
    if isinstance(chunk_size, bool) or int(chunk_size) < 1:
        raise ConfigError(f"chunk_size must be a positive number of rows, got {chunk_size!r}")
    input_path, output_path = Path(input_path), Path(output_path)
    kind = OUTPUT_FORMATS.get(output_path.suffix.lower())
    if kind is None:
        raise ConfigError(f"{output_path}: output must end in {' or '.join(OUTPUT_FORMATS)}")
    if not output_path.parent.is_dir():
        raise ConfigError(f"{output_path}: directory {output_path.parent} does not exist")
    if output_path.resolve() == input_path.resolve():
        raise ConfigError(f"{output_path}: output would overwrite the input")

    from medicalrec.bench.loading import read_table

    chunks = read_table(input_path, chunksize=int(chunk_size))  # DataFileError before any model work
    bundle = model if isinstance(model, Bundle) else resolve_bundle(model)
    scorer = Scorer(bundle, device)
    model_uri = str(model.directory if isinstance(model, Bundle) else model)
    summary = ScoringSummary(
        model_uri=model_uri, input_path=str(input_path), output_path=str(output_path),
        input_hash=file_sha256(input_path), top_k=None if top_k is None else min(int(top_k), scorer.n_models),
        device=scorer.device, model_version=_model_version(model_uri), data_hash=bundle.metadata.get("data_hash"),
        recommender=bundle.metadata.get("recommender"), mode=bundle.mode,
        notes=[scorer.device_note] if scorer.device_note else [],
    )
    skip = on_error == "skip"
    rejects_path = rejects_path_for(output_path) if skip else None
    summary.rejects_path = None if rejects_path is None else str(rejects_path)
    temp = _temp_path(output_path)
    rejects_temp = _temp_path(rejects_path) if rejects_path is not None else None

    writer = rejects = None
    with _terminate_as_exception():
        try:
            writer = _TableWriter(temp, kind)
            rejects = _RejectsWriter(rejects_temp) if rejects_temp is not None else None
            validator = _Validator(str(input_path), list(scorer.encoder.features), skip)
            for raw in chunks:
                if validator.headers is None:
                    validator.start(raw)
                chunk = validator.validate(raw)
                summary.notes += [note for note in chunk.notes if note not in summary.notes][:MAX_NOTES]
                del summary.notes[MAX_NOTES:]
                summary.rows_read += len(raw)
                summary.rows_blank += chunk.blank
                if chunk.problems and not skip:
                    raise ValidationError(str(input_path), chunk.problems, truncated=chunk.truncated)
                if rejects is not None and chunk.problems:
                    summary.rows_rejected += len(chunk.bad_positions)
                    rejects.write(chunk.problems, raw, validator.id_position)
                if len(chunk.frame):
                    table = scorer.arrow_table(chunk.frame, chunk.ids, top_k, csv_safe=kind == "csv")
                    writer.write(table)
                    summary.rows_scored += len(chunk.frame)
                    summary.output_rows += table.num_rows
                if progress is not None:
                    progress(summary.rows_read)
            if validator.headers is None or summary.rows_read == summary.rows_blank:
                raise DataFileError(f"{input_path}: no tasks (the file has a header but no data rows)")
            writer.close()
            if rejects is not None:
                rejects.close()
                os.replace(rejects_temp, rejects_path)
            os.replace(temp, output_path)
        except BaseException:
            for open_writer in (writer, rejects):
                if open_writer is not None:
                    open_writer.abandon()
            for path in (temp, rejects_temp):
                if path is not None:
                    _remove_quietly(path)
            raise
    summary.task_id_source = (f"column {validator.headers[validator.id_position].strip()!r}"
                              if validator.id_position is not None else "row numbers (no task_id column; header = row 1)")
    summary.seconds = time.perf_counter() - started
    return summary


class _RejectsWriter:
    def __init__(self, path: Path):
        import csv

        self._handle = open(path, "w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._handle, lineterminator="\n")
        self._csv.writerow(REJECT_COLUMNS)

    def write(self, problems: list[Problem], raw: pd.DataFrame, id_position: int | None) -> None:
        offset = int(raw.index[0]) if len(raw) else 0
        for p in problems:
            if id_position is not None:
                task_id = raw.iat[p.row - 2 - offset, id_position]
                task_id = None if task_id is None else str(task_id).strip()
            else:
                task_id = str(p.row)
            value = None if p.value is None else str(p.value)
            self._csv.writerow([p.row, escape_formula(task_id), escape_formula(p.column), escape_formula(value),
                                escape_formula(f"expected {p.expected}")])

    def close(self) -> None:
        self._handle.close()

    def abandon(self) -> None:
        self._handle.close()


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class _terminate_as_exception:
    """While active (main thread only, unless SIGTERM is ignored), SIGTERM raises ``_Interrupted``
    so that ``except`` blocks remove the temporary files; afterwards the previous handler is back,
    is called if it is a Python function, and the process ends with status 143 (128 + SIGTERM)."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            current = signal.getsignal(signal.SIGTERM)
            if current is not signal.SIG_IGN:  # a process that ignores SIGTERM keeps ignoring it
                self.previous = signal.signal(signal.SIGTERM, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise _Interrupted()

    def __exit__(self, kind, error, traceback):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        if isinstance(error, _Interrupted):
            if callable(self.previous):
                self.previous(signal.SIGTERM, None)
            raise SystemExit(128 + signal.SIGTERM)
        return False
