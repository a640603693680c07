"""Batch scoring benchmark (a script that prints tables; not a test).

1. End to end: ``score_file`` on 10k, 100k and 1M task rows -> top-10 CSV, each input in a fresh
   subprocess (wall time, tasks/s, peak RSS = the kernel's VmHWM of that process). The input CSVs are
   generated first, outside the timed part, from the real tasks of the public bench sampled with
   replacement, with sizes varied (log-uniform x0.25..x4, and a third of the image sizes redrawn);
   the scorer runs the network once per distinct token row of each chunk, and the table's
   ``network`` column says on what share of the rows it ran. Then 1M rows whose token rows are
   *all* distinct (``--distinct-rows``), the worst case for that sharing.
2. Where the time goes: each stage of the pipeline timed alone on one 100k-row input, and on 100k
   rows whose token rows are all distinct.
3. Pure model throughput on the same token batches: ONNX Runtime vs the same network in torch eager
   (``MedicalRecTransformer.score_tokens``), no de-duplication.
4. Import cost: ``import medicalrec.serving.batch`` and ``medicalrec --help`` wall time.
5. Output size: bytes per million tasks of each evidence layout (``--evidence inline|side``), CSV
   and Parquet, at top-7 and top-all, measured on one input each and scaled linearly (every task
   writes its own rows; Parquet's compression makes its figure an estimate).

Targets: 1M tasks -> top-10 CSV in under 60 s; peak memory under 1 GiB and flat in input size;
ONNX Runtime >= 2x torch eager; ``medicalrec --help`` under 0.5 s.

    python benchmarks/bench_scoring.py                       # all inputs: ~6 min; needs ~4 GB of temp
                                                             # disk (two 1M inputs, one 3.2 GB output)
    python benchmarks/bench_scoring.py --sizes 10000,100000  # quicker
    python benchmarks/bench_scoring.py --only-output-size     # part 5 alone: ~1 min, ~1 GB of temp disk
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

import numpy as np
import pandas as pd

REAL_BENCH = Path(__file__).resolve().parents[2] / "shared" / "data" / "medicalrec_public_bench.csv"
QUERY_COLUMNS = ["ref", "task", "domain", "modality", "task_type", "n_samples", "n_train", "n_test", "n_val",
                 "width", "height", "channels", "n_classes"]
IMAGE_SIZES = np.array([28, 64, 128, 224, 256, 299, 384, 512, 1024])

# Peak RSS is the kernel's high-water mark of this process (VmHWM): unlike ru_maxrss, which a child
# inherits from its parent at fork, it starts afresh at exec.
END_TO_END = """
import json, sys, time
started = time.perf_counter()
from medicalrec.serving.batch import score_file
summary = score_file(sys.argv[1], sys.argv[2], sys.argv[3], top_k=10, chunk_size=int(sys.argv[4]))
status = open("/proc/self/status").read()
peak = int(status.split("VmHWM:")[1].split()[0])
print(json.dumps({"score_seconds": summary.seconds, "process_seconds": time.perf_counter() - started,
                  "rows": summary.rows_scored, "output_rows": summary.output_rows, "max_rss_kib": peak}))
"""


def build_bundle(directory: Path, mode: str) -> tuple[object, Path]:
    """The transformer fitted on the whole public bench (few epochs: speed does not depend on them)."""
    from medicalrec.mlops.export import export_bundle
    from medicalrec.recommenders.medicalrec_transformer import MedicalRecTransformer

    records = pd.read_csv(REAL_BENCH)
    transformer = MedicalRecTransformer(seed=0, max_epochs=10, inner_folds=0).fit(records, mode)
    export_bundle(transformer, directory, records, records.head(100))
    return transformer, directory


def make_input(path: Path, n_rows: int, seed: int = 0, block: int = 200_000) -> Path:
    """``n_rows`` task rows: real tasks sampled with replacement, sizes varied, unique task ids."""
    from medicalrec.bench.tasks import task_queries

    queries = task_queries(pd.read_csv(REAL_BENCH)).reset_index(drop=True)[QUERY_COLUMNS]
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as handle:
        for start in range(0, n_rows, block):
            n = min(block, n_rows - start)
            rows = queries.iloc[rng.integers(0, len(queries), n)].reset_index(drop=True)
            factor = np.exp(rng.uniform(np.log(0.25), np.log(4.0), n))
            for column in ("n_samples", "n_train", "n_test", "n_val"):
                rows[column] = np.floor(rows[column] * factor)
            rows["n_samples"] = np.maximum(rows["n_samples"], 1)
            redraw = rng.random(n) < 1 / 3
            side = rng.choice(IMAGE_SIZES, n)
            rows.loc[redraw, "width"] = side[redraw]
            rows.loc[redraw, "height"] = side[redraw]
            rows.insert(0, "task_id", [f"task-{i:07d}" for i in range(start, start + n)])
            rows.to_csv(handle, index=False, header=start == 0)
    return path


def token_rows(bundle_dir: Path, frame: pd.DataFrame) -> np.ndarray:
    """The bundle encoder's token rows of ``frame``."""
    from medicalrec.bench.loading import normalize
    from medicalrec.serving.bundle import read_bundle

    return read_bundle(bundle_dir).encoder.tokens(normalize(frame, "generated", required=()).frame)


def network_rows(bundle_dir: Path, source: Path, chunk_size: int) -> int:
    """Rows the network runs on when ``score_file`` reads ``source`` in chunks of ``chunk_size``: the
    distinct token rows of each chunk, summed (the scorer shares runs within a chunk only)."""
    from medicalrec.serving.scorer import unique_rows

    tokens = token_rows(bundle_dir, pd.read_csv(source))
    return sum(len(unique_rows(tokens[start:start + chunk_size])[0]) for start in range(0, len(tokens), chunk_size))


def make_distinct_input(path: Path, n_rows: int, bundle_dir: Path, seed: int = 0, rounds: int = 5) -> Path:
    """``n_rows`` task rows whose token rows are all distinct, so the scorer can share no network run
    between tasks (the worst case for its de-duplication). Each field is drawn on its own: the
    categories from the real tasks' values, counts and image sides log-uniformly over wide ranges;
    rows that repeat an earlier token row are dropped and more are drawn (at most ``rounds`` times)."""
    from medicalrec.bench.tasks import task_queries
    from medicalrec.serving.scorer import unique_rows

    queries = task_queries(pd.read_csv(REAL_BENCH)).reset_index(drop=True)[QUERY_COLUMNS]
    rng = np.random.default_rng(seed)

    def log_uniform(low: float, high: float, n: int) -> np.ndarray:
        return np.floor(np.exp(rng.uniform(np.log(low), np.log(high), n)))

    kept = pd.DataFrame(columns=QUERY_COLUMNS)
    for _ in range(rounds):
        n = int(1.05 * n_rows)
        rows = pd.DataFrame({c: rng.choice(queries[c].to_numpy(), n) for c in ("ref", "task", "domain", "modality",
                                                                              "task_type")})
        rows["n_samples"] = log_uniform(50, 2e6, n)
        train, test = rng.uniform(0.3, 0.8, n), rng.uniform(0.2, 0.8, n)
        rows["n_train"] = np.floor(rows["n_samples"] * train)
        rows["n_test"] = np.floor(rows["n_samples"] * (1 - train) * test)
        rows["n_val"] = np.floor(rows["n_samples"] * (1 - train) * (1 - test) * rng.uniform(0.0, 1.0, n))
        rows["width"], rows["height"] = log_uniform(16, 8192, n), log_uniform(16, 8192, n)
        rows["channels"] = rng.choice([1, 3], n)
        rows["n_classes"] = log_uniform(2, 500, n)
        kept = pd.concat([kept, rows[QUERY_COLUMNS]], ignore_index=True) if len(kept) else rows[QUERY_COLUMNS]
        kept = kept.iloc[np.sort(unique_rows(token_rows(bundle_dir, kept))[0])].reset_index(drop=True)
        if len(kept) >= n_rows:
            break
    else:
        raise RuntimeError(f"only {len(kept):,} distinct token rows after {rounds} rounds, {n_rows:,} asked")
    rows = kept.iloc[:n_rows].reset_index(drop=True)
    rows.insert(0, "task_id", [f"task-{i:07d}" for i in range(n_rows)])
    rows[["task_id"] + QUERY_COLUMNS].to_csv(path, index=False)
    return path


def end_to_end(bundle: Path, source: Path, target: Path, chunk_size: int) -> dict:
    result = subprocess.run([sys.executable, "-c", END_TO_END, str(bundle), str(source), str(target), str(chunk_size)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    out = json.loads(result.stdout.strip().splitlines()[-1])
    out["output_mb"] = target.stat().st_size / 1e6
    return out


def _best_of(fn, repeat: int = 3) -> float:
    return _best_times(fn, repeat)[0]


def _best_times(fn, repeat: int = 3) -> tuple[float, float]:
    """Best wall seconds and best process CPU seconds (all threads) over ``repeat`` calls: CPU time
    is what the work costs even when other jobs share the cores."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - started_cpu)
    return wall, cpu


def stage_breakdown(bundle_dir: Path, source: Path, chunk_size: int) -> list[tuple[str, float]]:
    """Each stage of ``score_file``'s loop, timed alone over the whole input."""
    import pyarrow.csv as pa_csv

    from medicalrec.bench.loading import normalize, read_table
    from medicalrec.serving.bundle import read_bundle
    from medicalrec.serving.scorer import Scorer, output_schema, unique_rows

    scorer = Scorer(read_bundle(bundle_dir), device="cpu")
    timings: dict[str, float] = {}

    def timed(name, fn, *args, **kwargs):
        started = time.perf_counter()
        value = fn(*args, **kwargs)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - started
        return value

    frames = []
    chunks = timed("read CSV (loading.read_table)", lambda: list(read_table(source, chunksize=chunk_size)))
    for raw in chunks:
        frames.append(timed("validate (loading.normalize)", normalize, raw, str(source), required=(),
                            row_offset=int(raw.index[0])).frame)
    n_rows = sum(len(f) for f in frames)
    sink = tempfile.NamedTemporaryFile(suffix=".csv", delete=False)
    sink.close()
    writer = pa_csv.CSVWriter(sink.name, output_schema(dictionary=True),
                              write_options=pa_csv.WriteOptions(quoting_header="none"))
    categorical = [c for c in scorer.encoder.features if c in scorer.encoder.vocabularies]
    for frame in frames:
        tokens = timed("encode tokens (FeatureEncoder.tokens)", scorer.encoder.tokens, frame)
        timed("  of which categorical features", scorer.encoder.tokens, frame[categorical])
        first, inverse = timed("distinct token rows (unique_rows)", unique_rows, tokens)
        ranked = timed("network + top-10 on distinct rows (in blocks)", scorer._top_k_distinct, tokens[first], 10, None,
                       None)[0][inverse]
        timed("  ONNX Runtime alone, run again (inside the line above)", scorer._run, tokens[first])
        timed("evidence (EvidenceIndex.explain_tasks)", scorer.evidence.explain_tasks, frame, ranked)
        ids = frame.index.to_numpy().astype(str).astype(object)
        table = timed("build output table (Arrow arrays, rounding, escaping)", scorer.arrow_table, frame, ids, 10, True)
        timed("write CSV (pyarrow)", writer.write_table, table)
    writer.close()
    os.unlink(sink.name)
    inside = ("encode tokens (FeatureEncoder.tokens)", "distinct token rows (unique_rows)",
              "network + top-10 on distinct rows (in blocks)", "evidence (EvidenceIndex.explain_tasks)")
    build = "build output table (Arrow arrays, rounding, escaping)"
    timings[build] -= sum(timings[name] for name in inside)
    distinct = sum(len(unique_rows(scorer.encoder.tokens(f))[0]) for f in frames)
    print(f"\nstages on {n_rows:,} rows (the network runs on {distinct:,}, the distinct token rows of each chunk, "
          f"{distinct / n_rows:.1%}), each timed alone:")
    return list(timings.items())


def model_throughput(transformer, bundle_dir: Path, source: Path, n_rows: int) -> list[tuple[str, int, int, float, float]]:
    """Rows per second of the bare network on the same token rows (no de-duplication), for ONNX
    Runtime and torch eager at the same thread counts and batch sizes."""
    import onnxruntime as ort
    import torch

    from medicalrec.bench.loading import normalize, read_table
    from medicalrec.serving.bundle import INPUT_NAME, read_bundle
    from medicalrec.serving.scorer import _available_cpus

    raw = next(iter(read_table(source, chunksize=n_rows + 1)))
    tokens = transformer.encoder.tokens(normalize(raw, str(source), required=()).frame)
    onnx_path = read_bundle(bundle_dir).onnx_path
    rows = []
    for threads in sorted({1, _available_cpus()}):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"])
        torch.set_num_threads(threads)
        for batch in (256, 2048):
            def run_onnx():
                for start in range(0, len(tokens), batch):
                    session.run(None, {INPUT_NAME: tokens[start:start + batch]})

            wall, cpu = _best_times(run_onnx)
            rows.append(("onnxruntime", threads, batch, len(tokens) / wall, len(tokens) / cpu))
            wall, cpu = _best_times(lambda: transformer.score_tokens(tokens, batch_size=batch))
            rows.append(("torch eager", threads, batch, len(tokens) / wall, len(tokens) / cpu))
    return rows


def import_times() -> list[tuple[str, float]]:
    def wall(args: list[str]) -> float:
        return _best_of(lambda: subprocess.run(args, capture_output=True, check=True), repeat=3)

    rows = [("python -c 'import medicalrec.serving.batch'", wall([sys.executable, "-c", "import medicalrec.serving.batch"]))]
    cli = shutil.which("medicalrec")
    if cli:
        rows.append(("medicalrec --help", wall([cli, "--help"])))
    rows.append(("python -c 'pass' (interpreter alone)", wall([sys.executable, "-c", "pass"])))
    return rows


def output_sizes(bundle: Path, workdir: Path, rows_top: int, rows_all: int) -> list[tuple[str, str, str, int, int, int]]:
    """``(top_k, format, layout, tasks, output bytes, side file bytes)`` of ``score_file`` on
    generated inputs: ``rows_top`` tasks at top-7 and ``rows_all`` tasks ranking every candidate."""
    from medicalrec.serving.batch import score_file
    from medicalrec.serving.scorer import EVIDENCE_LAYOUTS, evidence_path_for

    rows = []
    for top_k, n in ((7, rows_top), (None, rows_all)):
        source = make_input(workdir / f"tasks_size_{n}.csv", n)
        for suffix in (".csv", ".parquet"):
            for layout in EVIDENCE_LAYOUTS:
                output = workdir / f"size{suffix}"
                side = evidence_path_for(output)
                summary = score_file(bundle, source, output, top_k=top_k, evidence=layout)
                side_bytes = side.stat().st_size if side.exists() else 0
                rows.append(("all" if top_k is None else str(top_k), suffix[1:], layout, summary.rows_scored,
                             output.stat().st_size, side_bytes))
                output.unlink()
                side.unlink(missing_ok=True)
    return rows


def print_output_sizes(bundle: Path, workdir: Path, rows_top: int, rows_all: int) -> None:
    print(f"\noutput size: measured on {rows_top:,} tasks at top-7 and {rows_all:,} tasks at top-all, "
          "scaled linearly to 1M tasks")
    print(f"  {'top-k':>5} {'format':<8} {'evidence':<8} {'bytes/task':>10} {'GB per 1M tasks':>16} {'of which side file':>18}")
    for top_k, kind, layout, tasks, output_bytes, side_bytes in output_sizes(bundle, workdir, rows_top, rows_all):
        per_task = (output_bytes + side_bytes) / tasks
        print(f"  {top_k:>5} {kind:<8} {layout:<8} {per_task:>10,.0f} {per_task * 1e6 / 1e9:>16.2f} "
              f"{side_bytes / tasks * 1e6 / 1e9:>18.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="task rows per end-to-end run")
    parser.add_argument("--mode", default="III", help="feature mode of the benchmarked model")
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--workdir", type=Path, default=None, help="keep inputs/outputs here (default: a temp dir)")
    parser.add_argument("--size-tasks", default="20000,1000",
                        help="tasks scored for the output-size table at top-7 and at top-all (all: every candidate)")
    parser.add_argument("--only-output-size", action="store_true", help="run part 5 (output size) alone")
    parser.add_argument("--distinct-rows", type=int, default=1_000_000,
                        help="also score an input of this many rows whose token rows are all distinct (0: skip)")
    args = parser.parse_args()
    rows_top, rows_all = (int(s) for s in args.size_tasks.split(","))
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="medicalrec-bench-scoring-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; workdir {workdir}")
        transformer, bundle = build_bundle(workdir / "bundle", args.mode)
        if args.only_output_size:
            print_output_sizes(bundle, workdir, rows_top, rows_all)
            return
        inputs = {}
        for n in sizes:
            started = time.perf_counter()
            inputs[n] = make_input(workdir / f"tasks_{n}.csv", n)
            print(f"generated {n:,} rows in {time.perf_counter() - started:.1f} s (not timed below)")
        runs = [(inputs[n], n) for n in sizes]
        if args.distinct_rows:
            started = time.perf_counter()
            n = args.distinct_rows
            runs.append((make_distinct_input(workdir / f"tasks_distinct_{n}.csv", n, bundle), n))
            print(f"generated {n:,} rows with distinct token rows in {time.perf_counter() - started:.1f} s "
                  "(not timed below)")

        print("\nend to end: score_file -> top-10 CSV, fresh process per input")
        print(f"{'rows':>10} {'network':>8} {'seconds':>8} {'tasks/s':>9} {'process s':>9} {'peak RSS MiB':>12} "
              f"{'output MB':>9}")
        for source, n in runs:
            network = network_rows(bundle, source, args.chunk_size)
            result = end_to_end(bundle, source, workdir / "recs.csv", args.chunk_size)
            if result["rows"] != n:
                raise RuntimeError(f"{source}: {n - result['rows']} of {n} rows were not scored")
            print(f"{n:>10,} {network / n:>8.1%} {result['score_seconds']:>8.1f} "
                  f"{n / result['score_seconds']:>9,.0f} {result['process_seconds']:>9.1f} "
                  f"{result['max_rss_kib'] / 1024:>12.0f} {result['output_mb']:>9.0f}")
            (workdir / "recs.csv").unlink()

        stage_inputs = [inputs[min(sizes, key=lambda s: abs(s - 100_000))]]
        if args.distinct_rows:
            n = min(args.distinct_rows, 100_000)
            stage_inputs.append(make_distinct_input(workdir / f"tasks_distinct_{n}_stages.csv", n, bundle, seed=1))
        for stage_input in stage_inputs:
            for name, seconds in stage_breakdown(bundle, stage_input, args.chunk_size):
                print(f"  {name:<58} {seconds:>7.2f} s")

        n_model = min(20_000, min(sizes))
        print(f"\nmodel only, {n_model:,} token rows (mode {args.mode}), no de-duplication")
        rows = model_throughput(transformer, bundle, inputs[min(sizes)], n_model)
        print(f"  {'engine':<12} {'threads':>7} {'batch':>6} {'rows/s':>10} {'rows/CPU-s':>11}")
        for engine, threads, batch, rate, cpu_rate in rows:
            print(f"  {engine:<12} {threads:>7} {batch:>6} {rate:>10,.0f} {cpu_rate:>11,.0f}")
        for i in range(0, len(rows), 2):
            print(f"  onnxruntime / torch at {rows[i][1]} thread(s), batch {rows[i][2]}: "
                  f"{rows[i][3] / rows[i + 1][3]:.2f}x wall, {rows[i][4] / rows[i + 1][4]:.2f}x CPU")
        for column, name in ((3, "wall"), (4, "CPU")):
            best = {e: max(r[column] for r in rows if r[0] == e) for e in ("onnxruntime", "torch eager")}
            print(f"  best onnxruntime / best torch eager ({name}): {best['onnxruntime'] / best['torch eager']:.2f}x")

        print("\nimport cost (best of 3)")
        for name, seconds in import_times():
            print(f"  {name:<40} {seconds:>6.2f} s")
        print_output_sizes(bundle, workdir, rows_top, rows_all)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
