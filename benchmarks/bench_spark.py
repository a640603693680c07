"""Spark batch scoring benchmark (a script that prints a table; not a test).

The local scorer (``score_file``) against the Spark engine (``score_spark`` on ``local[N]``) on the
same Parquet input of task rows, top-10, Parquet output; each run in a fresh subprocess. Reported:
wall seconds of the scoring call, of the whole process (Python start, imports, and for Spark the
JVM and session start), tasks per second of the scoring call, output rows. For the sizes up to
``--check-up-to`` both outputs are read back and compared row for row (sorted by task_id, rank).
The Spark runs set the rows per Arrow batch with ``spark_session(batch_rows=...)``, as the CLI does.

The input is ``bench_scoring.make_input``'s (real tasks of the public bench, sampled with
replacement, sizes varied, unique task ids), converted to Parquet outside the timed part.

    python benchmarks/bench_spark.py                        # 10k and 1M rows: ~6 min on 2 busy cores,
                                                            # ~1 GB of temp disk, ~6 GB RAM for the check
    python benchmarks/bench_spark.py --sizes 10000,100000 --master 'local[2]'

Timings on a shared machine are inflated by the other jobs on it: the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scoring import build_bundle, make_input  # noqa: E402 - the sibling benchmark's inputs

LOCAL_RUN = """
import json, sys, time
started = time.perf_counter()
from medicalrec.serving.batch import score_file
summary = score_file(sys.argv[1], sys.argv[2], sys.argv[3], top_k=10)
print(json.dumps({"score_seconds": summary.seconds, "process_seconds": time.perf_counter() - started,
                  "output_rows": summary.output_rows}))
"""

SPARK_RUN = """
import json, sys, time, warnings
started = time.perf_counter()
warnings.simplefilter("ignore", FutureWarning)
from pyspark.sql import SparkSession
from medicalrec.serving.spark import SparkScoringStats, score_spark, spark_session
(SparkSession.builder.master(sys.argv[4]).config("spark.ui.enabled", "false")
 .config("spark.ui.showConsoleProgress", "false").config("spark.log.level", "ERROR")
 .config("spark.driver.memory", "2g").getOrCreate())
spark = spark_session(batch_rows=int(sys.argv[5]))  # the session above, as the CLI would get it
session_seconds = time.perf_counter() - started
stats = SparkScoringStats(spark)
scoring = time.perf_counter()
score_spark(sys.argv[2], sys.argv[1], output_path=sys.argv[3], top_k=10, spark=spark, stats=stats)
score_seconds = time.perf_counter() - scoring
print(json.dumps({"score_seconds": score_seconds, "process_seconds": time.perf_counter() - started,
                  "session_seconds": session_seconds, "output_rows": stats.tasks_scored * 10,
                  "processes": stats.processes, "scorers_built": stats.scorers_built, "batches": stats.batches}))
"""


def to_parquet(csv_path: Path, parquet_path: Path) -> Path:
    """The CSV as Parquet with typed columns (task ids and texts as strings, counts as numbers)."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    table = pa_csv.read_csv(csv_path, convert_options=pa_csv.ConvertOptions(column_types={"task_id": "string"}))
    pq.write_table(table, parquet_path, row_group_size=100_000, compression="zstd")
    return parquet_path


def run(code: str, *args: str) -> dict:
    env = {**os.environ, "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")}
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-5000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def same_table(local: Path, spark_dir: Path) -> bool:
    """Both outputs sorted by (task_id, rank) hold the same values; Arrow, so 10M rows fit in memory."""
    import pyarrow.parquet as pq

    order = [("task_id", "ascending"), ("rank", "ascending")]
    ours = pq.read_table(local).sort_by(order)
    theirs = pq.read_table(spark_dir).select(ours.column_names).cast(ours.schema).sort_by(order)
    return ours.equals(theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,1000000", help="task rows per run")
    parser.add_argument("--master", default="local[2]", help="Spark master of the Spark runs")
    parser.add_argument("--batch-rows", type=int, default=50_000,
                        help="rows per Arrow batch on the executors (the CLI's --chunk-size default)")
    parser.add_argument("--mode", default="III", help="feature mode of the benchmarked model")
    parser.add_argument("--check-up-to", type=int, default=1_000_000,
                        help="compare both outputs row for row for sizes up to this")
    parser.add_argument("--workdir", type=Path, default=None, help="keep inputs/outputs here (default: a temp dir)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="medicalrec-bench-spark-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the runs; "
              f"workdir {workdir}")
        _, bundle = build_bundle(workdir / "bundle", args.mode)
        inputs = {}
        for n in sizes:
            started = time.perf_counter()
            csv_path = make_input(workdir / f"tasks_{n}.csv", n)
            inputs[n] = to_parquet(csv_path, workdir / f"tasks_{n}.parquet")
            csv_path.unlink()
            print(f"generated {n:,} rows in {time.perf_counter() - started:.1f} s (not timed below)")

        print(f"\ntop-10, Parquet in and out; fresh process per run; Spark master {args.master}, "
              f"{args.batch_rows:,} rows per Arrow batch")
        print(f"{'engine':<16} {'rows':>10} {'score s':>8} {'tasks/s':>9} {'process s':>9} {'output rows':>12} "
              f"{'same table':>10}  notes")
        for n in sizes:
            local_out, spark_out = workdir / f"local_{n}.parquet", workdir / f"spark_{n}"
            local = run(LOCAL_RUN, str(bundle), str(inputs[n]), str(local_out))
            spark = run(SPARK_RUN, str(bundle), str(inputs[n]), str(spark_out), args.master, str(args.batch_rows))
            same = ("yes" if same_table(local_out, spark_out) else "NO") if n <= args.check_up_to else "-"
            print(f"{'local':<16} {n:>10,} {local['score_seconds']:>8.1f} {n / local['score_seconds']:>9,.0f} "
                  f"{local['process_seconds']:>9.1f} {local['output_rows']:>12,} {'':>10}")
            print(f"{'spark ' + args.master:<16} {n:>10,} {spark['score_seconds']:>8.1f} "
                  f"{n / spark['score_seconds']:>9,.0f} {spark['process_seconds']:>9.1f} {spark['output_rows']:>12,} "
                  f"{same:>10}  session start {spark['session_seconds']:.1f} s; {spark['processes']} Python "
                  f"workers, {spark['scorers_built']} sessions built, {spark['batches']} batches")
            local_out.unlink()
            shutil.rmtree(spark_out)
        print(f"load average after the runs: {os.getloadavg()[0]:.1f}")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
