"""Typed hyperparameters for recommenders: ``Recommender(**params)`` -> a dataclass.

Each recommender declares a dataclass of its hyperparameters with documented defaults; the raw
``params`` stay in ``Recommender.params`` (saved as JSON) and are parsed again on load, so a saved
model and a fresh one built from the same parameters are configured identically.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

from medicalrec.errors import ConfigError

ConfigT = TypeVar("ConfigT")


def parse_params(config_class: type[ConfigT], params: dict[str, Any], recommender: str) -> ConfigT:
    """Build ``config_class`` from ``params``; an unknown name is a ``ConfigError`` that names it."""
    known = [f.name for f in fields(config_class)]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ConfigError(
            f"{recommender}: unknown parameter(s) {', '.join(unknown)}; "
            f"choose from {', '.join(known) or '(none)'}"
        )
    return config_class(**params)


@dataclass
class NoParams:
    """For recommenders without hyperparameters: any parameter given is a mistake worth reporting."""
