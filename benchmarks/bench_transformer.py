"""Cost of the MedicalRec transformer: fit time per mode on a generated corpus, and in-memory scoring.

Targets (issue 3): one mode's fit on 5,000 records under 60 s on 2 CPU cores; scoring 100,000 tasks
in memory under 5 s. Prints a table; not a test (timings depend on the machine and its load).

    python benchmarks/bench_transformer.py [--records 5000] [--tasks 100000] [--modes I,II,III,IV]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--modes", default="I,II,III,IV")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import numpy as np

    from medicalrec.bench.generator import generate
    from medicalrec.bench.loading import load_bench
    from medicalrec.recommenders.medicalrec_transformer import MedicalRecTransformer

    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "synthetic.csv")
        generate(args.records, args.seed, path)
        records = load_bench(path).frame
    queries = records.sample(n=args.tasks, replace=True, random_state=args.seed).reset_index(drop=True)
    print(f"{args.records:,} generated records (seed {args.seed}), {records['model'].nunique()} models, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"| mode | fit s | epochs after the gate | score {args.tasks:,} tasks s | tasks/s |")
    print("|---|---:|---:|---:|---:|")
    for mode in args.modes.split(","):
        started = time.perf_counter()
        model = MedicalRecTransformer(seed=args.seed).fit(records, mode)
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        scores = model.score(queries)
        score_seconds = time.perf_counter() - started
        assert scores.shape == (args.tasks, len(model.models_)) and np.isfinite(scores).all()
        history = model.history_
        epochs = f"{history['epochs']} (delta {'on' if history['delta_on'] else 'off'})"
        print(f"| {mode} | {fit_seconds:.1f} | {epochs} | {score_seconds:.2f} | {args.tasks / score_seconds:,.0f} |")


if __name__ == "__main__":
    main()
