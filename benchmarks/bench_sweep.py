"""Where the default training sweep's time goes: every mode x every recommender, 5 dataset-grouped
folds on the shipped public corpus, fitted in worker processes; wall time and a per-recommender
breakdown. Not a test: timings depend on the machine and its load (the load average is printed).

    python benchmarks/bench_sweep.py [--workers N] [--folds 5] [--repeats 1] [--recommenders all]
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="fit processes [default: one per core]")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--modes", default="all")
    parser.add_argument("--recommenders", default="all")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from medicalrec.bench.defaults import resolve_data
    from medicalrec.bench.loading import load_bench
    from medicalrec.bench.modes import parse_modes
    from medicalrec.evaluation.crossval import default_workers, evaluate
    from medicalrec.evaluation.report import timing_breakdown
    from medicalrec.recommenders import parse_recommenders

    records = load_bench(resolve_data(None)).frame
    modes, names = parse_modes(args.modes), parse_recommenders(args.recommenders)
    workers = args.workers or default_workers()
    print(f"{len(records):,} records, {len(modes)} modes x {len(names)} recommenders x {args.folds} folds x "
          f"{args.repeats} repeat(s), {workers} worker(s), {os.cpu_count()} CPUs, "
          f"load average before {os.getloadavg()[0]:.1f}")
    started = time.perf_counter()
    evaluation = evaluate(records, "task", modes, names, n_splits=args.folds, repeats=args.repeats, seed=args.seed,
                          workers=workers)
    wall = time.perf_counter() - started
    table = timing_breakdown(evaluation)
    busy = float(table["fit_seconds"].sum() + table["score_seconds"].sum())
    print(f"wall {wall:.1f} s; fit + score {busy:.1f} CPU-s in the workers; load average after "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| recommender | fits | fit s (total) | score s (total) | mean fit s | share |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in table.itertuples(index=False):
        print(f"| {row.recommender} | {row.fits} | {row.fit_seconds:.1f} | {row.score_seconds:.1f} | "
              f"{row.mean_fit_seconds:.2f} | {row.share:.0%} |")


if __name__ == "__main__":
    main()
