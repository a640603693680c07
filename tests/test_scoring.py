"""Batch scoring end to end: a real transformer exported to a real ONNX bundle, scored with ONNX
Runtime from real files in tmp_path, compared with the transformer's own ranking in torch."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.bench.tasks import task_queries
from medicalrec.serving.bundle import resolve_bundle
from medicalrec.errors import ConfigError, DataFileError, ModelError, SchemaError, ValidationError
from medicalrec.serving.batch import ScoringSummary, format_summary, rejects_path_for, score_file
from medicalrec.serving.files import escape_formula
from medicalrec.serving.scorer import Scorer, round_significant, top_k_indices, unique_rows

from conftest import REAL_BENCH  # noqa: E402
QUERY_COLUMNS = [C.REF, C.TASK, C.DOMAIN, C.MODALITY, C.TASK_TYPE, C.N_SAMPLES, C.N_TRAIN, C.N_TEST, C.N_VAL,
                 C.WIDTH, C.HEIGHT, C.CHANNELS, C.N_CLASSES]


@pytest.fixture(scope="module")
def tasks() -> pd.DataFrame:
    """Every real task once (295), described the way a user would, with a task_id column."""
    queries = task_queries(pd.read_csv(REAL_BENCH)).reset_index(drop=True)[QUERY_COLUMNS]
    queries.insert(0, C.TASK_ID, [f"task-{i:03d}" for i in range(len(queries))])
    return queries


@pytest.fixture(scope="module")
def torch_ranking(scoring_bundle, tasks):
    """The transformer's own scores and top-5 in torch, once for all format combinations."""
    transformer, _, _ = scoring_bundle
    return transformer.score(tasks), transformer.recommend(tasks, k=5)


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={C.TASK_ID: str}, keep_default_na=False, na_values=[""])


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


# ---------------------------------------------------------------------------------------------
# Ranking: the ONNX scorer gives the transformer's own ranking


def _assert_same_ranking(ours: list[str], theirs: list[str], torch_scores: dict[str, float]) -> None:
    """Equal lists, except where two models' torch scores tie to float precision (ONNX Runtime and
    torch may then order them differently)."""
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        if a != b:
            assert abs(torch_scores[a] - torch_scores[b]) < 1e-6, (a, b)


@pytest.mark.parametrize("suffix_in, suffix_out", [(".csv", ".csv"), (".parquet", ".parquet"),
                                                   (".csv", ".parquet"), (".parquet", ".csv")])
def test_top_k_equals_the_transformers_ranking(scoring_bundle, tasks, torch_ranking, tmp_path, suffix_in, suffix_out):
    transformer, bundle, _ = scoring_bundle
    source = _write(tasks, tmp_path / f"tasks{suffix_in}")
    summary = score_file(bundle, source, tmp_path / f"recs{suffix_out}", top_k=5, chunk_size=40)
    out = _read(tmp_path / f"recs{suffix_out}")
    assert list(out.columns) == list(C.OUTPUT_COLUMNS)
    n = len(tasks)
    assert n == 295
    assert (summary.rows_read, summary.rows_scored, summary.rows_rejected) == (n, n, 0)
    assert summary.output_rows == len(out) == n * 5
    assert out[C.RANK].tolist() == [1, 2, 3, 4, 5] * n
    assert out[C.TASK_ID].tolist() == [t for t in tasks[C.TASK_ID] for _ in range(5)]
    torch_scores, expected = torch_ranking
    for i, (task_id, group) in enumerate(out.groupby(C.TASK_ID, sort=False)):
        by_name = dict(zip(transformer.models_, torch_scores[i]))
        _assert_same_ranking(group[C.MODEL].tolist(), [m for m, _ in expected[i]], by_name)
        np.testing.assert_allclose(group[C.SCORE], [by_name[m] for m in group[C.MODEL]], rtol=1e-5, atol=1e-6)


def test_all_models_ranks_every_candidate(scoring_bundle, tasks, tmp_path):
    _, bundle, _ = scoring_bundle
    source = _write(tasks.head(7), tmp_path / "tasks.csv")
    summary = score_file(bundle, source, tmp_path / "all.parquet", top_k=None)
    out = pd.read_parquet(tmp_path / "all.parquet")
    m = len(bundle.models)
    assert summary.top_k is None and len(out) == 7 * m
    for _, group in out.groupby(C.TASK_ID):
        assert group[C.RANK].tolist() == list(range(1, m + 1))
        assert sorted(group[C.MODEL]) == sorted(bundle.models)
        assert group[C.SCORE].is_monotonic_decreasing
        assert group[C.SCORE].sum() == pytest.approx(1.0, abs=1e-4)  # a softmax over all candidates


def test_scorer_rank_frame_api(scoring_bundle, tasks):
    transformer, bundle, _ = scoring_bundle
    ranked = Scorer(bundle, device="cpu").rank(tasks.head(3), top_k=2)
    assert list(ranked.columns) == list(C.OUTPUT_COLUMNS)
    assert ranked[C.TASK_ID].tolist() == ["task-000", "task-000", "task-001", "task-001", "task-002", "task-002"]
    first = transformer.recommend(tasks.head(1), k=1)[0][0]
    assert ranked[C.MODEL].iloc[0] == first[0]
    assert ranked[C.SCORE].iloc[0] == pytest.approx(first[1], abs=1e-5)


def test_ties_break_by_model_name():
    scores = np.array([[0.2, 0.5, 0.2, 0.5, 0.1], [0.0, 0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    assert top_k_indices(scores, 3).tolist() == [[1, 3, 0], [0, 1, 2]]
    assert top_k_indices(scores, None).tolist() == np.argsort(-scores, axis=1, kind="stable").tolist()
    rng = np.random.default_rng(0)
    many = rng.integers(0, 5, size=(200, 40)).astype(np.float32) / 4  # many exact ties
    assert top_k_indices(many, 7).tolist() == np.argsort(-many, axis=1, kind="stable")[:, :7].tolist()


def test_unique_rows_round_trip():
    tokens = np.array([[1, 2, 3], [0, 0, 0], [1, 2, 3], [4, 0, 0], [0, 0, 0]])
    first, inverse = unique_rows(tokens)
    assert first.tolist() == [0, 1, 3]
    assert inverse.tolist() == [0, 1, 0, 2, 1]
    wide = np.random.default_rng(1).integers(0, 40, size=(500, 18))  # 40^18 overflows one int64 key
    wide[250:] = wide[:250]
    first, inverse = unique_rows(wide)
    np.testing.assert_array_equal(wide[first][inverse], wide)
    assert len(first) == len({tuple(r) for r in wide})


# ---------------------------------------------------------------------------------------------
# Evidence columns


def test_evidence_columns_are_consistent(scoring_bundle, tasks, tmp_path):
    _, bundle, records = scoring_bundle
    far = tasks.head(1).copy()
    far[C.TASK_ID] = "far"
    for column in (C.N_SAMPLES, C.N_TRAIN, C.N_TEST, C.N_VAL, C.WIDTH, C.HEIGHT):
        far[column] = far[column] * 1000
    far[C.DOMAIN] = "Veterinary dentistry"
    source = _write(pd.concat([tasks, far], ignore_index=True), tmp_path / "tasks.csv")
    score_file(bundle, source, tmp_path / "recs.csv", top_k=3)
    out = _read(tmp_path / "recs.csv")
    assert (out["support"] >= 0).all() and out["support"].dtype.kind == "i"
    assert (out["distance"] >= 0).all()
    assert set(out["confidence"]) <= {"low", "ok", "high"}
    names = {f"{r} / {t}" for r, t in records[[C.REF, C.TASK]].drop_duplicates().itertuples(index=False)}
    for text in out["nearest_tasks"].unique():
        parts = text.split(" | ")
        assert len(parts) == 3 and set(parts) <= names
    per_task = out.groupby(C.TASK_ID)[["nearest_tasks", "distance", "confidence"]].nunique()
    assert (per_task == 1).all().all()  # task-level evidence is the same on each of its rows
    far_rows = out[out[C.TASK_ID] == "far"]
    assert set(far_rows["confidence"]) == {"low"}
    assert far_rows["distance"].iloc[0] > bundle.evidence["thresholds"]["low"]
    # A task of the training data itself is at distance 0 from it, and named first.
    sample_task = records.iloc[0]
    row = tasks[(tasks[C.REF] == sample_task[C.REF]) & (tasks[C.TASK] == sample_task[C.TASK])][C.TASK_ID].iloc[0]
    mine = out[out[C.TASK_ID] == row].iloc[0]
    assert mine["distance"] == 0.0 and mine["confidence"] == "high"


# ---------------------------------------------------------------------------------------------
# Files: atomic, deterministic, safe to open in a spreadsheet


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_rerun_gives_identical_bytes(scoring_bundle, tasks, tmp_path, suffix):
    _, bundle, _ = scoring_bundle
    source = _write(tasks, tmp_path / "tasks.csv")
    score_file(bundle, source, tmp_path / f"one{suffix}", top_k=10, chunk_size=30)
    score_file(bundle, source, tmp_path / f"two{suffix}", top_k=10, chunk_size=30)
    assert (tmp_path / f"one{suffix}").read_bytes() == (tmp_path / f"two{suffix}").read_bytes()


def test_csv_floats_have_at_most_six_significant_digits(scoring_bundle, tasks, tmp_path):
    _, bundle, _ = scoring_bundle
    score_file(bundle, _write(tasks, tmp_path / "t.csv"), tmp_path / "r.csv", top_k=3)
    with open(tmp_path / "r.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for column in ("score", "distance"):
            digits = row[column].lstrip("0.").replace(".", "").split("e")[0]
            assert len(digits.rstrip("0")) <= 6, row[column]


def test_round_significant():
    values = np.array([0.123456789, 1.0 / 3.0, 12345678.9, 0.0, np.inf, 1.23456789e-7])
    np.testing.assert_array_equal(round_significant(values),
                                  [0.123457, 0.333333, 12345700.0, 0.0, np.inf, 1.23457e-7])
    assert repr(float(round_significant(np.array([0.123456789]))[0])) == "0.123457"


def test_formula_injection_is_escaped_in_csv(scoring_bundle, tasks, tmp_path):
    _, bundle, _ = scoring_bundle
    frame = tasks.head(3).copy()
    frame[C.TASK_ID] = ['=HYPERLINK("http://x","y")', "-5", "@SUM(A1)"]
    score_file(bundle, _write(frame, tmp_path / "t.csv"), tmp_path / "r.csv", top_k=1)
    with open(tmp_path / "r.csv", newline="") as handle:
        ids = [row[C.TASK_ID] for row in csv.DictReader(handle)]
    assert ids == ['\'=HYPERLINK("http://x","y")', "-5", "'@SUM(A1)"]  # a plain number stays a number
    score_file(bundle, _write(frame, tmp_path / "t.csv"), tmp_path / "r.parquet", top_k=1)
    assert pd.read_parquet(tmp_path / "r.parquet")[C.TASK_ID].tolist() == frame[C.TASK_ID].tolist()


def test_escape_formula_rules():
    assert escape_formula("=1+2") == "'=1+2"
    assert escape_formula("+cmd|' /C calc'!A0") == "'+cmd|' /C calc'!A0"
    assert escape_formula("\tx") == "'\tx" and escape_formula("\rx") == "'\rx"
    assert escape_formula("-2+3") == "'-2+3"
    assert escape_formula("-5") == "-5" and escape_formula("+1.5e3") == "+1.5e3"
    assert escape_formula("ResNet-50") == "ResNet-50" and escape_formula("") == "" and escape_formula(None) is None


def test_no_task_id_column_uses_row_numbers(scoring_bundle, tasks, tmp_path):
    _, bundle, _ = scoring_bundle
    source = _write(tasks.drop(columns=[C.TASK_ID]).head(4), tmp_path / "t.csv")
    summary = score_file(bundle, source, tmp_path / "r.csv", top_k=1)
    assert _read(tmp_path / "r.csv")[C.TASK_ID].tolist() == ["2", "3", "4", "5"]
    assert "row numbers" in summary.task_id_source and "row numbers" in format_summary(summary)


def test_summary_and_progress(scoring_bundle, tasks, tmp_path):
    _, bundle, _ = scoring_bundle
    seen: list[int] = []
    source = _write(tasks.head(5), tmp_path / "t.csv")
    summary = score_file(bundle, source, tmp_path / "r.csv", top_k=2, chunk_size=2, progress=seen.append)
    assert seen[-1] == 5 and seen == sorted(seen) and len(seen) >= 3  # rows handled so far, per chunk
    assert isinstance(summary, ScoringSummary)
    assert (summary.rows_read, summary.rows_scored, summary.output_rows) == (5, 5, 10)
    assert summary.model_uri == str(bundle.directory) and summary.model_version is None
    assert len(summary.input_hash) == 64 and summary.device == "cpu"
    assert summary.task_id_source == "column 'task_id'"
    assert summary.recommender == "medicalrec" and summary.mode == "III"
    text = format_summary(summary)
    assert "5 read, 5 scored, 0 rejected" in text and summary.input_hash[:12] in text


# ---------------------------------------------------------------------------------------------
# Bad input: fail writes nothing, skip writes good rows and a rejects file


BAD_ROWS = """\
task_id,domain,n_samples,n_train,width,height,n_classes
ok-1,Dermatology,1000,800,224,224,2
,Dermatology,1000,800,224,224,2
bad-type,Dermatology,many,800,224,224,2
bad-classes,Dermatology,1000,800,224,224,1
bad-subset,Dermatology,1000,5000,224,224,2
ok-1,Dermatology,1000,800,224,224,2
=cmd,Dermatology,1000,800,-3,224,2
ok-2,Dermatology,500,400,128,128,3
"""


def test_bad_rows_fail_with_row_column_value_and_write_nothing(scoring_bundle, tmp_path):
    _, bundle, _ = scoring_bundle
    source = tmp_path / "t.csv"
    source.write_text(BAD_ROWS)
    target = tmp_path / "r.csv"
    target.write_text("yesterday's output\n")
    with pytest.raises(ValidationError) as caught:
        score_file(bundle, source, target)
    problems = [(p.row, p.column, p.value) for p in caught.value.problems]
    assert problems == [
        (3, "task_id", None),
        (4, "n_samples", "many"),
        (5, "n_classes", "1"),
        (6, "n_train", "5000"),
        (7, "task_id", "ok-1"),
        (8, "width", "-3"),
    ]
    assert "row 3, column 'task_id'" in str(caught.value)
    assert target.read_text() == "yesterday's output\n"
    assert not rejects_path_for(target).exists() and _leftovers(tmp_path) == []


def test_skip_scores_good_rows_and_writes_rejects(scoring_bundle, tmp_path):
    _, bundle, _ = scoring_bundle
    source = tmp_path / "t.csv"
    source.write_text(BAD_ROWS)
    summary = score_file(bundle, source, tmp_path / "r.csv", top_k=1, on_error="skip", chunk_size=3)
    assert _read(tmp_path / "r.csv")[C.TASK_ID].tolist() == ["ok-1", "ok-2"]
    assert (summary.rows_read, summary.rows_scored, summary.rows_rejected) == (8, 2, 6)
    assert summary.rejects_path == str(tmp_path / "r.rejects.csv")
    with open(tmp_path / "r.rejects.csv", newline="") as handle:
        rejects = list(csv.reader(handle))
    assert rejects[0] == ["row", "task_id", "column", "value", "reason"]
    assert [r[:4] for r in rejects[1:]] == [
        ["3", "", "task_id", ""],
        ["4", "bad-type", "n_samples", "many"],
        ["5", "bad-classes", "n_classes", "1"],
        ["6", "bad-subset", "n_train", "5000"],
        ["7", "ok-1", "task_id", "ok-1"],
        ["8", "'=cmd", "width", "-3"],  # the formula-like id is escaped here too; -3 is a number
    ]
    assert rejects[2][4] == "expected a whole number >= 1"
    assert "duplicate" in rejects[5][4]
    assert _leftovers(tmp_path) == []


def test_duplicate_ids_are_found_across_chunks(scoring_bundle, tmp_path):
    _, bundle, _ = scoring_bundle
    source = tmp_path / "t.csv"
    source.write_text("task_id,domain,n_samples\na,Skin,10\nb,Skin,20\nc,Skin,30\na,Skin,40\n")
    with pytest.raises(ValidationError) as caught:
        score_file(bundle, source, tmp_path / "r.csv", chunk_size=2)
    assert [(p.row, p.column, p.value) for p in caught.value.problems] == [(5, "task_id", "a")]
    assert not (tmp_path / "r.csv").exists() and _leftovers(tmp_path) == []


def test_unreadable_inputs(scoring_bundle, tmp_path):
    _, bundle, _ = scoring_bundle
    out = tmp_path / "r.csv"
    with pytest.raises(DataFileError, match="no such file"):
        score_file(bundle, tmp_path / "missing.csv", out)
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(DataFileError, match="empty"):
        score_file(bundle, tmp_path / "empty.csv", out)
    (tmp_path / "header.csv").write_text("task_id,domain,n_samples\n")  # a night without new tasks: not a failure
    summary = score_file(bundle, tmp_path / "header.csv", out)
    assert summary.rows_scored == 0 and f"no tasks: {tmp_path / 'header.csv'} has a header but no data rows" in summary.notes[-1]
    assert list(pd.read_csv(out).columns) == list(C.OUTPUT_COLUMNS) and pd.read_csv(out).empty
    out.unlink()
    (tmp_path / "tasks.json").write_text("{}")
    with pytest.raises(DataFileError, match="unknown file type"):
        score_file(bundle, tmp_path / "tasks.json", out)
    (tmp_path / "other.csv").write_text("name,price\nbread,2\n")
    with pytest.raises(SchemaError, match="none of the model's features"):
        score_file(bundle, tmp_path / "other.csv", out)
    (tmp_path / "twice.csv").write_text("task_id,Task ID,domain\na,b,Skin\n")
    with pytest.raises(SchemaError, match="task_id"):
        score_file(bundle, tmp_path / "twice.csv", out)
    (tmp_path / "fake.parquet").write_text("task_id,domain\na,Skin\n")
    with pytest.raises(DataFileError, match="Parquet"):
        score_file(bundle, tmp_path / "fake.parquet", out)
    assert not out.exists() and _leftovers(tmp_path) == []


def test_bad_parameters(scoring_bundle, tasks, tmp_path):
    _, bundle, _ = scoring_bundle
    source = _write(tasks.head(2), tmp_path / "t.csv")
    with pytest.raises(ConfigError, match="output must end in"):
        score_file(bundle, source, tmp_path / "r.xlsx")
    with pytest.raises(ConfigError, match="top_k"):
        score_file(bundle, source, tmp_path / "r.csv", top_k=0)
    with pytest.raises(ConfigError, match="on_error"):
        score_file(bundle, source, tmp_path / "r.csv", on_error="ignore")
    with pytest.raises(ConfigError, match="device"):
        score_file(bundle, source, tmp_path / "r.csv", device="tpu")
    with pytest.raises(ModelError, match="does not exist"):
        score_file(tmp_path / "no-model", source, tmp_path / "r.csv")
    assert not (tmp_path / "r.csv").exists()


# ---------------------------------------------------------------------------------------------
# Device choice and bundle resolution


def test_device_cpu_and_auto_fallback(scoring_bundle):
    import onnxruntime as ort

    _, bundle, _ = scoring_bundle
    cpu = Scorer(bundle, device="cpu")
    assert cpu.device == "cpu" and cpu.device_note == ""
    assert cpu.session.get_providers() == ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA; the fallback path is not reachable")
    auto = Scorer(bundle, device="auto")
    assert auto.device == "cpu"
    assert auto.device_note.startswith("device auto: CUDA not available") and "\n" not in auto.device_note
    with pytest.raises(ModelError, match="no CUDAExecutionProvider"):
        Scorer(bundle, device="cuda")


def test_registry_uri_gives_the_version_and_the_run_is_logged(scoring_bundle, tasks, tmp_path):
    """A ``models:/NAME@ALIAS`` URI against a real sqlite registry: the summary names the version
    behind the alias, and ``log_scoring_run`` records the run's inputs and counts."""
    import mlflow
    from mlflow import MlflowClient

    from medicalrec.mlops.tracking import log_scoring_run

    _, bundle, _ = scoring_bundle
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        experiment = mlflow.create_experiment("scoring-test", artifact_location=(tmp_path / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_artifacts(str(bundle.directory), artifact_path="bundle")
        client = MlflowClient()
        client.create_registered_model("medicalrec-test")
        version = client.create_model_version("medicalrec-test", source=run.info.artifact_uri, run_id=run.info.run_id)
        client.set_registered_model_alias("medicalrec-test", "production", version.version)

        source = _write(tasks.head(4), tmp_path / "t.csv")
        summary = score_file("models:/medicalrec-test@production", source, tmp_path / "r.csv", top_k=2)
        assert summary.model_version == "1" and "(version 1)" in format_summary(summary)
        assert _read(tmp_path / "r.csv")[C.TASK_ID].nunique() == 4

        logged = mlflow.get_run(log_scoring_run(summary, experiment="scoring-test"))
        assert logged.data.params["model_version"] == "1"
        assert logged.data.params["input_hash"] == summary.input_hash
        assert logged.data.metrics["rows_scored"] == 4 and logged.data.metrics["output_rows"] == 8
        with pytest.raises(ModelError, match="cannot load model"):
            score_file("models:/medicalrec-test@missing", source, tmp_path / "r2.csv")
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])


def test_resolve_bundle_on_a_directory(scoring_bundle, tmp_path):
    _, bundle, _ = scoring_bundle
    again = resolve_bundle(bundle.directory)
    assert again.directory == bundle.directory and again.models == bundle.models
    assert again.onnx_path.is_file() and again.evidence["tasks"]
    with pytest.raises(ModelError, match="no medicalrec bundle"):
        resolve_bundle(tmp_path)


# ---------------------------------------------------------------------------------------------
# Interrupted runs leave the old output alone


KILLED_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from medicalrec.serving.batch import score_file

    bundle, source, target, marker = sys.argv[1:5]

    def hold(rows_done):  # the first chunk is in the temporary file: say so, then wait to be killed
        Path(marker).write_text(str(rows_done))
        time.sleep(120)

    score_file(bundle, source, target, chunk_size=10, progress=hold)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_run_leaves_old_output_untouched(scoring_bundle, tasks, tmp_path, sig):
    """SIGTERM: the temporary file is removed and the exit status is 143. SIGKILL cannot be caught:
    the target is still untouched, but the hidden ``.<name>.<pid>.tmp`` file stays behind."""
    _, bundle, _ = scoring_bundle
    source = _write(tasks, tmp_path / "t.csv")
    target = tmp_path / "r.csv"
    target.write_text("yesterday's output\n")
    marker = tmp_path / "marker"
    process = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(bundle.directory), str(source), str(target), str(marker)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the scoring subprocess never reached its first chunk"
            time.sleep(0.05)
        temp = tmp_path / f".r.csv.{process.pid}.tmp"
        assert temp.exists() and temp.stat().st_size > 0  # mid-way: rows are in the temporary file
        process.send_signal(sig)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert target.read_text() == "yesterday's output\n"
    if sig == signal.SIGTERM:
        assert process.returncode == 128 + signal.SIGTERM
        assert _leftovers(tmp_path) == []
    else:
        assert process.returncode == -signal.SIGKILL
        assert _leftovers(tmp_path) in ([], [temp.name])


def test_ctrl_c_mid_run_removes_the_temporary_files(scoring_bundle, tasks, tmp_path):
    _, bundle, _ = scoring_bundle
    source = _write(tasks, tmp_path / "t.csv")
    target = tmp_path / "r.parquet"
    target.write_bytes(b"old")

    def interrupt(rows_done: int) -> None:
        assert _leftovers(tmp_path) == [f".r.parquet.{os.getpid()}.tmp", f".r.rejects.csv.{os.getpid()}.tmp"]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_file(bundle, source, target, chunk_size=10, on_error="skip", progress=interrupt)
    assert target.read_bytes() == b"old" and not rejects_path_for(target).exists()
    assert _leftovers(tmp_path) == []
