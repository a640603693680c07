"""MLproject entry point ``evaluate``: the ``train`` sweep (one parent run, one child run per mode and
recommender, comparison table and plots) without refit, export or registration."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's medicalrec, installed or not

from train import main as train_main  # noqa: E402  (entrypoints/ is on sys.path as the script's folder)


def main(argv: list[str] | None = None) -> int:
    return train_main([*(sys.argv[1:] if argv is None else argv), "--no-register"])


if __name__ == "__main__":
    sys.exit(main())
