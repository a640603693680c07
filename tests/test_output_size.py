"""The evidence side file: ranked rows without the per-task evidence plus one evidence row per task,
the default for --top-k all (the inline evidence repeats on every ranked row), written and replaced
together with the output, and the same data as the inline output once joined on task_id."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from medicalrec import constants as C
from medicalrec.bench.tasks import task_queries
from medicalrec.cli import main
from medicalrec.errors import ConfigError, ValidationError
from medicalrec.serving.batch import format_summary, score_file
from medicalrec.serving.scorer import evidence_path_for

from conftest import REAL_BENCH  # noqa: E402

QUERY_COLUMNS = [C.DOMAIN, C.MODALITY, C.TASK_TYPE, C.N_SAMPLES, C.WIDTH, C.HEIGHT, C.CHANNELS, C.N_CLASSES]


@pytest.fixture(scope="module")
def tasks() -> pd.DataFrame:
    """20 real task descriptions, one with nothing known and one whose id a spreadsheet would run."""
    queries = task_queries(pd.read_csv(REAL_BENCH)).reset_index(drop=True)[QUERY_COLUMNS].head(20).copy()
    queries.insert(0, C.TASK_ID, [f"task-{i:02d}" for i in range(len(queries))])
    queries.loc[3, QUERY_COLUMNS] = None
    queries.loc[5, C.TASK_ID] = "=HYPERLINK(1)"
    return queries


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={C.TASK_ID: str}, keep_default_na=False, na_values=[""])


def _temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_side_file_joined_on_task_id_is_the_inline_output(scoring_bundle, tasks, tmp_path, suffix):
    _, bundle, _ = scoring_bundle
    source = tmp_path / "tasks.csv"
    tasks.to_csv(source, index=False)
    inline, side = tmp_path / f"inline{suffix}", tmp_path / f"side{suffix}"
    score_file(bundle, source, inline, top_k=None, evidence="inline")
    summary = score_file(bundle, source, side, top_k=None)  # the default for every candidate
    evidence = evidence_path_for(side)
    assert evidence.name == f"side.evidence{suffix}" and summary.evidence_path == str(evidence)
    assert not evidence_path_for(inline).exists()
    full, ranked, per_task = _read(inline), _read(side), _read(evidence)
    assert tuple(full.columns) == C.OUTPUT_COLUMNS
    assert tuple(ranked.columns) == C.RANKED_COLUMNS
    assert tuple(per_task.columns) == C.EVIDENCE_COLUMNS
    assert per_task[C.TASK_ID].tolist() == ranked[C.TASK_ID].drop_duplicates().tolist()  # one row per task, in order
    assert len(per_task) == len(tasks) and len(ranked) == len(full) == len(tasks) * len(bundle.models)
    joined = ranked.merge(per_task, on=C.TASK_ID, how="left", validate="many_to_one")[list(C.OUTPUT_COLUMNS)]
    pd.testing.assert_frame_equal(joined, full)
    assert per_task[C.DISTANCE].isna().tolist() == [i == 3 for i in range(len(tasks))]
    if suffix == ".csv":  # the escaped id is the same text in both files, so the join still holds
        assert "'=HYPERLINK(1)" in set(per_task[C.TASK_ID]) and "'=HYPERLINK(1)" in set(ranked[C.TASK_ID])
        together = side.stat().st_size + evidence.stat().st_size
        assert together * 2 < inline.stat().st_size  # the nearest-task text no longer repeats on every row


def test_default_layout_follows_top_k_and_can_be_chosen(scoring_bundle, tasks, tmp_path):
    _, bundle, _ = scoring_bundle
    source = tmp_path / "tasks.csv"
    tasks.to_csv(source, index=False)
    for name, top_k, evidence, side in [("a", 5, None, False), ("b", None, None, True),
                                        ("c", None, "inline", False), ("d", 5, "side", True)]:
        output = tmp_path / f"{name}.csv"
        summary = score_file(bundle, source, output, top_k=top_k, evidence=evidence)
        assert evidence_path_for(output).exists() == side, name
        assert tuple(_read(output).columns) == (C.RANKED_COLUMNS if side else C.OUTPUT_COLUMNS)
        assert (f"evidence   {evidence_path_for(output)}" in format_summary(summary)) == side
    assert len(_read(tmp_path / "d.evidence.csv")) == len(tasks)
    with pytest.raises(ConfigError, match="evidence must be one of inline, side, got 'sidecar'"):
        score_file(bundle, source, tmp_path / "e.csv", evidence="sidecar")
    assert not list(tmp_path.glob("e*"))


def test_output_and_side_file_are_replaced_together_or_not_at_all(scoring_bundle, tasks, tmp_path):
    _, bundle, _ = scoring_bundle
    output, evidence = tmp_path / "recs.parquet", tmp_path / "recs.evidence.parquet"
    output.write_text("yesterday's output")
    evidence.write_text("yesterday's evidence")
    bad = tasks.copy()
    bad.loc[len(bad) - 1, C.N_SAMPLES] = -5  # in the last chunk: earlier chunks were written already
    source = tmp_path / "tasks.csv"
    bad.to_csv(source, index=False)
    with pytest.raises(ValidationError, match="row 21, column 'n_samples'"):
        score_file(bundle, source, output, top_k=None, chunk_size=4)
    assert (output.read_text(), evidence.read_text()) == ("yesterday's output", "yesterday's evidence")
    assert _temporaries(tmp_path) == []
    tasks.to_csv(source, index=False)
    score_file(bundle, source, output, top_k=None, chunk_size=4)
    assert len(_read(evidence)) == len(tasks) and _read(output)[C.TASK_ID].nunique() == len(tasks)
    assert _temporaries(tmp_path) == []


def test_side_file_may_not_overwrite_the_input(scoring_bundle, tasks, tmp_path):
    _, bundle, _ = scoring_bundle
    source = tmp_path / "recs.evidence.csv"
    tasks.to_csv(source, index=False)
    before = source.read_bytes()
    with pytest.raises(ConfigError, match="would overwrite its own input with the evidence side file"):
        score_file(bundle, source, tmp_path / "recs.csv", top_k=None)
    assert source.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["recs.evidence.csv"]
    score_file(bundle, source, tmp_path / "recs.csv", top_k=None, evidence="inline")  # nothing to collide with
    assert source.read_bytes() == before


def test_cli_option_and_the_spark_engine_refusal(scoring_bundle, tasks, tmp_path):
    _, bundle, _ = scoring_bundle
    source = tmp_path / "tasks.csv"
    tasks.to_csv(source, index=False)
    runner = CliRunner()
    for args, side in [(("--top-k", "all"), True), (("--top-k", "all", "--evidence", "inline"), False),
                       (("--evidence", "side"), True)]:
        output = tmp_path / "recs.csv"
        evidence_path_for(output).unlink(missing_ok=True)
        result = runner.invoke(main, ["score", "--model", str(bundle.directory), "--input", str(source),
                                      "--output", str(output), "--quiet", *args])
        assert result.exit_code == 0, result.output
        assert evidence_path_for(output).exists() == side, args
    result = runner.invoke(main, ["score", "--engine", "spark", "--evidence", "side", "--input", str(source),
                                  "--output", str(tmp_path / "spark_out")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --evidence side needs --engine local: the Spark engine writes the evidence inline "
        "(drop --evidence, or score with --engine local)"]
    assert not (tmp_path / "spark_out").exists()


def test_an_inline_run_removes_the_side_file_an_earlier_side_run_left(scoring_bundle, tasks, tmp_path):
    _, bundle, _ = scoring_bundle
    source = tmp_path / "tasks.csv"
    tasks.to_csv(source, index=False)
    score_file(bundle, source, tmp_path / "recs.csv", top_k=None)  # side by default for every candidate
    assert evidence_path_for(tmp_path / "recs.csv").is_file()
    summary = score_file(bundle, source, tmp_path / "recs.csv", top_k=3)  # inline
    assert not evidence_path_for(tmp_path / "recs.csv").exists()
    assert any("an earlier run's evidence side file" in note for note in summary.notes)
    assert tuple(_read(tmp_path / "recs.csv").columns) == C.OUTPUT_COLUMNS
