"""Typed errors. The CLI turns each into one line on stderr and exit code 2."""

from __future__ import annotations

from dataclasses import dataclass


class MedicalRecError(Exception):
    """Base class: an error the user can fix (bad input, bad parameter), not a bug."""


class DataFileError(MedicalRecError):
    """The file cannot be read at all: missing, empty, unknown format, undecodable."""


class SchemaError(MedicalRecError):
    """A required column is missing or a column is ambiguous; names the column."""

    def __init__(self, message: str, column: str | None = None):
        super().__init__(message)
        self.column = column


SHOWN_VALUE_CHARACTERS = 80  # a value in a message is cut to this length (a 1 MB cell is not echoed)


def shown_value(value: object, limit: int = SHOWN_VALUE_CHARACTERS) -> str:
    """``repr(value)``, cut to ``limit`` characters with a marker saying how long it was."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def shown_cell(value: object) -> str:
    """A file cell's value for a message: ``shown_value``, or "an empty cell" for a missing one (None)."""
    return "an empty cell" if value is None else shown_value(value)


@dataclass(frozen=True)
class Problem:
    """One bad value: where it is, what it is, what was expected."""

    row: int  # 1-based data row number as a spreadsheet user counts it (header is row 1, so +1)
    column: str
    value: object
    expected: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column!r}: got {shown_cell(self.value)}, expected {self.expected}"


class ValidationError(MedicalRecError):
    """Values that break the contract. Carries every problem found (up to a cap), not just the first."""

    def __init__(self, source: str, problems: list[Problem], truncated: bool = False):
        self.source = source
        self.problems = list(problems)
        self.truncated = truncated
        more = " (more not shown)" if truncated else ""
        first = str(self.problems[0]) if self.problems else "no details"
        super().__init__(
            f"{source}: {len(self.problems)} invalid value(s){more}; first: {first}"
        )

    def report(self) -> str:
        lines = [f"{self.source}: {p}" for p in self.problems]
        if self.truncated:
            lines.append(f"{self.source}: ... further problems not shown")
        return "\n".join(lines)


class ConfigError(MedicalRecError):
    """A parameter is wrong (unknown mode, unknown recommender, missing file) before any work starts."""


class ModelError(MedicalRecError):
    """A model artifact is missing, incompatible or failed a check (e.g. ONNX parity)."""
