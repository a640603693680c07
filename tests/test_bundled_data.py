"""The bundled MedMNIST decathlon file against numbers typed here from the MedMNIST website
(seed page ``001``: the two results tables and the dataset table), not read from the file itself."""


import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.bench.defaults import DECATHLON, shipped_data_path
from medicalrec.bench.loading import load_bench
from medicalrec.bench.tasks import add_relevance

from conftest import REAL_BENCH as PUBLIC_BENCH  # noqa: E402

DATASETS = {
    "PathMNIST", "ChestMNIST", "DermaMNIST", "OCTMNIST", "PneumoniaMNIST", "RetinaMNIST",
    "BreastMNIST", "OrganMNIST_Axial", "OrganMNIST_Coronal", "OrganMNIST_Sagittal",
}
METHODS = {
    "ResNet-18 (28)", "ResNet-18 (224)", "ResNet-50 (28)", "ResNet-50 (224)", "auto-sklearn",
    "AutoKeras", "Google AutoML Vision",
}

# (dataset, method): (AUC, ACC) as printed on the page.
SPOT_CHECKS = {
    ("PneumoniaMNIST", "Google AutoML Vision"): (0.993, 0.941),
    ("PathMNIST", "auto-sklearn"): (0.500, 0.186),
    ("ChestMNIST", "ResNet-18 (28)"): (0.706, 0.947),
    ("DermaMNIST", "AutoKeras"): (0.921, 0.756),
    ("OCTMNIST", "ResNet-18 (224)"): (0.960, 0.752),
    ("RetinaMNIST", "AutoKeras"): (0.655, 0.420),
    ("BreastMNIST", "ResNet-18 (224)"): (0.915, 0.878),
    ("OrganMNIST_Axial", "auto-sklearn"): (0.797, 0.563),
    ("OrganMNIST_Coronal", "ResNet-50 (224)"): (0.992, 0.898),
    ("OrganMNIST_Sagittal", "Google AutoML Vision"): (0.964, 0.706),
}

# dataset: (#train, #val, #test) from the page's dataset table.
SIZES = {
    "DermaMNIST": (7007, 1003, 2005),
    "OrganMNIST_Coronal": (13000, 2392, 8268),
    "RetinaMNIST": (1080, 120, 400),
    "ChestMNIST": (78468, 11219, 22433),
}


@pytest.fixture(scope="module")
def bench():
    return load_bench(shipped_data_path(DECATHLON))


@pytest.fixture(scope="module")
def records(bench):
    return bench.frame.set_index([C.TASK, C.MODEL])


def test_bundled_file_ships_inside_the_package():
    path = shipped_data_path(DECATHLON)
    assert path.is_file()
    assert path.name == "medmnist_decathlon_2021.csv"
    assert path.parent.parent.name == "bench"


def test_loads_without_problems_or_changes(bench):
    assert bench.notes == []
    assert list(bench.frame.columns) == list(C.CANONICAL_COLUMNS) + [C.ORIGIN]


def test_shape_ten_datasets_by_seven_methods(bench):
    frame = bench.frame
    assert len(frame) == 70
    assert set(frame[C.TASK]) == DATASETS
    assert set(frame[C.MODEL]) == METHODS
    assert not frame.duplicated([C.TASK, C.MODEL]).any()
    assert set(frame[C.REF]) == {"Yang2021 MedMNIST Classification Decathlon (ISBI)"}
    assert frame[C.ORIGIN].str.contains("medmnist.github.io").all()


@pytest.mark.parametrize("key", sorted(SPOT_CHECKS))
def test_spot_checked_metrics(records, key):
    auc, accuracy = SPOT_CHECKS[key]
    assert records.loc[key, C.AUC] == pytest.approx(auc, abs=1e-9)
    assert records.loc[key, C.ACCURACY] == pytest.approx(accuracy, abs=1e-9)


@pytest.mark.parametrize("dataset", sorted(SIZES))
def test_sizes_and_their_sum(bench, dataset):
    n_train, n_val, n_test = SIZES[dataset]
    rows = bench.frame[bench.frame[C.TASK] == dataset]
    assert (rows[C.N_TRAIN] == n_train).all()
    assert (rows[C.N_VAL] == n_val).all()
    assert (rows[C.N_TEST] == n_test).all()
    assert (rows[C.N_SAMPLES] == n_train + n_val + n_test).all()


def test_task_descriptions(bench):
    per_task = bench.frame.groupby(C.TASK).first()
    assert per_task.loc["ChestMNIST", C.TASK_TYPE] == "multi-label"
    assert per_task.loc["ChestMNIST", C.N_CLASSES] == 14
    assert per_task.loc["RetinaMNIST", C.TASK_TYPE] == "ordinal"
    assert per_task.loc["RetinaMNIST", C.N_CLASSES] == 5
    assert per_task.loc["PneumoniaMNIST", C.TASK_TYPE] == "binary"
    assert per_task.loc["BreastMNIST", C.N_CLASSES] == 2
    assert per_task.loc["PathMNIST", C.N_CLASSES] == 9
    assert per_task.loc["OCTMNIST", C.N_CLASSES] == 4
    assert per_task.loc["OrganMNIST_Sagittal", C.N_CLASSES] == 11
    colour = set(per_task.index[per_task[C.CHANNELS] == 3])
    assert colour == {"PathMNIST", "DermaMNIST", "RetinaMNIST"}
    assert (bench.frame[[C.WIDTH, C.HEIGHT]] == 28).all().all()
    assert (bench.frame[C.K_FOLD] == 0).all()
    assert bench.frame[C.AUGMENTATION].isna().all()
    assert bench.frame[[C.PRECISION, C.RECALL, C.F1, C.BALANCED_ACCURACY]].isna().all().all()


def test_task_protocol_truth(bench):
    """Every task reports AUC for all 7 methods, so AUC ranks them; AutoML Vision wins Pneumonia."""
    relevance = add_relevance(bench.frame)
    assert set(relevance[C.RELEVANCE_METRIC]) == {C.AUC}
    pneumonia = relevance[relevance[C.TASK] == "PneumoniaMNIST"]
    assert pneumonia.loc[pneumonia[C.RELEVANCE].idxmax(), C.MODEL] == "Google AutoML Vision"


@pytest.mark.skipif(not PUBLIC_BENCH.is_file(), reason="shared public bench not on this machine")
def test_vocabulary_shared_with_public_bench(bench):
    public = pd.read_csv(PUBLIC_BENCH)
    public_vocabulary = set(zip(public[C.TASK], public[C.DOMAIN], public[C.MODALITY]))
    shared = {"PathMNIST", "ChestMNIST", "OCTMNIST", "PneumoniaMNIST", "RetinaMNIST"}
    ours = bench.frame.drop_duplicates(C.TASK)
    for _, row in ours[ours[C.TASK].isin(shared)].iterrows():
        assert (row[C.TASK], row[C.DOMAIN], row[C.MODALITY]) in public_vocabulary
    organ = set(public.loc[public[C.TASK] == "OrganAMNIST", C.MODALITY])
    assert set(ours.loc[ours[C.DOMAIN] == "Organ", C.MODALITY]) == organ
