"""MLproject entry point ``promote``: ``medicalrec.registry.promote`` (or ``rollback``), decision printed.

Exit code 0 when ``production`` moved or already held the version, 1 when the promotion was refused,
2 on a bad parameter.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's medicalrec, installed or not

_TRUE = {"1", "true", "yes", "y"}
_NONE = {"", "none", "null"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="promote", description=__doc__.splitlines()[0])
    parser.add_argument("--model-name", default="medicalrec")
    parser.add_argument("--version", default="latest", help='version number, or "latest"')
    parser.add_argument("--force", default="false", help="true | false")
    parser.add_argument("--metric", default="NDCG@5")
    parser.add_argument("--data", default="none", help='validation file, or "none"')
    parser.add_argument("--rollback", default="false", help="true | false")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from medicalrec.errors import MedicalRecError
    from medicalrec.registry import REFUSED, promote, rollback

    try:
        if args.rollback.strip().lower() in _TRUE:
            decision = rollback(args.model_name)
        else:
            decision = promote(
                args.model_name,
                version=None if args.version.strip().lower() in ("latest", *_NONE) else args.version.strip(),
                force=args.force.strip().lower() in _TRUE,
                metric=args.metric,
                data=None if args.data.strip().lower() in _NONE else args.data,
            )
    except MedicalRecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(decision.message())
    return 1 if decision.outcome == REFUSED else 0


if __name__ == "__main__":
    sys.exit(main())
