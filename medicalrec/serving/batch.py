"""Batch scoring: the nightly job that turns a file of task descriptions into ranked recommendations.

``score_file`` streams the input chunk by chunk (read -> validate -> encode -> ONNX -> top-k ->
evidence -> append), so memory stays flat in the input size apart from the set of task ids seen
(needed to reject duplicates across chunks; ~100 bytes per id). Output and rejects are written
with ``atomic.atomic_outputs``: a failure, Ctrl-C or SIGTERM leaves an existing output untouched, and
output and rejects are replaced together.

Output (long format, one row per task and ranked model): ``Scorer.arrow_table``, formula-escaped
in CSV. Output bytes depend only on the input, the bundle and ``top_k``/``chunk_size``.

``check_columns`` and ``check_task_ids`` are the input checks both engines run (local and Spark).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.errors import ConfigError, DataFileError, Problem, SchemaError, ValidationError
from medicalrec.serving.bundle import Bundle, resolve_bundle
from medicalrec.serving.tradeoff import Limits
from medicalrec.atomic import atomic_outputs, remove_quietly, temp_owner
from medicalrec.serving.files import RejectsWriter, TableWriter, file_sha256
from medicalrec.serving.scorer import (DEFAULT_TOP_K, EVIDENCE_SIDE, InputNotes, Scorer, check_top_k,
                                       evidence_layout, evidence_path_for, output_schema)

OUTPUT_FORMATS = {".csv": "csv", ".parquet": "parquet"}
ON_ERROR = ("fail", "skip")
DEFAULT_CHUNK_SIZE = C.DEFAULT_SCORING_CHUNK
MAX_NOTES = 20  # loader notes (encoding, percent metrics, merged spellings) kept in the summary
DUPLICATE_ID = "a task id not used by an earlier row (duplicate)"


# ---------------------------------------------------------------------------------------------
# Run summary


@dataclass
class ScoringSummary:
    """What one ``score_file`` run did; ``format_summary`` prints it, ``mlops.tracking.log_scoring_run``
    logs it."""

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
    top_k: int | None = DEFAULT_TOP_K  # as asked; None: every candidate
    top_k_effective: int = 0  # models per task in the output: fewer than top_k when the model has fewer
    within: float | None = None  # --within: tasks keep different numbers of models, top_k_effective at most
    device: str = "cpu"
    task_id_source: str = ""
    rejects_path: str | None = None
    evidence_path: str | None = None  # the per-task evidence side file (evidence="side")
    model_version: str | None = None
    data_hash: str | None = None  # of the training data, when the bundle records it
    recommender: str | None = None
    mode: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def tasks_per_second(self) -> float:
        return self.rows_scored / self.seconds if self.seconds > 0 else 0.0



def format_summary(summary: ScoringSummary) -> str:
    """A few human lines for the end of a run."""
    version = f" (version {summary.model_version})" if summary.model_version else ""
    per_task = f"{'up to ' if summary.within is not None else ''}{summary.top_k_effective} models per task"
    if summary.top_k != summary.top_k_effective:
        per_task += ", all asked" if summary.top_k is None else f", top {summary.top_k} asked"
    lines = [
        f"model      {summary.model_uri}{version}: {summary.recommender or '?'} mode {summary.mode or '?'}, device {summary.device}",
        f"input      {summary.input_path} (sha256 {summary.input_hash[:12]}...), task ids: {summary.task_id_source}",
        f"rows       {summary.rows_read} read, {summary.rows_scored} scored, {summary.rows_rejected} rejected"
        + (f", {summary.rows_blank} blank" if summary.rows_blank else ""),
        f"output     {summary.output_path}: {summary.output_rows} rows ({per_task})",
    ]
    if summary.rejects_path:
        lines.append(f"rejects    {summary.rejects_path}")
    if summary.evidence_path:
        lines.append(f"evidence   {summary.evidence_path} (one row per task: nearest_tasks, distance, confidence)")
    lines.append(f"time       {summary.seconds:.1f} s ({summary.tasks_per_second:,.0f} tasks/s)")
    lines += [f"note       {note}" for note in summary.notes]
    return "\n".join(lines)



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



def rejects_path_for(output: str | Path) -> Path:
    """``<output stem>.rejects.csv`` beside the output."""
    output = Path(output)
    return output.with_name(f"{output.stem}.rejects.csv")


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))


def check_targets(input_path: Path, targets: dict[str, Path]) -> None:
    """``ConfigError`` before any work when a path the run writes (``{role: path}``, their hidden
    temporary files included) is a folder, read-only, or the input itself."""
    for role, target in targets.items():
        if target.is_dir():
            raise ConfigError(f"{target}: the {role} path is a folder; move it away or choose another --output")
        if target.exists() and not os.access(target, os.W_OK, effective_ids=os.access in os.supports_effective_ids):
            raise ConfigError(f"{target}: the {role} is read-only; make it writable or choose another --output")
        if _same_file(input_path, target):
            raise ConfigError(f"{input_path}: this run would overwrite its own input with the {role} ({target}); "
                              "rename the input or choose another --output")
        if temp_owner(input_path, target) is not None:
            raise ConfigError(f"{input_path}: named like a hidden temporary file of the {role} ({target}), which "
                              "runs remove; rename the input")



# ---------------------------------------------------------------------------------------------
# score_file


def _remove_stale_side_file(input_path: Path, output_path: Path, summary: ScoringSummary) -> None:
    """An inline run replaces the output an earlier ``--evidence side`` run wrote; its side file would
    then describe other tasks than the new output: remove it (never the input) and say so."""
    stale = evidence_path_for(output_path)
    if stale.is_file() and not _same_file(input_path, stale):
        remove_quietly(stale)
        summary.notes.append(f"removed {stale}: an earlier run's evidence side file, which no longer matched the output")


def check_columns(headers: list[str], features: list[str], source: str) -> int | None:
    """Position of the ``task_id`` column (None when there is none), after checking that at least
    one of the model's ``features`` is a column and that no two headers mean ``task_id``."""
    from medicalrec.bench.schema import canonical_column, header_key

    known = {canonical_column(h) for h in headers if h.strip()}
    if not known.intersection(features):
        raise SchemaError(
            f"{source}: none of the model's features ({', '.join(features)}) is a column of the "
            f"input (columns: {', '.join(repr(h) for h in headers[:12])}); is this a task file?"
        )
    key = header_key(C.TASK_ID)
    found = [i for i, h in enumerate(headers) if h is not None and header_key(h) == key]
    if len(found) > 1:
        names = " and ".join(repr(headers[i]) for i in found)
        raise SchemaError(f"{source}: columns {names} all mean {C.TASK_ID!r}; keep only one of them", column=C.TASK_ID)
    return found[0] if found else None


def check_task_ids(cells: np.ndarray, id_position: int, header: str, blank: np.ndarray, seen: set[str],
                   missing_reason: str, offset: int = 0) -> tuple[np.ndarray, np.ndarray, list[tuple[int, Problem]]]:
    """``(ids, bad, problems)`` of a chunk's task-id column: ids stripped (None when empty); a
    non-blank row without an id, or whose id is in ``seen`` or earlier in the chunk, is bad, with a
    ``(row position, Problem)`` (file row ``offset + position + 2``). Adds the chunk's ids to ``seen``."""
    ids = pd.Series(cells[:, id_position], dtype=object).str.strip()
    ids = ids.where(ids != "", None).to_numpy(dtype=object)
    missing = pd.isna(ids) & ~blank
    problems = [(int(i), Problem(offset + int(i) + 2, header, cells[i, id_position], missing_reason))
                for i in np.flatnonzero(missing)]
    present = ~pd.isna(ids) & ~blank
    repeated = np.zeros(len(cells), dtype=bool)
    repeated[present] = pd.Series(ids[present], dtype=object).duplicated(keep="first").to_numpy()
    repeated[present] |= np.fromiter((v in seen for v in ids[present]), dtype=bool, count=int(present.sum()))
    problems += [(int(i), Problem(offset + int(i) + 2, header, ids[i], DUPLICATE_ID)) for i in np.flatnonzero(repeated)]
    seen.update(ids[present])
    return ids, missing | repeated, problems


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
        self.headers = ["" if h is None else str(h) for h in raw.columns]
        self.id_position = check_columns(self.headers, self.features, self.source)

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
            ids, bad_ids, id_problems = check_task_ids(
                cells, self.id_position, self.headers[self.id_position].strip(), blank_rows, self.seen,
                "a task id (the task_id column is present, so every row needs one)", offset)
            problems += [problem for _, problem in id_problems]
            bad |= bad_ids
        else:
            ids = (np.arange(len(raw)) + offset + 2).astype(str).astype(object)
        bad &= ~blank_rows
        good = ~bad & ~blank_rows
        position = {h: i for i, h in reversed(list(enumerate(h.strip() for h in self.headers)))}
        problems.sort(key=lambda p: (p.row, position.get(p.column, len(position))))
        truncated = result.truncated or (not self.skip and len(problems) > DEFAULT_MAX_PROBLEMS)
        if not self.skip:
            problems = problems[:DEFAULT_MAX_PROBLEMS]
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
    progress: Callable[[int], None] | None = None,
    evidence: str | None = None,
    limits: Limits | None = None,
) -> ScoringSummary:
    """Score every task of ``input_path`` and write the top-``top_k`` models per task (all with
    ``None``) to ``output_path`` (``.csv`` or ``.parquet``). Returns a ``ScoringSummary``.

    Input: task descriptions in the bench schema (CSV, TSV, Parquet, XLSX; any mode's features, any
    of them missing; no ``model`` column needed) and optionally a ``task_id`` column; without one,
    a task's id is its row number in the file (header = row 1, first task = row 2).

    ``on_error="fail"``: the first chunk with a bad value raises ``ValidationError`` (row, column,
    value of each problem in it) and nothing is written. ``"skip"``: good rows are scored and every
    problem of a bad row goes to ``<output stem>.rejects.csv`` (row, task_id, column, value, reason;
    written, possibly empty, on every skip run so a stale one never survives), replaced together
    with the output. Every row rejected: an output with only its header, ``rows_scored == 0``.

    ``ConfigError`` before any work when a path the run writes is the input, a folder or read-only
    (``check_targets``), or cannot be created.

    ``evidence``: ``"inline"`` (the per-task evidence on every ranked row) or ``"side"`` (once per
    task in ``<output stem>.evidence.csv|.parquet``, written and replaced together with the output);
    None: side when ``top_k`` is None, else inline (``scorer.evidence_layout``).

    ``limits`` (``tradeoff.Limits``): rank only the candidates within a parameter count, GFLOPs, or
    points of the best expected metric; ``ConfigError`` before any work when none is.

    ``progress(rows_done)`` is called after each chunk with the number of input rows handled so far.
    The library never prints; the CLI decides what to show.
    """
    started = time.perf_counter()
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    top_k = check_top_k(top_k)
    if isinstance(chunk_size, bool) or int(chunk_size) < 1:
        raise ConfigError(f"chunk_size must be a positive number of rows, got {chunk_size!r}")
    input_path, output_path = Path(input_path), Path(output_path)
    kind = OUTPUT_FORMATS.get(output_path.suffix.lower())
    if kind is None:
        raise ConfigError(f"{output_path}: output must end in {' or '.join(OUTPUT_FORMATS)}")
    if not output_path.parent.is_dir():
        raise ConfigError(f"{output_path}: directory {output_path.parent} does not exist")
    skip = on_error == "skip"
    rejects_path = rejects_path_for(output_path) if skip else None
    evidence = evidence_layout(evidence, top_k)
    evidence_path = evidence_path_for(output_path) if evidence == EVIDENCE_SIDE else None
    check_targets(input_path, {"output": output_path, **({"rejects file": rejects_path} if skip else {}),
                               **({"evidence side file": evidence_path} if evidence_path is not None else {})})

    from medicalrec.bench.loading import read_table

    chunks = read_table(input_path, chunksize=int(chunk_size))  # DataFileError before any model work
    bundle = model if isinstance(model, Bundle) else resolve_bundle(model)
    scorer = Scorer(bundle, device)
    mask = scorer.candidate_mask(limits)
    n_candidates = scorer.n_models if mask is None else int(mask.sum())
    model_uri = str(model.directory if isinstance(model, Bundle) else model)
    summary = ScoringSummary(
        model_uri=model_uri, input_path=str(input_path), output_path=str(output_path),
        input_hash=file_sha256(input_path), top_k=top_k,
        top_k_effective=n_candidates if top_k is None else min(top_k, n_candidates),
        device=scorer.device, model_version=_model_version(model_uri), data_hash=bundle.metadata.get("data_hash"),
        recommender=bundle.metadata.get("recommender"), mode=bundle.mode,
        notes=[scorer.device_note] if scorer.device_note else [],
    )
    summary.within = None if limits is None else limits.within
    if mask is not None and (limits.max_params is not None or limits.max_gflops is not None):
        summary.notes.append(f"cost limits: {n_candidates} of {scorer.n_models} candidate models qualify")
    summary.rejects_path = None if rejects_path is None else str(rejects_path)
    summary.evidence_path = None if evidence_path is None else str(evidence_path)
    input_notes = InputNotes(scorer.encoder.features, scorer.encoder.vocabularies)
    validator = _Validator(str(input_path), list(scorer.encoder.features), skip)
    columns = C.OUTPUT_COLUMNS if evidence_path is None else C.RANKED_COLUMNS
    with atomic_outputs(output_path, rejects_path, evidence_path) as (temp, rejects_temp, evidence_temp), \
            TableWriter(temp, kind, output_schema(True, columns), output_schema(False, columns)) as writer, \
            (RejectsWriter(rejects_temp) if skip else nullcontext()) as rejects, \
            (TableWriter(evidence_temp, kind, output_schema(True, C.EVIDENCE_COLUMNS),
                         output_schema(False, C.EVIDENCE_COLUMNS)) if evidence_temp else nullcontext()) as side:
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
                table, per_task = scorer.arrow_tables(chunk.frame, chunk.ids, top_k, kind == "csv", evidence, limits)
                writer.write(table)
                if side is not None:
                    side.write(per_task)
                input_notes.add(chunk.frame, chunk.ids)
                summary.rows_scored += len(chunk.frame)
                summary.output_rows += table.num_rows
            if progress is not None:
                progress(summary.rows_read)
        if validator.headers is None:
            raise DataFileError(f"{input_path}: no header and no rows; is this a task file?")
    if summary.rows_read == summary.rows_blank:  # a night without new tasks: an empty output, not a failure
        summary.notes.append(f"no tasks: {input_path} has a header but no data rows, so {output_path} holds "
                             "only its header")
    summary.notes += input_notes.notes()
    if evidence_path is None:
        _remove_stale_side_file(input_path, output_path, summary)
    if limits is not None and limits.within is not None and summary.rows_scored:
        summary.notes.append(f"--within {limits.within:g}: {summary.output_rows / summary.rows_scored:.1f} models per task on "
                             "average, those expected within that many points of the task's first recommendation")
    summary.task_id_source = (f"column {validator.headers[validator.id_position].strip()!r}"
                              if validator.id_position is not None else "row numbers (no task_id column; header = row 1)")
    summary.seconds = time.perf_counter() - started
    return summary

