"""Model catalogue: attributes and cost of every candidate classifier configuration.

A recommender that knows ``UNI (kNN)`` and ``UNI (linear probe)`` share a large pathology encoder, or
that one candidate trains 0 parameters and another 300 million, can rank and explain better than one
that sees opaque names. ``Catalogue.load().attributes(name)`` gives the reviewed row shipped in
``data/model_catalogue.csv`` and falls back to ``parse_model_name`` for a name it has not reviewed.
No torch at runtime: costs were computed at build time by ``scripts/build_model_catalogue.py``.
"""

from .catalogue import CSV_COLUMNS, Catalogue, format_row, parse_row, read_catalogue, read_names
from .parser import (
    ADAPTATIONS,
    FAMILIES,
    PRETRAININGS,
    SIZE_CLASSES,
    UNK,
    ModelAttributes,
    parse_model_name,
    size_class_of,
)

__all__ = [
    "ADAPTATIONS",
    "CSV_COLUMNS",
    "Catalogue",
    "FAMILIES",
    "ModelAttributes",
    "PRETRAININGS",
    "SIZE_CLASSES",
    "UNK",
    "format_row",
    "parse_model_name",
    "parse_row",
    "read_catalogue",
    "read_names",
    "size_class_of",
]
