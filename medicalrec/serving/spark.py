"""Distributed batch scoring on Spark: the long ranked table of ``batch.score_file``, computed by
the executors.

``score_spark`` reads task descriptions (a Parquet or CSV path, a table name or a DataFrame) and maps
each Arrow batch of task rows to its ranked rows with ``DataFrame.mapInArrow``: every batch goes
through the loader's ``normalize`` (``required=()``) and ``Scorer.arrow_table``, the same calls that
``score_file`` makes on a chunk, so a task gets the same rows (same rounding of ``score`` and
``distance``) on either engine. ``mapInArrow`` rather than ``mapInPandas``: both ends of the batch
function are Arrow already (cells become text the way the loader's Parquet reader makes them, and
``arrow_table`` builds the output), and it keeps pyspark's own pandas conversion, which pyspark 4
says does not yet fully support pandas 3, out of the data path.

Shipping the model: the bundle is resolved on the driver (a ``models:/`` URI is downloaded there, so
executors need neither MLflow nor the registry) and its two small files are broadcast. Each
executor Python process writes them to a temporary directory once, builds one
``Scorer`` (one ONNX Runtime session) and keeps it in ``_SCORERS``, keyed by the files' sha256 (+
device and threads), for every later batch and task that process runs (``spark.python.worker.reuse``,
on by default). A broadcast works the same on local, standalone, YARN and Kubernetes masters and
needs no shared file system; ``SparkContext.addFile`` keeps a directory under its base name for the
life of the context, so adding a second model from another directory also called ``bundle`` fails
("exists and does not match contents", checked on Spark 4.3). ONNX Runtime gets ``spark.task.cpus`` threads per session: the executor already runs one
task per core.

Bad input (fail mode only): the driver checks the columns before any work (``SchemaError`` when no
model feature is a column, when two headers mean the same column, or when there is no ``task_id``
column: Spark has no stable file row numbers to name tasks by). The input is hash-partitioned by
task id (the one shuffle of the job, which also spreads a one-file input over the executors), so
rows sharing an id meet in one partition. An executor that meets a bad value, a missing id or a
repeated id fails the job; the driver turns that failure back into the ``ValidationError`` the
local scorer raises, with one ``TaskProblem`` (task id, column, value, expected) per problem of the
failing batch. Rows whose cells are all empty are ignored, as locally. (On a cluster Spark retries a
failed task ``spark.task.maxFailures`` times, 4 by default, before giving up: the same bad row fails
each time.)

Output: the long table of ``constants.OUTPUT_COLUMNS`` (the local scorer's), in no particular row
order (sort by ``task_id, rank`` when order matters). With ``output_path`` it is written as a
Parquet directory into a hidden temporary sibling and renamed onto the target only after the job
succeeded, so a failed run leaves yesterday's output in place.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec import errors
from medicalrec.errors import ConfigError, DataFileError, MedicalRecError, Problem, SchemaError, ValidationError, shown_cell
from medicalrec.serving.batch import check_columns, check_task_ids
from medicalrec.serving.bundle import METADATA_FILE, ONNX_FILE, Bundle, read_bundle, resolve_bundle
from medicalrec.atomic import temp_name
from medicalrec.serving.scorer import (DEFAULT_TOP_K, Scorer, candidate_facts, candidate_mask, check_device,
                                       check_top_k)
from medicalrec.serving.tradeoff import Limits

APP_NAME = "medicalrec-score"
PYSPARK_MISSING = "Spark engine needs pyspark: pip install 'medicalrec[spark]'"
SPARK_INPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv"}
MAX_PROBLEMS = C.DEFAULT_MAX_PROBLEMS  # bad values reported from the failing batch (the loader's default cap)
WORKER_ERROR_MARK = "medicalrec-worker-error "
PARQUET_COMPRESSION = "zstd"
SPARK_TYPES = {C.TASK_ID: "string", C.RANK: "int", C.MODEL: "string", C.SCORE: "double", C.SUPPORT: "int",
               C.NEAREST_TASKS: "string", C.DISTANCE: "double", C.CONFIDENCE: "string", C.PARETO: "boolean",
               C.EXPECTED_TASKS: "int",
               **{column: "double" for column in C.CANDIDATE_COLUMNS if column not in (C.PARETO, C.EXPECTED_TASKS)}}
OUTPUT_DDL = ", ".join(f"`{column}` {SPARK_TYPES[column]}" for column in C.OUTPUT_COLUMNS)


@dataclass(frozen=True)
class TaskProblem(Problem):
    """A bad value found on an executor. A distributed read has no file row numbers (``row`` is 0),
    so the task id says where the value is."""

    task_id: str | None = None

    def __str__(self) -> str:
        where = f"task {self.task_id!r}" if self.task_id is not None else "a row without a task id"
        return f"{where}, column {self.column!r}: got {shown_cell(self.value)}, expected {self.expected}"


class SparkScoringStats:
    """What the executors did, counted with a Spark accumulator while the job runs: per executor
    Python process (``host:pid``), the scorers (ONNX Runtime sessions) it built, the Arrow batches
    and the rows it handled. Read it after an action; every action on a lazy result adds to it, and
    tasks that Spark re-runs (retries, speculation) count again."""

    def __init__(self, spark):
        self._accumulator = spark.sparkContext.accumulator({}, _CountsParam())

    @property
    def per_process(self) -> dict[str, tuple[int, int, int, int]]:
        """``host:pid`` -> (scorers built, batches, rows, blank rows)."""
        return {process: tuple(counts) for process, counts in self._accumulator.value.items()}

    def _total(self, index: int) -> int:
        return sum(counts[index] for counts in self._accumulator.value.values())

    @property
    def processes(self) -> int:
        return len(self._accumulator.value)

    @property
    def scorers_built(self) -> int:
        return self._total(0)

    @property
    def batches(self) -> int:
        return self._total(1)

    @property
    def rows(self) -> int:
        return self._total(2)

    @property
    def blank_rows(self) -> int:
        return self._total(3)

    @property
    def tasks_scored(self) -> int:
        return self.rows - self.blank_rows


class _CountsParam:
    """Accumulator algebra of ``{process: [built, batches, rows, blank]}``: add counts per process.
    (Duck-typed ``pyspark.AccumulatorParam``, so that importing this module needs no pyspark.)"""

    def zero(self, value: dict) -> dict:
        return {}

    def addInPlace(self, total: dict, more: dict) -> dict:  # noqa: N802 - pyspark's method name
        for process, counts in more.items():
            previous = total.get(process, [0] * len(counts))
            total[process] = [a + b for a, b in zip(previous, counts, strict=True)]
        return total


def score_spark(
    spark_df_or_path,
    model: str | Path | Bundle,
    output_path: str | Path | None = None,
    top_k: int | None = DEFAULT_TOP_K,
    spark=None,
    master: str | None = None,
    device: str = "cpu",
    *,
    partitions: int | None = None,
    stats: SparkScoringStats | None = None,
    limits: Limits | None = None,
):
    """Rank the classifiers for every task of ``spark_df_or_path`` on Spark; returns a Spark DataFrame
    of the long ranked table (``constants.OUTPUT_COLUMNS``; the rows ``score_file`` writes for the same
    tasks, in no particular order).

    ``spark_df_or_path``: a Spark DataFrame; a path Spark can read (``.csv``/``.tsv``: UTF-8 with a
    header row, every cell read as text like the local reader does; anything else, e.g. ``.parquet``
    or a directory of part files: Parquet; ``hdfs://``, ``s3a://``... as configured on the cluster);
    or a table name of the session's catalog. It needs a ``task_id`` column; the features are those
    of any mode, as for ``score_file``.

    ``model``: a ``models:/`` or ``runs:/`` URI, a bundle directory or a ``Bundle``, resolved on the
    driver and broadcast to the executors. ``output_path``: when given, the table is written there as
    a Parquet directory (replacing an earlier Spark output only after success) and the returned
    DataFrame reads it back; without it, the result is lazy and bad rows only surface, as a pyspark
    error quoting the ``ValidationError``, when an action runs. ``top_k=None`` ranks every candidate.

    ``spark``: the session to use; otherwise ``spark_session(master)``: the running one, or a new
    one on ``master`` (e.g. ``local[4]``, ``spark://host:7077``, ``yarn``; unset: whatever
    ``spark-submit`` or the Spark configuration says).
    ``device``: ``cpu``, ``cuda`` or ``auto``, as for ``Scorer``, applied on the executors.
    ``partitions``: Spark tasks the input is hash-partitioned into by task id (default: the input's
    partitions, at least ``defaultParallelism``, so that a one-file input keeps every core busy).
    ``stats``: a ``SparkScoringStats`` to fill in.
    ``limits``: rank only the candidates within them (``tradeoff.Limits``), checked on the driver.

    Raises ``ConfigError`` (no pyspark, bad parameter), ``DataFileError`` (unreadable input, no
    tasks), ``SchemaError`` (columns), ``ModelError`` (bundle) and, with ``output_path``,
    ``ValidationError`` for bad values (see the module docstring).
    """
    _require_pyspark()
    top_k = check_top_k(top_k)
    check_device(device)
    if partitions is not None and (isinstance(partitions, bool) or int(partitions) < 1):
        raise ConfigError(f"partitions must be a positive number, got {partitions!r}")
    if spark is None:
        spark = spark_session(master)
    _check_classic(spark)
    target = None if output_path is None else _output_target(spark, str(output_path), spark_df_or_path)
    frame, source = _read_input(spark, spark_df_or_path)
    bundle = model if isinstance(model, Bundle) else resolve_bundle(model)
    id_position = _check_columns(frame.columns, list(bundle.encoder.features), source)
    if limits is not None and limits.active:
        candidate_mask(candidate_facts(bundle), limits)  # ConfigError here, not on an executor

    sc = spark.sparkContext
    files = {name: (bundle.directory / name).read_bytes() for name in (ONNX_FILE, METADATA_FILE)}
    stats = stats if stats is not None else SparkScoringStats(spark)
    shipped = sc.broadcast(files)
    job = _Job(
        bundle_key=_bundle_key(files), files=shipped, device=device,
        threads=int(sc.getConf().get("spark.task.cpus", "1")), top_k=top_k, limits=limits,
        id_position=id_position, source=source, counters=stats._accumulator,
    )
    wanted = int(partitions) if partitions is not None else max(frame.rdd.getNumPartitions(), sc.defaultParallelism)
    frame = _spread_by_task_id(frame, id_position, wanted)
    ranked = frame.mapInArrow(functools.partial(_rank_batches, job=job), OUTPUT_DDL)
    if target is None:
        return ranked
    try:
        _write_replacing(ranked, target)
    finally:
        shipped.destroy()
    return spark.read.parquet(str(output_path))


def _require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigError(PYSPARK_MISSING) from None


def spark_session(master: str | None = None, batch_rows: int | None = None):
    """The running Spark session, else a new one named ``medicalrec-score`` (on ``master`` when
    given, e.g. ``local[4]``, ``spark://host:7077``, ``yarn``; else what ``spark-submit`` or the
    Spark configuration says). ``batch_rows`` sets ``spark.sql.execution.arrow.maxRecordsPerBatch``,
    the task rows per batch-function call (Spark's default is 10,000; the CLI passes the local
    scorer's chunk size). ``ConfigError`` without pyspark or for a Spark Connect session."""
    _require_pyspark()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(APP_NAME)
    if master:
        builder = builder.master(master)
    spark = builder.getOrCreate()
    _check_classic(spark)
    if batch_rows is not None:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(int(batch_rows)))
    return spark


def _check_classic(spark) -> None:
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        raise ConfigError("the Spark engine needs a classic Spark session (it uses broadcast variables and "
                          "accumulators); Spark Connect sessions are not supported")


def _read_input(spark, source) -> tuple[Any, str]:
    """A DataFrame and a name for messages: the DataFrame itself, a table name, or a path (glob
    patterns allowed) looked up on the cluster's file systems, so that a path without a scheme
    means what it means to Spark (e.g. HDFS on a YARN cluster)."""
    from pyspark.sql import DataFrame

    if isinstance(source, DataFrame):
        return source, "input DataFrame"
    text = str(source)
    suffix = Path(text.rstrip("/")).suffix.lower()
    matches = _glob(spark, text)
    if not matches and "/" not in text and suffix not in SPARK_INPUT_FORMATS:
        if not spark.catalog.tableExists(text):
            raise DataFileError(f"{text}: no such table or file")
        return spark.table(text), f"table {text}"
    if not matches:
        raise DataFileError(f"{text}: no such file or directory")
    if suffix not in SPARK_INPUT_FORMATS and any(status.isFile() for status in matches):
        raise DataFileError(f"{text}: the Spark engine reads Parquet (.parquet, .pq or a directory of part files) "
                            "or CSV/TSV (.csv, .tsv); convert the file, or use the local engine")
    kind = SPARK_INPUT_FORMATS.get(suffix, "parquet")
    try:
        if kind == "parquet":
            frame = spark.read.parquet(text)
        else:
            frame = (spark.read.option("header", True).option("sep", "\t" if kind == "tsv" else ",")
                     .option("quote", '"').option("escape", '"').option("encoding", "UTF-8")
                     .option("mode", "FAILFAST").csv(text))
    except Exception as error:  # AnalysisException and Py4J errors: unreadable, not the format said
        raise DataFileError(f"{text}: Spark cannot read it as {kind}: {_first_line(error)}") from None
    return frame, text


def _glob(spark, text: str) -> list:
    """Hadoop ``FileStatus`` of every path ``text`` matches (empty when none)."""
    jvm = spark.sparkContext._jvm
    try:
        path = jvm.org.apache.hadoop.fs.Path(text)
        statuses = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).globStatus(path)
    except Exception as error:  # Py4J errors: no file system for the scheme, malformed URI, no access
        raise DataFileError(f"{text}: cannot look it up: {_first_line(error)}") from None
    return list(statuses) if statuses is not None else []


def _check_columns(headers: list[str], features: list[str], source: str) -> int:
    """Position of the ``task_id`` column, after the checks ``score_file`` makes on a file's header
    (the loader's own header checks included, run on an empty frame)."""
    from medicalrec.bench.loading import normalize

    headers = [str(h) for h in headers]
    normalize(pd.DataFrame(columns=pd.Index(headers, dtype=object), dtype=object), source, required=())
    found = check_columns(headers, features, source)
    if found is None:
        raise SchemaError(f"{source}: the Spark engine needs a {C.TASK_ID!r} column (a distributed read has no "
                          "stable row numbers to name the tasks by)", column=C.TASK_ID)
    return found


def _spread_by_task_id(frame, id_position: int, partitions: int):
    """``frame`` hash-partitioned by its stripped task id (whitespace stripped as ``score_file`` does):
    rows sharing an id meet in one partition, where the batch function sees them; one shuffle, which
    also spreads a single-file input over the executors."""
    from pyspark.sql import functions as F

    stripped = F.regexp_replace(frame[id_position].cast("string"), r"(?U)^\s+|\s+$", "")
    return frame.repartition(partitions, stripped)


def _bundle_key(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def _first_line(error: BaseException) -> str:
    """The informative line of a pyspark or Py4J error (a Py4J error's own text only names the call)."""
    java = getattr(error, "java_exception", None)
    text = (str(java.toString()) if java is not None else str(error)).strip()
    return text.splitlines()[0] if text else type(error).__name__


# ---------------------------------------------------------------------------------------------
# Executor side


@dataclass(frozen=True)
class _Job:
    """Everything a batch function needs, pickled once per Spark task (the bundle bytes travel as a
    broadcast, fetched once per executor)."""

    bundle_key: str
    files: Any  # Broadcast[dict[file name, bytes]]
    device: str
    threads: int
    top_k: int | None
    limits: Limits | None
    id_position: int
    source: str
    counters: Any  # Accumulator of SparkScoringStats


_SCORERS: dict[tuple[str, str, int], Scorer] = {}
_SCORERS_LOCK = threading.Lock()


def _process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _worker_scorer(job: _Job) -> Scorer:
    """This process's scorer for the job's bundle: built on first use, then reused by every batch
    and every later task the process runs."""
    key = (job.bundle_key, job.device, job.threads)
    with _SCORERS_LOCK:
        scorer = _SCORERS.get(key)
        if scorer is None:
            with tempfile.TemporaryDirectory(prefix="medicalrec-bundle-") as directory:
                for name, content in job.files.value.items():
                    (Path(directory) / name).write_bytes(content)
                # ONNX Runtime has read the graph once the session exists; the directory can go.
                scorer = Scorer(read_bundle(directory), device=job.device, threads=job.threads)
            _SCORERS[key] = scorer
            job.counters.add({_process(): [1, 0, 0, 0]})
    return scorer


def _rank_batches(batches, job: _Job):
    """Each Arrow batch of task rows -> the Arrow batches of its long ranked table."""
    schema = _arrow_output_schema()
    seen: set[str] = set()  # the partition's task ids so far: every row of an id is in this partition
    try:
        for batch in batches:
            raw = _raw_cells(batch)
            frame, ids, blank = _validated(raw, job.id_position, job.source, seen)
            job.counters.add({_process(): [0, 1, len(raw), blank]})
            if len(ids):
                table = _worker_scorer(job).arrow_table(frame, ids, job.top_k, csv_safe=False, limits=job.limits)
                yield from table.cast(schema).to_batches()
    except MedicalRecError as error:
        raise _WorkerError(error) from None


def _arrow_output_schema():
    import pyarrow as pa

    types = {"string": pa.string(), "int": pa.int32(), "double": pa.float64(), "boolean": pa.bool_()}
    return pa.schema([(column, types[SPARK_TYPES[column]]) for column in C.OUTPUT_COLUMNS])


def _raw_cells(batch) -> pd.DataFrame:
    """The batch as ``loading.read_table`` gives a Parquet chunk: every cell the text a CSV would
    hold, or None. Each distinct value of a column is converted once."""
    import pyarrow as pa

    from medicalrec.bench.loading import cell_text

    n = batch.num_rows
    cells = np.empty((n, batch.num_columns), dtype=object)
    for j in range(batch.num_columns):
        column = batch.column(j)
        try:
            encoded = column.dictionary_encode()
        except pa.ArrowException:  # types without a dictionary encoding (nested, null)
            cells[:, j] = [cell_text(v) for v in column.to_pylist()] if n else []
            continue
        texts = np.empty(len(encoded.dictionary) + 1, dtype=object)
        texts[:-1] = [cell_text(v) for v in encoded.dictionary.to_pylist()]
        texts[-1] = None
        indices = encoded.indices.fill_null(len(texts) - 1).to_numpy(zero_copy_only=False)
        cells[:, j] = texts[indices]
    return pd.DataFrame(cells, columns=pd.Index([str(c) for c in batch.schema.names], dtype=object), dtype=object)


def _validated(raw: pd.DataFrame, id_position: int, source: str,
               seen: set[str]) -> tuple[pd.DataFrame, np.ndarray, int]:
    """``(frame, ids, blank rows)`` of the rows to score; ``ValidationError`` (``TaskProblem``s, in
    row and column order) when any row has a bad value, no task id, or an id already in ``seen`` or
    earlier in the batch. All-empty rows are skipped; the batch's ids are added to ``seen``."""
    from medicalrec.bench.loading import normalize

    cells = raw.to_numpy(dtype=object)
    blank = pd.isna(cells).all(axis=1) if len(raw) else np.zeros(0, dtype=bool)
    result = normalize(raw, source, required=(), max_problems=MAX_PROBLEMS)
    header = str(raw.columns[id_position]).strip()
    found = [(p.row - 2, p) for p in result.problems]  # normalize counts rows from 2 (header = 1)
    ids, _, id_problems = check_task_ids(cells, id_position, header, blank, seen,
                                         "a task id (the Spark engine names tasks by their task_id)")
    found += id_problems
    if found:
        order = {h.strip(): j for j, h in reversed(list(enumerate(str(c) for c in raw.columns)))}
        found.sort(key=lambda item: (item[0], order.get(item[1].column, len(order))))
        problems = [TaskProblem(0, p.column, p.value, p.expected, task_id=ids[i]) for i, p in found[:MAX_PROBLEMS]]
        raise ValidationError(source, problems, truncated=result.truncated or len(found) > MAX_PROBLEMS)
    keep = ~blank
    return result.frame[keep], ids[keep], int(blank.sum())


class _WorkerError(RuntimeError):
    """A ``MedicalRecError`` raised on an executor, as one JSON line the driver can parse back out of
    the Spark failure message (the exception object itself does not travel, only its text)."""

    def __init__(self, error: MedicalRecError):
        payload = {"type": type(error).__name__, "message": str(error)}
        if isinstance(error, ValidationError):
            payload.update(source=error.source, truncated=error.truncated, problems=[
                [p.column, p.value, p.expected, getattr(p, "task_id", None)] for p in error.problems])
        super().__init__(WORKER_ERROR_MARK + json.dumps(payload, default=str))


def _from_worker(error: BaseException) -> MedicalRecError | None:
    """The ``MedicalRecError`` an executor raised, rebuilt from a Spark failure's text, else None."""
    text = str(error)
    start = text.find(WORKER_ERROR_MARK)
    if start < 0:
        return None
    try:
        payload, _ = json.JSONDecoder().raw_decode(text, start + len(WORKER_ERROR_MARK))
    except ValueError:
        return None
    if payload.get("type") == ValidationError.__name__:
        problems = [TaskProblem(0, column, value, expected, task_id=task_id)
                    for column, value, expected, task_id in payload["problems"]]
        return ValidationError(payload["source"], problems, truncated=payload["truncated"])
    kind = getattr(errors, str(payload.get("type")), None)
    if isinstance(kind, type) and issubclass(kind, MedicalRecError):
        return kind(payload["message"])
    return MedicalRecError(payload["message"])


# ---------------------------------------------------------------------------------------------
# Writing


@dataclass
class _Target:
    """Where a finished output goes (Hadoop ``FileSystem`` and ``Path`` objects, through Py4J)."""

    fs: Any
    path: Any
    temporary: Any  # the new output while it is written
    backup: Any  # the earlier output while the new one is swapped in
    text: str


def _output_target(spark, output_path: str, input_source) -> _Target:
    """Check ``output_path`` before any work: its parent exists, it is not the input, and an existing
    directory there is a finished Spark output (has ``_SUCCESS``), not something else to destroy."""
    hadoop_path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path
    target = hadoop_path(output_path)
    fs = target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    target = fs.makeQualified(target)
    if isinstance(input_source, (str, Path)) and fs.makeQualified(hadoop_path(str(input_source))).equals(target):
        raise ConfigError(f"{output_path}: output would overwrite the input")
    if fs.exists(target) and fs.getFileStatus(target).isDirectory() and not fs.exists(hadoop_path(target, "_SUCCESS")):
        raise ConfigError(f"{output_path}: exists and is not a finished Spark output (no _SUCCESS); "
                          "refusing to replace it")
    parent = target.getParent()
    if parent is None or not fs.exists(parent):
        raise ConfigError(f"{output_path}: directory {parent} does not exist")
    token = uuid.uuid4().hex
    temporary = hadoop_path(parent, temp_name(target.getName(), token))
    backup = hadoop_path(parent, temp_name(target.getName(), f"{token}.old"))
    return _Target(fs, target, temporary, backup, output_path)


def _write_replacing(ranked, target: _Target) -> None:
    """Write ``ranked`` as Parquet into the hidden sibling ``target.temporary``, then swap it in:
    an earlier output is replaced only after the new one is complete; an input without tasks gives
    an empty output, as the local engine writes. (On object stores a rename is a copy: slower, and
    not atomic.)"""
    fs = target.fs
    try:
        try:
            ranked.write.option("compression", PARQUET_COMPRESSION).parquet(target.temporary.toString())
        except Exception as error:  # Py4J/pyspark errors carrying an executor's failure
            rebuilt = _from_worker(error)
            if rebuilt is not None:
                raise rebuilt from None
            raise
        _swap_in(fs, target)
    finally:
        if fs.exists(target.temporary):
            fs.delete(target.temporary, True)


def _swap_in(fs, target: _Target) -> None:
    """Rename the finished ``target.temporary`` onto ``target.path``. An earlier output is moved
    aside first and deleted only once the new one is in place; if the rename fails it goes back, so
    a failed swap leaves the earlier output, never nothing."""
    earlier = fs.exists(target.path)
    if earlier and not _renamed(fs, target.path, target.backup):
        raise DataFileError(f"{target.text}: could not move the earlier output aside to {target.backup.toString()}")
    if not _renamed(fs, target.temporary, target.path):
        if earlier:
            _renamed(fs, target.backup, target.path)
        raise DataFileError(f"{target.text}: could not move the finished output from {target.temporary.toString()}")
    if earlier:
        fs.delete(target.backup, True)


def _renamed(fs, source, destination) -> bool:
    """``FileSystem.rename``, which reports failure by returning false or by raising (an IOException
    through Py4J), depending on the file system."""
    try:
        return bool(fs.rename(source, destination))
    except Exception:  # Py4JJavaError wrapping the file system's IOException
        return False
