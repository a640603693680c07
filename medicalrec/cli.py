"""The ``medicalrec`` command line. Thin: parse, call the library, print.

Heavy libraries (torch, mlflow, onnxruntime, sklearn) are imported inside commands so that
``medicalrec --help`` answers instantly. Every ``MedicalRecError`` becomes one line on stderr and exit
code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from medicalrec import __version__
from medicalrec import constants as C
from medicalrec.bench.defaults import DATA_HELP, DEFAULT_DATA
from medicalrec.errors import ConfigError, MedicalRecError, ValidationError
from medicalrec.recommenders import RECOMMENDERS

EXIT_USER_ERROR = 2
EXIT_NOTHING_SCORED = 3  # score --on-error skip rejected every row


class _Group(click.Group):
    """A click group that turns library errors into one clear line and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ValidationError as error:
            click.echo(f"error: {error}", err=True)
            if len(error.problems) > 1:
                click.echo(error.report(), err=True)
            sys.exit(EXIT_USER_ERROR)
        except MedicalRecError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_USER_ERROR)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="medicalrec")
def main() -> None:
    """Recommend which classifier to train for a medical image classification task,
    from published results, without retraining anything.

    \b
    Typical flow:
      medicalrec bench describe FILE      what is in a bench file
      medicalrec evaluate --data FILE     compare recommenders with cross-validation
      mlflow run . -e train               train, export to ONNX, register
      medicalrec promote                  move the production alias (quality-gated)
      medicalrec score --input tasks.csv  nightly batch recommendations
    """


@main.group(cls=_Group)
def bench() -> None:
    """Inspect, validate and generate MedicalRec-Bench files."""


@bench.command("describe")
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
@click.option("--top", default=C.DEFAULT_DESCRIBE_TOP, show_default=True, type=click.IntRange(min=1), help="Models and domains to list.")
def bench_describe(file: str | None, as_json: bool, top: int) -> None:
    """Records, tasks, models, datasets and missing values (per column and per feature mode) of a
    bench FILE, or of a shipped one by name (default: public, the corpus the product ships)."""
    import json

    from medicalrec.bench.describe import describe, format_describe
    from medicalrec.bench.loading import load_bench

    description = describe(load_bench(_data_path(file)), top=top)
    click.echo(json.dumps(description, indent=2) if as_json else format_describe(description))


@bench.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--max-problems", default=C.DEFAULT_MAX_PROBLEMS, show_default=True, type=click.IntRange(min=1),
              help="Problems to list before stopping the list.")
@click.option("--scoring-input", is_flag=True, help="FILE holds tasks to score: no 'ref' or 'model' column needed.")
def bench_validate(file: str, max_problems: int, scoring_input: bool) -> None:
    """Check a bench FILE: print what loading would change and every bad value; exit 2 on problems."""
    from medicalrec import constants as C
    from medicalrec.bench.loading import normalize, read_table
    from medicalrec.errors import DataFileError

    required = () if scoring_input else (C.REF, C.MODEL)
    result = normalize(read_table(file), file, required=required, max_problems=max_problems)
    for note in result.notes:
        click.echo(f"note: {note}")
    for problem in result.problems:
        click.echo(f"{file}: {problem}")
    if result.truncated:
        click.echo(f"{file}: ... further problems not shown")
    records = int((~result.frame.isna().all(axis=1)).sum())
    if result.bad_rows:
        click.echo(f"{file}: {len(result.bad_rows)} of {records} record(s) have problems", err=True)
        sys.exit(EXIT_USER_ERROR)
    if records == 0 and not scoring_input:
        raise DataFileError(f"{file}: no records (the file has a header but no data rows)")
    click.echo(f"{file}: {records} record(s), no problems")


@bench.command("generate")
@click.option("--records", "n_records", type=click.IntRange(min=1), default=C.DEFAULT_GENERATED_RECORDS, show_default=True,
              help="Number of records to write.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed; the same seed gives a byte-identical file.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output file, .csv or .parquet.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=C.DEFAULT_GENERATOR_CHUNK, show_default=True,
              help="Rows generated and written at a time; memory does not grow with --records.")
def bench_generate(n_records: int, seed: int, out: Path, chunk_size: int) -> None:
    """Write a synthetic MedicalRec-Bench corpus (every ref labelled SYNTHETIC-...).

    Example: medicalrec bench generate --records 5000 --seed 0 --out synthetic.csv
    """
    from medicalrec.bench.generator import generate

    stderr = click.get_text_stream("stderr")
    if stderr.isatty():
        with click.progressbar(length=n_records, label="generating", file=stderr) as bar:
            summary = generate(n_records, seed, out, chunk_size=chunk_size, on_chunk=bar.update)
    else:
        summary = generate(n_records, seed, out, chunk_size=chunk_size)
    click.echo(str(summary))


def _data_path(data: str | None) -> Path:
    from medicalrec.bench.defaults import resolve_data

    return resolve_data(data)


class _TopK(click.ParamType):
    """A positive number of models, or ``all``."""

    name = "N|all"

    def convert(self, value, param, ctx):
        if value is None or str(value).strip().lower() == "all":
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a whole number or 'all'", param, ctx)
        if number < 1:
            self.fail(f"{value!r} must be at least 1 (or 'all')", param, ctx)
        return number


class _Limit(click.ParamType):
    """A finite number >= 0 (``tradeoff.valid_limit``); anything else is one ``ConfigError`` line
    that echoes the value as typed (``1e999``, not the ``inf`` it parses to)."""

    name = "number"

    def convert(self, value, param, ctx):
        from medicalrec.serving.tradeoff import limit_error, valid_limit

        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
        if number is None or not valid_limit(number):
            raise limit_error(param.name, value)
        return number


@main.command("score")
@click.option("--model", default=C.DEFAULT_MODEL_URI, show_default=True,
              help="Model to score with: a registry URI (models:/NAME@ALIAS, models:/NAME/VERSION), "
                   "a runs:/ URI, or a local scoring-bundle directory.")
@click.option("--input", "input_path", required=True,
              help="Task descriptions (.csv, .tsv, .parquet or .xlsx) in the bench schema: any feature "
                   "may be empty, no model column needed; an optional task_id column names each task "
                   "(else the row number is its id). With --engine spark: a Parquet or CSV path Spark "
                   "can read (a directory of part files, hdfs://, s3a://...) or a table name; task_id "
                   "column required.")
@click.option("--output", "output_path", required=True,
              help="Recommendations, .csv or .parquet by extension. Written to a hidden temporary file "
                   "and renamed at the end: an existing file is replaced only by a complete run. With "
                   "--engine spark: a Parquet directory, swapped in the same way.")
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
              help="local: this process. spark: a Spark job (pip install 'medicalrec[spark]'; the "
                   "executors need medicalrec and onnxruntime installed).")
@click.option("--master", default=None,
              help="Spark master for --engine spark (local[4], spark://host:7077, yarn); default: what "
                   "spark-submit or the Spark configuration says, else local[*].")
@click.option("--top-k", default=str(C.DEFAULT_TOP_K), show_default=True, type=_TopK(),
              help="Models per task, or 'all' to rank every candidate.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="auto: CUDA if ONNX Runtime offers it, else CPU (with a note); cuda: fail if not available.")
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="fail: any bad row stops the run and nothing is written (exit 2, row/column/value on "
                   "stderr); skip: score the good rows, write the bad ones to OUTPUT_STEM.rejects.csv (exit 3 "
                   "when every row is rejected).")
@click.option("--chunk-size", type=click.IntRange(min=1), default=C.DEFAULT_SCORING_CHUNK, show_default=True,
              help="Rows read and scored at a time; memory does not grow with the input. With --engine "
                   "spark: rows per batch of the executors' batch function (Arrow maxRecordsPerBatch).")
@click.option("--evidence", type=click.Choice(["inline", "side"]), default=None,
              help="Where the per-task evidence (nearest_tasks, distance, confidence) goes. inline: on every "
                   "ranked row. side: once per task in OUTPUT_STEM.evidence.csv|.parquet (join on task_id), "
                   "written together with the output, which keeps every other column. "
                   "Default: side with --top-k all, else inline. --engine spark: inline only.")
@click.option("--max-params", type=_Limit(), default=None, metavar="MILLIONS",
              help="Rank only candidates with at most this many parameters (millions); candidates whose "
                   "size is unknown are left out.")
@click.option("--max-gflops", type=_Limit(), default=None, metavar="GFLOPS",
              help="Rank only candidates needing at most this many GFLOPs per image at their input size; "
                   "unknown costs are left out.")
@click.option("--within", type=_Limit(), default=None, metavar="POINTS",
              help="Rank only candidates whose expected AUC is at least that of the task's first "
                   "recommendation (within the cost limits) minus POINTS (0.01 AUC = 1 point): the models "
                   "nearly as good as the one we would pick. Tasks then keep different numbers of rows.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary (errors still go to stderr).")
@click.option("--log-mlflow/--no-log-mlflow", default=False, show_default=True,
              help="Log the run (model version, input hash, row counts, timings) to MLflow tracking.")
def score(model: str, input_path: str, output_path: str, engine: str, master: str | None, top_k: int | None,
          device: str, on_error: str, chunk_size: int, quiet: bool, log_mlflow: bool, evidence: str | None,
          max_params: float | None, max_gflops: float | None, within: float | None) -> None:
    """Nightly batch scoring: rank the classifiers for every task of --input into --output.

    \b
    Output columns, one row per task and ranked model (ties broken by model name):
      task_id, rank, model, score, support
      expected_auc, expected_low, expected_high   expected AUC and its 80% interval
      expected_tasks                              training tasks behind it (0: corpus median)
      params_m, gflops, trained_params_m, pareto  cost; pareto: no candidate is expected to
                                                  be at least as good at no more cost
      nearest_tasks, distance, confidence         evidence; with --evidence side once per
                                                  task in OUTPUT_STEM.evidence.csv|.parquet

    \b
    Examples:
      medicalrec score --input tasks.csv --output recs.csv
      medicalrec score --model models:/medicalrec@production --input tasks.parquet \\
          --output recs.parquet --top-k all --on-error skip --log-mlflow
      medicalrec score --engine spark --master yarn --input hdfs:///tasks/2024-06-01 \\
          --output hdfs:///recs/2024-06-01
      medicalrec score --input tasks.csv --output cheap.csv --top-k all --within 1 --max-gflops 5

    Exit codes: 0 done (also for an input with a header and no rows: a header-only output),
    2 bad input/model/option (one line on stderr saying what and where), 3 --on-error skip
    rejected every row: nothing scored (the reasons are in the rejects file).
    """
    from medicalrec.serving.tradeoff import Limits

    limits = Limits(max_params=max_params, max_gflops=max_gflops, within=within)
    if engine == "spark" and evidence == "side":
        raise ConfigError("--evidence side needs --engine local: the Spark engine writes the evidence inline "
                          "(drop --evidence, or score with --engine local)")
    if engine == "spark":
        _score_on_spark(model, input_path, output_path, master, top_k, device, on_error, chunk_size, quiet, log_mlflow,
                        limits)
        return
    if master is not None:
        raise click.UsageError("--master needs --engine spark")
    from medicalrec.serving.batch import format_summary, score_file
    from medicalrec.serving.bundle import is_model_uri

    input_path, output_path = Path(input_path), Path(output_path)
    for hint, path in (("--input", input_path), ("--output", output_path)):
        if path.is_dir():
            raise click.BadParameter(f"{str(path)!r} is a directory (Parquet directories and tables need "
                                     "--engine spark)", param_hint=hint)
    if is_model_uri(model) or log_mlflow:  # a local bundle needs no MLflow (nor its import time)
        _configure_tracking()
    stderr = click.get_text_stream("stderr")
    if not quiet and stderr.isatty():
        with click.progressbar(length=None, label="scoring", show_pos=True, file=stderr) as bar:
            summary = score_file(model, input_path, output_path, top_k=top_k, device=device, on_error=on_error,
                                 chunk_size=chunk_size, progress=lambda done: bar.update(done - bar.pos),
                                 evidence=evidence, limits=limits)
    else:
        summary = score_file(model, input_path, output_path, top_k=top_k, device=device, on_error=on_error,
                             chunk_size=chunk_size, evidence=evidence, limits=limits)
    if log_mlflow:
        from medicalrec.mlops.tracking import log_scoring_run

        summary.notes.append(f"logged to MLflow run {log_scoring_run(summary)}")
    if not quiet:
        click.echo(format_summary(summary), err=True)
    if summary.rows_scored == 0 and summary.rows_rejected:
        click.echo(f"error: {input_path}: nothing scored, all {summary.rows_rejected} task row(s) were rejected; "
                   f"the reasons are in {summary.rejects_path}", err=True)
        sys.exit(EXIT_NOTHING_SCORED)


def _score_on_spark(model: str, input_path: str, output_path: str, master: str | None, top_k: int | None,
                    device: str, on_error: str, chunk_size: int, quiet: bool, log_mlflow: bool, limits) -> None:
    """``score --engine spark``: one Spark job; the summary counts come from the executors."""
    import time

    from medicalrec.serving.bundle import is_model_uri
    from medicalrec.serving.spark import SparkScoringStats, score_spark, spark_session

    if on_error != "fail":
        raise click.UsageError("--engine spark supports --on-error fail only (bad rows stop the job)")
    if log_mlflow:
        raise click.UsageError("--log-mlflow is not available with --engine spark yet")
    if is_model_uri(model):  # resolved on the driver; the bundle is shipped to the executors
        _configure_tracking()
    started = time.perf_counter()
    spark = spark_session(master, batch_rows=chunk_size)
    stats = SparkScoringStats(spark)
    score_spark(input_path, model, output_path=output_path, top_k=top_k, spark=spark, device=device, stats=stats,
                limits=limits)
    if not quiet:
        seconds = time.perf_counter() - started
        click.echo(f"model      {model}\ninput      {input_path}\noutput     {output_path} (Parquet directory)\n"
                   f"engine     spark, master {spark.sparkContext.master}\n"
                   f"tasks      {stats.rows:,} read, {stats.tasks_scored:,} scored ({stats.blank_rows:,} empty rows ignored)\n"
                   f"executors  {stats.processes} Python process(es), {stats.scorers_built} ONNX Runtime session(s) "
                   f"built, {stats.batches:,} batches\n"
                   f"time       {seconds:.1f} s ({stats.tasks_scored / max(seconds, 1e-9):,.0f} tasks/s, "
                   "Spark start included)", err=True)


# Import names of the [train] extra (pyproject.toml): what train and evaluate need beyond scoring.
TRAINING_PACKAGES = ("torch", "onnx", "onnxscript", "sklearn", "skops", "threadpoolctl", "lightgbm", "matplotlib")


def _require_training_extra(command: str) -> None:
    """A scoring-only install (``pip install medicalrec``) has no torch: say so in one line before any work."""
    import importlib.util

    missing = [name for name in TRAINING_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"medicalrec {command} needs the training extra (missing: {', '.join(missing)}): "
                          "pip install 'medicalrec[train]' (pip install -e '.[train]' in a checkout)")


def _configure_tracking() -> str:
    """Point MLflow at the project's store. Only ``train`` may create it: ``promote``, and ``score``
    of a ``models:/`` or ``runs:/`` URI, look something up, so a local store that does not exist is
    an error naming it (not a new empty ``mlflow.db`` and "model not found")."""
    from medicalrec.mlops.tracking import configure_tracking

    ctx = click.get_current_context(silent=True)
    name = ctx.command.name if ctx is not None else None
    model = str(ctx.params.get("model", "")) if ctx is not None else ""
    looks_up = name == "promote" or (name == "score" and model.startswith(("models:/", "runs:/")))
    return configure_tracking(create=not looks_up)


class _Folds(click.ParamType):
    """Grouped folds: a whole number >= 2, or ``loo`` for leave-one-group-out."""

    name = "N|loo"

    def convert(self, value, param, ctx):
        text = str(value).strip().lower()
        if text == "loo":
            return "loo"
        try:
            number = int(text)
        except ValueError:
            self.fail(f"{value!r} is not a whole number >= 2 or 'loo'", param, ctx)
        if number < 2:
            self.fail(f"{value!r}: folds must be at least 2 (or 'loo' for leave-one-group-out)", param, ctx)
        return number


def _sweep_options(command):
    """The options ``train`` and ``evaluate`` share: what is cross-validated, and how."""
    options = [
        click.option("--data", default=DEFAULT_DATA, show_default=True, help=DATA_HELP),
        click.option("--protocol", type=click.Choice(list(C.PROTOCOLS)), default=C.PROTOCOL_TASK, show_default=True,
                     help="record: predict each held-out record's model (folds grouped by ref); task: rank the "
                          "models of held-out tasks by their reported performance (folds grouped by dataset "
                          "where the file has that column, else by task)."),
        click.option("--modes", default="I,II,III,IV", show_default=True, help='Comma list of feature modes, or "all".'),
        click.option("--recommenders", "--models", "recommenders", default="all", show_default=True,
                     help=f'Comma list of recommender names, or "all": {", ".join(RECOMMENDERS)}.'),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Seed of the folds and of every recommender."),
        click.option("--folds", type=_Folds(), default=str(C.DEFAULT_FOLDS), show_default=True,
                     help='Grouped folds (>= 2), or "loo" for leave-one-group-out (one fit per group: slow).'),
        click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Repeat the grouped K-fold with seeds SEED, SEED+1, ...; metrics are averaged per task."),
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Processes that fit folds in parallel [default: one per CPU core]; results do not "
                          "depend on it."),
        click.option("--group-by", type=click.Choice(["dataset", "ref", "task"]), default=None,
                     help="What task-protocol folds hold out whole [default: dataset where the file has that "
                          "column, else task]; ref = leave-source-out, where most of a source's models are new "
                          "to training."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _progress(label: str, stack):
    """``progress(text, done, total)``: a bar on a terminal, else one line per step (for logs)."""
    import time

    started = time.perf_counter()
    bar = None

    def progress(text: str, done: int, total: int) -> None:
        nonlocal bar
        if not sys.stderr.isatty():
            click.echo(f"[{done}/{total}] {time.perf_counter() - started:7.1f} s  {text}", err=True)
            return
        if bar is None:
            bar = stack.enter_context(click.progressbar(length=total, label=label, show_pos=True,
                                                        item_show_func=lambda item: item, file=sys.stderr))
        bar.update(done - bar.pos, text)

    return progress


@main.command()
@_sweep_options
@click.option("--metric", default=C.DEFAULT_METRIC, show_default=True, help="Selection metric; one the protocol reports.")
@click.option("--model-name", default=C.DEFAULT_MODEL_NAME, show_default=True, help="Registered model name.")
@click.option("--register/--no-register", default=True, show_default=True,
              help="Refit, export and register the best transformer; --no-register: compare only (what "
                   "`mlflow run . -e evaluate` runs).")
@click.option("--experiment", default=C.DEFAULT_MODEL_NAME, show_default=True,
              help="MLflow experiment of the parent run (under `mlflow run`: the launcher's run and experiment).")
@click.option("--transformer-params", default="{}", show_default=True,
              help='JSON overrides of the transformer\'s parameters, e.g. \'{"max_epochs": 10}\'.')
@click.option("--candidates", "candidates_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Text file of your own candidate names to rank beside the corpus and catalogue models, one "
                   "per line (e.g. 'ConvNeXt-T (fine-tune)'; lines starting with # are comments). Each is placed "
                   "by its catalogue row or what its name says, among the rated models of its architecture and "
                   "adaptation, its architecture, its family and adaptation, or its family; a name that says "
                   "nothing readable ranks as the average model.")
def train(data, protocol, modes, recommenders, seed, folds, repeats, workers, group_by, metric, model_name, register,
          experiment, transformer_params, candidates_file):
    """Cross-validate every mode x recommender under MLflow (one parent run, one child run each),
    export the best transformer to ONNX and register it. Same parameters as `mlflow run . -e train`;
    with --no-register, `mlflow run . -e evaluate`."""
    _require_training_extra("train")
    import json
    from contextlib import ExitStack

    from medicalrec.mlops.tracking import tracking_uri
    from medicalrec.mlops.training import TrainConfig, run_training

    try:
        overrides = json.loads(transformer_params)
    except json.JSONDecodeError as error:
        raise ConfigError(f"--transformer-params is not JSON: {error}") from None
    if candidates_file is not None:
        overrides = _with_candidates(overrides, candidates_file)
    _configure_tracking()
    config = TrainConfig(data=data, protocol=protocol, modes=modes, recommenders=recommenders, seed=seed,
                         metric=metric, folds=folds, repeats=repeats, group_by=group_by, model_name=model_name,
                         register=register, experiment=experiment, transformer_params=overrides)
    if workers is not None:
        config.workers = workers
    with ExitStack() as stack:
        result = run_training(config, progress=_progress("training", stack))
    click.echo(f"runs: parent {result.parent_run_id} + {len(result.child_run_ids)} child runs in {tracking_uri()}, "
               f"{result.seconds:.0f} s")
    if result.model_version:
        from medicalrec.mlops.training import describe_comparison

        click.echo(f"best transformer: mode {result.best_mode}, {metric} {result.best_value:.4f} (cross-validated); "
                   f"registered {model_name} version {result.model_version} (ONNX parity "
                   f"{result.parity_max_abs_diff:.2g}); next: medicalrec promote")
        comparison = describe_comparison(result.reference)
        if result.reference["beats"] is False:
            click.echo(f"WARNING: {comparison}; registered anyway so that scoring works", err=True)
        else:
            click.echo(comparison)
    elif not register:
        click.echo("compared only (--no-register): nothing registered")
    else:
        click.echo("no transformer among the recommenders: compared only, nothing registered")


def _with_candidates(overrides: dict, path: str) -> dict:
    """The transformer's overrides with the names of ``path`` as its extra candidates; says on stderr
    how each name was read."""
    from medicalrec.catalogue import Catalogue, read_names
    from medicalrec.features import normalise_category

    if "candidates" in overrides:
        raise ConfigError("candidates given twice: in --candidates and in --transformer-params; keep one")
    names = read_names(path)
    catalogue = Catalogue.load()
    known = {normalise_category(n): n for n in catalogue.names()}
    for name in names:
        click.echo(f"candidate {name!r}: {catalogue.how_read(name)}", err=True)
        spelled = known.get(normalise_category(name))
        if spelled is not None and spelled != name:
            click.echo(f"warning: {name!r} differs from the catalogue's {spelled!r} only in case or spacing: it is "
                       "ranked as a separate candidate; use the catalogue's spelling to mean that one", err=True)
    return {**overrides, "candidates": names}


@main.command()
@click.option("--version", "version", type=int, default=None, help="Version to promote [default: the newest].")
@click.option("--force", is_flag=True, help="Promote without the quality gate (recorded as forced).")
@click.option("--rollback", "do_rollback", is_flag=True, help="Swap 'production' and 'previous' instead.")
@click.option("--model-name", default=C.DEFAULT_MODEL_NAME, show_default=True)
@click.option("--metric", default=C.DEFAULT_METRIC, show_default=True, help="Metric the gate compares.")
@click.option("--data", default=None,
              help="Validation file (or shipped name) to score both versions on when their CV metrics are not "
                   "comparable; tasks either version was trained on are left out.")
def promote(version, force, do_rollback, model_name, metric, data):
    """Move the 'production' alias to a version if it beats production on the same data.

    Exit code 0 when production moved (or already held the version), 1 when refused."""
    from medicalrec.mlops.registry import REFUSED, rollback
    from medicalrec.mlops.registry import promote as promote_version

    if data is not None:
        data = str(_data_path(data))  # a missing file fails here, before any registry lookup
    _configure_tracking()
    if do_rollback:
        if version is not None or force or data is not None:
            raise click.UsageError("--rollback takes no --version, --force or --data")
        decision = rollback(model_name)
    else:
        decision = promote_version(model_name, version=version, force=force, metric=metric, data=data)
    click.echo(decision.message())
    if decision.outcome == REFUSED:
        sys.exit(1)


@main.command()
@_sweep_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports/evaluation"),
              show_default=True, help="Folder for results.csv, per_task.csv, timings.csv, summary.csv, "
                                      "summary.md and the PNG plots.")
def evaluate(data, protocol, modes, recommenders, seed, folds, repeats, workers, group_by, out):
    """Cross-validate recommenders on a bench file and write a comparison table and plots to a local
    folder (no MLflow; `medicalrec train --no-register` is the same comparison logged to MLflow).

    \b
    Each (mode, recommender) is paired with best_mean_relevance on the same held-out tasks: the
    table shows mean ± std over folds and the Wilcoxon signed-rank p-value.

    \b
    Example (the README's numbers):
      medicalrec evaluate --protocol task --folds 5 --repeats 3 --out reports/task
    """
    _require_training_extra("evaluate")
    from contextlib import ExitStack

    from medicalrec.bench.loading import load_bench
    from medicalrec.bench.modes import parse_modes
    from medicalrec.evaluation.crossval import default_workers, metric_names, n_steps, resolve_n_splits
    from medicalrec.evaluation.crossval import evaluate as run_evaluation
    from medicalrec.evaluation.expectation import describe_expected, write_expected_report
    from medicalrec.evaluation.report import describe_scheme, summarize, timing_breakdown, to_markdown, write_report
    from medicalrec.recommenders import parse_recommenders

    mode_list, names = parse_modes(modes), parse_recommenders(recommenders)
    path = _data_path(data)
    bench = load_bench(path)
    for note in bench.notes:
        click.echo(f"note: {note}", err=True)
    records = bench.frame
    n_splits = resolve_n_splits(records, protocol, folds, group_by)
    total = n_steps(records, protocol, mode_list, names, n_splits, repeats)
    with ExitStack() as stack:
        progress, done = _progress("evaluating", stack), iter(range(1, total + 1))
        evaluation = run_evaluation(records, protocol, mode_list, names, n_splits=n_splits, seed=seed,
                                    progress=lambda label: progress(label, next(done), total), repeats=repeats,
                                    workers=workers or default_workers(), group_by=group_by)
    paths = write_report(evaluation, out, data_label=path.name)
    if protocol == C.PROTOCOL_TASK:
        expected = write_expected_report(records, out, n_splits, seed, repeats, group_by, data_label=path.name)
        if expected is not None:
            paths.update(expected[1])
            click.echo(describe_expected(expected[0]))
    click.echo(describe_scheme(evaluation, path.name))
    click.echo(to_markdown(summarize(evaluation), metric_names(protocol)))
    timings = timing_breakdown(evaluation)
    click.echo(f"{evaluation.seconds:.1f} s wall with {evaluation.workers} worker(s); fit + score seconds per "
               "recommender: " + ", ".join(f"{r} {f + s:.1f}" for r, f, s in
                                           timings[[C.RECOMMENDER, "fit_seconds", "score_seconds"]].itertuples(index=False)),
               err=True)
    click.echo(f"wrote {', '.join(str(p) for p in paths.values())}", err=True)
