"""The bench files that ship inside the package, and the one place that turns a ``--data`` value into
a file path, so no caller builds a path by hand or keeps its own default.

* ``public`` (the default everywhere): the public MedicalRec-Bench corpus of real published results,
  ``data/medicalrec_public_bench.csv.gz``, a byte-identical gzip of ``shared/data``'s CSV;
* ``decathlon``: the MedMNIST Classification Decathlon tables (70 records), a small demo and test
  fixture.

Provenance and licences: ``data/README.md``. The files are package data (``pyproject.toml``), so
``importlib.resources`` finds them in an editable checkout and in an installed wheel alike.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from medicalrec.errors import ConfigError, DataFileError

PUBLIC = "public"
DECATHLON = "decathlon"
DEFAULT_DATA = PUBLIC  # what --data means when it is not given (CLI, MLproject, TrainConfig)

SHIPPED_DATA: dict[str, str] = {
    PUBLIC: "medicalrec_public_bench.csv.gz",
    DECATHLON: "medmnist_decathlon_2021.csv",
}
SHIPPED_DESCRIPTIONS: dict[str, str] = {
    PUBLIC: "public MedicalRec-Bench corpus of published results",
    DECATHLON: "MedMNIST Classification Decathlon 2021 tables, 70 records (demo)",
}


def shipped_data_path(name: str = DEFAULT_DATA) -> Path:
    """The shipped bench file ``name`` (``public`` or ``decathlon``) as a filesystem path.

    Raises ``DataFileError`` when the package was installed without its data (e.g. from a zip that
    ``importlib.resources`` cannot expose as a plain file).
    """
    if name not in SHIPPED_DATA:
        raise ConfigError(f"unknown shipped data {name!r}; choose from {', '.join(SHIPPED_DATA)}")
    path = Path(str(resources.files("medicalrec.bench") / "data" / SHIPPED_DATA[name]))
    if not path.is_file():
        raise DataFileError(f"shipped data file {SHIPPED_DATA[name]} is not installed at {path}")
    return path


def resolve_data(data: str | os.PathLike | None) -> Path:
    """The bench file a ``--data`` value names: None or "" is the default (``public``), a shipped
    name is that file, anything else a path (``ConfigError`` when it does not exist)."""
    text = "" if data is None else str(data).strip()
    if text in ("", *SHIPPED_DATA):
        return shipped_data_path(text or DEFAULT_DATA)
    path = Path(text).expanduser()
    if not path.is_file():
        where = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
        raise ConfigError(
            f"data file {text!r} does not exist{where}; give a bench file or one of {', '.join(SHIPPED_DATA)}"
        )
    return path.resolve()


DATA_HELP = (
    f"Bench file (CSV, TSV, optionally .gz, Parquet, XLSX), or a shipped one: {PUBLIC!r} (the "
    f"{SHIPPED_DESCRIPTIONS[PUBLIC]}) or {DECATHLON!r} ({SHIPPED_DESCRIPTIONS[DECATHLON]})."
)
