"""The output writers of batch scoring, spreadsheet formula escaping and the one file checksum.

Writers write into the temporary files of ``medicalrec.atomic.atomic_outputs`` (the one atomic
write), so an output is never half-written. numpy, pandas, ``constants`` and ``errors``; pyarrow
inside the writers.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.errors import Problem

PARQUET_ROW_GROUP = 65_536

# OWASP "CSV injection": a cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


# ---------------------------------------------------------------------------------------------
# Formula escaping


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


# ---------------------------------------------------------------------------------------------
# Checksums and writers


def file_sha256(path: str | Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Writers: used as context managers inside ``atomic_outputs`` (closed on success, abandoned on error)


class _Writer:
    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None:
            self.close()
        else:
            self.abandon()
        return False

    def close(self) -> None:
        raise NotImplementedError

    def abandon(self) -> None:
        """Close after a failure; the file is about to be deleted, so errors do not matter."""
        try:
            self.close()
        except Exception:  # noqa: BLE001 - a half-written file's footer may fail; it is removed next
            pass


class TableWriter(_Writer):
    """Appends Arrow tables (text columns dictionary-encoded, ``schema``) to a CSV or Parquet file,
    with settings that make the bytes reproducible (no timestamps; Parquet row groups of
    ``PARQUET_ROW_GROUP`` rows at most, text stored as ``plain_schema`` says)."""

    def __init__(self, path: Path, kind: str, schema, plain_schema):
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        self.kind = kind
        if kind == "csv":  # the CSV writer decodes dictionaries itself, batch by batch
            self._writer = pa_csv.CSVWriter(str(path), schema, write_options=pa_csv.WriteOptions(quoting_header="none"))
        else:
            self.schema = plain_schema
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


class RejectsWriter(_Writer):
    """``C.REJECT_COLUMNS`` rows, one per problem of a rejected input row, formula-escaped."""

    def __init__(self, path: Path):
        import csv

        self._handle = open(path, "w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._handle, lineterminator="\n")
        self._csv.writerow(C.REJECT_COLUMNS)

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
