"""MLproject entry point ``score``: the batch scorer ``medicalrec.scoring.score_file`` on one file.

Loads ``--model`` (default ``models:/medicalrec@production``) from the tracking store of
``medicalrec.tracking.configure_tracking`` and writes the top ``--top-k`` models per task
(0 = every model), and logs the run to MLflow. Bad input is one ``error:`` line and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's medicalrec, installed or not


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="score", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="task descriptions (CSV, TSV, Parquet, XLSX)")
    parser.add_argument("--output", required=True, help="ranked recommendations (.csv or .parquet)")
    parser.add_argument("--model", default="models:/medicalrec@production")
    parser.add_argument("--top-k", type=int, default=10, help="models per task; 0 = all")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--on-error", default="fail", help="fail | skip (bad rows to <output>.rejects.csv)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from medicalrec.errors import MedicalRecError, ValidationError
    from medicalrec.scoring import format_summary, log_scoring_run, score_file
    from medicalrec.tracking import configure_tracking

    configure_tracking()
    try:
        summary = score_file(args.model, args.input, args.output, top_k=args.top_k if args.top_k > 0 else None,
                             device=args.device, on_error=args.on_error)
    except ValidationError as error:
        print(f"error: {error}", file=sys.stderr)
        if len(error.problems) > 1:
            print(error.report(), file=sys.stderr)
        return 2
    except MedicalRecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run_id = log_scoring_run(summary)  # the nightly record: model version, input hash, counts, timings
    print(format_summary(summary))
    print(f"logged to MLflow run {run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
