"""The shipped, reviewed model catalogue: look a candidate up, or read its name when it is new.

Why a table and a parser both: the table holds what was reviewed and measured for every candidate of
the corpus (attributes checked against each name's source, costs counted on real definitions); the
parser keeps the catalogue useful for a name the table has never seen (a new corpus, a user's own
candidate) instead of failing. ``Catalogue.attributes`` always answers, in that order.

Only the standard library (and medicalrec's typed errors) is used: the runtime must not import torch to read a CSV.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from importlib import resources
from pathlib import Path
from typing import Iterator, Mapping, Optional, Union

from medicalrec.errors import ConfigError, DataFileError

from .parser import CATEGORICAL_FIELDS, UNK, ModelAttributes, parse_model_name

DATA_PACKAGE = "medicalrec.catalogue"
CATALOGUE_FILE = "model_catalogue.csv"

CSV_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ModelAttributes))
"""The table's columns, in the order of ``ModelAttributes``."""

_INT_FIELDS = frozenset({"input_resolution", "feature_dim", "gflops_resolution"})
_FLOAT_FIELDS = frozenset({"params_m", "encoder_params_m", "gflops", "trained_params_m"})


def format_row(attrs: ModelAttributes) -> dict[str, str]:
    """One table row: unknown values are empty cells (never ``[UNK]`` or a guessed number)."""
    row: dict[str, str] = {}
    for name in CSV_COLUMNS:
        value = getattr(attrs, name)
        if value is None or value == UNK:
            row[name] = ""
        elif isinstance(value, float):
            row[name] = f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"
        else:
            row[name] = str(value)
    return row


def parse_row(row: Mapping[str, str]) -> ModelAttributes:
    """The inverse of ``format_row``: empty cells become ``[UNK]`` (categorical) or None."""
    missing = [c for c in CSV_COLUMNS if c not in row]
    if missing:
        raise ValueError(f"model catalogue row lacks columns {missing}")
    values: dict[str, object] = {}
    for name in CSV_COLUMNS:
        cell = (row[name] or "").strip()
        if name in _INT_FIELDS or name in _FLOAT_FIELDS:
            kind = int if name in _INT_FIELDS else float
            try:
                values[name] = kind(cell) if cell else None
            except ValueError:
                raise ValueError(f"column {name!r}: {cell!r} is not {'a whole number' if kind is int else 'a number'}") from None
        elif name in CATEGORICAL_FIELDS:
            values[name] = cell or UNK
        elif name == "cost_source":
            values[name] = cell or None
        else:
            values[name] = cell
    return ModelAttributes(**values)  # type: ignore[arg-type]


def read_catalogue(text: str) -> dict[str, ModelAttributes]:
    """Rows of a catalogue CSV by model name (a duplicate name is an error, not a silent pick)."""
    rows: dict[str, ModelAttributes] = {}
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            attrs = parse_row(row)
        except ValueError as error:
            raise DataFileError(f"model catalogue line {line}: {error}") from None
        if attrs.model in rows:
            raise DataFileError(f"model catalogue line {line}: duplicate model {attrs.model!r}")
        rows[attrs.model] = attrs
    return rows


class Catalogue:
    """Reviewed attributes and costs of candidate models, with the name parser as a fallback."""

    def __init__(self, rows: Mapping[str, ModelAttributes]):
        self._rows = dict(rows)

    @classmethod
    def load(cls, path: Optional[Union[str, Path]] = None) -> "Catalogue":
        """The shipped table, or the CSV at ``path``."""
        if path is None:
            text = (resources.files(DATA_PACKAGE) / "data" / CATALOGUE_FILE).read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        return cls(read_catalogue(text))

    def attributes(self, name: str) -> ModelAttributes:
        """The reviewed row for ``name`` if the table has it, else what the parser reads."""
        row = self._rows.get(name) if isinstance(name, str) else None
        return row if row is not None else parse_model_name(name)

    def is_reviewed(self, name: str) -> bool:
        """Whether ``name`` has a reviewed row (rather than a parser guess)."""
        return name in self._rows

    def how_read(self, name: str) -> str:
        """How a candidate's attributes were found, for the user who named it: reviewed, read from
        the name (with what was read), or not readable (every attribute unknown)."""
        if self.is_reviewed(name):
            return "in the reviewed catalogue"
        attrs = parse_model_name(name)
        known = [f"{field} {getattr(attrs, field)}" for field in ("architecture", "family", "adaptation", "pretraining")
                 if getattr(attrs, field) not in (UNK, "unknown")]
        if not known:
            return "not readable from its name: every attribute unknown"
        return "read from its name: " + ", ".join(known)

    def costs(self, names) -> dict[str, list[float | None]]:
        """``{name: [params_m, gflops, trained_params_m]}`` for ``names``, None where unknown: the
        cost columns a scoring bundle carries (only reviewed rows: a parser guess has no cost)."""
        out = {}
        for name in names:
            row = self._rows.get(name)
            out[name] = [None, None, None] if row is None else [row.params_m, row.gflops, row.trained_params_m]
        return out

    def names(self) -> list[str]:
        return sorted(self._rows)

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[ModelAttributes]:
        return iter(self._rows[n] for n in sorted(self._rows))


def read_names(path: Union[str, Path]) -> list[str]:
    """Model names from a text file, one per line (names hold commas, so no CSV); blank lines and
    lines starting with ``#`` are skipped, surrounding spaces dropped, repeats kept once. A UTF-8
    byte-order mark and Windows line ends (files saved by Notepad or Excel) are read as nothing."""
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read candidate names from {path}: {error}") from None
    names = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not names:
        raise ConfigError(f"{path} holds no candidate names (one per line; lines starting with # are comments)")
    return list(dict.fromkeys(names))
