"""What a bench file may say and what it means: header aliases, missing-value tokens, value spellings
and the bounds every value must respect (spec: ``shared/spec/bench-schema.md``).

``loading.normalize`` applies these tables; nothing here reads files.
"""

from __future__ import annotations

import re

from medicalrec import constants as C

# Accepted headers per canonical column: the canonical name, the published MedicalRec-Bench header
# and a few spellings seen in the wild. Matching ignores case, whitespace, ``_`` and ``-``
# (see ``header_key``), so ``N_Samples``, ``n samples`` and ``balanced accuracy`` all match.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    C.REF: ("ref", "Ref", "Reference"),
    C.TASK: ("task", "Task"),
    C.DOMAIN: ("domain", "Domain"),
    C.MODALITY: ("modality", "Modality", "Imaging modality"),
    C.TASK_TYPE: ("task_type", "Task type", "Classification type"),
    C.N_SAMPLES: ("n_samples", "#Sample", "#Samples", "Samples"),
    C.N_TRAIN: ("n_train", "#Train"),
    C.N_TEST: ("n_test", "#Test"),
    C.N_VAL: ("n_val", "#Validation", "#Val", "n_validation"),
    C.K_FOLD: ("k_fold", "K-fold", "Folds"),
    C.WIDTH: ("width", "Width"),
    C.HEIGHT: ("height", "Height", "hight"),
    C.CHANNELS: ("channels", "#channel", "#channels", "n_channels"),
    C.N_CLASSES: ("n_classes", "#Class", "#Classes", "Classes"),
    C.AUGMENTATION: ("augmentation", "Augmentation", "Data augmentation"),
    C.ACCURACY: ("accuracy", "Accu", "Acc"),
    C.PRECISION: ("precision", "Pre", "Prec"),
    C.RECALL: ("recall", "Rec", "Sensitivity"),
    C.F1: ("f1", "F1", "F1-score"),
    C.AUC: ("auc", "AUC", "ROC AUC", "AUROC"),
    C.BALANCED_ACCURACY: ("balanced_accuracy", "Balanced accuracy", "BAcc"),
    C.MODEL: ("model", "Model", "Classifier"),
    C.DATASET: ("dataset", "Dataset", "Image dataset", "Image collection"),
}

_SEPARATORS = re.compile(r"[\s_\-]+")


def header_key(header: object) -> str:
    """The comparison key of a header: case-folded, without whitespace, ``_`` or ``-``."""
    return _SEPARATORS.sub("", str(header).casefold())


HEADER_LOOKUP: dict[str, str] = {
    header_key(alias): canonical for canonical, aliases in HEADER_ALIASES.items() for alias in aliases
}


def canonical_column(header: object) -> str | None:
    """The canonical column a file header stands for, or None for an unknown (extra) column."""
    return HEADER_LOOKUP.get(header_key(header))


# Cell values that mean "not reported" (compared after stripping and case-folding).
MISSING_TOKENS = frozenset({"", "na", "n/a", "n.a.", "nan", "none", "null", "-", "--", "?", "#n/a"})

TRUE_TOKENS = frozenset({"yes", "y", "true", "t", "1", "1.0"})
FALSE_TOKENS = frozenset({"no", "n", "false", "f", "0", "0.0"})

# ``k_fold``: ``No`` means no cross-validation (0 folds); ``Yes`` without a number means "used,
# count unknown" and is stored as missing, never as a guessed count.
K_FOLD_NONE_TOKENS = frozenset({"no", "n", "false"})
K_FOLD_UNKNOWN_TOKENS = frozenset({"yes", "y", "true"})
K_FOLD_PATTERN = re.compile(r"(?:yes\s*[(,:]?\s*)?(\d+)\s*(?:-?\s*folds?)?\s*\)?")

# Task types: key (as ``header_key`` builds it, minus a trailing "classification") -> canonical value.
TASK_TYPE_ALIASES: dict[str, str] = {
    "binary": "binary",
    "binaryclass": "binary",
    "twoclass": "binary",
    "multiclass": "multi-class",
    "multipleclass": "multi-class",
    "multilabel": "multi-label",
    "multiplelabel": "multi-label",
    "ordinal": "ordinal",
    "ordinalregression": "ordinal",
}


def canonical_task_type(value: str) -> str | None:
    """``"Multi-Class"`` -> ``"multi-class"``; None for a spelling that is not one of the four types."""
    key = header_key(value)
    if key.endswith("classification"):
        key = key[: -len("classification")]
    return TASK_TYPE_ALIASES.get(key)


def spelling_key(value: str) -> str:
    """Spellings that differ only in case, whitespace, hyphens or underscores share this key."""
    return _SEPARATORS.sub("", value.casefold())


def category_key(value: str) -> str:
    """Categories that differ only in case share this key."""
    return value.casefold()


# Smallest valid value of each count column (spec types: int >= 0, n_samples >= 1, n_classes >= 2).
COUNT_MINIMUM: dict[str, int] = {
    C.N_SAMPLES: 1,
    C.N_TRAIN: 0,
    C.N_TEST: 0,
    C.N_VAL: 0,
    C.K_FOLD: 0,
    C.WIDTH: 1,
    C.HEIGHT: 1,
    C.CHANNELS: 1,
    C.N_CLASSES: 2,
}

# Largest plausible value of each count column: a value above it is a typo, a unit slip or a
# hostile input (1e308 images), reported like any bad value instead of quietly scoring as a task
# far from everything ("low" confidence). Far beyond any real dataset, so that no real one trips it:
# the largest image collections hold about 1e7 images (medical ones 1e5-1e6, tiles cut from whole
# slides up to about 1e8); a whole-slide image is about 1e5 pixels a side; hyperspectral images have
# a few hundred bands; the largest label sets (ICD-10 codes) about 1e5 classes. Leave-one-out has one
# fold per image, so folds share the image bound.
MAX_IMAGES = 10**10
MAX_IMAGE_SIDE = 10**7  # pixels
MAX_CHANNELS = 10**4
MAX_CLASSES = 10**6
COUNT_MAXIMUM: dict[str, int] = {
    C.N_SAMPLES: MAX_IMAGES,
    C.N_TRAIN: MAX_IMAGES,
    C.N_TEST: MAX_IMAGES,
    C.N_VAL: MAX_IMAGES,
    C.K_FOLD: MAX_IMAGES,
    C.WIDTH: MAX_IMAGE_SIDE,
    C.HEIGHT: MAX_IMAGE_SIDE,
    C.CHANNELS: MAX_CHANNELS,
    C.N_CLASSES: MAX_CLASSES,
}


def implausible(maximum: int) -> str:
    """What a ``Problem`` expects of a count above ``COUNT_MAXIMUM``."""
    return f"at most {maximum:,} (no real dataset comes close; a typo or a unit slip?)"


# Parts of a dataset that cannot be larger than the whole.
SUBSET_COLUMNS = (C.N_TRAIN, C.N_TEST, C.N_VAL)

# Text columns whose spelling variants are merged (most frequent spelling wins, ties: first seen).
SPELLING_MERGED_COLUMNS = (C.MODEL,)
CASE_MERGED_COLUMNS = (C.DOMAIN, C.MODALITY)
