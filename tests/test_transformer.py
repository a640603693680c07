"""The MedicalRec transformer: determinism, persistence, missing fields, learning something real."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.bench.tasks import task_queries, task_table
from medicalrec.recommenders.base import Recommender
from medicalrec.recommenders.medicalrec_transformer import MedicalRecTransformer

from conftest import REAL_BENCH as REAL  # noqa: E402
FAST = dict(max_epochs=8, refit_full=False, d_model=32, dim_feedforward=64)


@pytest.fixture(scope="module")
def records() -> pd.DataFrame:
    frame = pd.read_csv(REAL)
    keep = frame[C.REF].isin(["Yang2023 MedMNIST v2", "Juodelyte2024 transferability", "kaiko eva leaderboard 2024-08"])
    return frame[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(records) -> MedicalRecTransformer:
    return MedicalRecTransformer(seed=3, **FAST).fit(records, "IV")


def test_scores_are_a_distribution_over_all_candidates(fitted, records):
    scores = fitted.score(records.head(25))
    assert scores.shape == (25, records[C.MODEL].nunique())
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    assert (scores > 0).all()


def test_same_seed_gives_identical_rankings_and_scores(fitted, records):
    again = MedicalRecTransformer(seed=3, **FAST).fit(records, "IV")
    np.testing.assert_array_equal(again.score(records), fitted.score(records))


def test_different_seed_gives_a_different_model(fitted, records):
    other = MedicalRecTransformer(seed=4, **FAST).fit(records, "IV")
    assert not np.array_equal(other.score(records), fitted.score(records))


def test_saved_then_loaded_gives_identical_scores(fitted, records, tmp_path):
    fitted.save(tmp_path / "model")
    assert not list((tmp_path / "model").glob("*.pkl"))
    loaded = Recommender.load(tmp_path / "model")
    assert isinstance(loaded, MedicalRecTransformer)
    assert loaded.config == fitted.config
    np.testing.assert_array_equal(loaded.score(records), fitted.score(records))


def test_missing_unseen_and_empty_descriptions_get_valid_rankings(fitted):
    odd = pd.DataFrame({
        C.DOMAIN: ["A domain nobody has seen", None, "Pneumonia"],
        C.N_SAMPLES: [1e12, np.nan, 5000],
        C.MODALITY: ["Thermal camera", None, None],
        C.AUC: [np.nan, np.nan, 0.99],
    })
    ranked = fitted.recommend(odd, k=5)
    assert [len(r) for r in ranked] == [5, 5, 5]
    assert all(np.isfinite(score) for row in ranked for _, score in row)
    # A frame with none of the mode's columns is all [MISSING]: the same as an all-NaN row.
    np.testing.assert_array_equal(fitted.score(pd.DataFrame(index=range(2))), fitted.score(odd.iloc[[1, 1]].drop(columns=C.DOMAIN)))


def test_single_model_tasks_train_and_score():
    rows = pd.DataFrame({
        C.REF: ["r1", "r2", "r3"], C.TASK: ["t", "t", "t"], C.DOMAIN: ["Skin cancer", "Wound", "MRI"],
        C.N_SAMPLES: [100, 2000, 30000], C.ACCURACY: [0.8, 0.9, 0.7], C.MODEL: ["A", "B", "A"],
    })
    model = MedicalRecTransformer(seed=0, **FAST).fit(rows, "I")
    assert model.score(rows).shape == (3, 2)


def test_tasks_ranked_best_model_gets_most_mass_on_training_tasks(records):
    """Fit long enough to memorise: on its own training tasks the transformer must put the truly
    best model at rank 1 far more often than chance."""
    model = MedicalRecTransformer(seed=0, max_epochs=60, refit_full=False).fit(records, "III")
    queries = task_queries(records)
    scores = pd.DataFrame(model.score(queries), index=queries.index, columns=model.models_)
    truth = task_table(records)
    hits, chance = [], []
    for task_id, group in truth.groupby(C.TASK_ID):
        ranked = scores.loc[task_id, group[C.MODEL]].sort_values(ascending=False)
        hits.append(group.set_index(C.MODEL)[C.RELEVANCE][ranked.index[0]] == group[C.RELEVANCE].max())
        chance.append(1 / len(group))
    assert np.mean(hits) > 2 * np.mean(chance)


def test_record_objective_trains_and_unknown_objectives_are_refused(records):
    model = MedicalRecTransformer(seed=0, objective="record", **FAST).fit(records, "I")
    assert model.score(records.head(3)).shape == (3, records[C.MODEL].nunique())
    with pytest.raises(Exception, match="objective"):
        MedicalRecTransformer(objective="popularity")
