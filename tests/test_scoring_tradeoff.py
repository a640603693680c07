"""Expected AUC, costs and the Pareto flag in real scoring output, and the limits that pick the
cheap candidates nearly as good as the best (local engine and CLI, on the shared real bundle)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from medicalrec import constants as C
from medicalrec.bench.tasks import task_queries
from medicalrec.catalogue import Catalogue
from medicalrec.cli import main
from medicalrec.errors import ConfigError
from medicalrec.serving.batch import score_file
from medicalrec.serving.tradeoff import Limits, pareto_front


@pytest.fixture(scope="module")
def tasks_file(scoring_bundle, tmp_path_factory):
    _, _, records = scoring_bundle
    queries = task_queries(records).reset_index(drop=True).head(12)
    queries.insert(0, C.TASK_ID, [f"t{i}" for i in range(len(queries))])
    path = tmp_path_factory.mktemp("tradeoff") / "tasks.csv"
    queries.drop(columns=[c for c in queries if c in (C.REF, C.TASK)]).to_csv(path, index=False)
    return path


def _score(bundle, tasks_file, out, **kwargs) -> pd.DataFrame:
    score_file(bundle, tasks_file, out, evidence="inline", **kwargs)
    return pd.read_csv(out, dtype={C.TASK_ID: str})


def test_rows_carry_the_bundles_expectation_catalogue_costs_and_pareto_flag(scoring_bundle, tasks_file, tmp_path):
    _, bundle, records = scoring_bundle
    out = _score(bundle, tasks_file, tmp_path / "all.csv", top_k=None)
    assert tuple(out.columns) == C.OUTPUT_COLUMNS
    # Expected AUC: the candidate's median AUC over the training tasks, computed here from the records.
    auc = records.dropna(subset=[C.AUC]).assign(task=records[C.REF].astype(str) + "|" + records[C.TASK].astype(str))
    medians = auc.groupby([C.MODEL, "task"])[C.AUC].max().groupby(level=0).median()
    rated = out[out[C.MODEL].isin(medians.index)]
    assert len(rated) > 0
    np.testing.assert_allclose(rated[C.EXPECTED], rated[C.MODEL].map(medians), rtol=1e-5)
    counts = auc.groupby(C.MODEL)["task"].nunique()
    assert (out[C.EXPECTED_TASKS] == out[C.MODEL].map(counts).fillna(0)).all()  # 0: the corpus median stands in
    assert ((out[C.EXPECTED_LOW] <= out[C.EXPECTED]) & (out[C.EXPECTED] <= out[C.EXPECTED_HIGH])).all()
    # Costs: the shipped catalogue's reviewed rows.
    catalogue = Catalogue.load()
    for row in out.drop_duplicates(C.MODEL).itertuples(index=False):
        attributes = catalogue.attributes(row.model)
        for column, value in ((C.PARAMS_M, attributes.params_m), (C.GFLOPS, attributes.gflops)):
            cell = getattr(row, column)
            assert (np.isnan(cell) if value is None else cell == pytest.approx(value)), (row.model, column)
    # Pareto: the same verdict as the pure function over every candidate of the bundle.
    per_model = out.drop_duplicates(C.MODEL).set_index(C.MODEL)
    front = pareto_front(per_model[C.EXPECTED], per_model[C.PARAMS_M], per_model[C.GFLOPS])
    flags = per_model[C.PARETO].map({True: 1.0, False: 0.0, "True": 1.0, "False": 0.0})
    np.testing.assert_array_equal(flags.to_numpy(dtype=float), front)
    assert (flags == 1).any() and (flags == 0).any()


def test_limits_keep_the_ranking_of_the_candidates_they_allow(scoring_bundle, tasks_file, tmp_path):
    _, bundle, _ = scoring_bundle
    full = _score(bundle, tasks_file, tmp_path / "all.csv", top_k=None)
    limits = Limits(max_params=30, within=5)
    small = _score(bundle, tasks_file, tmp_path / "small.csv", top_k=None, limits=limits)
    assert (small[C.PARAMS_M] <= 30).all()
    assert 0 < len(small) < len(full)
    assert set(small[C.TASK_ID]) == set(full[C.TASK_ID])  # every task keeps at least its first choice
    for task_id, part in small.groupby(C.TASK_ID):
        # the task's full ranking, cut to the cost limit; the first left is the reference of --within
        affordable = full[(full[C.TASK_ID] == task_id) & (full[C.PARAMS_M] <= 30)]
        reference = affordable[C.EXPECTED].iloc[0]
        expected = affordable[affordable[C.EXPECTED] >= reference - 0.05 - 1e-9]
        assert part[C.MODEL].tolist() == expected[C.MODEL].tolist()
        assert part[C.RANK].tolist() == list(range(1, len(part) + 1))
    top3 = _score(bundle, tasks_file, tmp_path / "top3.csv", top_k=3, limits=limits)
    assert top3.groupby(C.TASK_ID)[C.MODEL].apply(list).to_dict() == small.groupby(C.TASK_ID)[C.MODEL].apply(
        lambda m: list(m)[:3]).to_dict()


def test_limits_that_leave_nothing_stop_before_writing(scoring_bundle, tasks_file, tmp_path):
    _, bundle, _ = scoring_bundle
    with pytest.raises(ConfigError, match="no candidate model is within --max-params 0.001"):
        score_file(bundle, tasks_file, tmp_path / "none.csv", limits=Limits(max_params=0.001))
    assert not (tmp_path / "none.csv").exists()


@pytest.mark.parametrize("option,value", [("--max-params", "-1"), ("--max-gflops", "nan"), ("--within", "inf"),
                                          ("--max-params", "1e999"), ("--max-gflops", "ten"),
                                          ("--max-params", "0.001")])
def test_cli_nonsense_limits_are_one_line_and_exit_2(scoring_bundle, tasks_file, tmp_path, option, value):
    _, bundle, _ = scoring_bundle
    out = tmp_path / "recs.csv"
    result = CliRunner().invoke(main, ["score", "--model", str(bundle.directory), "--input", str(tasks_file),
                                       "--output", str(out), option, value, "-q"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and option in lines[0]
    if value != "0.001":  # a valid limit that leaves nothing says so; a nonsense one is echoed as typed
        assert f"got '{value}'" in lines[0]
    assert not out.exists()


def test_mlproject_score_entry_point_passes_limits_and_leaves_none_out(scoring_bundle, tasks_file, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    _, bundle, _ = scoring_bundle
    project = Path(__file__).resolve().parents[1]
    out = tmp_path / "recs.csv"
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = subprocess.run(
        [sys.executable, str(project / "entrypoints" / "score.py"), "--input", str(tasks_file), "--output", str(out),
         "--model", str(bundle.directory), "--top-k", "all", "--max-params", "none", "--max-gflops", "none",
         "--within", "2"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    recs = pd.read_csv(out)
    for _, part in recs.groupby(C.TASK_ID):
        assert (part[C.EXPECTED] >= part[C.EXPECTED].iloc[0] - 0.02 - 1e-9).all()
    assert "--within 2:" in result.stderr  # the summary says how many candidates qualified


def test_mlproject_limits_take_none_but_not_latest(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "entrypoints" / "score.py"
    result = subprocess.run([sys.executable, str(script), "--input", "x.csv", "--output", "y.csv", "--within", "latest"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and "--within must be a finite number >= 0, got 'latest'" in result.stderr
    assert not (tmp_path / "y.csv").exists()


@pytest.mark.parametrize("top_k,limits", [(None, None), (3, None), (None, Limits(max_params=30, within=5)),
                                          (None, Limits(max_gflops=10, within=3)), (3, Limits(max_gflops=10, within=3))])
def test_ranking_in_blocks_of_distinct_rows_changes_nothing(scoring_bundle, tasks_file, tmp_path, monkeypatch, top_k,
                                                            limits):
    """The scorer cuts distinct token rows to their top-k a block at a time (memory in top_k, not in
    the number of candidates); blocks of one row must write the file that one block writes, whichever
    task comes first or last. The network runs one row at a time in both, so only the blocks differ."""
    import medicalrec.serving.scorer as scorer_module
    from medicalrec.bench.loading import load_bench

    _, bundle, _ = scoring_bundle
    tokens = scorer_module.Scorer(bundle).encoder.tokens(load_bench(tasks_file, required=()).frame)
    assert len(scorer_module.unique_rows(tokens)[0]) > 4  # several blocks
    monkeypatch.setattr(scorer_module, "ORT_BATCH", 1)
    kept = _score(bundle, tasks_file, tmp_path / "kept.csv", top_k=top_k, limits=limits).groupby(C.TASK_ID).size()
    if limits is not None and top_k is None:
        assert kept.nunique() > 1  # tasks keep different numbers of candidates: one block's width is not the chunk's
    tasks = pd.read_csv(tasks_file, dtype={C.TASK_ID: str}).set_index(C.TASK_ID)
    for ascending in (True, False):
        ordered = tmp_path / f"ordered_{ascending}.csv"
        tasks.loc[kept.sort_values(ascending=ascending, kind="stable").index].reset_index().to_csv(ordered, index=False)
        monkeypatch.setattr(scorer_module, "RANK_BLOCK", 4096)
        whole = _score(bundle, ordered, tmp_path / "whole.csv", top_k=top_k, limits=limits)
        monkeypatch.setattr(scorer_module, "RANK_BLOCK", 1)
        blocks = _score(bundle, ordered, tmp_path / "blocks.csv", top_k=top_k, limits=limits)
        pd.testing.assert_frame_equal(blocks, whole)
