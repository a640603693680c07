"""MLproject entry point ``train``: parse the parameters, call ``medicalrec.training.run_training``.

Prints one progress line per step on stderr and the outcome on stdout; a bad parameter is one
``error:`` line and exit code 2, before any MLflow run is touched.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's medicalrec, installed or not


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="train", description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="public", help='bench file, or a shipped one: "public" or "decathlon"')
    parser.add_argument("--protocol", default="task", help="task | record")
    parser.add_argument("--modes", default="I,II,III,IV")
    parser.add_argument("--recommenders", default="all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--metric", default="NDCG@5")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--model-name", default="medicalrec")
    parser.add_argument("--experiment", default="medicalrec", help="ignored under mlflow run")
    parser.add_argument("--transformer-params", default="{}", help='JSON, e.g. \'{"max_epochs": 10}\'')
    parser.add_argument("--no-register", action="store_true", help="cross-validate and log only")
    return parser.parse_args(argv)


_STARTED = time.perf_counter()


def print_progress(label: str, done: int, total: int) -> None:
    print(f"[{done}/{total}] {time.perf_counter() - _STARTED:7.1f} s  {label}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from medicalrec.errors import ConfigError, MedicalRecError
    from medicalrec.training import TrainConfig, run_training

    try:
        try:
            transformer_params = json.loads(args.transformer_params)
        except json.JSONDecodeError as error:
            raise ConfigError(f"--transformer-params is not JSON: {error}") from None
        config = TrainConfig(
            data=args.data, protocol=args.protocol, modes=args.modes, recommenders=args.recommenders,
            seed=args.seed, metric=args.metric, folds=args.folds, repeats=args.repeats, model_name=args.model_name,
            experiment=args.experiment, register=not args.no_register, transformer_params=transformer_params,
        )
        result = run_training(config, progress=print_progress)
    except MedicalRecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"parent run {result.parent_run_id} ({len(result.child_run_ids)} child runs), {result.seconds:.0f} s")
    if result.model_version:
        print(f"best transformer: mode {result.best_mode}, {args.metric} {result.best_value:.4f}; "
              f"registered {args.model_name} version {result.model_version} "
              f"(ONNX parity {result.parity_max_abs_diff:.2g}); promote with: medicalrec promote")
    return 0


if __name__ == "__main__":
    sys.exit(main())
