"""Quality against cost: which candidates are worth their compute, and the user's limits.

Pure numpy over one vector per candidate (expected metric, parameters, GFLOPs); unknown costs are
NaN and are never guessed: a candidate whose cost is unknown is neither on nor off the Pareto front
(``pareto`` is missing) and never passes a cost limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medicalrec.errors import ConfigError

LIMIT_NAMES = ("max_params", "max_gflops", "within")  # Limits' fields: CLI options --max-params ..., pyfunc params


def valid_limit(value) -> bool:
    """A limit is a finite number >= 0 (not a bool); the one rule of the CLI options and pyfunc params."""
    return (isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))
            and bool(np.isfinite(value)) and value >= 0)


def option_name(name: str) -> str:
    """The CLI option of a ``Limits`` field: ``max_params`` -> ``--max-params``."""
    return "--" + name.replace("_", "-")


def limit_error(name: str, shown) -> ConfigError:
    """The one message for a limit that is not a finite number >= 0, with ``shown`` as given."""
    return ConfigError(f"{option_name(name)} must be a finite number >= 0, got {shown!r}")


@dataclass(frozen=True)
class Limits:
    """What a user allows. ``None`` means no limit.

    ``max_params``: parameters in millions; ``max_gflops``: inference GFLOPs for one image;
    ``within``: metric points (0.01 of AUC is 1 point) below the expected metric of the task's first
    recommendation within the cost limits."""

    max_params: float | None = None
    max_gflops: float | None = None
    within: float | None = None

    def __post_init__(self):
        for name in LIMIT_NAMES:
            value = getattr(self, name)
            if value is not None and not valid_limit(value):
                raise limit_error(name, value)

    def describe(self) -> str:
        """The limits as the options that set them, e.g. ``--max-params 25 --within 1``."""
        return " ".join(f"{option_name(name)} {getattr(self, name):g}"
                        for name in LIMIT_NAMES if getattr(self, name) is not None)

    @property
    def active(self) -> bool:
        return any(getattr(self, name) is not None for name in LIMIT_NAMES)


def pareto_front(expected: np.ndarray, params: np.ndarray, gflops: np.ndarray) -> np.ndarray:
    """Per candidate: ``1.0`` if no other candidate with known costs is expected to be at least as
    good while needing no more parameters and no more GFLOPs, and strictly better in one of the
    three; ``0.0`` if one is; ``NaN`` when the candidate's own costs are unknown.

    ``i`` is dominated by ``j`` iff ``e_j >= e_i, p_j <= p_i, g_j <= g_i`` and ``(e_j, -p_j, -g_j) != (e_i, -p_i, -g_i)``.
    """
    e, p, g = (np.asarray(v, dtype=float) for v in (expected, params, gflops))
    known = np.isfinite(e) & np.isfinite(p) & np.isfinite(g)
    ek, pk, gk = e[known], p[known], g[known]
    at_least = (ek[None, :] >= ek[:, None]) & (pk[None, :] <= pk[:, None]) & (gk[None, :] <= gk[:, None])
    strictly = (ek[None, :] > ek[:, None]) | (pk[None, :] < pk[:, None]) | (gk[None, :] < gk[:, None])
    dominated = (at_least & strictly).any(axis=1)
    out = np.full(len(e), np.nan)
    out[known] = np.where(dominated, 0.0, 1.0)
    return out


def allowed(params: np.ndarray, gflops: np.ndarray, limits: Limits) -> np.ndarray:
    """Boolean mask of the candidates within the cost limits (``within`` is per task: ``near_first``)."""
    p, g = (np.asarray(v, dtype=float) for v in (params, gflops))
    keep = np.ones(len(p), dtype=bool)
    if limits.max_params is not None:
        keep &= np.isfinite(p) & (p <= limits.max_params)
    if limits.max_gflops is not None:
        keep &= np.isfinite(g) & (g <= limits.max_gflops)
    return keep


def near_first(expected: np.ndarray, first: np.ndarray, points: float) -> np.ndarray:
    """``[len(first), n_candidates]``: per task, the candidates whose expected metric is at least
    that of the task's first recommendation (``first``: candidate index per task) minus ``points``
    hundredths. The first recommendation itself always qualifies."""
    e = np.asarray(expected, dtype=float)
    reference = e[np.asarray(first, dtype=np.int64)]
    return e[None, :] >= reference[:, None] - points / 100.0 - 1e-12
