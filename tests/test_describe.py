"""``describe``: counts, missingness per column and per feature mode, top models and domains."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.bench.describe import describe, format_describe
from medicalrec.bench.loading import load_bench

NAN = np.nan


@pytest.fixture
def records() -> pd.DataFrame:
    """Five records, three tasks; columns of mode II beyond mode I are absent (count as missing)."""
    return pd.DataFrame(
        {
            C.REF: ["R1", "R1", "R1", "R2", "R2"],
            C.TASK: ["t1", "t1", "t2", "t1", "t1"],
            C.DOMAIN: ["Skin", "Skin", "Skin", "Eye", "Eye"],
            C.N_SAMPLES: [100, 100, NAN, 50, 50],
            C.WIDTH: [28, 28, NAN, 64, 64],
            C.HEIGHT: [28, 28, NAN, 64, 64],
            C.N_CLASSES: [2, 2, 2, 3, 3],
            C.AUC: [0.9, 0.8, NAN, 0.6, NAN],
            C.ACCURACY: [NAN, NAN, 0.7, 0.5, 0.4],
            C.MODEL: ["A", "B", "A", "A", "C"],
        }
    )


def test_counts(records: pd.DataFrame):
    d = describe(records)
    assert (d["records"], d["tasks"], d["models"], d["refs"], d["domains"]) == (5, 3, 3, 2, 2)
    assert d["source"] is None and d["notes"] == []


def test_missingness_per_column(records: pd.DataFrame):
    missing = describe(records)["missingness"]
    assert list(missing) == list(C.CANONICAL_COLUMNS)
    assert missing[C.REF] == 0.0
    assert missing[C.N_SAMPLES] == pytest.approx(0.2)
    assert missing[C.AUC] == pytest.approx(0.4)
    assert missing[C.ACCURACY] == pytest.approx(0.4)
    assert missing[C.N_TRAIN] == 1.0  # absent column
    assert missing[C.AUGMENTATION] == 1.0


def test_missingness_per_mode(records: pd.DataFrame):
    modes = describe(records)["modes"]
    # Mode I: record 3 lacks n_samples, width and height -> 3 of 25 cells; 4 of 5 records complete.
    assert modes["I"]["mean_missing"] == pytest.approx(3 / 25)
    assert modes["I"]["complete"] == pytest.approx(0.8)
    # Mode II adds four absent columns: 4 missing per record, 7 for record 3.
    assert modes["II"]["mean_missing"] == pytest.approx((4 * 4 + 7) / 45)
    assert modes["II"]["complete"] == 0.0
    assert modes["I"]["features"] == [C.DOMAIN, C.N_SAMPLES, C.WIDTH, C.HEIGHT, C.N_CLASSES]


def test_relevance_metrics_top_models_and_domains(records: pd.DataFrame):
    d = describe(records, top=2)
    assert d["relevance_metrics"] == {"accuracy": 2, "auc": 1}
    assert d["top_models"] == [
        {"name": "A", "records": 3, "tasks": 3},
        {"name": "B", "records": 1, "tasks": 1},
    ]
    assert d["top_domains"] == [
        {"name": "Skin", "records": 3, "tasks": 2},
        {"name": "Eye", "records": 2, "tasks": 1},
    ]


def test_json_serialisable_and_text_report(records: pd.DataFrame):
    d = describe(records)
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    text = format_describe(d)
    assert "records: 5   tasks: 3   models: 3" in text
    assert "I    ( 5 features)" in text and "12.0%" in text and "80.0%" in text
    assert "top models (records, tasks)" in text


def test_describe_a_loaded_bench_carries_source_and_notes(tmp_path: Path):
    path = tmp_path / "b.csv"
    path.write_text("Ref,Model,Accu\nR,A,95\nR,B,90\n", encoding="utf-8")
    d = describe(load_bench(path))
    assert d["source"] == str(path)
    assert d["records"] == 2 and d["tasks"] == 1
    assert any("percentages" in n for n in d["notes"])
    assert "notes" in format_describe(d)


def test_empty_frame():
    d = describe(pd.DataFrame(columns=list(C.CANONICAL_COLUMNS)))
    assert (d["records"], d["tasks"], d["models"]) == (0, 0, 0)
    assert d["modes"]["I"]["complete"] is None
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert "records: 0" in format_describe(d)
