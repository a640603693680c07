"""The synthetic corpus: valid, deterministic, chunk-independent, literature-like and learnable."""

import pandas as pd
import pytest

from medicalrec import constants as C
from medicalrec.bench import generator as G
from medicalrec.bench.loading import load_bench
from medicalrec.bench.schema import spelling_key
from medicalrec.bench.tasks import add_relevance
from medicalrec.errors import ConfigError

# Missingness documented in the generator's docstring, typed here (fraction of records).
DOCUMENTED_MISSING = {
    C.DOMAIN: 0.0, C.MODALITY: 0.10, C.TASK_TYPE: 0.05, C.N_SAMPLES: 0.05, C.N_TRAIN: 0.15,
    C.N_TEST: 0.20, C.N_VAL: 0.50, C.K_FOLD: 0.40, C.WIDTH: 0.15, C.HEIGHT: 0.15, C.CHANNELS: 0.30,
    C.N_CLASSES: 0.02, C.AUGMENTATION: 0.50, C.ACCURACY: 0.10, C.AUC: 0.50, C.PRECISION: 0.60,
    C.RECALL: 0.60, C.F1: 0.60, C.BALANCED_ACCURACY: 0.85,
}
ALL_FAMILIES = {
    "Skin cancer", "Tumour", "Wound", "Breast cancer", "MRI", "Colorectal cancer", "Retinal disease",
    "Diabetic retinopathy", "Thoracic disease", "Pneumonia", "COVID-19", "Organ", "Lymph node metastasis",
}
FIVE_MEDICALREC = {"Skin cancer", "Tumour", "Wound", "Breast cancer", "MRI"}


@pytest.fixture(scope="module")
def default_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "default.csv"
    summary = G.generate(out=path)
    return path, summary


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """20,000 records (seed 0), loaded through the real loader: enough for rates and effects."""
    path = tmp_path_factory.mktemp("gen") / "corpus.csv"
    G.generate(20_000, seed=0, out=path)
    return load_bench(path).frame


def test_default_output_loads_with_zero_problems(default_file):
    path, summary = default_file
    bench = load_bench(path)
    assert bench.notes == []
    frame = bench.frame
    assert len(frame) == 5_000 == summary.n_records
    assert list(frame.columns) == list(C.CANONICAL_COLUMNS) + [C.ORIGIN]
    assert summary.n_papers == frame[C.REF].nunique()
    assert summary.n_tasks == len(frame.drop_duplicates([C.REF, C.TASK]))
    assert summary.n_models == frame[C.MODEL].nunique()
    assert frame[C.REF].str.startswith("SYNTHETIC-").all()
    assert frame[C.ORIGIN].str.startswith("synthetic: medicalrec.bench.generator").all()
    assert "5,000 synthetic records" in str(summary)


def test_same_seed_gives_byte_identical_file(default_file, tmp_path):
    path, _ = default_file
    again = tmp_path / "again.csv"
    G.generate(5_000, seed=0, out=again)
    assert again.read_bytes() == path.read_bytes()


def test_different_seeds_differ(default_file, tmp_path):
    path, _ = default_file
    other = tmp_path / "seed1.csv"
    G.generate(5_000, seed=1, out=other)
    a, b = pd.read_csv(path), pd.read_csv(other)
    assert other.read_bytes() != path.read_bytes()
    assert not a[C.MODEL].equals(b[C.MODEL])
    assert b[C.REF].str.endswith("(seed 1)").all()


def test_output_does_not_depend_on_chunk_size(tmp_path):
    files = []
    for chunk_size in (7, 1_000, 50_000):
        path = tmp_path / f"chunk{chunk_size}.csv"
        G.generate(3_000, seed=7, out=path, chunk_size=chunk_size)
        files.append(path.read_bytes())
    assert files[0] == files[1] == files[2]


def test_iter_records_chunks_and_prefix_property():
    chunks = list(G.iter_records(2_500, seed=3, chunk_size=1_000))
    assert [len(c) for c in chunks] == [1_000, 1_000, 500]
    whole = pd.concat(chunks)
    assert list(whole.index) == list(range(2_500))
    shorter = pd.concat(G.iter_records(1_200, seed=3, chunk_size=700))
    pd.testing.assert_frame_equal(shorter, whole.iloc[:1_200])


def test_parquet_output_has_the_same_records(tmp_path):
    csv, parquet = tmp_path / "a.csv", tmp_path / "a.parquet"
    G.generate(1_500, seed=5, out=csv, chunk_size=400)
    G.generate(1_500, seed=5, out=parquet, chunk_size=400)
    from_csv, from_parquet = load_bench(csv).frame, load_bench(parquet).frame
    pd.testing.assert_frame_equal(from_csv, from_parquet, check_dtype=False)


def test_progress_callback_sees_every_row(tmp_path):
    seen = []
    G.generate(2_100, seed=0, out=tmp_path / "p.csv", chunk_size=1_000, on_chunk=seen.append)
    assert seen == [1_000, 1_000, 100]


@pytest.mark.parametrize("kwargs", [
    dict(n_records=0), dict(n_records=-5), dict(seed=-1), dict(chunk_size=0), dict(n_records=2.5),
])
def test_bad_parameters_are_config_errors(tmp_path, kwargs):
    with pytest.raises(ConfigError):
        G.generate(out=tmp_path / "x.csv", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_unknown_extension_and_missing_directory(tmp_path):
    with pytest.raises(ConfigError, match="extension"):
        G.generate(10, out=tmp_path / "x.json")
    with pytest.raises(ConfigError, match="does not exist"):
        G.generate(10, out=tmp_path / "no" / "x.csv")


def test_family_coverage(corpus):
    domains = corpus[C.DOMAIN]
    assert set(domains) == ALL_FAMILIES
    assert domains.isin(FIVE_MEDICALREC).mean() > 0.45
    modalities = corpus.groupby(C.DOMAIN)[C.MODALITY].agg(lambda s: set(s.dropna()))
    assert modalities["Wound"] == {"Clinical photograph"}
    assert modalities["Diabetic retinopathy"] == {"Fundus Camera"}
    assert modalities["Skin cancer"] == {"Dermatoscope", "Clinical photograph"}
    types = corpus.groupby(C.TASK_TYPE)[C.DOMAIN].agg(set)
    assert types["multi-label"] == {"Thoracic disease"}
    assert types["ordinal"] == {"Diabetic retinopathy", "MRI"}


def test_catalogue_has_hundreds_of_distinct_names():
    names = list(G.model_catalogue().names)
    assert len(names) >= 400
    assert len({spelling_key(n) for n in names}) == len(names)  # the loader would merge look-alikes
    for expected in ("ResNet-50 (fine-tune)", "EfficientNet-B3 (pretrained)", "SVM on HOG features",
                     "ViT-B/16 (linear probe)"):
        assert expected in names


def test_model_popularity_is_long_tailed(corpus):
    counts = corpus[C.MODEL].value_counts()
    assert len(counts) >= 400
    assert counts.iloc[0] >= 50 * counts.median()
    assert counts.head(10).sum() > 0.3 * len(corpus)
    assert (counts <= 10).mean() > 0.4


def test_missingness_matches_documented_rates(corpus):
    for column, rate in DOCUMENTED_MISSING.items():
        observed = corpus[column].isna().mean()
        assert abs(observed - rate) < 0.05, (column, observed, rate)


def test_values_are_consistent(corpus):
    for column in C.METRIC_COLUMNS:
        values = corpus[column].dropna()
        assert values.between(0, 1).all(), column
    both = corpus[[C.ACCURACY, C.AUC]].dropna()
    assert (both[C.AUC] >= both[C.ACCURACY]).mean() > 0.99
    prf = corpus[[C.PRECISION, C.RECALL, C.F1]].dropna()
    low = prf[[C.PRECISION, C.RECALL]].min(axis=1) - 0.001
    high = prf[[C.PRECISION, C.RECALL]].max(axis=1) + 0.001
    assert prf[C.F1].between(low, high).all()
    parts = corpus[[C.N_TRAIN, C.N_VAL, C.N_TEST]].sum(axis=1, min_count=3)
    complete = parts.notna() & corpus[C.N_SAMPLES].notna()
    assert (parts[complete] <= corpus.loc[complete, C.N_SAMPLES]).all()
    sized = corpus[[C.N_TRAIN, C.N_SAMPLES]].dropna()
    assert (sized[C.N_TRAIN] <= sized[C.N_SAMPLES]).all()
    assert (sized[C.N_TRAIN] >= sized[C.N_SAMPLES] / 2).all()
    cross_validated = corpus[C.K_FOLD] > 0
    assert (corpus.loc[cross_validated.fillna(False), C.N_VAL].dropna() == 0).all()


def test_task_descriptions_are_constant_within_a_task(corpus):
    spread = corpus.groupby([C.REF, C.TASK])[list(C.TASK_DESCRIPTION_COLUMNS)].nunique(dropna=False)
    assert (spread <= 1).all().all()
    assert corpus.groupby([C.REF, C.TASK])[C.MODEL].apply(lambda s: s.is_unique).all()


def test_model_quality_depends_on_task_features(corpus):
    """Within each task, the relative standing of a training scheme moves with the training-set size
    as the latent model says: scratch training gains with data; pretrained, frozen features and
    classical pipelines lose."""
    records = add_relevance(corpus)
    size = records.groupby(C.TASK_ID)[C.MODEL].transform("size")
    records = records[(size >= 2) & records[C.RELEVANCE].notna()].copy()
    records["centred"] = records[C.RELEVANCE] - records.groupby(C.TASK_ID)[C.RELEVANCE].transform("mean")
    small = records[C.N_TRAIN] < 1_500
    large = records[C.N_TRAIN] >= 20_000
    model = records[C.MODEL]

    def gain_with_data(mask):
        return records.loc[mask & large, "centred"].mean() - records.loc[mask & small, "centred"].mean()

    assert gain_with_data(model.str.endswith("(scratch)")) > 0.03
    assert gain_with_data(model.str.endswith("(pretrained)")) < 0
    assert gain_with_data(model.str.contains(" on ", regex=False)) < -0.05
    assert gain_with_data(model.str.endswith("(linear probe)") | model.str.endswith("(kNN probe)")) < -0.01
