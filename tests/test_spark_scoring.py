"""Spark batch scoring in local mode (``local[2]``, the session fixture of conftest.py): a real exported bundle, real task rows of the
public bench, the same long ranked table as the local scorer, one ONNX Runtime session per executor
Python process, and the local scorer's fail-mode behaviour on bad rows."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.bench.tasks import task_queries
from medicalrec.errors import ConfigError, DataFileError, ModelError, SchemaError, ValidationError

from medicalrec.serving.batch import score_file
from medicalrec.serving.spark import PYSPARK_MISSING, SparkScoringStats, TaskProblem, score_spark

from conftest import REAL_BENCH, SPARK_BATCH_ROWS as BATCH_ROWS  # noqa: E402
QUERY_COLUMNS = [C.REF, C.TASK, C.DOMAIN, C.MODALITY, C.TASK_TYPE, C.N_SAMPLES, C.N_TRAIN, C.N_TEST, C.N_VAL,
                 C.WIDTH, C.HEIGHT, C.CHANNELS, C.N_CLASSES]
REPEATS = 3  # 106 real tasks x 3 = 318 task rows

pytestmark = [
    pytest.mark.slow,  # a JVM and Python workers: ~1 minute for the module
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),  # pyspark's own toPandas on pandas 3
]


@pytest.fixture(scope="module")
def bundle(scoring_bundle):
    return scoring_bundle[1]


@pytest.fixture(scope="module")
def tasks() -> pd.DataFrame:
    """Every real task of the public bench, three times over, each row with its own task_id."""
    queries = task_queries(pd.read_csv(REAL_BENCH)).reset_index(drop=True)[QUERY_COLUMNS]
    frame = pd.concat([queries] * REPEATS, ignore_index=True)
    frame.insert(0, C.TASK_ID, [f"task-{i:04d}" for i in range(len(frame))])
    return frame


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values([C.TASK_ID, C.RANK]).reset_index(drop=True)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


# ---------------------------------------------------------------------------------------------
# Same ranking as the local scorer; one session per executor process


def test_parquet_gives_the_local_scorers_table_with_one_session_per_process(spark, bundle, tasks, tmp_path):
    source = tmp_path / "tasks.parquet"
    tasks.to_parquet(source, index=False)
    score_file(bundle, source, tmp_path / "local.parquet", top_k=10)
    stats = SparkScoringStats(spark)
    result = score_spark(str(source), bundle, output_path=str(tmp_path / "recs"), top_k=10, spark=spark,
                         partitions=6, stats=stats)

    ours = _sorted(pd.read_parquet(tmp_path / "recs"))
    local = _sorted(pd.read_parquet(tmp_path / "local.parquet"))
    assert list(ours.columns) == list(C.OUTPUT_COLUMNS)
    assert len(ours) == len(tasks) * 10
    pd.testing.assert_frame_equal(ours, local)  # row for row, values and types
    assert result.count() == len(tasks) * 10 and result.columns == list(C.OUTPUT_COLUMNS)
    assert (tmp_path / "recs" / "_SUCCESS").is_file() and _leftovers(tmp_path) == []

    # 318 rows hashed by task id into 6 Spark tasks, 50-row Arrow batches: at least 7 batches (one
    # per 50 rows of each task), over at most 2 reused Python workers. Each process builds its ONNX
    # Runtime session at most once, not once per batch or per task.
    assert stats.rows == len(tasks) and stats.tasks_scored == len(tasks)
    assert stats.batches >= -(-len(tasks) // BATCH_ROWS)
    assert 1 <= stats.processes <= 2
    assert all(built <= 1 for built, _, _, _ in stats.per_process.values()), stats.per_process
    assert stats.scorers_built <= stats.processes < stats.batches


def test_csv_file_and_table_name_inputs_rank_like_the_local_scorer(spark, bundle, tasks, tmp_path):
    """CSV read by Spark (every cell text, as the local reader has it), returned lazily; a temporary
    view scored by name. Reused workers keep their session from the previous test's job."""
    source = tmp_path / "tasks.csv"
    sample = tasks.iloc[::3].copy()
    sample.loc[sample.index[:5], C.N_VAL] = None  # empty cells: missing features
    sample.to_csv(source, index=False)
    score_file(bundle, source, tmp_path / "local.parquet", top_k=3)
    local = _sorted(pd.read_parquet(tmp_path / "local.parquet"))

    stats = SparkScoringStats(spark)
    lazy = score_spark(str(source), bundle, top_k=3, spark=spark, stats=stats)
    pd.testing.assert_frame_equal(_sorted(lazy.toPandas()).astype(local.dtypes.to_dict()), local)
    assert stats.scorers_built <= stats.processes  # usually 0: the first test's workers are reused

    spark.read.option("header", True).csv(str(source)).createOrReplaceTempView("tasks_to_score")
    by_name = score_spark("tasks_to_score", bundle, top_k=3, spark=spark)
    pd.testing.assert_frame_equal(_sorted(by_name.toPandas()).astype(local.dtypes.to_dict()), local)


# ---------------------------------------------------------------------------------------------
# Bad input: the local scorer's fail mode, old output untouched


BAD_ROWS = """\
task_id,domain,n_samples,n_train,width,height,n_classes
ok-1,Dermatology,1000,800,224,224,2
,Dermatology,1000,800,224,224,2
bad-type,Dermatology,many,800,224,224,2
bad-classes,Dermatology,1000,800,224,224,1
bad-subset,Dermatology,1000,5000,224,224,2
=cmd,Dermatology,1000,800,-3,224,2
ok-2,Dermatology,500,400,128,128,3
"""


def _finished_old_output(path: Path) -> Path:
    path.mkdir()
    (path / "_SUCCESS").write_text("")
    (path / "part-00000.parquet").write_text("yesterday's output")
    return path


def test_a_failed_swap_puts_the_earlier_output_back(spark, tmp_path):
    """The last step moves yesterday's output aside, renames the new one in and only then deletes
    yesterday's; when the rename fails (here: the new output vanished), yesterday's is restored."""
    from medicalrec.serving.spark import _output_target, _swap_in

    target = _output_target(spark, str(_finished_old_output(tmp_path / "recs")), None)
    with pytest.raises(DataFileError, match="could not move the finished output"):
        _swap_in(target.fs, target)
    assert (tmp_path / "recs" / "part-00000.parquet").read_text() == "yesterday's output"
    assert _leftovers(tmp_path) == []

    Path(target.temporary.toUri().getPath()).mkdir()
    (Path(target.temporary.toUri().getPath()) / "part-00000.parquet").write_text("today's output")
    _swap_in(target.fs, target)
    assert (tmp_path / "recs" / "part-00000.parquet").read_text() == "today's output"
    assert _leftovers(tmp_path) == []


def test_limits_give_the_local_scorers_rows(spark, bundle, tasks, tmp_path):
    from medicalrec.serving.tradeoff import Limits

    source = tmp_path / "tasks.parquet"
    tasks.iloc[::6].to_parquet(source, index=False)
    limits = Limits(max_gflops=10, within=3)
    score_file(bundle, source, tmp_path / "local.parquet", top_k=None, evidence="inline", limits=limits)
    score_spark(str(source), bundle, output_path=str(tmp_path / "recs"), top_k=None, spark=spark, limits=limits)
    local = _sorted(pd.read_parquet(tmp_path / "local.parquet"))
    assert (local[C.GFLOPS] <= 10).all() and local.groupby(C.TASK_ID).size().nunique() > 1  # tasks keep different counts
    pd.testing.assert_frame_equal(_sorted(pd.read_parquet(tmp_path / "recs")), local)


def test_bad_values_fail_with_task_column_value_and_keep_the_old_output(spark, bundle, tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text(BAD_ROWS)
    target = _finished_old_output(tmp_path / "recs")
    with pytest.raises(ValidationError) as caught:
        score_spark(str(source), bundle, output_path=str(target), spark=spark, partitions=1)
    problems = [(p.task_id, p.column, p.value) for p in caught.value.problems]
    assert problems == [
        (None, "task_id", None),
        ("bad-type", "n_samples", "many"),
        ("bad-classes", "n_classes", "1"),
        ("bad-subset", "n_train", "5000"),
        ("=cmd", "width", "-3"),
    ]
    assert all(isinstance(p, TaskProblem) for p in caught.value.problems)
    assert caught.value.problems[1].expected == "a whole number >= 1"
    assert str(caught.value).startswith(f"{source}: 5 invalid value(s); first: a row without a task id")
    assert "task 'bad-type', column 'n_samples': got 'many'" in caught.value.report()
    assert (target / "part-00000.parquet").read_text() == "yesterday's output"
    assert _leftovers(tmp_path) == []


def test_duplicate_task_ids_fail_like_the_local_scorer(spark, bundle, tmp_path):
    """Rows are hash-partitioned by stripped task id, so repeats meet in one batch function; one
    partition keeps the file order, so the later rows are the duplicates."""
    source = tmp_path / "twice.csv"
    source.write_text("task_id,domain,n_samples\na,Skin,10\nb,Skin,20\n a ,Skin,30\nc,Skin,40\nb,Skin,50\nb,Skin,60\n")
    with pytest.raises(ValidationError) as caught:
        score_spark(str(source), bundle, output_path=str(tmp_path / "recs"), spark=spark, partitions=1)
    assert [(p.task_id, p.column, p.value, p.expected) for p in caught.value.problems] == [
        ("a", "task_id", "a", "a task id not used by an earlier row (duplicate)"),
        ("b", "task_id", "b", "a task id not used by an earlier row (duplicate)"),
        ("b", "task_id", "b", "a task id not used by an earlier row (duplicate)"),
    ]
    assert not (tmp_path / "recs").exists() and _leftovers(tmp_path) == []

    spread = tmp_path / "spread.csv"  # ids 0..199 and a repeat of 17, over 4 partitions
    spread.write_text("task_id,domain,n_samples\n" + "".join(f"{i},Skin,{i + 1}\n" for i in [*range(200), 17]))
    with pytest.raises(ValidationError) as caught:
        score_spark(str(spread), bundle, output_path=str(tmp_path / "recs"), spark=spark, partitions=4)
    assert [(p.task_id, p.value) for p in caught.value.problems] == [("17", "17")]


def test_an_executors_model_error_comes_back_typed(spark, bundle, tasks, tmp_path):
    """``device="cuda"`` is checked where the session is built, on the executors (the driver may have
    no GPU); the driver raises the executor's ``ModelError`` itself, not a Py4J error."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA; the missing-provider path is not reachable")
    source = tmp_path / "tasks.parquet"
    tasks.head(10).to_parquet(source, index=False)
    with pytest.raises(ModelError, match="no CUDAExecutionProvider"):
        score_spark(str(source), bundle, output_path=str(tmp_path / "recs"), spark=spark, device="cuda")
    assert not (tmp_path / "recs").exists() and _leftovers(tmp_path) == []


def test_column_and_input_problems(spark, bundle, tmp_path):
    cases = {
        "no_id.csv": ("domain,n_samples\nSkin,10\n", SchemaError, "needs a 'task_id' column"),
        "other.csv": ("task_id,name,price\na,bread,2\n", SchemaError, "none of the model's features"),
        "two_ids.csv": ("task_id,Task ID,domain\na,b,Skin\n", SchemaError, "all mean 'task_id'"),
    }
    for name, (text, kind, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(kind, match=message):
            score_spark(str(tmp_path / name), bundle, output_path=str(tmp_path / "recs"), spark=spark)
    (tmp_path / "header_only.csv").write_text("task_id,domain,n_samples\n")  # a night without new tasks
    score_spark(str(tmp_path / "header_only.csv"), bundle, output_path=str(tmp_path / "empty"), spark=spark)
    empty = pd.read_parquet(tmp_path / "empty")
    assert empty.empty and list(empty.columns) == list(C.OUTPUT_COLUMNS)
    with pytest.raises(DataFileError, match="no such file"):
        score_spark(str(tmp_path / "missing.parquet"), bundle, spark=spark)
    with pytest.raises(DataFileError, match="no such table or file"):
        score_spark("no_such_table", bundle, spark=spark)
    (tmp_path / "tasks.xlsx").write_bytes(b"not a workbook")
    with pytest.raises(DataFileError, match="reads Parquet .* or CSV"):
        score_spark(str(tmp_path / "tasks.xlsx"), bundle, spark=spark)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="refusing to replace"):
        score_spark(str(tmp_path / "no_id.csv"), bundle, output_path=str(tmp_path / "mine"), spark=spark)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "recs").exists() and _leftovers(tmp_path) == []


def test_bad_parameters_fail_before_any_spark_work(bundle, tmp_path):
    pytest.importorskip("pyspark", reason="the Spark engine is optional: pip install 'medicalrec[spark]'")
    with pytest.raises(ConfigError, match="top_k"):
        score_spark(str(tmp_path / "t.csv"), bundle, top_k=0)
    with pytest.raises(ConfigError, match="device"):
        score_spark(str(tmp_path / "t.csv"), bundle, device="tpu")
    with pytest.raises(ConfigError, match="partitions"):
        score_spark(str(tmp_path / "t.csv"), bundle, partitions=0)


def test_missing_pyspark_says_how_to_install_it(monkeypatch, tmp_path):
    """``None`` in ``sys.modules`` makes ``import pyspark`` fail as if it were not installed."""
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(ConfigError) as caught:
        score_spark(str(tmp_path / "tasks.parquet"), tmp_path / "bundle")
    assert str(caught.value) == PYSPARK_MISSING == "Spark engine needs pyspark: pip install 'medicalrec[spark]'"
