"""Where the bundled default bench file lives, so code never builds the path by hand.

The file ships as package data (``pyproject.toml``: ``"medicalrec.bench" = ["data/*.csv"]``), so
``importlib.resources`` finds it in an editable checkout and in an installed wheel alike.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from medicalrec.errors import DataFileError

BUNDLED_DATA_NAME = "medmnist_decathlon_2021.csv"
BUNDLED_DATA = resources.files("medicalrec.bench") / "data" / BUNDLED_DATA_NAME


def bundled_data_path() -> Path:
    """The bundled MedMNIST decathlon results (70 records) as a filesystem path.

    Raises ``DataFileError`` when the package was installed without its data (e.g. from a zip that
    ``importlib.resources`` cannot expose as a plain file).
    """
    path = Path(str(BUNDLED_DATA))
    if not path.is_file():
        raise DataFileError(f"bundled data file {BUNDLED_DATA_NAME} is not installed at {path}")
    return path
