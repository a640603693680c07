"""Typed hyperparameters for recommenders: ``Recommender(**params)`` -> a dataclass.

Each recommender declares a dataclass of its hyperparameters with documented defaults; the raw
``params`` stay in ``Recommender.params`` (saved as JSON) and are parsed again on load, so a saved
model and a fresh one built from the same parameters are configured identically.
"""

from __future__ import annotations

import numbers
import types
import typing
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from medicalrec.errors import ConfigError

ConfigT = TypeVar("ConfigT")


def parse_params(config_class: type[ConfigT], params: dict[str, Any], recommender: str) -> ConfigT:
    """Build ``config_class`` from ``params``; an unknown name, or a value not of the field's type
    (parameters arrive as JSON from the command line, so ``"ten"`` or ``4.5`` epochs would otherwise
    fail deep inside a fit), is a ``ConfigError`` that names it. JSON lists stand for tuples."""
    known = [f.name for f in fields(config_class)]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ConfigError(
            f"{recommender}: unknown parameter(s) {', '.join(unknown)}; "
            f"choose from {', '.join(known) or '(none)'}"
        )
    hints = typing.get_type_hints(config_class)
    return config_class(**{name: _typed(value, hints[name], f"{recommender}: parameter {name}")
                           for name, value in params.items()})


_WRONG = object()


def _typed(value: Any, hint: Any, what: str) -> Any:
    """``value`` as the field type ``hint`` wants it (a list becomes a tuple), else a ``ConfigError``
    saying ``what`` (and which item of a list) must be what."""
    typed = _as_type(value, hint)
    if typed is not _WRONG:
        return typed
    if typing.get_origin(hint) is tuple and isinstance(value, (list, tuple)):
        element = typing.get_args(hint)[0]
        position = next(i for i, item in enumerate(value) if _as_type(item, element) is _WRONG)
        raise ConfigError(f"{what}[{position}] must be {_described(element)}, got {value[position]!r}")
    raise ConfigError(f"{what} must be {_described(hint)}, got {value!r}")


def _as_type(value: Any, hint: Any) -> Any:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else ()
    if options:
        typed = [_as_type(value, option) for option in options]
        return next((t for t in typed if t is not _WRONG), _WRONG)
    if hint is type(None):
        return value if value is None else _WRONG
    if hint is float:
        return float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else _WRONG
    if hint is int:
        return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else _WRONG
    if hint in (bool, str):
        return value if isinstance(value, hint) else _WRONG
    if typing.get_origin(hint) is tuple:
        element = typing.get_args(hint)[0]
        if not isinstance(value, (list, tuple)):
            return _WRONG
        items = tuple(_as_type(v, element) for v in value)
        return _WRONG if any(i is _WRONG for i in items) else items
    return value


def _described(hint: Any) -> str:
    if isinstance(hint, types.UnionType):
        return " or ".join(_described(option) for option in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is tuple:
        element = typing.get_args(hint)[0]
        return "a list of " + {int: "integers", float: "numbers", str: "strings"}.get(element, _described(element))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(hint, str(hint))


@dataclass
class NoParams:
    """For recommenders without hyperparameters: any parameter given is a mistake worth reporting."""
