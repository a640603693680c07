"""The MedicalRec transformer (v2): the prior it starts from, the gate, the ranking loss, item cold
start, determinism, persistence and missing fields."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.catalogue import Catalogue
from medicalrec.errors import ConfigError
from medicalrec.recommenders.base import METADATA_FILE, Recommender, TrainingSet
from medicalrec.recommenders.best_mean_relevance import in_effect_units, model_effects, task_gains, task_relevance
from medicalrec.recommenders.medicalrec_transformer import (
    MedicalRecTransformer,
    TransformerConfig,
    _attribute_codes,
    _Batch,
    _levels,
    _TaskExamples,
    cold_start_effects,
    dataset_weights,
    effects_prior,
    leaderboard_prior,
)

from conftest import REAL_BENCH as REAL  # noqa: E402
FAST = dict(max_epochs=8, inner_folds=0, d_model=32, dim_feedforward=64)


@pytest.fixture(scope="module")
def records() -> pd.DataFrame:
    frame = pd.read_csv(REAL)
    keep = frame[C.REF].isin(["Yang2023 MedMNIST v2", "Juodelyte2024 transferability", "kaiko eva leaderboard 2024-08"])
    return frame[keep].reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(records) -> MedicalRecTransformer:
    return MedicalRecTransformer(seed=3, **FAST).fit(records, "IV")


def test_scores_are_a_distribution_over_every_catalogue_candidate(fitted, records):
    scores = fitted.score(records.head(25))
    assert fitted.models_ == sorted(set(Catalogue.load().names()) | set(records[C.MODEL]))
    assert scores.shape == (25, len(fitted.models_))
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    assert (scores > 0).all() and fitted.delta_on_


def test_same_seed_gives_identical_scores_and_another_seed_another_model(fitted, records):
    again = MedicalRecTransformer(seed=3, **FAST).fit(records, "IV")
    np.testing.assert_array_equal(again.score(records), fitted.score(records))
    other = MedicalRecTransformer(seed=4, **FAST).fit(records, "IV")
    assert not np.array_equal(other.score(records), fitted.score(records))


def test_saved_then_loaded_gives_identical_scores(fitted, records, tmp_path):
    fitted.save(tmp_path / "model")
    assert not list((tmp_path / "model").glob("*.pkl"))
    loaded = Recommender.load(tmp_path / "model")
    assert isinstance(loaded, MedicalRecTransformer)
    assert loaded.config == fitted.config and loaded.delta_on_ == fitted.delta_on_
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


def test_prior_by_hand():
    """Two tasks of dataset X, one of Y (power 1: each X task weighs 1/2); models a, b, c.
    gains: t1 a 1 b 0, t2 a 0 b 1, t3 a 1 c 0. a: (0.5*1 + 0.5*0 + 1*1) / (0.5 + 0.5 + 1) = 0.75 before
    shrinkage; with k pseudo-tasks at the weighted mean gain of all ratings (2 / 4) it moves toward it."""
    gains = np.array([[1.0, 0.0, np.nan], [0.0, 1.0, np.nan], [1.0, np.nan, 0.0]])
    weights = dataset_weights(np.array(["X", "X", "Y"]), power=1.0)
    assert weights.tolist() == [0.5, 0.5, 1.0]
    np.testing.assert_allclose(leaderboard_prior(gains, weights, 0.0, []), [0.75, 0.5, 0.0])
    mean = 2.0 / 4.0
    prior = leaderboard_prior(gains, weights, 1.0, [])
    np.testing.assert_allclose(prior, [(1.5 + mean) / 3.0, (0.5 + mean) / 2.0, (0.0 + mean) / 2.0])
    # an unrated model of a rated attribute group gets the group's prior; one of no rated group: NaN
    gains4 = np.column_stack([gains, np.full(3, np.nan), np.full(3, np.nan)])
    level = np.array([0, 1, 2, 0, 3])  # d is in a's group, e alone
    out = leaderboard_prior(gains4, weights, 1.0, [level])
    assert np.isfinite(out[3]) and np.isnan(out[4])
    assert np.isnan(leaderboard_prior(gains4, weights, 1.0, [level], cold_start=False)[3])  # unrated: last
    group_a = (1.5 + mean) / 3.0
    assert out[3] == pytest.approx((0.0 + 1.0 * group_a) / (0.0 + 1.0))


def test_ranking_loss_prefers_the_true_order_on_a_three_model_task():
    """ListNet on one task with gains a 1, b 0.5, c 0: scores in the true order cost less than
    scores in reverse, and the loss is smallest when prior + delta matches the gains."""
    import torch

    examples = _TaskExamples(np.array([[0.9, 0.8, 0.7]]), np.zeros((1, 1), dtype=np.int64), np.array(["X"]),
                             TransformerConfig(delta_l2=0.0), [])
    batch = _Batch(torch.zeros((1, 1), dtype=torch.long), torch.tensor([[1.0, 0.5, 0.0]]), torch.zeros((1, 3)))
    config = TransformerConfig(delta_l2=0.0)
    right = examples.loss(batch, torch.tensor([[1.0, 0.5, 0.0]]), config)
    wrong = examples.loss(batch, torch.tensor([[0.0, 0.5, 1.0]]), config)
    flat = examples.loss(batch, torch.zeros((1, 3)), config)
    assert right < flat < wrong


def test_untrained_model_is_the_effects_prior(records):
    model = MedicalRecTransformer(seed=0, max_epochs=0, inner_folds=0, context_bonus=0.0,
                                  catalogue_candidates=False).fit(records, "III")
    assert not model.delta_on_
    data = TrainingSet.build(records)
    relevance = in_effect_units(task_relevance(data), "asin")  # the default units
    ones, level_ridge = np.ones(len(data.task_ids)), TransformerConfig().level_ridge
    effects = model_effects(relevance, ones, 2.0, level_ridge)
    scores = model.score(records.head(2))
    np.testing.assert_array_equal(np.argsort(-scores[0], kind="stable"), np.argsort(-effects, kind="stable"))
    np.testing.assert_allclose(model.base_, effects_prior(relevance, ones, 2.0, level_ridge=level_ridge))
    raw = MedicalRecTransformer(seed=0, max_epochs=0, inner_folds=0, context_bonus=0.0, catalogue_candidates=False,
                                effect_units="raw", level_ridge=0.0).fit(records, "III")
    np.testing.assert_allclose(raw.base_, effects_prior(task_relevance(data), ones, 2.0))
    assert model.base_.min() == 0.0 and model.base_.max() == 1.0  # on the gains' scale
    np.testing.assert_array_equal(scores[0], scores[1])  # the prior does not depend on the task


def test_effects_prior_puts_never_rated_candidates_last():
    relevance = np.array([[0.9, 0.8, np.nan], [np.nan, 0.7, np.nan]])
    prior = effects_prior(relevance, np.ones(2), 1.0)
    assert prior[0] == 1.0 and prior[1] == 0.0 and np.isnan(prior[2])
    examples = _TaskExamples(relevance, np.zeros((2, 1), dtype=np.int64), np.array(["X", "Y"]),
                             TransformerConfig(), [])
    assert examples.base(np.ones(2, dtype=bool)).tolist() == [1.0, 0.0, -1.0]  # below every rated one


def test_cold_start_effects_by_hand():
    """Models 0-2 share a fine group, 3 is alone in it but shares the coarse group, 4 shares nothing
    rated. k = 1: coarse group 0 = (0.02 - 0.04 + 1 * 0) / (2 + 1) = -0.02/3; fine group 0 =
    (-0.02 - 0.02/3) / 3 = -0.08/9; model 3's fine group has no rated member: its parent, -0.02/3;
    model 4 has no evidence either way: 0, the average model, above the two whose group is worse."""
    effects = np.array([0.02, -0.04, np.nan, np.nan, np.nan])
    fine, coarse = np.array([0, 0, 0, 1, 2]), np.array([0, 0, 0, 0, 1])
    filled = cold_start_effects(effects, [fine, coarse], 1.0)
    np.testing.assert_allclose(filled, [0.02, -0.04, -0.08 / 9, -0.02 / 3, 0.0])
    np.testing.assert_array_equal(cold_start_effects(effects, [], 1.0), effects)  # no attributes: unchanged


def test_an_encoder_rated_under_one_head_places_it_under_another():
    """Two pathology encoders rated only as linear probes (+0.06, -0.06), both unrated with an ABMIL head, and a
    third encoder rated with an ABMIL head (+0.09). Real catalogue groups, k = 1, coarse to fine, each model shrunk
    toward its own value at the next level:
    family: (0.06 - 0.06 + 0.09 + 1 * 0) / (3 + 1) = 0.0225;
    family + adaptation: probes (0 + 0.0225) / 3 = 0.0075, MIL heads (0.09 + 0.0225) / 2 = 0.05625;
    architecture: Prov-GigaPath (0.06 + 0.05625) / 2 = 0.058125, PLIP (-0.06 + 0.05625) / 2 = -0.001875;
    architecture + adaptation of the unrated MIL heads: no rated member, their architecture's value.
    With the two levels before, both unrated heads get the MIL heads' family + adaptation value, (0.09 + 0) / 2."""
    models = ["Prov-GigaPath (linear probe)", "PLIP (linear probe)", "Prov-GigaPath + ABMIL (frozen-feature MIL)",
              "PLIP + ABMIL (frozen-feature MIL)", "UNI + ABMIL (frozen-feature MIL)"]
    codes, _ = _attribute_codes(models)
    effects = np.array([0.06, -0.06, np.nan, np.nan, 0.09])
    np.testing.assert_allclose(cold_start_effects(effects, _levels(codes, across_adaptations=True), 1.0),
                               [0.06, -0.06, 0.058125, -0.001875, 0.09])
    np.testing.assert_allclose(cold_start_effects(effects, _levels(codes, across_adaptations=False), 1.0),
                               [0.06, -0.06, 0.045, 0.045, 0.09])


def test_leaving_a_source_out_its_new_mil_heads_are_placed_by_their_encoders():
    """The real case behind the extra levels: with Chen2024's UNI benchmarks held out, its ABMIL heads are new to
    training. Their encoders were rated under other heads elsewhere, Prov-GigaPath well above PLIP, and on the
    held-out slide-level task Prov-GigaPath + ABMIL did far better (balanced accuracy 0.522 against 0.369). Pooling
    across adaptations separates them; the two levels of before left them almost tied."""
    frame = pd.read_csv(REAL)
    training = frame[~frame[C.REF].str.startswith("Chen2024 UNI")].reset_index(drop=True)
    gigapath, plip = "Prov-GigaPath + ABMIL (frozen-feature MIL)", "PLIP + ABMIL (frozen-feature MIL)"
    assert not {gigapath, plip} & set(training[C.MODEL])
    gaps = {}
    for across in (True, False):
        model = MedicalRecTransformer(seed=0, max_epochs=0, inner_folds=0, context_bonus=0.0,
                                      cold_start_across_adaptations=across).fit(training, "I")
        gaps[across] = model.base_[model.models_.index(gigapath)] - model.base_[model.models_.index(plip)]
    assert gaps[True] > 0 and gaps[True] > 10 * abs(gaps[False])


def _examples(prior: str, relevance: np.ndarray, datasets: np.ndarray, levels=(), level_ridge=0.5) -> _TaskExamples:
    tokens = np.zeros((len(relevance), 1), dtype=np.int64)
    config = TransformerConfig(prior=prior, dataset_weight_power=0.5, cold_start_from_attributes=bool(levels),
                               attribute_prior=bool(levels) and prior == "gains", level_ridge=level_ridge)
    return _TaskExamples(relevance, tokens, datasets, config, list(levels))


@pytest.mark.parametrize("prior", ["effects", "gains"])
@pytest.mark.parametrize("with_groups", [False, True])
def test_held_out_priors_equal_a_fit_without_the_tasks_own_dataset(prior, with_groups):
    """The training batch's per-dataset priors (for effects: the whole system minus the dataset's
    own, the level ridge's anchor included) equal a direct fit on the other datasets' tasks, with
    never-rated candidates at -1 or, with attribute groups, filled from their group; a dataset alone
    in the batch gets 0."""
    rng = np.random.default_rng(0)
    relevance = np.where(rng.random((9, 6)) < 0.6, rng.random((9, 6)), np.nan)
    relevance[:, 0] = 0.5  # every task rates at least one model
    relevance[:3, 5] = rng.random(3)  # model 5: rated by dataset A only, so new to A's held-out prior
    relevance[3:, 5] = np.nan
    datasets = np.array(list("AAABBCCCD"))
    levels = [np.array([0, 1, 1, 2, 2, 2]), np.array([0, 0, 0, 1, 1, 1])] if with_groups else []
    examples = _examples(prior, relevance, datasets, levels)
    rows = np.arange(8)  # D is left out of the batch
    held = examples._held_out_priors(rows)
    for dataset in "ABC":
        others = rows[datasets[rows] != dataset]
        weights = dataset_weights(datasets[others], 0.5)
        if prior == "effects":
            direct = effects_prior(examples.effect_relevance[others], weights, 2.0, levels, 3.0, level_ridge=0.5)
        else:
            direct = leaderboard_prior(examples.gains[others], weights, 2.0, levels)
        expected = np.where(np.isnan(direct), -1.0, direct)
        np.testing.assert_allclose(held[datasets[rows] == dataset], np.tile(expected, (3 if dataset != "B" else 2, 1)),
                                   atol=1e-12)
    assert (examples._held_out_priors(np.array([8])) == 0.0).all()


def test_held_out_effects_of_tied_tasks_are_a_tie_not_rounding_noise():
    """Dataset A's tasks all tie; the prior B's tasks see (A's) is 1 for every model A rated, as a
    direct fit gives, not an order stretched out of subtraction residue. (No level ridge: it would
    rightly put model 2, rated 0.7, above model 3, rated 0.3.)"""
    relevance = np.array([[0.7, 0.7, 0.7, np.nan], [0.3, 0.3, np.nan, 0.3], [0.9, 0.1, 0.5, 0.4], [0.2, 0.8, 0.6, 0.1]])
    examples = _examples("effects", relevance, np.array(list("AABB")), level_ridge=0.0)
    held = examples._held_out_priors(np.arange(4))
    assert held[2:].tolist() == [[1.0, 1.0, 1.0, 1.0]] * 2


def test_a_model_saved_before_the_effects_prior_loads_with_the_gains_prior(records, tmp_path):
    """Saves without ``prior`` in their config were fitted with the gains prior, possibly with the
    attribute options that the effects prior refuses."""
    import json

    model = MedicalRecTransformer(seed=0, prior="gains", attribute_prior=True, **FAST).fit(records, "III")
    directory = model.save(tmp_path / "old")
    metadata = json.loads((directory / METADATA_FILE).read_text())
    config = metadata["extra"]["config"]
    del metadata["params"]["prior"], config["prior"], config["effect_ridge"], config["effect_units"], config["level_ridge"]
    del config["cold_start_across_adaptations"]
    (directory / METADATA_FILE).write_text(json.dumps(metadata))
    loaded = Recommender.load(directory)
    assert loaded.config.prior == "gains" and loaded.config.attribute_prior
    assert loaded.config.effect_units == "raw" and loaded.config.level_ridge == 0.0  # what that version fitted with
    assert not loaded.config.cold_start_across_adaptations
    np.testing.assert_array_equal(loaded.score(records.head(3)), model.score(records.head(3)))


def test_effects_prior_refuses_the_attribute_smoothed_prior_and_bad_numbers():
    with pytest.raises(ConfigError, match="prior='gains'"):
        TransformerConfig(attribute_prior=True)
    with pytest.raises(ConfigError, match="effect_ridge"):
        TransformerConfig(effect_ridge=0.0)
    with pytest.raises(ConfigError, match="effect_units must be one of asin, raw, got 'logit'"):
        TransformerConfig(effect_units="logit")
    with pytest.raises(ConfigError, match="cold_start_pseudo_models"):
        TransformerConfig(cold_start_pseudo_models=0.0)
    with pytest.raises(ConfigError, match="level_ridge must be >= 0, got -0.5"):
        TransformerConfig(level_ridge=-0.5)


def test_untrained_model_with_the_gains_prior_is_the_dataset_weighted_leaderboard(records):
    model = MedicalRecTransformer(seed=0, max_epochs=0, inner_folds=0, prior="gains", dataset_weight_power=0.5,
                                  context_bonus=0.0, catalogue_candidates=False).fit(records, "III")
    assert not model.delta_on_
    data = TrainingSet.build(records)
    datasets = records.groupby(with_ids(records)[C.TASK_ID], sort=False)[C.DATASET].first().reindex(data.task_ids)
    prior = leaderboard_prior(task_gains(data), dataset_weights(datasets.to_numpy(), 0.5), 2.0, [])
    scores = model.score(records.head(2))
    np.testing.assert_array_equal(np.argsort(-scores[0], kind="stable"), np.argsort(-prior, kind="stable"))
    np.testing.assert_array_equal(scores[0], scores[1])  # the prior does not depend on the task


def with_ids(frame):
    from medicalrec.bench.tasks import with_task_ids

    return with_task_ids(frame)


def test_gate_keeps_the_delta_only_when_it_beats_the_prior_on_held_out_datasets(records):
    model = MedicalRecTransformer(seed=0, max_epochs=6, inner_folds=3).fit(records, "III")
    curve = np.array(model.history_["gate_curve"])
    assert len(curve) >= 2
    trained_wins = curve[1:].min() + model.config.gate_margin < curve[0]
    assert model.delta_on_ == trained_wins == (model.history_["epochs"] > 0)
    closed = MedicalRecTransformer(seed=0, max_epochs=6, inner_folds=3, gate_margin=1e9).fit(records, "III")
    assert not closed.delta_on_ and closed.history_["epochs"] == 0


@pytest.mark.parametrize("cold_start", [False, True])
def test_a_candidate_never_seen_in_training_gets_a_finite_score_and_a_stable_rank(records, cold_start):
    """Catalogue models no training record mentions get a finite score and the same input gives the
    same rank. Without item cold start they all sit on the floor below every rated model; with it
    their attribute groups place them among the rated ones."""
    model = MedicalRecTransformer(seed=0, cold_start_from_attributes=cold_start, **FAST).fit(records, "III")
    unseen = sorted(set(model.models_) - set(records[C.MODEL]))
    assert unseen
    scores = model.score(records.head(1))[0]
    index = [model.models_.index(m) for m in unseen]
    assert np.isfinite(scores[index]).all()
    assert np.array_equal(np.argsort(-model.score(records.head(1))[0], kind="stable"), np.argsort(-scores, kind="stable"))
    rated = [model.models_.index(m) for m in set(records[C.MODEL])]
    if cold_start:
        assert (model.base_[index] > model.base_[rated].min()).any() and (model.base_[index] >= 0).all()
    else:
        assert (model.base_[index] == -1.0).all() and (model.base_[rated] >= 0).all()


def test_a_users_own_candidate_names_are_scored_from_what_their_names_say(records, fitted, tmp_path):
    """Names in neither the corpus nor the catalogue (``candidates``): a name the parser cannot read
    is the average model (effect 0 on the prior's scale) and the rated models keep their prior; two
    names read alike score alike, also with the learned adjustment on; scores are finite, ranks
    repeat, and a saved model keeps them."""
    unreadable, convnext, convnext_224 = "our lab net v3", "ConvNeXt-T (fine-tune)", "ConvNeXt-T (fine-tune, 224 px)"
    prior_only = MedicalRecTransformer(seed=0, max_epochs=0, inner_folds=0, context_bonus=0.0, catalogue_candidates=False,
                                       candidates=[unreadable, convnext]).fit(records, "III")
    assert sorted(prior_only.models_) == sorted(set(records[C.MODEL]) | {unreadable, convnext})
    data = TrainingSet.build(records)
    effects = model_effects(in_effect_units(task_relevance(data), "asin"), np.ones(len(data.task_ids)), 2.0,
                            TransformerConfig().level_ridge)
    average = (0.0 - effects.min()) / (effects.max() - effects.min())
    assert prior_only.base_[prior_only.models_.index(unreadable)] == pytest.approx(average, abs=1e-12)
    without = MedicalRecTransformer(seed=0, max_epochs=0, inner_folds=0, context_bonus=0.0,
                                    catalogue_candidates=False).fit(records, "III")
    rated = [prior_only.models_.index(m) for m in without.models_]
    np.testing.assert_allclose(prior_only.base_[rated], without.base_, rtol=0, atol=1e-12)  # rated: their prior

    model = MedicalRecTransformer(seed=3, candidates=(unreadable, convnext, convnext_224), **FAST).fit(records, "IV")
    assert model.delta_on_
    scores = model.score(records.head(5))
    own = [model.models_.index(n) for n in (unreadable, convnext, convnext_224)]
    assert np.isfinite(scores[:, own]).all()
    np.testing.assert_array_equal(scores[:, own[1]], scores[:, own[2]])  # same attribute tokens, both ids [UNK]
    assert not np.allclose(scores[:, own[0]], scores[:, own[1]])
    np.testing.assert_array_equal(model.score(records.head(5)), scores)
    model.save(tmp_path / "own")
    loaded = Recommender.load(tmp_path / "own")
    assert loaded.config.candidates == (unreadable, convnext, convnext_224)
    np.testing.assert_array_equal(loaded.score(records.head(5)), scores)


@pytest.mark.parametrize("bad, says", [("ResNet-50 (fine-tune)", "candidates must be a list of strings"),
                                       (["ok", ""], r"candidates\[1\]"), ([" padded"], r"candidates\[0\]"),
                                       ([7], r"candidates\[0\]")])
def test_bad_candidate_names_are_refused_with_their_position(bad, says):
    with pytest.raises(ConfigError, match=says):
        MedicalRecTransformer(candidates=bad)


def test_single_model_tasks_train_and_score():
    rows = pd.DataFrame({
        C.REF: ["r1", "r2", "r3"], C.TASK: ["t", "t", "t"], C.DOMAIN: ["Skin cancer", "Wound", "MRI"],
        C.N_SAMPLES: [100, 2000, 30000], C.ACCURACY: [0.8, 0.9, 0.7], C.MODEL: ["A", "B", "A"],
    })
    model = MedicalRecTransformer(seed=0, catalogue_candidates=False, **FAST).fit(rows, "I")
    assert model.score(rows).shape == (3, 2)


def test_record_objective_trains_and_bad_parameters_are_refused(records):
    model = MedicalRecTransformer(seed=0, objective="record", **FAST).fit(records, "I")
    assert model.score(records.head(3)).shape == (3, len(model.models_))
    with pytest.raises(ConfigError, match="objective"):
        MedicalRecTransformer(objective="popularity")
    with pytest.raises(ConfigError, match="inner_folds"):
        MedicalRecTransformer(inner_folds=1)


def test_context_puts_models_rated_in_the_querys_modality_first():
    """A pathology-only winner must not top a chest X-ray query: P wins both pathology tasks (global
    prior above X and Y), X and Y were rated on chest X-ray. With a chest X-ray query X and Y come
    first; with a pathology query P; without a modality the global prior decides."""
    rows = []
    for ref, modality, results in (("p1", "Histopathology", {"P": 0.99, "Q": 0.6}), ("p2", "Histopathology", {"P": 0.98, "Q": 0.7}),
                                   ("c1", "Chest X-Ray", {"X": 0.9, "Y": 0.8}), ("c2", "Chest X-Ray", {"X": 0.7, "Y": 0.8})):
        rows += [{C.REF: ref, C.TASK: "t", C.DOMAIN: "D", C.MODALITY: modality, C.TASK_TYPE: "binary", C.MODEL: m, C.AUC: a}
                 for m, a in results.items()]
    model = MedicalRecTransformer(seed=0, max_epochs=0, inner_folds=0, catalogue_candidates=False).fit(pd.DataFrame(rows), "III")
    queries = pd.DataFrame({C.MODALITY: ["Chest X-Ray", "Histopathology", None], C.DOMAIN: "D"})
    top = [model.models_[i] for i in model.score(queries).argmax(axis=1)]
    assert top[0] in ("X", "Y") and top[1] == "P" and top[2] == "P"
    cxr = model.score(queries.head(1))[0]
    assert min(cxr[[model.models_.index("X"), model.models_.index("Y")]]) > max(cxr[[model.models_.index("P"), model.models_.index("Q")]])
