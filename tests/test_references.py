"""The two reference recommenders: the prior + kNN residual by hand, LambdaMART on real tasks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.bench.tasks import task_queries
from medicalrec.recommenders import create
from medicalrec.recommenders.base import Recommender

from conftest import REAL_BENCH  # noqa: E402

# Three tasks that differ only in n_samples (mode I, one numeric feature that matters), models A, B.
# gains: t1 A 1 B 0; t2 A 1 B 0; t3 A 0 B 1.
HAND = pd.DataFrame([
    (ref, "t", "Skin", n, 224, 224, 2, model, acc)
    for ref, n, results in (("r1", 100, {"A": 0.9, "B": 0.8}), ("r2", 110, {"A": 0.9, "B": 0.7}),
                            ("r3", 100000, {"A": 0.6, "B": 0.9}))
    for model, acc in results.items()
], columns=[C.REF, C.TASK, C.DOMAIN, C.N_SAMPLES, C.WIDTH, C.HEIGHT, C.N_CLASSES, C.MODEL, C.ACCURACY])


def test_prior_knn_residual_by_hand():
    """prior (k=2 pseudo-tasks at the mean gain 0.5): A (2 + 1) / 5 = 0.6, B (1 + 1) / 5 = 0.4.
    A query next to r3 with k=1: residual A 0 - 0.6, B 1 - 0.4, shrunk by 1 / (1 + 2), half weight."""
    model = create("prior_knn_residual", k=1).fit(HAND, "I")
    np.testing.assert_allclose(model.prior_, [0.6, 0.4])
    query = pd.DataFrame({C.DOMAIN: ["Skin"], C.N_SAMPLES: [90000], C.WIDTH: [224], C.HEIGHT: [224], C.N_CLASSES: [2]})
    expected = np.array([0.6 + 0.5 * (-0.6) / 3, 0.4 + 0.5 * 0.6 / 3])
    np.testing.assert_allclose(model.score(query)[0], expected)
    # a query sharing no feature with any training task gets the prior alone
    np.testing.assert_allclose(model.score(pd.DataFrame(index=range(1)))[0], [0.6, 0.4])


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    frame = pd.read_csv(REAL_BENCH)
    return frame[frame[C.REF].isin(["Yang2023 MedMNIST v2", "Juodelyte2024 transferability"])].reset_index(drop=True)


def test_lambda_mart_ranks_training_tasks_and_round_trips_without_pickle(real, tmp_path):
    model = create("lambda_mart", seed=0).fit(real, "III")
    queries = task_queries(real)
    scores = model.score(queries)
    assert scores.shape == (len(queries), real[C.MODEL].nunique()) and np.isfinite(scores).all()
    assert len({tuple(np.argsort(-row)[:3]) for row in scores}) > 1  # depends on the task, not one list
    directory = model.save(tmp_path / "lm")
    assert (directory / "booster.txt").exists() and not list(directory.glob("*.pkl"))
    np.testing.assert_array_equal(Recommender.load(directory).score(queries), scores)
