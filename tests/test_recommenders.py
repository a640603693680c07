"""Every registered recommender against the ``Recommender`` contract, plus behaviour tests of the
baselines with hand-computed expectations.

The shared corpus is two real sources of the public bench (read with the real loader) plus
hand-written tasks whose answers are known: a domain where one model dominates, a task with a
unique description, a single-model task and a task without any metric.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.bench.loading import load_bench
from medicalrec.bench.tasks import task_queries
from medicalrec.errors import ConfigError, ModelError
from medicalrec.recommenders import RECOMMENDERS, create, get_recommender_class, recommender_names
from medicalrec.recommenders.base import Recommender, TrainingSet

from conftest import REAL_BENCH  # noqa: E402
REAL_REFS = ("Yang2023 MedMNIST v2", "kaiko eva leaderboard 2024-08")
HAND_REF = "Handmade 2026"
BASELINES = [
    "random", "popularity", "domain_popularity", "best_mean_relevance", "knn_tasks",
    "logistic_regression", "random_forest", "gradient_boosting", "mlp",
    "factorization_machine", "deepfm", "two_tower",
]
REFERENCES = ["lambda_mart", "prior_knn_residual"]
# Parameters that make a recommender rank only the models it was trained on (the transformer also
# ranks every catalogue model by default: item cold start).
TRAINED_CANDIDATES_ONLY = {"medicalrec": {"catalogue_candidates": False}}


def task_rows(ref: str, task: str, description: dict, results: dict[str, float | None]) -> list[dict]:
    """One record per model: the task description plus the model's accuracy (None = not reported)."""
    return [{C.REF: ref, C.TASK: task, **description, C.ACCURACY: acc, C.MODEL: model}
            for model, acc in results.items()]


WOUND = {C.DOMAIN: "Wound", C.MODALITY: "Photograph", C.TASK_TYPE: "binary", C.CHANNELS: 3, C.N_CLASSES: 2}
# A description no real task comes close to: odd sizes, k-fold, augmentation.
UNIQUE_WOUND = {**WOUND, C.N_SAMPLES: 1234, C.N_TRAIN: 1000, C.N_TEST: 234, C.N_VAL: 0, C.K_FOLD: 5,
                C.WIDTH: 333, C.HEIGHT: 333, C.AUGMENTATION: True}
HAND_ROWS = (
    task_rows(HAND_REF, "wound-unique", UNIQUE_WOUND, {"HandNet-A": 0.95, "HandNet-B": 0.80, "HandNet-C": 0.70})
    + task_rows(HAND_REF, "wound-small", {**WOUND, C.N_SAMPLES: 800, C.WIDTH: 256, C.HEIGHT: 256},
                {"HandNet-B": 0.90, "HandNet-C": 0.85})
    + task_rows(HAND_REF, "wound-single", {**WOUND, C.N_SAMPLES: 90}, {"HandNet-B": 0.88})
    + task_rows(HAND_REF, "dental-unscored", {C.DOMAIN: "Dental", C.MODALITY: "X-ray", C.TASK_TYPE: "binary"},
                {"HandNet-D": None})
)


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _skip_if_absent(name: str) -> None:
    """Registered recommenders whose module is still being written are skipped, by name only."""
    module = RECOMMENDERS[name].split(":")[0]
    if not _have(module):
        pytest.skip(f"{module} does not exist yet")


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    real = load_bench(REAL_BENCH).frame
    real = real[real[C.REF].isin(REAL_REFS)]
    return pd.concat([real, pd.DataFrame(HAND_ROWS)], ignore_index=True)


@pytest.fixture(scope="module")
def queries(corpus) -> pd.DataFrame:
    return task_queries(corpus)


@pytest.fixture(scope="module")
def fitted(corpus):
    """One mode-IV fit per recommender, shared by the tests of this module."""
    cache: dict[str, Recommender] = {}

    def get(name: str) -> Recommender:
        _skip_if_absent(name)
        if name not in cache:
            cache[name] = create(name, seed=7, **TRAINED_CANDIDATES_ONLY.get(name, {})).fit(corpus, "IV")
        return cache[name]

    return get


def edge_queries() -> pd.DataFrame:
    """An unseen domain/modality, a row with every feature missing, and a known domain with nothing else."""
    features = [c for c in C.CANONICAL_COLUMNS if c not in (C.REF, C.TASK, C.MODEL)]
    unseen = {C.DOMAIN: "Veterinary dermatology", C.MODALITY: "Thermal camera", C.TASK_TYPE: "ordinal",
              C.N_SAMPLES: 50, C.WIDTH: 4096, C.HEIGHT: 4096, C.CHANNELS: 4, C.N_CLASSES: 7, C.AUC: 0.99}
    missing = {c: np.nan for c in features}
    domain_only = {C.DOMAIN: "Wound"}
    return pd.DataFrame([unseen, missing, domain_only], columns=features)


def expected_order(scores: np.ndarray, models: list[str]) -> list[str]:
    """Descending score, ties by name: computed independently of ``base.ranking``."""
    return [m for _, m in sorted(zip(-scores, models))]


# --- the contract, for every recommender -----------------------------------------------------------

def test_registry_lists_medicalrec_first_then_the_twelve_baselines_then_the_references():
    assert recommender_names() == ["medicalrec", *BASELINES, *REFERENCES]
    for name in BASELINES + REFERENCES:
        klass = get_recommender_class(name)
        assert klass.name == name
        assert klass.description and klass.unseen_task_policy


@pytest.mark.parametrize("name", recommender_names())
def test_scores_cover_every_model_with_finite_values(name, fitted, corpus, queries):
    model = fitted(name)
    assert model.models_ == sorted(corpus[C.MODEL].unique())
    for tasks in (queries, corpus.head(40)):
        scores = model.score(tasks)
        assert scores.shape == (len(tasks), len(model.models_))
        assert np.isfinite(scores).all()


@pytest.mark.parametrize("name", recommender_names())
def test_saved_then_loaded_scores_identically(name, fitted, queries, tmp_path):
    model = fitted(name)
    model.save(tmp_path / name)
    loaded = Recommender.load(tmp_path / name)
    assert type(loaded) is type(model)
    assert loaded.models_ == model.models_
    tasks = pd.concat([queries, edge_queries()], ignore_index=True)
    np.testing.assert_array_equal(loaded.score(tasks), model.score(tasks))


@pytest.mark.parametrize("name", recommender_names())
def test_same_seed_gives_identical_scores(name, fitted, corpus, queries):
    again = create(name, seed=7, **TRAINED_CANDIDATES_ONLY.get(name, {})).fit(corpus, "IV")
    np.testing.assert_array_equal(again.score(queries), fitted(name).score(queries))


@pytest.mark.parametrize("name", recommender_names())
def test_unseen_missing_and_empty_queries_get_valid_rankings(name, fitted):
    model = fitted(name)
    for tasks in (edge_queries(), pd.DataFrame(index=range(2)), edge_queries().iloc[:0]):
        scores = model.score(tasks)
        assert scores.shape == (len(tasks), len(model.models_))
        assert np.isfinite(scores).all()
        ranked = model.recommend(tasks, k=3)
        assert [len(r) for r in ranked] == [min(3, len(model.models_))] * len(tasks)


@pytest.mark.parametrize("name", recommender_names())
def test_single_model_corpus_in_mode_one(name, tmp_path):
    _skip_if_absent(name)
    only = pd.DataFrame(
        task_rows(HAND_REF, "a", {**WOUND, C.N_SAMPLES: 100}, {"OnlyNet": 0.9})
        + task_rows(HAND_REF, "b", {**WOUND, C.N_SAMPLES: 900}, {"OnlyNet": 0.7})
    )
    model = create(name, **TRAINED_CANDIDATES_ONLY.get(name, {})).fit(only, "I")
    scores = model.score(edge_queries())
    assert scores.shape == (3, 1) and np.isfinite(scores).all()
    assert model.recommend(edge_queries(), k=5) == [[("OnlyNet", s)] for s in scores[:, 0]]
    np.testing.assert_array_equal(Recommender.load(model.save(tmp_path / name)).score(edge_queries()), scores)


@pytest.mark.parametrize("name", recommender_names())
def test_recommend_returns_k_names_by_score_then_name(name, fitted, queries):
    model = fitted(name)
    scores = model.score(queries)
    top = model.recommend(queries, k=5)
    everything = model.recommend(queries, k=None)
    for i, (row, full) in enumerate(zip(top, everything)):
        order = expected_order(scores[i], model.models_)
        assert [m for m, _ in row] == order[:5]
        assert [m for m, _ in full] == order
        assert [s for _, s in row] == [scores[i, model.models_.index(m)] for m, _ in row]


@pytest.mark.parametrize("name", recommender_names())
def test_unknown_parameter_is_a_config_error_naming_it(name):
    with pytest.raises(ConfigError, match="not_a_parameter"):
        create(name, not_a_parameter=1)


# --- behaviour of individual baselines -------------------------------------------------------------

def test_ties_in_a_constant_ranking_break_by_name():
    tied = pd.DataFrame(task_rows(HAND_REF, "t", WOUND, {"Zeta": 0.5, "Alpha": 0.5, "Mid": 0.5}))
    model = create("popularity").fit(tied, "I")
    assert [m for m, _ in model.recommend(edge_queries(), k=None)[0]] == ["Alpha", "Mid", "Zeta"]


def test_random_is_seeded(corpus, queries):
    first = create("random", seed=1).fit(corpus, "I")
    assert np.array_equal(first.score(queries), first.score(queries))
    other = create("random", seed=2).fit(corpus, "I")
    assert not np.array_equal(first.score(queries), other.score(queries))


def test_domain_popularity_puts_the_domain_favourite_first(fitted):
    model = fitted("domain_popularity")
    wound = pd.DataFrame([{C.DOMAIN: " wound "}])  # categories compare case- and space-insensitively
    # Wound records: HandNet-B 3, HandNet-C 2, HandNet-A 1; globally HandNet-B is far from first.
    assert [m for m, _ in model.recommend(wound, k=3)[0]] == ["HandNet-B", "HandNet-C", "HandNet-A"]
    assert model.recommend(wound, k=1)[0][0][0] != fitted("popularity").recommend(wound, k=1)[0][0][0]
    # An unseen domain (and a missing one) falls back to global popularity.
    unseen = edge_queries().iloc[:2]
    popularity = fitted("popularity")
    assert [[m for m, _ in r] for r in model.recommend(unseen, k=10)] == \
        [[m for m, _ in r] for r in popularity.recommend(unseen, k=10)]


def test_knn_on_a_training_task_ranks_that_tasks_best_model_first(fitted, queries):
    model = fitted("knn_tasks")
    query = queries.loc[[f"{HAND_REF} :: wound-unique"]]
    assert model.recommend(query, k=1)[0][0][0] == "HandNet-A"
    distances = model.distances(query)[0]
    assert distances.min() == 0.0 and (distances == 0.0).sum() == 1


def test_knn_distance_uses_shared_features_only():
    """Two training tasks that differ in one feature (width 10 vs 30, standardised): the query
    reports only that feature, so its distance is the standardised gap rescaled to all features."""
    two = pd.DataFrame(
        task_rows(HAND_REF, "narrow", {C.DOMAIN: "Wound", C.WIDTH: 10}, {"A": 0.9, "B": 0.1})
        + task_rows(HAND_REF, "wide", {C.DOMAIN: "Wound", C.WIDTH: 30}, {"A": 0.1, "B": 0.9})
    )
    model = create("knn_tasks", k=1).fit(two, "I")
    std = model.encoder.stds[C.WIDTH]
    query = pd.DataFrame([{C.WIDTH: 10}])
    gap = (math.log1p(30) - math.log1p(10)) / std
    n_features = len(model.encoder.features)
    np.testing.assert_allclose(model.distances(query)[0], [0.0, math.sqrt(gap**2 * n_features)])
    assert model.recommend(query, k=1)[0][0][0] == "A"
    assert model.recommend(pd.DataFrame([{C.WIDTH: 30, C.DOMAIN: "WOUND"}]), k=1)[0][0][0] == "B"


HAND_MEAN_CORPUS = pd.DataFrame(
    task_rows(HAND_REF, "t1", WOUND, {"A": 0.9, "B": 0.8, "C": 0.7})
    + task_rows(HAND_REF, "t2", WOUND, {"A": 0.6, "B": 0.9})
    + task_rows(HAND_REF, "t3", WOUND, {"A": 0.95, "C": 0.5})
    + task_rows(HAND_REF, "t4", WOUND, {"D": 0.99})
    + task_rows(HAND_REF, "t5", WOUND, {"E": None})
)


def test_best_mean_relevance_matches_hand_computation():
    # Scaled gains: A 1, 0, 1 | B 0.5, 1 | C 0, 0 | D 1 (alone, ties count as best) | E none.
    # Prior = mean gain 4.5 / 8; shrunk mean = (sum + 2 * prior) / (count + 2).
    prior = 4.5 / 8
    expected = {
        "A": (2 + 2 * prior) / 5, "B": (1.5 + 2 * prior) / 4, "C": (0 + 2 * prior) / 4,
        "D": (1 + 2 * prior) / 3, "E": -1 + 1 / (3 + 1),  # no relevance: below all, by popularity
    }
    model = create("best_mean_relevance").fit(HAND_MEAN_CORPUS, "I")
    np.testing.assert_allclose(model.score(edge_queries().iloc[:1])[0], [expected[m] for m in model.models_])
    assert [m for m, _ in model.recommend(edge_queries().iloc[:1], k=None)[0]] == ["D", "B", "A", "C", "E"]
    unshrunk = create("best_mean_relevance", prior_tasks=0).fit(HAND_MEAN_CORPUS, "I")
    np.testing.assert_allclose(unshrunk.score(edge_queries().iloc[:1])[0][:4], [2 / 3, 0.75, 0.0, 1.0])


def test_model_effects_match_hand_computation():
    """Task 1: A 0.9, B 0.8; task 2: B 0.7, C 0.6; unit weights, ridge 1. With the task levels solved
    out the system is [[1.5, .5, 0], [.5, 2, .5], [0, .5, 1.5]] effect = [.05, 0, -.05], so
    effect = (1/30, 0, -1/30); a vanishing ridge approaches the exact differences (0.1, 0, -0.1);
    D was never rated."""
    from medicalrec.recommenders.best_mean_relevance import model_effects

    relevance = np.array([[0.9, 0.8, np.nan, np.nan], [np.nan, 0.7, 0.6, np.nan]])
    effects = model_effects(relevance, np.ones(2), ridge=1.0)
    np.testing.assert_allclose(effects[:3], [1 / 30, 0.0, -1 / 30], atol=1e-12)
    assert np.isnan(effects[3])
    np.testing.assert_allclose(model_effects(relevance, np.ones(2), ridge=1e-9)[:3], [0.1, 0.0, -0.1], atol=1e-6)
    doubled = model_effects(relevance, np.array([2.0, 2.0]), ridge=2.0)  # weights and ridge scale together
    np.testing.assert_allclose(doubled[:3], effects[:3], atol=1e-12)
    with pytest.raises(ConfigError, match="ridge"):
        model_effects(relevance, np.ones(2), ridge=0.0)


def test_model_effects_weigh_a_task_by_how_much_the_choice_mattered():
    """A beats B by 0.6 once; B beats A by 0.001 twice. The leaderboard's mean min-max gain calls B
    better (2 wins of 3); the effects see that choosing A costs almost nothing where B wins."""
    from medicalrec.recommenders.best_mean_relevance import model_effects

    records = pd.DataFrame(task_rows(HAND_REF, "t1", WOUND, {"A": 0.9, "B": 0.3})
                           + task_rows(HAND_REF, "t2", WOUND, {"A": 0.800, "B": 0.801})
                           + task_rows(HAND_REF, "t3", WOUND, {"A": 0.700, "B": 0.701}))
    leaderboard = create("best_mean_relevance", prior_tasks=0).fit(records, "I")
    assert leaderboard.recommend(edge_queries().iloc[:1], k=1)[0][0][0] == "B"
    relevance = np.array([[0.9, 0.3], [0.800, 0.801], [0.700, 0.701]])
    effects = model_effects(relevance, np.ones(3), ridge=1.0)
    assert effects[0] > effects[1]


def test_effect_units_match_hand_computation():
    """arcsin(sqrt(r)): 0.25 -> pi/6, 0.5 -> pi/4, 1 -> pi/2; NaN stays unrated; raw is the identity."""
    from medicalrec.recommenders.best_mean_relevance import in_effect_units

    relevance = np.array([[0.25, 0.5, 1.0, np.nan]])
    np.testing.assert_allclose(in_effect_units(relevance, "asin"), [[np.pi / 6, np.pi / 4, np.pi / 2, np.nan]])
    assert in_effect_units(relevance, "raw") is relevance
    with pytest.raises(ConfigError, match="effect units must be one of asin, raw"):
        in_effect_units(relevance, "percent")


def test_effects_in_asin_units_count_a_gain_near_the_ceiling_by_how_hard_it_is():
    """A beats B 0.995 to 0.990 AUC; B beats A 0.71 to 0.70. Raw units call B better (0.01 > 0.005);
    halving the error near the ceiling is the larger step in arcsin(sqrt) units (0.029 > 0.011)."""
    from medicalrec.recommenders.best_mean_relevance import in_effect_units, model_effects

    relevance = np.array([[0.995, 0.990], [0.70, 0.71]])
    raw = model_effects(in_effect_units(relevance, "raw"), np.ones(2), ridge=1e-9)
    asin = model_effects(in_effect_units(relevance, "asin"), np.ones(2), ridge=1e-9)
    assert raw[1] > raw[0] and asin[0] > asin[1]
    expected = (np.arcsin(np.sqrt(0.995)) - np.arcsin(np.sqrt(0.99)) - np.arcsin(np.sqrt(0.71))
                + np.arcsin(np.sqrt(0.70))) / 2  # effect A - effect B = mean within-task difference
    np.testing.assert_allclose(asin[0] - asin[1], expected, atol=1e-6)


@pytest.mark.parametrize("level_ridge", [0.0, 0.8])
def test_model_effects_equal_brute_force_least_squares(level_ridge):
    """The closed form against an explicit least squares over [task levels | model effects] with
    ridge rows (and level-ridge rows pulling each level toward the weighted mean relevance), on
    random data with an empty task, one-model tasks, a zero-weight task and a model never rated;
    without a level ridge a model rated only where nothing was compared gets effect 0."""
    from medicalrec.recommenders.best_mean_relevance import model_effects

    rng = np.random.default_rng(7)
    n_tasks, n_models, ridge = 12, 6, 0.7
    relevance = np.where(rng.random((n_tasks, n_models)) < 0.5, rng.random((n_tasks, n_models)), np.nan)
    relevance[:, 5] = np.nan  # never rated
    relevance[0] = np.nan  # empty task
    relevance[1] = [np.nan, np.nan, np.nan, np.nan, 0.6, np.nan]  # model 4 only on one-model tasks
    relevance[:, 4] = np.nan
    relevance[1, 4] = 0.6
    weights = rng.uniform(0.2, 2.0, n_tasks)
    weights[2] = 0.0
    pairs = np.argwhere(~np.isnan(relevance))
    design = np.zeros((len(pairs) + n_models + n_tasks, n_tasks + n_models))
    target = np.zeros(len(design))
    root = np.sqrt(weights[pairs[:, 0]])
    design[np.arange(len(pairs)), pairs[:, 0]] = root
    design[np.arange(len(pairs)), n_tasks + pairs[:, 1]] = root
    target[: len(pairs)] = root * relevance[pairs[:, 0], pairs[:, 1]]
    design[len(pairs) + np.arange(n_models), n_tasks + np.arange(n_models)] = np.sqrt(ridge)
    anchor = np.nansum(relevance * weights[:, None]) / (weights @ (~np.isnan(relevance)).sum(axis=1))
    level_rows = len(pairs) + n_models + np.arange(n_tasks)
    design[level_rows, np.arange(n_tasks)] = np.sqrt(level_ridge * weights)
    target[level_rows] = np.sqrt(level_ridge * weights) * anchor
    solution = np.linalg.lstsq(design, target, rcond=None)[0][n_tasks:]
    effects = model_effects(relevance, weights, ridge, level_ridge)
    np.testing.assert_allclose(effects[:5], solution[:5], atol=1e-10)
    assert np.isnan(effects[5])
    assert (effects[4] == pytest.approx(0.0, abs=1e-12)) == (level_ridge == 0)


def test_level_ridge_orders_groups_that_share_no_task_by_hand():
    """Models 0, 1 only on task 0 (0.9, 0.7), models 2, 3 only on task 1 (0.6, 0.4): no task links the
    pairs. Ridge 1: within a pair the effects are +-d with 2 (0.1 - d)^2 + 2 d^2 minimal, d = 0.05.
    Without a level ridge each pair is centred on 0, so model 0 ties model 2. Level ridge 1, anchor
    0.65: a pair also shares a shift s, and its task's level is 0.65 + u, with 2 (c - u - s)^2 + 2 s^2
    + u^2 minimal for c = 0.8 - 0.65 = 0.15: u = 2 s, s = c / 4 = 0.0375 (task 1: -0.0375). One model
    per task (0.8, 0.6; anchor 0.7), both ridges 1: (0.1 - u - e)^2 + u^2 + e^2 gives e = u = 0.1 / 3."""
    from medicalrec.recommenders.best_mean_relevance import model_effects

    relevance = np.array([[0.9, 0.7, np.nan, np.nan], [np.nan, np.nan, 0.6, 0.4]])
    plain = model_effects(relevance, np.ones(2), ridge=1.0)
    np.testing.assert_allclose(plain, [0.05, -0.05, 0.05, -0.05], atol=1e-12)
    anchored = model_effects(relevance, np.ones(2), ridge=1.0, level_ridge=1.0)
    np.testing.assert_allclose(anchored, [0.0875, -0.0125, 0.0125, -0.0875], atol=1e-12)
    single = model_effects(np.array([[0.8, np.nan], [np.nan, 0.6]]), np.ones(2), ridge=1.0, level_ridge=1.0)
    np.testing.assert_allclose(single, [1 / 30, -1 / 30], atol=1e-12)
    with pytest.raises(ConfigError, match="level ridge must be >= 0"):
        model_effects(relevance, np.ones(2), ridge=1.0, level_ridge=-1.0)


@pytest.mark.parametrize("level_ridge", [0.0, 0.8])
def test_held_out_effects_equal_a_fit_without_those_tasks(level_ridge):
    """The one-inverse update (Woodbury) gives the effects of a direct fit on the remaining tasks, for
    every group held out in turn (as a mask and as indices): models only the held-out tasks rated
    become NaN, a group whose tasks rate one model or none changes nothing it should not."""
    from medicalrec.recommenders.best_mean_relevance import HeldOutEffects, model_effects

    rng = np.random.default_rng(3)
    relevance = np.where(rng.random((14, 9)) < 0.45, rng.random((14, 9)), np.nan)
    relevance[:, 8] = np.nan
    relevance[[0, 1], 8] = [0.4, 0.9]  # model 8: rated by group 0 only
    relevance[13] = np.nan
    relevance[13, 2] = 0.5  # group 4: one task, one model
    weights = rng.uniform(0.5, 2.0, 14)
    groups = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4])
    held_out = HeldOutEffects(relevance, weights, 1.5, level_ridge)
    for group in range(5):
        own = groups == group
        direct = model_effects(relevance[~own], weights[~own], 1.5, level_ridge)
        np.testing.assert_allclose(held_out.without(own), direct, atol=1e-12)
        np.testing.assert_allclose(held_out.without(np.flatnonzero(own)), direct, atol=1e-12)
    assert np.isnan(held_out.without(groups == 0)[8]) and not np.isnan(held_out.without(groups == 1)[8])


def test_best_mean_relevance_puts_the_handmade_winner_first():
    rows = HAND_MEAN_CORPUS.to_dict("records") + task_rows(
        HAND_REF, "t6", WOUND, {"Winner": 0.99, "A": 0.5, "B": 0.4}
    ) + task_rows(HAND_REF, "t7", WOUND, {"Winner": 0.97, "D": 0.3, "C": 0.2})
    model = create("best_mean_relevance").fit(pd.DataFrame(rows), "I")
    assert model.recommend(edge_queries(), k=1)[0][0][0] == "Winner"


def test_listwise_weights_favour_the_better_model_and_keep_task_totals():
    from medicalrec.recommenders.sklearn_utils import record_weights

    data = TrainingSet.build(HAND_MEAN_CORPUS)
    weights = record_weights(data, "listwise")
    task_of = dict(zip(data.records[C.MODEL] + "@" + data.records[C.TASK], weights))
    assert task_of["A@t1"] > task_of["B@t1"] > task_of["C@t1"]
    for t in range(len(data.task_ids)):
        rows = data.task_of_record == t
        assert weights[rows].sum() == pytest.approx(rows.sum())
    np.testing.assert_array_equal(record_weights(data, "record"), np.ones(len(weights)))


def test_classifiers_learn_the_task_winner(corpus):
    """On the unique wound task the listwise-weighted classifiers put its winner above its loser."""
    query = task_queries(corpus).loc[[f"{HAND_REF} :: wound-unique"]]
    for name in ("logistic_regression", "random_forest"):
        model = create(name).fit(corpus, "III")
        scores = dict(model.recommend(query, k=None)[0])
        assert scores["HandNet-A"] > scores["HandNet-C"]


def test_skops_loading_refuses_types_the_class_does_not_trust(fitted, tmp_path, monkeypatch):
    from medicalrec.recommenders.random_forest import RandomForest

    fitted("random_forest").save(tmp_path / "rf")
    monkeypatch.setattr(RandomForest, "trusted_types", frozenset())
    with pytest.raises(ModelError, match="sklearn.tree._tree.Tree"):
        Recommender.load(tmp_path / "rf")


def test_two_tower_name_words_are_shared_words_only():
    from medicalrec.recommenders.two_tower import name_words

    words = name_words(["DenseNet-121 (fine-tune)", "ResNet-18 (fine-tune)", "Virchow"])
    # Shared words: "fine", "tune" -> two columns, each half of a fine-tune model's row; Virchow has none.
    np.testing.assert_allclose(words, [[0.5, 0.5], [0.5, 0.5], [0.0, 0.0]])


def test_torch_training_does_not_change_the_callers_thread_setting(corpus):
    import torch

    before = torch.get_num_threads()
    create("factorization_machine", epochs=1).fit(corpus, "I")
    assert torch.get_num_threads() == before


def test_parameters_survive_save_and_load(corpus, queries, tmp_path):
    model = create("deepfm", seed=3, hidden=(8, 4), epochs=1).fit(corpus, "II")
    loaded = Recommender.load(model.save(tmp_path / "deepfm"))
    assert loaded.config.hidden == (8, 4) and loaded.config.epochs == 1 and loaded.seed == 3
    np.testing.assert_array_equal(loaded.score(queries), model.score(queries))


@pytest.mark.parametrize("name, params, message", [
    ("medicalrec", {"max_epochs": "ten"}, "medicalrec: parameter max_epochs must be an integer, got 'ten'"),
    ("medicalrec", {"max_epochs": 4.5}, "parameter max_epochs must be an integer, got 4.5"),
    ("medicalrec", {"context_generalists": 1}, "parameter context_generalists must be true or false, got 1"),
    ("knn_tasks", {"k": "x"}, "knn_tasks: parameter k must be an integer, got 'x'"),
    ("random_forest", {"max_depth": 2.5}, "parameter max_depth must be an integer or null, got 2.5"),
    ("deepfm", {"hidden": [8, "a"]}, r"parameter hidden\[1\] must be an integer, got 'a'"),
    ("deepfm", {"hidden": 8}, "parameter hidden must be a list of integers, got 8"),
])
def test_a_parameter_of_the_wrong_type_is_a_config_error_naming_it(name, params, message):
    with pytest.raises(ConfigError, match=message):
        create(name, **params)


def test_parameters_from_json_take_their_field_types():
    """JSON has no tuples and writes 3 for 3.0: both arrive as the dataclass declares them."""
    assert create("deepfm", hidden=[8, np.int64(4)]).config.hidden == (8, 4)
    assert create("random_forest", max_depth=None).config.max_depth is None
    ridge = create("medicalrec", effect_ridge=3).config.effect_ridge
    assert ridge == 3.0 and isinstance(ridge, float)
    assert create("medicalrec", candidates=["ResNet-50 (fine-tune)"]).config.candidates == ("ResNet-50 (fine-tune)",)
