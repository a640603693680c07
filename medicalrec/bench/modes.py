"""The four feature modes of the spec: the one definition every part of the code base uses.

| mode | features                                                           | count |
|------|--------------------------------------------------------------------|-------|
| I    | domain, n_samples, width, height, n_classes                        | 5     |
| II   | I + n_train, n_test, n_val, channels                               | 9     |
| III  | II + modality, task_type                                           | 11    |
| IV   | III + k_fold, augmentation, accuracy, precision, recall, f1, auc   | 18    |
"""

from __future__ import annotations

from dataclasses import dataclass

from medicalrec import constants as C
from medicalrec.errors import ConfigError

_MODE_I = (C.DOMAIN, C.N_SAMPLES, C.WIDTH, C.HEIGHT, C.N_CLASSES)
_MODE_II = _MODE_I + (C.N_TRAIN, C.N_TEST, C.N_VAL, C.CHANNELS)
_MODE_III = _MODE_II + (C.MODALITY, C.TASK_TYPE)
_MODE_IV = _MODE_III + (C.K_FOLD, C.AUGMENTATION, C.ACCURACY, C.PRECISION, C.RECALL, C.F1, C.AUC)

# Performance fields: a user asking "which model?" rarely knows them, so recommenders must cope with
# them missing, and training masks them often.
PERFORMANCE_FEATURES = (C.ACCURACY, C.PRECISION, C.RECALL, C.F1, C.AUC)


@dataclass(frozen=True)
class Mode:
    name: str
    features: tuple[str, ...]

    @property
    def categorical(self) -> tuple[str, ...]:
        return tuple(f for f in self.features if f in C.CATEGORICAL_COLUMNS)

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(f for f in self.features if f not in C.CATEGORICAL_COLUMNS)

    def __len__(self) -> int:
        return len(self.features)


MODES: dict[str, Mode] = {
    "I": Mode("I", _MODE_I),
    "II": Mode("II", _MODE_II),
    "III": Mode("III", _MODE_III),
    "IV": Mode("IV", _MODE_IV),
}


def get_mode(name: str | Mode) -> Mode:
    """Mode by its roman numeral (case-insensitive); ``ConfigError`` names the valid ones."""
    if isinstance(name, Mode):
        return name
    key = str(name).strip().upper()
    if key not in MODES:
        raise ConfigError(f"unknown mode {name!r}; choose from {', '.join(MODES)}")
    return MODES[key]


def parse_modes(text: str) -> list[Mode]:
    """``"I,III"`` or ``"all"`` -> modes, in the order given, without repeats."""
    if text.strip().lower() == "all":
        return list(MODES.values())
    modes: list[Mode] = []
    for part in text.split(","):
        if part.strip():
            mode = get_mode(part)
            if mode not in modes:
                modes.append(mode)
    if not modes:
        raise ConfigError(f"no mode given in {text!r}; choose from {', '.join(MODES)} or 'all'")
    return modes
