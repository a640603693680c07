"""Evidence: nearest training tasks, support and confidence, on a hand-built corpus whose distances
can be worked out on paper, and on the real public bench (size, speed path, brute-force agreement)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.serving import evidence as E
from medicalrec.bench.tasks import task_queries
from medicalrec.serving.evidence import EvidenceIndex, build_evidence
from medicalrec.features import FeatureEncoder

from conftest import REAL_BENCH  # noqa: E402

# Three tasks, mode I (domain, n_samples, width, height, n_classes):
# A and B differ only in n_samples; C differs from both in every feature. M2 has two records on C.
RECORDS = pd.DataFrame([
    # ref, task, domain, n_samples, width, height, n_classes, accuracy, model
    ("R1", "a", "Skin", 100, 64, 64, 2, 0.90, "M1"),
    ("R1", "a", "Skin", 100, 64, 64, 2, 0.80, "M2"),
    ("R1", "b", "Skin", 1000, 64, 64, 2, 0.70, "M1"),
    ("R1", "b", "Skin", 1000, 64, 64, 2, 0.75, "M3"),
    ("R2", "c", "Lung", 50, 128, 128, 3, 0.60, "M2"),
    ("R2", "c", "Lung", 50, 128, 128, 3, 0.65, "M2"),
    ("R2", "c", "Lung", 50, 128, 128, 3, 0.50, "M3"),
], columns=[C.REF, C.TASK, C.DOMAIN, C.N_SAMPLES, C.WIDTH, C.HEIGHT, C.N_CLASSES, C.ACCURACY, C.MODEL])


@pytest.fixture(scope="module")
def small():
    encoder = FeatureEncoder.fit(RECORDS, "I")
    evidence = build_evidence(RECORDS, encoder)
    return encoder, evidence, EvidenceIndex.from_json(json.loads(json.dumps(evidence)))


def _query(**values) -> pd.DataFrame:
    row = {C.DOMAIN: None, C.N_SAMPLES: np.nan, C.WIDTH: np.nan, C.HEIGHT: np.nan, C.N_CLASSES: np.nan}
    row.update(values)
    return pd.DataFrame([row])


TASK_A = dict(domain="Skin", n_samples=100, width=64, height=64, n_classes=2)


def _flat(per_task: dict) -> dict:
    """``explain_tasks`` per (task, ranked model), row-major, as the output table repeats it."""
    k = per_task[C.SUPPORT].shape[1]
    return {C.SUPPORT: per_task[C.SUPPORT].reshape(-1),
            **{name: np.repeat(per_task[name], k) for name in (C.NEAREST_TASKS, C.DISTANCE, C.CONFIDENCE)}}


def _z(encoder: FeatureEncoder, column: str, value: float) -> float:
    """What the encoder does to a count: log1p, then the training mean and std."""
    return (math.log1p(value) - encoder.means[column]) / encoder.stds[column]


def test_evidence_is_compact_json_with_one_entry_per_task(small):
    encoder, evidence, _ = small
    again = json.loads(json.dumps(evidence, allow_nan=False))  # strict JSON: no NaN/inf literals
    assert again["models"] == ["M1", "M2", "M3"]
    assert again["model_records"] == [2, 3, 2]
    assert [(t["ref"], t["task"]) for t in again["tasks"]] == [("R1", "a"), ("R1", "b"), ("R2", "c")]
    task_c = again["tasks"][2]
    assert task_c["models"] == [1, 2]  # M2, M3
    assert task_c["relevance"] == [0.65, 0.5]  # best accuracy per model
    assert task_c["records"] == [2, 1]
    assert again["numeric"] == [C.N_SAMPLES, C.WIDTH, C.HEIGHT, C.N_CLASSES]
    assert again["categorical"] == [C.DOMAIN]
    assert again["tasks"][0]["codes"] == [encoder.vocabularies[C.DOMAIN].index("skin")]
    assert again["tasks"][0]["numbers"][0] == pytest.approx(_z(encoder, C.N_SAMPLES, 100), abs=1e-6)


def test_distances_worked_out_by_hand(small):
    encoder, _, index = small
    # Same description as A: 0 to A; to B only n_samples differs (all 5 features shared, scale 1).
    d = index.distances(_query(**TASK_A))[0]
    assert d[0] == 0.0
    assert d[1] == pytest.approx(abs(_z(encoder, C.N_SAMPLES, 100) - _z(encoder, C.N_SAMPLES, 1000)), abs=1e-6)  # stored rounded to 6 decimals
    # A with another known domain: one categorical mismatch (2.0) over 5 shared of 5 -> sqrt(2).
    assert index.distances(_query(**{**TASK_A, "domain": "Lung"}))[0][0] == pytest.approx(math.sqrt(2.0))
    # Only the domain given: 0 to A and B; to C one mismatch over 1 shared feature -> sqrt(2 * 5 / 1).
    np.testing.assert_allclose(index.distances(_query(domain="skin"))[0], [0.0, 0.0, math.sqrt(10.0)])
    # Nothing given: nothing shared with any task -> infinitely far.
    assert np.isinf(index.distances(_query())[0]).all()


def test_calibration_is_the_leave_one_out_quantile(small):
    encoder, evidence, _ = small
    ab = abs(_z(encoder, C.N_SAMPLES, 100) - _z(encoder, C.N_SAMPLES, 1000))
    nearest_to_c = min(  # C differs from A (and B) in every feature: 4 numbers + one domain mismatch
        math.sqrt(sum((_z(encoder, col, a) - _z(encoder, col, c)) ** 2
                      for col, a, c in ((C.N_SAMPLES, n, 50), (C.WIDTH, 64, 128), (C.HEIGHT, 64, 128), (C.N_CLASSES, 2, 3)))
                  + 2.0)
        for n in (100, 1000)
    )
    loo = [ab, ab, nearest_to_c]
    assert evidence["thresholds"]["low"] == pytest.approx(np.quantile(loo, E.LOW_QUANTILE), abs=1e-6)
    assert evidence["thresholds"]["high"] == pytest.approx(np.quantile(loo, E.HIGH_QUANTILE), abs=1e-6)


def test_explain_names_neighbours_counts_support_and_grades_confidence(small, monkeypatch):
    _, evidence, index = small
    frame = pd.concat([
        _query(**TASK_A),
        _query(domain="Dental", n_samples=100, width=64, height=64, n_classes=2),  # unseen domain
        _query(),  # nothing known
    ], ignore_index=True)
    ranked = np.array([[1, 0, 2], [1, 0, 2], [1, 0, 2]])  # M2, M1, M3 for every task
    out = _flat(index.explain_tasks(frame, ranked))
    assert set(out) == {C.SUPPORT, C.NEAREST_TASKS, C.DISTANCE, C.CONFIDENCE}
    assert all(len(v) == 9 for v in out.values())
    # Fewer than N_SUPPORT_TASKS tasks: every task counts. M2: 1 record on A + 2 on C; M1: A, B; M3: B, C.
    assert out[C.SUPPORT][:3].tolist() == [3, 2, 2]
    assert out[C.NEAREST_TASKS][0] == "R1 / a | R1 / b | R2 / c"
    assert out[C.DISTANCE][0] == 0.0
    assert out[C.CONFIDENCE][:3].tolist() == ["high"] * 3
    assert out[C.CONFIDENCE][3] == "low"  # unseen category, even though the numbers match A exactly
    assert out[C.CONFIDENCE][6] == "low" and np.isnan(out[C.DISTANCE][6])  # no distance, not an infinite one
    assert out[C.NEAREST_TASKS][6] == "" and out[C.SUPPORT][6:].tolist() == [0, 0, 0]  # nothing is near
    # Only the single nearest task (A) counts: M2 and M1 have one record there, M3 none.
    monkeypatch.setattr(E, "N_SUPPORT_TASKS", 1)
    assert _flat(index.explain_tasks(frame.head(1), ranked[:1]))[C.SUPPORT].tolist() == [1, 1, 0]


def test_a_task_without_its_domain_is_low_confidence_however_close(small):
    """Mode I's context is the domain: task A's numbers without it are at distance 0 from A, yet the
    model gives the task the corpus-wide list."""
    _, _, index = small
    without = {**TASK_A, C.DOMAIN: None}
    out = _flat(index.explain_tasks(pd.concat([_query(**TASK_A), _query(**without)], ignore_index=True),
                                    np.array([[0], [0]])))
    assert out[C.DISTANCE].tolist() == [0.0, 0.0]
    assert out[C.CONFIDENCE].tolist() == ["high", "low"]


def test_ties_go_to_the_earlier_training_task(small):
    _, _, index = small
    order, dist = index.nearest(_query(domain="Skin"), 3)  # A and B both at 0
    assert order.tolist() == [[0, 1, 2]]
    assert dist[0, :2].tolist() == [0.0, 0.0]


def test_label_hook_sees_each_text(small):
    _, _, index = small
    out = _flat(index.explain_tasks(_query(**TASK_A), np.array([[0]]), label=lambda text: "<" + text + ">"))
    assert out[C.NEAREST_TASKS][0] == "<R1 / a | R1 / b | R2 / c>"


def test_evidence_models_map_onto_the_scorer_candidates(small):
    _, evidence, _ = small
    index = EvidenceIndex.from_json(evidence, models=["M0", "M1", "M3"])  # M2 unknown to this scorer
    out = _flat(index.explain_tasks(_query(**TASK_A), np.array([[0, 1, 2]])))
    assert out[C.SUPPORT].tolist() == [0, 2, 2]


@pytest.fixture(scope="module")
def real():
    records = pd.read_csv(REAL_BENCH)
    encoder = FeatureEncoder.fit(records, "III")
    evidence = build_evidence(records, encoder)
    return records, encoder, evidence, EvidenceIndex.from_json(evidence)


def test_real_bench_evidence_is_small_and_calibrated(real):
    records, _, evidence, _ = real
    n_tasks = records.groupby([C.REF, C.TASK]).ngroups
    assert len(evidence["tasks"]) == n_tasks == 295
    assert len(json.dumps(evidence)) < 1000 * n_tasks  # under 1 kB per task
    assert 0 <= evidence["thresholds"]["high"] <= evidence["thresholds"]["low"] < math.inf


def test_blocked_nearest_search_equals_brute_force(real, monkeypatch):
    records, _, _, index = real
    queries = task_queries(records).reset_index(drop=True)
    frame = queries.sample(300, replace=True, random_state=0).reset_index(drop=True)
    scale = np.random.default_rng(0).uniform(0.3, 3.0, len(frame))
    for column in (C.N_SAMPLES, C.N_TRAIN, C.N_TEST, C.WIDTH):
        frame[column] = np.round(frame[column] * scale)
    frame.loc[::7, C.WIDTH] = np.nan
    frame.loc[::11, C.DOMAIN] = "never seen"
    monkeypatch.setattr(index, "_chunk", 64)  # several blocks, one partial
    order, dist = index.nearest(frame, 5)
    full = index.distances(frame)
    # The k smallest distances, each at the index returned for it; distances within float noise
    # of each other are ties, broken by training-task order.
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :5], atol=1e-9)
    np.testing.assert_allclose(np.take_along_axis(full, order, axis=1), dist, atol=1e-9)
    tied = np.isclose(dist[:, 1:], dist[:, :-1], rtol=1e-9, atol=1e-12)
    assert (order[:, 1:] > order[:, :-1])[tied].all()
    # And the distance itself, pair by pair, from the definition.
    numbers, codes = index.space.numbers(frame), index.space.codes(frame)
    for i in range(0, len(frame), 37):
        for t in range(0, index.n_tasks, 13):
            shared = ~np.isnan(numbers[i]) & ~np.isnan(index._numbers[t])
            total = float(np.sum((numbers[i][shared] - index._numbers[t][shared]) ** 2))
            both = (codes[i] != -2) & (index._codes[t] != -2)
            total += 2.0 * float(np.sum(codes[i][both] != index._codes[t][both]))
            count = int(shared.sum() + both.sum())
            assert full[i, t] == pytest.approx(math.sqrt(total * index.space.n_features / count), abs=1e-4)


def test_far_away_task_is_low_confidence(real):
    records, _, _, index = real
    task = task_queries(records).reset_index(drop=True).head(1).copy()
    for column in (C.N_SAMPLES, C.N_TRAIN, C.N_TEST, C.N_VAL, C.WIDTH, C.HEIGHT):
        task[column] = task[column] * 1000
    task[C.DOMAIN] = "Veterinary dentistry"
    out = _flat(index.explain_tasks(task, np.array([[0]])))
    assert out[C.CONFIDENCE][0] == "low"
    assert out[C.DISTANCE][0] > index.low
