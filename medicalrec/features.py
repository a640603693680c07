"""Turn task descriptions into what recommenders consume, with no torch and no pickle.

``FeatureEncoder`` is fitted on training records for one mode and then travels as JSON inside every
saved model and every exported MLflow model, so training, ONNX export and batch scoring encode a task
in exactly the same way.

* ``tokens``: one integer per feature (the transformer's and the ONNX model's input).
  Token 0 is ``[MISSING]`` for every feature; categorical features use 1 for ``[UNK]`` (a value not
  seen in training) and 2.. for known values; numeric features use 1.. for buckets whose edges come
  from the training distribution (log scale for counts and sizes).
* ``dense``: standardised numbers plus one-hot categories for the scikit-learn style baselines,
  with NaN for missing values, or (``impute=True``) zeros plus a missing-indicator per feature.

``TaskSpace`` and ``TaskDistance`` are the one missing-aware task distance of the package (the
``knn_tasks`` recommender's neighbours and the evidence of every served recommendation): numbers
standardised with the encoder's training means and standard deviations, a categorical mismatch
counting ``CATEGORY_MISMATCH`` (a one-hot vector differing in two places; an unseen category
mismatches everything), only features present on both sides counting, the sum scaled by
``n_features / n_shared`` (like scikit-learn's ``nan_euclidean_distances``), so an empty field means
"unknown", never "far"; two tasks sharing no feature are infinitely far apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.bench.modes import Mode, get_mode

MISSING_TOKEN = 0
UNKNOWN_TOKEN = 1
FIRST_VALUE_TOKEN = 2

DEFAULT_MAX_BUCKETS = 16
_LOG_SCALE = set(C.COUNT_COLUMNS)


def normalise_category(value: object) -> str | None:
    """Categories compare case- and space-insensitively."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = " ".join(str(value).split()).casefold()
    return text or None


def category_codes(values: pd.Series, vocabulary: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(index into ``vocabulary`` or -1, is-missing) per value. Only the distinct raw values are
    normalised in Python, so a million rows with a few dozen categories cost one factorize."""
    raw_codes, uniques = pd.factorize(values, use_na_sentinel=True)
    index = {v: i for i, v in enumerate(vocabulary)}
    normalised = [normalise_category(u) for u in uniques]
    lookup = np.array([index.get(v, -1) for v in normalised] + [-1], dtype=np.int64)
    unique_missing = np.array([v is None for v in normalised] + [True])
    return lookup[raw_codes], unique_missing[raw_codes]  # the NA sentinel -1 picks the trailing entry


def _category_codes(frame: pd.DataFrame, column: str, vocabulary: list[str]) -> tuple[np.ndarray, np.ndarray]:
    if column not in frame:
        return np.full(len(frame), -1), np.ones(len(frame), dtype=bool)
    return category_codes(frame[column], vocabulary)


def numeric_values(frame: pd.DataFrame, column: str) -> np.ndarray:
    """``column`` as float64 (NaN where missing or not a number; ``log1p`` for counts and sizes), as
    every encoding reads it; all NaN when ``frame`` has no such column."""
    if column not in frame:
        return np.full(len(frame), np.nan)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if column in _LOG_SCALE:
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(values >= 0, np.log1p(np.abs(values)), np.nan)
    return values


def _bucket_edges(values: np.ndarray, max_buckets: int) -> list[float]:
    """Edges between buckets: midpoints between distinct values when there are few of them,
    otherwise interior quantiles, so that every bucket holds training data."""
    present = np.unique(values[~np.isnan(values)])
    if len(present) <= 1:
        return []
    if len(present) <= max_buckets:
        return ((present[:-1] + present[1:]) / 2).tolist()
    quantiles = np.quantile(values[~np.isnan(values)], np.linspace(0, 1, max_buckets + 1)[1:-1])
    return np.unique(quantiles).tolist()


@dataclass
class FeatureEncoder:
    mode: str
    features: list[str]
    vocabularies: dict[str, list[str]] = field(default_factory=dict)
    bucket_edges: dict[str, list[float]] = field(default_factory=dict)
    means: dict[str, float] = field(default_factory=dict)
    stds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, records: pd.DataFrame, mode: str | Mode, max_buckets: int = DEFAULT_MAX_BUCKETS) -> FeatureEncoder:
        mode = get_mode(mode)
        encoder = cls(mode=mode.name, features=list(mode.features))
        for column in mode.features:
            if column in C.CATEGORICAL_COLUMNS:
                values = records[column].map(normalise_category) if column in records else pd.Series([], dtype=object)
                encoder.vocabularies[column] = sorted({v for v in values if isinstance(v, str)})
            else:
                values = numeric_values(records, column)
                encoder.bucket_edges[column] = _bucket_edges(values, max_buckets)
                present = values[~np.isnan(values)]
                encoder.means[column] = float(present.mean()) if len(present) else 0.0
                std = float(present.std()) if len(present) else 0.0
                encoder.stds[column] = std if std > 1e-12 else 1.0
        return encoder

    @property
    def vocab_sizes(self) -> list[int]:
        """Number of distinct tokens per feature, including ``[MISSING]`` (and ``[UNK]``)."""
        sizes = []
        for column in self.features:
            if column in self.vocabularies:
                sizes.append(FIRST_VALUE_TOKEN + len(self.vocabularies[column]))
            else:
                sizes.append(1 + len(self.bucket_edges[column]) + 1)
        return sizes

    def tokens(self, frame: pd.DataFrame) -> np.ndarray:
        """``int64 [n_rows, n_features]`` token ids; absent columns are all ``[MISSING]``."""
        out = np.zeros((len(frame), len(self.features)), dtype=np.int64)
        for j, column in enumerate(self.features):
            if column in self.vocabularies:
                codes, missing = _category_codes(frame, column, self.vocabularies[column])
                out[:, j] = np.where(missing, MISSING_TOKEN, np.where(codes >= 0, FIRST_VALUE_TOKEN + codes, UNKNOWN_TOKEN))
            else:
                values = numeric_values(frame, column)
                edges = np.asarray(self.bucket_edges[column], dtype=float)
                bucket = 1 + np.searchsorted(edges, np.nan_to_num(values), side="right")
                out[:, j] = np.where(np.isnan(values), MISSING_TOKEN, bucket)
        return out

    def dense(self, frame: pd.DataFrame, impute: bool = False) -> np.ndarray:
        """``float64 [n_rows, n_dense]``: standardised numbers and one-hot categories.

        Missing numbers are NaN (for models that handle them natively) or, with ``impute``, 0 (the
        training mean) with a 0/1 missing-indicator column after each numeric feature.
        """
        out = np.zeros((len(frame), self.dense_width(impute)))
        position = 0
        for column in self.features:
            if column in self.vocabularies:
                codes, _ = _category_codes(frame, column, self.vocabularies[column])
                known = np.flatnonzero(codes >= 0)
                out[known, position + codes[known]] = 1.0
                position += len(self.vocabularies[column])
            else:
                values = (numeric_values(frame, column) - self.means[column]) / self.stds[column]
                if impute:
                    missing = np.isnan(values)
                    out[:, position] = np.where(missing, 0.0, values)
                    out[:, position + 1] = missing
                    position += 2
                else:
                    out[:, position] = values
                    position += 1
        return out

    def dense_width(self, impute: bool = False) -> int:
        numeric_width = 2 if impute else 1
        return sum(len(self.vocabularies[c]) if c in self.vocabularies else numeric_width for c in self.features)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> FeatureEncoder:
        return cls(**data)


# --- the missing-aware task distance --------------------------------------------------------------

CATEGORY_MISMATCH = 2.0  # squared distance of two different categories (one-hot: two coordinates differ)
CODE_UNSEEN = -1  # ``TaskSpace.codes``: a category not in the vocabulary
CODE_MISSING = -2  # ``TaskSpace.codes``: no value
_ZERO = 1e-9  # squared distances below this (distance < 3e-5) are exact matches (float noise, rounding)


@dataclass
class TaskSpace:
    """How a frame of task descriptions becomes ``(numbers, codes)``: z-scores of the numeric
    features (NaN where missing) and vocabulary indices of the categorical ones."""

    numeric: list[str]
    means: list[float]
    stds: list[float]
    categorical: list[str]
    vocabularies: list[list[str]]

    @classmethod
    def from_encoder(cls, encoder: FeatureEncoder, features: list[str] | None = None) -> TaskSpace:
        """The space of ``features`` (default: all of the encoder's), numeric ones first."""
        features = encoder.features if features is None else features
        numeric = [f for f in features if f not in encoder.vocabularies]
        categorical = [f for f in features if f in encoder.vocabularies]
        return cls(numeric, [encoder.means[f] for f in numeric], [encoder.stds[f] for f in numeric],
                   categorical, [list(encoder.vocabularies[f]) for f in categorical])

    @property
    def n_features(self) -> int:
        return len(self.numeric) + len(self.categorical)

    def numbers(self, frame: pd.DataFrame) -> np.ndarray:
        """``[n, n_numeric]`` z-scores, NaN where missing."""
        out = np.full((len(frame), len(self.numeric)), np.nan)
        for j, column in enumerate(self.numeric):
            out[:, j] = (numeric_values(frame, column) - self.means[j]) / self.stds[j]
        return out

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        """``[n, n_categorical]`` vocabulary index, ``CODE_UNSEEN``, or ``CODE_MISSING``."""
        out = np.full((len(frame), len(self.categorical)), CODE_MISSING, dtype=np.int64)
        for j, column in enumerate(self.categorical):
            if column in frame:
                codes, missing = category_codes(frame[column], self.vocabularies[j])
                out[:, j] = np.where(missing, CODE_MISSING, codes)
        return out


class TaskDistance:
    """Missing-aware distances from query tasks to a fixed set of tasks (module docstring), for
    millions of queries: numbers through one matrix product, categories per distinct pattern."""

    def __init__(self, numbers: np.ndarray, codes: np.ndarray, category_mismatch: float = CATEGORY_MISMATCH):
        self.numbers = np.asarray(numbers, dtype=float)
        self.codes = np.asarray(codes, dtype=np.int64)
        self.category_mismatch = float(category_mismatch)
        self.n_features = self.numbers.shape[1] + self.codes.shape[1]
        present = ~np.isnan(self.numbers)
        x = np.where(present, self.numbers, 0.0)
        # Query side [m*x^2, m, -2*m*x] times this gives sum over shared numbers of (x - y)^2.
        self._bt = np.ascontiguousarray(np.hstack([present, x * x * present, x]).T.astype(float))

    def __len__(self) -> int:
        return len(self.numbers)

    def squared(self, numbers: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """``[n, n_tasks]`` squared distances: non-negative, NaN where no feature is shared."""
        present = ~np.isnan(numbers)
        x = np.where(present, numbers, 0.0)
        m = present.astype(float)
        squared = np.hstack([m * x * x, m, -2.0 * x]) @ self._bt
        first, inverse = _patterns(present, codes)
        categorical, scale = self._pattern_tables(present[first], codes[first])
        squared += categorical[inverse]
        np.maximum(squared, 0.0, out=squared)  # float noise of x^2 - 2xy + y^2; also turns -0.0 into +0.0
        squared *= scale[inverse]
        return squared

    def distances(self, numbers: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """``[n, n_tasks]`` distances (``inf`` where no feature is shared; below 3e-5 is 0)."""
        return finish_squared(self.squared(numbers, codes))

    def _pattern_tables(self, present: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per query pattern (numeric presence + category codes) and task: the summed squared
        categorical distance and the scale ``n_features / n_shared`` (NaN when nothing is shared)."""
        t_present = ~np.isnan(self.numbers)
        shared = present.astype(float) @ t_present.T.astype(float)
        categorical = np.zeros_like(shared)
        for j in range(codes.shape[1]):
            both = (codes[:, j, None] != CODE_MISSING) & (self.codes[None, :, j] != CODE_MISSING)
            shared += both
            categorical += self.category_mismatch * (both & (codes[:, j, None] != self.codes[None, :, j]))
        with np.errstate(divide="ignore"):
            scale = np.where(shared > 0, self.n_features / shared, np.nan)
        return categorical, scale


def finish_squared(squared: np.ndarray) -> np.ndarray:
    """Distances from ``TaskDistance.squared`` (in place): noise below ``_ZERO`` is 0, NaN is ``inf``."""
    squared[np.isnan(squared)] = np.inf
    squared[squared < _ZERO] = 0.0
    return np.sqrt(squared)


def _patterns(present: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index of each distinct (presence, codes) pattern and each row's pattern: a batch of a
    million tasks has few patterns, so per-pattern work is cheap."""
    stacked = np.hstack([present.astype(np.int64), codes])
    if not len(stacked):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    low = stacked.min(axis=0)
    radix = stacked.max(axis=0) - low + 1
    if float(np.prod(radix.astype(float))) < 2.0 ** 62:
        key = np.zeros(len(stacked), dtype=np.int64)
        for j in range(stacked.shape[1]):
            key = key * radix[j] + (stacked[:, j] - low[j])
        inverse, _ = pd.factorize(key)
        first = np.unique(inverse, return_index=True)[1]
        return first, inverse
    _, first, inverse = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)
