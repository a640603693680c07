"""Hostile values in a scoring input: an absurd count (1e308 images) is a bad value that names its
row and column (exit 2, or a rejected row with --on-error skip), not a task quietly scored "low"; a
task with every feature empty gets an empty distance (not inf) and a note in the run summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.bench import schema as S
from medicalrec.bench.loading import normalize
from medicalrec.errors import Problem
from medicalrec.serving.batch import format_summary, score_file

from conftest import REAL_BENCH  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLI = "from medicalrec.cli import main; main()"
GOOD = {C.TASK_ID: "derm", C.DOMAIN: "Skin cancer", C.MODALITY: "Dermatoscope", C.N_SAMPLES: "10015",
        C.WIDTH: "600", C.HEIGHT: "450", C.CHANNELS: "3", C.N_CLASSES: "7"}


def _tasks(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows, columns=list(GOOD)).to_csv(path, index=False)
    return path


def test_every_count_has_a_bound_far_above_the_real_corpus():
    assert set(S.COUNT_MAXIMUM) == set(C.COUNT_COLUMNS)
    largest = pd.read_csv(REAL_BENCH)[list(C.COUNT_COLUMNS)].max()
    for column, maximum in S.COUNT_MAXIMUM.items():
        assert largest[column] * 1000 <= maximum, column


def test_counts_above_the_bound_are_problems_at_the_bound_are_not():
    raw = pd.DataFrame({
        "n_samples": ["1e308", str(S.MAX_IMAGES), str(S.MAX_IMAGES + 1), "100"],
        "Width": ["224", str(S.MAX_IMAGE_SIDE), "224", str(S.MAX_IMAGE_SIDE + 1)],
        "channels": ["3", "3", str(S.MAX_CHANNELS + 1), "3"],
        "n_classes": ["2", "2", "2", "1e9"],
        "k_fold": ["5", "No", "Yes (5)", "99999999999"],
    }, dtype=object)
    result = normalize(raw, "tasks.csv", required=())
    assert result.problems == [
        Problem(2, "n_samples", "1e308", S.implausible(S.MAX_IMAGES)),
        Problem(4, "n_samples", str(S.MAX_IMAGES + 1), S.implausible(S.MAX_IMAGES)),
        Problem(4, "channels", str(S.MAX_CHANNELS + 1), S.implausible(S.MAX_CHANNELS)),
        Problem(5, "k_fold", "99999999999", S.implausible(S.MAX_IMAGES)),
        Problem(5, "Width", str(S.MAX_IMAGE_SIDE + 1), S.implausible(S.MAX_IMAGE_SIDE)),
        Problem(5, "n_classes", "1e9", S.implausible(S.MAX_CLASSES)),
    ]
    assert result.bad_rows == {0, 2, 3}
    row = result.frame.iloc[1]  # every value exactly at its bound is kept
    assert (row[C.N_SAMPLES], row[C.WIDTH], row[C.K_FOLD]) == (S.MAX_IMAGES, S.MAX_IMAGE_SIDE, 0)
    assert np.isnan(result.frame[C.N_SAMPLES].iloc[0])


def test_absurd_value_fails_the_run_with_row_and_column_and_writes_nothing(scoring_bundle, tmp_path):
    _, bundle, _ = scoring_bundle
    source = _tasks(tmp_path / "tasks.csv", [GOOD, {**GOOD, C.TASK_ID: "huge", C.WIDTH: "1e308"}])
    output = tmp_path / "recs.csv"
    result = subprocess.run([sys.executable, "-c", CLI, "score", "--model", str(bundle.directory),
                             "--input", str(source), "--output", str(output)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: {source}: 1 invalid value(s); first: row 3, column 'width': got '1e308', "
                     f"expected {S.implausible(S.MAX_IMAGE_SIDE)}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.csv"]


def test_absurd_value_is_rejected_in_skip_mode(scoring_bundle, tmp_path):
    _, bundle, _ = scoring_bundle
    source = _tasks(tmp_path / "tasks.csv", [GOOD, {**GOOD, C.TASK_ID: "neg", C.N_SAMPLES: "-3"},
                                             {**GOOD, C.TASK_ID: "huge", C.N_SAMPLES: "1e308"}])
    summary = score_file(bundle, source, tmp_path / "recs.csv", top_k=3, on_error="skip")
    assert (summary.rows_scored, summary.rows_rejected) == (1, 2)
    rejects = pd.read_csv(tmp_path / "recs.rejects.csv", dtype=str)
    assert rejects.values.tolist() == [
        ["3", "neg", "n_samples", "-3", "expected a whole number >= 1"],
        ["4", "huge", "n_samples", "1e308", f"expected {S.implausible(S.MAX_IMAGES)}"],
    ]
    assert set(pd.read_csv(tmp_path / "recs.csv")[C.TASK_ID]) == {"derm"}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_task_with_every_feature_empty_has_no_distance_and_a_note(scoring_bundle, tmp_path, suffix):
    _, bundle, _ = scoring_bundle
    empty = {C.TASK_ID: "nothing known"}
    source = _tasks(tmp_path / "tasks.csv", [GOOD, empty, {**empty, C.TASK_ID: "nor here"}])
    output = tmp_path / f"recs{suffix}"
    summary = score_file(bundle, source, output, top_k=3)
    if suffix == ".csv":
        text = output.read_text()
        assert ',"nothing known",' not in text and '"nothing known",1,' in text
        assert ',"",,"low"\n' in text  # nearest_tasks empty, distance an empty cell, confidence low
        assert "inf" not in text.lower()
        out = pd.read_csv(output, dtype={C.TASK_ID: str})
    else:
        out = pd.read_parquet(output)
    by_task = out.groupby(C.TASK_ID)
    assert by_task[C.DISTANCE].apply(lambda d: d.isna().all()).to_dict() == {"derm": False, "nor here": True,
                                                                             "nothing known": True}
    assert set(out.loc[out[C.DISTANCE].isna(), C.CONFIDENCE]) == {"low"}
    # Nothing tells the two empty tasks apart: the same ranking.
    assert by_task.get_group("nothing known")[C.MODEL].tolist() == by_task.get_group("nor here")[C.MODEL].tolist()
    notes = [note for note in summary.notes if "every feature" in note]
    assert notes == ["2 task(s) have every feature the model uses empty ('nothing known', 'nor here'): each gets "
                     "the same ranking, with no evidence (distance empty, confidence low); fill in what is known "
                     "about them"]
    assert notes[0] in format_summary(summary)


def test_tasks_without_the_context_feature_are_noted_and_low_confidence(scoring_bundle, tmp_path):
    """The fixture's bundle is mode III, whose context is the modality."""
    _, bundle, _ = scoring_bundle
    source = _tasks(tmp_path / "tasks.csv", [GOOD, {C.TASK_ID: "only width", C.WIDTH: "64"}, {C.TASK_ID: "empty"}])
    summary = score_file(bundle, source, tmp_path / "recs.csv", top_k=2)
    notes = [note for note in summary.notes if "leave the modality empty" in note]
    assert notes == ["1 task(s) leave the modality empty ('only width'): models rated in their modality do not "
                     "come first (confidence low); fill it in where known"]
    confidence = pd.read_csv(tmp_path / "recs.csv").groupby(C.TASK_ID)[C.CONFIDENCE].first()
    assert confidence["only width"] == "low"
    assert GOOD[C.MODALITY] and confidence[GOOD[C.TASK_ID]] != "low"


def test_no_note_when_every_task_has_a_feature(scoring_bundle, tmp_path):
    _, bundle, _ = scoring_bundle
    source = _tasks(tmp_path / "tasks.csv", [GOOD, {C.TASK_ID: "only width", C.WIDTH: "64"}])
    summary = score_file(bundle, source, tmp_path / "recs.csv", top_k=2)
    assert not [note for note in summary.notes if "every feature" in note]
    assert pd.read_csv(tmp_path / "recs.csv")[C.DISTANCE].notna().all()


def test_category_values_training_never_saw_get_a_note_naming_them(scoring_bundle, tmp_path):
    """A modality or domain outside the model's vocabulary is read as unknown: the summary says which
    values, how many tasks, and what that costs; the same known value in other case and spacing is
    no note. Such tasks have confidence low."""
    _, bundle, _ = scoring_bundle
    known = bundle.encoder.vocabularies[C.MODALITY][0]
    rows = [{**GOOD, C.TASK_ID: "t1", C.MODALITY: "Chest radiograph", C.DOMAIN: None},
            {**GOOD, C.TASK_ID: "t2", C.MODALITY: "Chest radiograph", C.DOMAIN: None},
            {**GOOD, C.TASK_ID: "t3", C.MODALITY: "  " + known.upper() + " ", C.DOMAIN: "Chest disease"},
            {**GOOD, C.TASK_ID: "t4", C.MODALITY: known, C.DOMAIN: None}]
    source = _tasks(tmp_path / "tasks.csv", rows)
    summary = score_file(bundle, source, tmp_path / "recs.csv", top_k=2)
    unseen = [note for note in summary.notes if "training never saw" in note]
    n_domains, n_modalities = (len(bundle.encoder.vocabularies[f]) for f in (C.DOMAIN, C.MODALITY))
    assert unseen == [
        f"1 task(s) have a domain training never saw: 'Chest disease' (1); read as unknown, so it tells the model "
        f"nothing about them (confidence low). Use one of the model's {n_domains} known domain values where one fits "
        "(the encoder's vocabularies in the bundle's medicalrec.json)",
        f"2 task(s) have a modality training never saw: 'Chest radiograph' (2); read as unknown, so models rated in "
        f"the modality you mean do not come first (confidence low). Use one of the model's {n_modalities} known "
        "modality values where one fits (the encoder's vocabularies in the bundle's medicalrec.json)",
    ]
    confidence = pd.read_csv(tmp_path / "recs.csv").groupby(C.TASK_ID)[C.CONFIDENCE].first()
    assert (confidence[["t1", "t2", "t3"]] == "low").all()


def test_unseen_values_note_merges_spellings_offers_close_known_values_and_caps_memory(monkeypatch):
    """Hand-made: mode I's context is the domain. 'Pneumonias' in two spellings is one value
    (3 tasks) with the known 'pneumonia' offered; seven more values are counted past the five shown;
    a number is a value like any other; beyond the cap values are counted, not kept; the task
    without a domain (id 4) has its own note."""
    from medicalrec.serving import scorer

    notes = scorer.InputNotes([C.DOMAIN, C.N_SAMPLES], {C.DOMAIN: ["pneumonia", "skin cancer"]})
    domains = ["Pneumonias", " PNEUMONIAS ", "Pneumonias", "skin cancer", None, 3] + [f"rare {i}" for i in range(6)]
    notes.add(pd.DataFrame({C.DOMAIN: domains, C.N_SAMPLES: 100.0}), np.arange(len(domains)))
    assert notes.notes() == [
        "1 task(s) leave the domain empty ('4'): models rated in their domain do not come first (confidence low); "
        "fill it in where known",
        "10 task(s) have a domain training never saw: 'Pneumonias' (3), '3' (1), 'rare 0' (1), 'rare 1' (1), "
        "'rare 2' (1) and 3 more; read as unknown, so models rated in the domain you mean do not come first "
        "(confidence low). Use one of the model's 2 known domain values where one fits (the encoder's vocabularies "
        "in the bundle's medicalrec.json); close in spelling among those: 'pneumonia'"]
    monkeypatch.setattr(scorer, "UNSEEN_KEPT", 2)
    capped = scorer.InputNotes([C.DOMAIN], {C.DOMAIN: ["pneumonia"]})
    capped.add(pd.DataFrame({C.DOMAIN: ["a", "b", "c", "d", "a"]}), np.arange(5))
    assert len(capped.unseen[C.DOMAIN]) == 2 and capped.unseen_other[C.DOMAIN] == 2
    assert capped.notes()[0].startswith("5 task(s) have a domain training never saw: 'a' (2), 'b' (1) and more;")
