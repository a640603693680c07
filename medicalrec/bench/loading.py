"""Read bench files (CSV, TSV, Parquet, XLSX) and turn them into canonical, validated records.

Three steps, usable separately so that a batch scorer can stream a large file chunk by chunk:

* ``read_table``: the file as it is, every value a string or None, header row kept verbatim;
* ``normalize``: canonical columns and types, every bad value reported as a ``Problem`` (never raised,
  so a caller can skip bad rows), schema problems raised as ``SchemaError``;
* ``load_bench``: both, for a training file; raises ``ValidationError`` with all problems.

Choices the spec leaves open:

* A file that is not valid UTF-8 is decoded as cp1252 (latin-1 if even that fails) with a note,
  rather than rejected: spreadsheets on Windows save CSV that way and the fix is obvious to no one.
* ``k_fold``: ``No`` is 0 (no cross-validation), ``Yes`` without a number is missing (count unknown),
  ``Yes (5)`` / ``5-fold`` are 5.
* Problem rows count like a spreadsheet: header is row 1, the first data row is row 2, blank lines
  included; ``Problem.column`` is the header as written in the file.
"""

from __future__ import annotations

import codecs
import gzip
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.bench import schema as S
from medicalrec.errors import ConfigError, DataFileError, Problem, SchemaError, ValidationError

DEFAULT_MAX_PROBLEMS = C.DEFAULT_MAX_PROBLEMS

FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx"}
# Text formats may also come gzip-compressed (``corpus.csv.gz``), as the shipped corpus does.
GZIP_SUFFIX = ".gz"
GZIP_FORMATS = ("csv", "tsv")

# Notes from reading (encoding, sheet) travel with the raw frame in ``DataFrame.attrs[NOTES_ATTR]``;
# with ``chunksize`` only the first chunk carries them.
NOTES_ATTR = "medicalrec_notes"

_DECODE_BLOCK = 1 << 20
_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2}(?:([, '\u00a0\u202f])\d{3})(?:\1\d{3})*(?:\.\d*)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")


@dataclass
class Normalized:
    """Canonical records of one raw frame plus everything that was wrong or changed on the way.

    ``frame`` has the raw frame's index and row order (one row per raw row, bad rows included, with
    NaN/None where a value was invalid); ``bad_rows`` are positions in the raw frame, all of them
    even when ``problems`` was cut at the cap (``truncated``).
    """

    frame: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    bad_rows: set[int] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    truncated: bool = False


@dataclass
class Bench:
    """Valid records of a bench file (canonical columns first, extra columns after) and the notes of
    what loading changed (percent metrics, merged spellings, encoding, dropped empty rows)."""

    frame: pd.DataFrame
    notes: list[str]
    source: str


# ---------------------------------------------------------------------------------------------
# Reading


def read_table(path: str | Path, chunksize: int | None = None) -> pd.DataFrame | Iterator[pd.DataFrame]:
    """The file's header and cells verbatim: every value a ``str`` or None (empty cell).

    The format follows the extension (``.csv``, ``.tsv``, ``.parquet``/``.pq``, ``.xlsx``). Duplicate
    headers are kept as they are (``normalize`` rejects them). With ``chunksize`` an iterator of frames
    of at most that many rows is returned (memory stays flat); each chunk's index is the position of
    its rows among the file's data rows, so ``normalize(chunk, ..., row_offset=chunk.index[0])``
    reports file row numbers. A header-only file gives one empty frame.
    """
    path = Path(path)
    kind = file_format(path)
    if kind is None:
        hint = "; save it as .xlsx" if path.suffix.lower() == ".xls" else ""
        raise DataFileError(
            f"{path}: unknown file type {path.suffix or '(no extension)'!r}; "
            f"use one of {', '.join(FORMATS)} (.csv and .tsv may be gzip-compressed: .csv.gz){hint}"
        )
    if not path.exists():
        raise DataFileError(f"{path}: no such file")
    if not path.is_file():
        raise DataFileError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise DataFileError(f"{path}: empty file (0 bytes)")
    if chunksize is not None and (isinstance(chunksize, bool) or int(chunksize) < 1):
        raise ConfigError(f"chunksize must be a positive number of rows, got {chunksize!r}")
    readers = {"csv": _read_csv, "tsv": _read_csv, "parquet": _read_parquet, "xlsx": _read_xlsx}
    chunks = readers[kind](path, None if chunksize is None else int(chunksize))
    if chunksize is not None:
        return chunks
    frames = list(chunks)
    if len(frames) == 1:
        return frames[0]
    frame = pd.concat(frames)
    frame.attrs[NOTES_ATTR] = list(frames[0].attrs.get(NOTES_ATTR, []))
    return frame


def file_format(path: str | Path) -> str | None:
    """``csv``, ``tsv``, ``parquet`` or ``xlsx`` from the extension (``.csv.gz``/``.tsv.gz`` too);
    None for anything else."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == GZIP_SUFFIX:
        inner = FORMATS.get(Path(path.stem).suffix.lower())
        return inner if inner in GZIP_FORMATS else None
    return FORMATS.get(suffix)


def _open_bytes(path: Path):
    """The file's bytes, decompressed when it is gzip (``.gz``)."""
    return gzip.open(path, "rb") if path.suffix.lower() == GZIP_SUFFIX else path.open("rb")


def _raw_frame(header: list[str], rows: list[list[object]] | np.ndarray, start: int, notes: list[str] | None) -> pd.DataFrame:
    data = np.empty((len(rows), len(header)), dtype=object)
    if len(rows):
        data[:, :] = rows
    frame = pd.DataFrame(
        data, columns=pd.Index(header, dtype=object), index=pd.RangeIndex(start, start + len(rows)), dtype=object
    )
    frame.attrs[NOTES_ATTR] = list(notes or [])
    return frame


def _trim_trailing_blank(rows: np.ndarray) -> np.ndarray:
    """Drop all-empty rows at the end (the trailing blank lines editors and spreadsheets leave)."""
    end = len(rows)
    while end and all(v is None for v in rows[end - 1]):
        end -= 1
    return rows[:end]


def _text_cells(values: np.ndarray) -> np.ndarray:
    out = values.astype(object)
    out[pd.isna(out) | (out == "")] = None
    return out


def _detect_encoding(path: Path) -> tuple[str, list[str]]:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else cp1252 (else latin-1), with a note.

    Decodes the whole file block by block, so memory stays flat for large files.
    """
    with _open_bytes(path) as handle:
        start = handle.read(4)
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", []
    bad_offset = _first_undecodable(path, "utf-8")
    if bad_offset is None:
        return "utf-8-sig", []
    for encoding in ("cp1252", "latin-1"):
        if _first_undecodable(path, encoding) is None:
            return encoding, [
                f"file is not valid UTF-8 (first bad byte at offset {bad_offset}); read it as {encoding}"
            ]
    raise DataFileError(f"{path}: cannot decode the file as text")  # pragma: no cover (latin-1 decodes all)


def _first_undecodable(path: Path, encoding: str) -> int | None:
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with _open_bytes(path) as handle:
        while True:
            block = handle.read(_DECODE_BLOCK)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                return offset + error.start
            if not block:
                return None
            offset += len(block)


def _separator(path: Path, encoding: str, kind: str) -> tuple[str, list[str]]:
    """Tab for .tsv; for .csv a comma, unless the header has semicolons (or tabs) and no commas."""
    if kind == "tsv":
        return "\t", []
    with codecs.getreader(encoding)(_open_bytes(path)) as handle:
        first = handle.readline()
    if "," not in first:
        for sep, name in ((";", "semicolons"), ("\t", "tabs")):
            if sep in first:
                return sep, [f"columns are separated by {name}"]
    return ",", []


def _read_csv(path: Path, chunksize: int | None) -> Iterator[pd.DataFrame]:
    encoding, notes = _detect_encoding(path)
    sep, sep_notes = _separator(path, encoding, file_format(path))
    notes = notes + sep_notes
    options = dict(
        sep=sep, header=None, dtype=str, na_filter=False, keep_default_na=False,
        skip_blank_lines=False, encoding=encoding, engine="c",
    )
    try:
        if chunksize is None:
            first, pieces = pd.read_csv(path, **options), iter(())
        else:
            pieces = iter(pd.read_csv(path, chunksize=chunksize, **options))
            first = next(pieces)
    except pd.errors.EmptyDataError:
        raise DataFileError(f"{path}: no header row (the file holds only blank lines)") from None
    except StopIteration:
        raise DataFileError(f"{path}: no header row") from None
    except (pd.errors.ParserError, ValueError) as error:
        raise DataFileError(f"{path}: cannot parse as {sep!r}-separated text: {error}") from None
    return _csv_chunks(path, first, pieces, notes, sep)


def _csv_chunks(path: Path, first: pd.DataFrame, pieces: Iterator[pd.DataFrame], notes: list[str], sep: str) -> Iterator[pd.DataFrame]:
    values = _text_cells(first.to_numpy())
    header = ["" if v is None else str(v) for v in values[0]]
    if header:  # a UTF-8 BOM survives when the rest of the file forced the cp1252 fallback
        header[0] = header[0].removeprefix("\u00ef\u00bb\u00bf")
    if not any(h.strip() for h in header):
        raise DataFileError(f"{path}: the first line is empty; it must hold the column names")
    pending = values[1:]
    start = 0
    yielded = False
    while True:
        try:
            chunk = next(pieces, None)
        except (pd.errors.ParserError, ValueError) as error:
            raise DataFileError(f"{path}: cannot parse as {sep!r}-separated text: {error}") from None
        if chunk is None:
            break
        if len(pending):
            yield _raw_frame(header, pending, start, None if yielded else notes)
            start += len(pending)
            yielded = True
        pending = _text_cells(chunk.to_numpy())
    pending = _trim_trailing_blank(pending)
    if len(pending) or not yielded:
        yield _raw_frame(header, pending, start, None if yielded else notes)


def cell_text(value: object) -> str | None:
    """A typed cell (Parquet, XLSX) as the text a CSV would hold."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else repr(float(value))
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value)
    return text if text != "" else None


def _read_parquet(path: Path, chunksize: int | None) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise DataFileError(f"{path}: not a readable Parquet file: {error}") from None
    header = [str(name) for name in handle.schema_arrow.names]
    return _parquet_chunks(path, handle, header, chunksize)


def _parquet_chunks(path: Path, handle, header: list[str], chunksize: int | None) -> Iterator[pd.DataFrame]:
    import pyarrow as pa

    start = 0
    yielded = False
    try:
        batches = handle.iter_batches(batch_size=chunksize) if chunksize else iter([handle.read()])
        for batch in batches:
            if batch.num_rows == 0 and yielded:
                continue
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            rows = np.empty((batch.num_rows, len(header)), dtype=object)
            for j, column in enumerate(columns):
                rows[:, j] = [cell_text(v) for v in column]
            yield _raw_frame(header, rows, start, None)
            start += batch.num_rows
            yielded = True
    except (pa.ArrowException, OSError) as error:
        raise DataFileError(f"{path}: not a readable Parquet file: {error}") from None
    if not yielded:
        yield _raw_frame(header, [], 0, None)


def _read_xlsx(path: Path, chunksize: int | None) -> Iterator[pd.DataFrame]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as error:
        raise DataFileError(f"{path}: not a readable .xlsx workbook: {error}") from None
    sheet = book.worksheets[0]
    notes = []
    if len(book.worksheets) > 1:
        notes.append(f"read the first sheet {sheet.title!r} of {len(book.worksheets)}")
    rows = sheet.iter_rows(values_only=True)
    first = next(rows, None)
    header_cells = [cell_text(v) for v in (first or ())]
    while header_cells and header_cells[-1] is None:
        header_cells.pop()
    if not header_cells:
        book.close()
        raise DataFileError(f"{path}: the first row of sheet {sheet.title!r} is empty; it must hold the column names")
    header = ["" if h is None else h for h in header_cells]
    return _xlsx_chunks(book, rows, header, notes, chunksize)


def _xlsx_chunks(book, rows, header: list[str], notes: list[str], chunksize: int | None) -> Iterator[pd.DataFrame]:
    """Rows of the sheet in chunks; blank rows are kept (row numbers stay those of the sheet) except
    at the end; values right of the last named column are ignored with a note on their chunk."""
    width = len(header)
    start = 0
    first = True
    buffer: list[list[str | None]] = []
    blanks: list[list[str | None]] = []
    dropped = 0

    def emit(rows_out: list[list[str | None]]) -> pd.DataFrame:
        nonlocal start, first, dropped
        chunk_notes = list(notes) if first else []
        if dropped:
            chunk_notes.append(f"ignored {dropped} value(s) in columns without a header")
        frame = _raw_frame(header, rows_out, start, chunk_notes)
        start += len(rows_out)
        first = False
        dropped = 0
        return frame

    try:
        for row in rows:
            cells = [cell_text(v) for v in row[:width]]
            cells += [None] * (width - len(cells))
            dropped += sum(1 for v in row[width:] if cell_text(v) is not None)
            if all(v is None for v in cells):
                blanks.append(cells)
                continue
            buffer.extend(blanks)
            blanks = []
            buffer.append(cells)
            while chunksize and len(buffer) >= chunksize:
                yield emit(buffer[:chunksize])
                buffer = buffer[chunksize:]
    finally:
        book.close()
    if buffer or first or dropped:
        yield emit(buffer)


# ---------------------------------------------------------------------------------------------
# Normalising


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    if isinstance(value, str):
        return value.strip().casefold() in S.MISSING_TOKENS
    return False


def _squash(value: object) -> str:
    """Text with surrounding whitespace removed and inner runs of whitespace made one space."""
    return " ".join(str(value).split())


def _number(value: object) -> tuple[float, bool] | None:
    """``(number, written_with_percent_sign)`` or None when the value is not a finite number.

    Accepts ``" 28 "``, ``"1e3"``, ``"10,000"``/``"10 000"`` (thousands), ``"0,95"`` (decimal comma)
    and ``"95%"``.
    """
    if isinstance(value, (bool, np.bool_)):
        return float(value), False
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        return (number, False) if math.isfinite(number) else None
    text = str(value).strip().replace("\u2212", "-")
    percent = text.endswith("%")
    if percent:
        text = text[:-1].strip()
    match = _THOUSANDS.fullmatch(text)
    if match:
        text = text.replace(match.group(1), "")
    elif _DECIMAL_COMMA.fullmatch(text):
        text = text.replace(",", ".")
    if "_" in text:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return (number, percent) if math.isfinite(number) else None


class _Collector:
    """Problems found so far. Each column reports in row order and keeps at most ``cap + 1`` problems,
    enough to sort all columns by (row, column) and cut at ``cap`` exactly, with flat memory."""

    def __init__(self, cap: int, row_offset: int):
        self.cap = cap
        self.row_offset = row_offset
        self.items: list[tuple[int, float, Problem]] = []
        self.per_column: Counter[float] = Counter()
        self.bad_rows: set[int] = set()
        self.total = 0

    def add(self, position: int, column_order: float, header: str, value: object, expected: str) -> None:
        self.total += 1
        self.bad_rows.add(position)
        if self.per_column[column_order] <= self.cap:
            self.per_column[column_order] += 1
            problem = Problem(row=self.row_offset + position + 2, column=header, value=value, expected=expected)
            self.items.append((position, column_order, problem))

    def result(self) -> tuple[list[Problem], bool]:
        self.items.sort(key=lambda item: (item[0], item[1]))
        problems = [p for _, _, p in self.items[: self.cap]]
        return problems, self.total > self.cap


def _resolve_headers(headers: list[str], source: str) -> tuple[dict[str, int], list[tuple[str, int]], list[str]]:
    """Canonical column -> position, extra columns (name, position), notes. Raises on ambiguity."""
    canonical: dict[str, list[int]] = {}
    extras: list[tuple[str, int]] = []
    for position, header in enumerate(headers):
        column = S.canonical_column(header) if header.strip() else None
        if column is None:
            extras.append((header, position))
        else:
            canonical.setdefault(column, []).append(position)
    for column, positions in canonical.items():
        if len(positions) > 1:
            names = " and ".join(repr(headers[p]) for p in positions)
            raise SchemaError(
                f"{source}: columns {names} all mean {column!r} (header {positions[0] + 1} and "
                f"{positions[1] + 1}); keep only one of them",
                column=column,
            )
    _refuse_misspellings([header for header, _ in extras], set(canonical), source)
    notes: list[str] = []
    names: list[tuple[str, int]] = []
    taken = set(C.CANONICAL_COLUMNS)
    for header, position in extras:
        base = header.strip() or f"unnamed_{position + 1}"
        name, suffix = base, 1
        while name in taken:
            name = f"{base}.{suffix}"
            suffix += 1
        if name != base:
            notes.append(f"extra column {base!r} appears more than once; this copy is kept as {name!r}")
        taken.add(name)
        names.append((name, position))
    return {column: positions[0] for column, positions in canonical.items()}, names, notes


# Bench columns whose misspelling is refused: what describes a task (a model's features), where a
# silently ignored column changes every ranking. Headers and aliases shorter than this are not
# matched: one typo turns short names into other words (``fold``/``folds``, ``nval``/``eval``).
MISSPELT_COLUMNS = C.TASK_DESCRIPTION_COLUMNS + (C.AUGMENTATION, C.DATASET)
MISSPELLING_MIN_LENGTH = 5


def _refuse_misspellings(extras: list[str], present: set[str], source: str) -> None:
    """An extra header one typo away from a task column the file lacks (``domian``, ``n_clases``;
    two typos for names of 8 letters or more; same first letter) is a ``SchemaError``: kept as an
    extra column it would be ignored, and its tasks scored or trained on as if that feature were
    unknown, without a word."""
    absent = {key: column for key, column in S.HEADER_LOOKUP.items()
              if column in MISSPELT_COLUMNS and column not in present and len(key) >= MISSPELLING_MIN_LENGTH}
    for header in extras:
        key = S.header_key(header)
        if len(key) < MISSPELLING_MIN_LENGTH:
            continue
        for candidate, column in absent.items():
            if key[:1] == candidate[:1] and _typos(key, candidate) <= (2 if len(candidate) >= 8 else 1):
                raise SchemaError(f"{source}: column {header.strip()!r} is not a bench column but reads like "
                                  f"{column!r}, which the file lacks: rename it to {column!r} (a column of "
                                  "another meaning needs a name unlike the bench columns)", column=header.strip())


def _typos(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) that turn ``a`` into ``b``
    (optimal string alignment distance)."""
    previous, current = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        before, previous, current = previous, current, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
    return current[len(b)]


def normalize(
    raw: pd.DataFrame,
    source: str,
    required: tuple[str, ...] = (C.REF, C.MODEL),
    max_problems: int = DEFAULT_MAX_PROBLEMS,
    row_offset: int = 0,
) -> Normalized:
    """Canonical, typed records of ``raw`` (as ``read_table`` returns it, or any frame of cells).

    Output columns: ``constants.CANONICAL_COLUMNS`` in order (absent ones all missing), then extra
    columns. Text and categories are ``object`` (str/None); counts, augmentation (1.0/0.0) and metrics
    are float64 with NaN. Bad values become Problems and NaN/None; schema problems raise
    ``SchemaError``. ``row_offset``: data rows of the file before this chunk.
    """
    unknown = [c for c in required if c not in C.CANONICAL_COLUMNS]
    if unknown:
        raise ConfigError(f"unknown required column(s) {unknown}; choose from {', '.join(C.CANONICAL_COLUMNS)}")
    headers = ["" if h is None else str(h) for h in raw.columns]
    positions, extras, notes = _resolve_headers(headers, source)
    for column in required:
        if column not in positions:
            accepted = ", ".join(S.HEADER_ALIASES[column])
            raise SchemaError(f"{source}: required column {column!r} is missing (accepted headers: {accepted})", column=column)
    notes = list(raw.attrs.get(NOTES_ATTR, [])) + notes
    n = len(raw)
    collector = _Collector(max(int(max_problems), 0), int(row_offset))
    cells = raw.to_numpy(dtype=object) if n else np.empty((0, len(headers)), dtype=object)
    out: dict[str, pd.Series | np.ndarray] = {}
    order = {column: i for i, column in enumerate(C.CANONICAL_COLUMNS)}

    for column in C.CANONICAL_COLUMNS:
        if column not in positions:
            is_text = column in C.TEXT_COLUMNS or column in C.CATEGORICAL_COLUMNS
            out[column] = np.full(n, None, dtype=object) if is_text else np.full(n, np.nan)
            continue
        values = cells[:, positions[column]]
        header = headers[positions[column]].strip()
        report = _reporter(collector, order[column], header)
        if column in C.TEXT_COLUMNS or column in C.CATEGORICAL_COLUMNS:
            out[column] = _text_column(column, values, header, report, notes)
        elif column == C.AUGMENTATION:
            out[column] = _boolean_column(values, report)
        elif column in C.METRIC_COLUMNS:
            out[column] = _metric_column(values, header, report, notes)
        elif column == C.K_FOLD:
            out[column] = _k_fold_column(values, header, report, notes)
        else:
            out[column] = _count_column(values, S.COUNT_MINIMUM[column], S.COUNT_MAXIMUM[column], report)

    if C.N_SAMPLES in positions:
        whole = out[C.N_SAMPLES]
        whole_header = headers[positions[C.N_SAMPLES]].strip()
        for column in S.SUBSET_COLUMNS:
            if column not in positions:
                continue
            part = out[column]
            with np.errstate(invalid="ignore"):
                too_big = np.flatnonzero(part > whole)
            header = headers[positions[column]].strip()
            for i in too_big:
                # Own ordering slot (+0.5): keeps each slot's problems in row order for the cap.
                collector.add(int(i), order[column] + 0.5, header, cells[i, positions[column]],
                              f"at most {whole_header} ({whole[i]:.0f})")

    frame = pd.DataFrame(
        {column: pd.Series(values, dtype=object if np.asarray(values).dtype == object else "float64")
         for column, values in out.items()}
    )
    for name, position in extras:
        codes, uniques = _factorize(cells[:, position])
        frame[name] = pd.Series(_expand([None if _blank(u) else str(u).strip() for u in uniques], codes), dtype=object)
    frame.index = raw.index
    problems, truncated = collector.result()
    return Normalized(frame=frame, problems=problems, bad_rows=collector.bad_rows, notes=notes, truncated=truncated)


def _blank(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _reporter(collector: _Collector, column_order: float, header: str):
    def report(position: int, value: object, expected: str) -> None:
        collector.add(position, column_order, header, value, expected)

    return report


def _factorize(values: np.ndarray) -> tuple[np.ndarray, list]:
    """Codes (-1 for None/NaN) and the distinct values in order of first appearance, so that the
    per-value work below runs once per distinct value and long files stay fast."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return codes, list(uniques)


def _expand(per_unique: list, codes: np.ndarray, fill: object = None) -> np.ndarray:
    """Per-distinct results back to one value per row (code -1 gets ``fill``)."""
    table = np.empty(len(per_unique) + 1, dtype=object)
    table[: len(per_unique)] = per_unique
    table[-1] = fill
    return table[codes]


def _report_uniques(bad: list[bool], codes: np.ndarray, values: np.ndarray, report, expected: str) -> None:
    if any(bad):
        hit = np.append(np.asarray(bad, dtype=bool), False)[codes]
        for i in np.flatnonzero(hit):
            report(int(i), values[i], expected)


def _text_column(column: str, values: np.ndarray, header: str, report, notes: list[str]) -> np.ndarray:
    codes, uniques = _factorize(values)
    cleaned = [None if _is_missing(u) else _squash(u) for u in uniques]
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    if column == C.TASK_TYPE:
        final = [None if v is None else S.canonical_task_type(v) for v in cleaned]
        bad = [v is not None and f is None for v, f in zip(cleaned, final)]
        _report_uniques(bad, codes, values, report, "one of " + ", ".join(C.TASK_TYPES))
    elif column in S.SPELLING_MERGED_COLUMNS:
        final = _merge_variants(cleaned, counts, S.spelling_key, header, "spelling", notes)
    elif column in S.CASE_MERGED_COLUMNS:
        final = _merge_variants(cleaned, counts, S.category_key, header, "case", notes)
    else:
        final = cleaned
    return _expand(final, codes)


def _merge_variants(cleaned: list, counts: np.ndarray, key, header: str, kind: str, notes: list[str]) -> list:
    """Map every spelling of one key to the key's most frequent spelling (ties: first seen)."""
    spelling_counts: dict[str, int] = {}
    for value, count in zip(cleaned, counts):
        if value is not None:
            spelling_counts[value] = spelling_counts.get(value, 0) + int(count)
    by_key: dict[str, dict[str, int]] = {}
    for spelling, count in spelling_counts.items():
        by_key.setdefault(key(spelling), {})[spelling] = count
    chosen: dict[str, str] = {}
    merged: list[str] = []
    for k, spellings in by_key.items():
        best = max(spellings.items(), key=lambda item: item[1])[0]  # max keeps the first of equals
        chosen[k] = best
        merged += [f"{s!r} -> {best!r} ({c} record(s))" for s, c in spellings.items() if s != best]
    if merged:
        shown = "; ".join(merged[:5]) + (f"; and {len(merged) - 5} more" if len(merged) > 5 else "")
        notes.append(f"{header}: merged {len(merged)} {kind} variant(s) into the most frequent spelling: {shown}")
    return [None if v is None else chosen[key(v)] for v in cleaned]


def _numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(numbers, missing, bad, percent_sign)`` for one column: each distinct value is parsed once,
    by a vectorised pass first and the careful parser only where that pass could not read it."""
    codes, uniques = _factorize(values)
    k = len(uniques)
    numbers = np.full(k + 1, np.nan)
    missing = np.zeros(k + 1, dtype=bool)
    bad = np.zeros(k + 1, dtype=bool)
    percent = np.zeros(k + 1, dtype=bool)
    missing[k] = True
    if k:
        fast = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        slow = ~np.isfinite(fast)
        numbers[:k][~slow] = fast[~slow]
        for j in np.flatnonzero(slow):
            if _is_missing(uniques[j]):
                missing[j] = True
                continue
            parsed = _number(uniques[j])
            if parsed is None:
                bad[j] = True
            else:
                numbers[j], percent[j] = parsed
    return numbers[codes], missing[codes], bad[codes], percent[codes]


def _count_column(values: np.ndarray, minimum: int, maximum: int, report) -> np.ndarray:
    return _whole_numbers(values, _numbers(values), minimum, maximum, f"a whole number >= {minimum}", report)


def _whole_numbers(values: np.ndarray, parsed: tuple, minimum: int, maximum: int, expected: str, report) -> np.ndarray:
    """``_numbers``' numbers where they are whole and in ``[minimum, maximum]``, else NaN and a
    Problem (``expected``, or the plausibility bound's own text above ``maximum``)."""
    numbers, _, bad, percent = parsed
    with np.errstate(invalid="ignore"):
        wrong = bad | percent | (~np.isnan(numbers) & ((numbers != np.round(numbers)) | (numbers < minimum)))
        too_big = ~wrong & (numbers > maximum)
    for i in np.flatnonzero(wrong | too_big):
        report(int(i), values[i], S.implausible(maximum) if too_big[i] else expected)
    numbers[wrong | too_big] = np.nan
    return numbers


def _k_fold_column(values: np.ndarray, header: str, report, notes: list[str]) -> np.ndarray:
    codes, uniques = _factorize(values)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    adjusted: list[object] = []
    unknown = zero = 0
    for value, count in zip(uniques, counts):
        if isinstance(value, str):
            text = " ".join(value.split()).casefold()
            match = S.K_FOLD_PATTERN.fullmatch(text)
            if text in S.K_FOLD_UNKNOWN_TOKENS:
                value, unknown = None, unknown + int(count)
            elif text in S.K_FOLD_NONE_TOKENS:
                value, zero = 0.0, zero + int(count)
            elif match:
                value = float(match.group(1))
        adjusted.append(value)
    numbers = _whole_numbers(values, _numbers(_expand(adjusted, codes)), S.COUNT_MINIMUM[C.K_FOLD],
                             S.COUNT_MAXIMUM[C.K_FOLD], "a whole number >= 0, 'Yes' or 'No'", report)
    if unknown:
        notes.append(
            f"{header}: {unknown} record(s) say 'Yes' without a number of folds; "
            "stored as missing (cross-validation used, count unknown)"
        )
    if zero:
        notes.append(f"{header}: {zero} record(s) say 'No'; stored as 0 (no cross-validation)")
    return numbers


def _boolean_value(value: object) -> float | None:
    """1.0 / 0.0, NaN when missing, None when not a yes/no value."""
    if _is_missing(value):
        return np.nan
    if isinstance(value, (bool, np.bool_, int, float, np.integer, np.floating)):
        text = "1" if float(value) == 1.0 else "0" if float(value) == 0.0 else str(value)
    else:
        text = str(value).strip().casefold()
    if text in S.TRUE_TOKENS:
        return 1.0
    if text in S.FALSE_TOKENS:
        return 0.0
    return None


def _boolean_column(values: np.ndarray, report) -> np.ndarray:
    codes, uniques = _factorize(values)
    parsed = [_boolean_value(u) for u in uniques]
    _report_uniques([p is None for p in parsed], codes, values, report, "yes/no, true/false or 1/0")
    return _expand([np.nan if p is None else p for p in parsed], codes, np.nan).astype(float)


def _metric_column(values: np.ndarray, header: str, report, notes: list[str]) -> np.ndarray:
    """Fractions; a column with any plain value above 1 is in percent (spec) and is divided by 100,
    as is any single value written with ``%``."""
    numbers, _, bad, percent = _numbers(values)
    plain = ~np.isnan(numbers) & ~percent
    if percent.any():
        numbers[percent] = numbers[percent] / 100.0
        notes.append(f"{header}: {int(percent.sum())} value(s) written with '%'; divided by 100")
    if plain.any() and numbers[plain].max() > 1:
        largest = float(numbers[plain].max())
        numbers[plain] = numbers[plain] / 100.0
        notes.append(
            f"{header}: values are percentages (largest {largest:g} > 1); divided by 100 to give fractions"
        )
    with np.errstate(invalid="ignore"):
        outside = ~np.isnan(numbers) & ((numbers < 0) | (numbers > 1))
    for i in np.flatnonzero(bad | outside):
        expected = (
            "a number (a fraction in [0, 1] or a percentage)" if bad[i]
            else "a fraction in [0, 1] or a percentage in [0, 100]"
        )
        report(int(i), values[i], expected)
    numbers[outside] = np.nan
    return numbers


# ---------------------------------------------------------------------------------------------
# Loading


def load_bench(
    path: str | Path,
    required: tuple[str, ...] = (C.REF, C.MODEL),
    max_problems: int = DEFAULT_MAX_PROBLEMS,
) -> Bench:
    """Read, normalise and validate a bench file in one go.

    Raises ``DataFileError`` (unreadable, or no records), ``SchemaError`` (missing/ambiguous column)
    or ``ValidationError`` carrying every problem (up to ``max_problems``). Rows where every cell is
    empty are dropped with a note; the index of the result is 0..n-1.
    """
    source = str(path)
    raw = read_table(path)
    result = normalize(raw, source, required=required, max_problems=max_problems)
    if result.bad_rows:
        raise ValidationError(source, result.problems, truncated=result.truncated or not result.problems)
    frame = result.frame
    notes = list(result.notes)
    empty = frame.isna().all(axis=1)
    if empty.any():
        notes.append(f"dropped {int(empty.sum())} empty row(s)")
        frame = frame[~empty]
    if frame.empty:
        raise DataFileError(f"{source}: no records (the file has a header but no data rows)")
    return Bench(frame=frame.reset_index(drop=True), notes=notes, source=source)
