"""The model catalogue: the shipped table covers the corpus, its reviewed facts and costs hold, and
the name parser degrades to [UNK] instead of failing.

The costs are checked against real torchvision definitions when torchvision is importable (it is a
build-time tool, not a dependency); the rest needs only the standard library and pandas.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from medicalrec.catalogue import (
    ADAPTATIONS,
    CSV_COLUMNS,
    FAMILIES,
    PRETRAININGS,
    SIZE_CLASSES,
    UNK,
    Catalogue,
    ModelAttributes,
    format_row,
    parse_model_name,
    parse_row,
    size_class_of,
)
from medicalrec.catalogue.parser import CATEGORICAL_FIELDS

REPO = Path(__file__).resolve().parents[1]
REAL_BENCH = REPO.parent / "shared" / "data" / "medicalrec_public_bench.csv"
SCRIPT = REPO / "scripts" / "build_model_catalogue.py"
OVERRIDES = REPO / "scripts" / "model_catalogue_overrides.csv"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


@pytest.fixture(scope="module")
def corpus_models() -> set[str]:
    if not REAL_BENCH.is_file():
        pytest.skip(f"the public bench corpus is not on this machine ({REAL_BENCH})")
    return set(pd.read_csv(REAL_BENCH, usecols=["model"])["model"].dropna().astype(str))


# --- coverage and vocabulary ------------------------------------------------------------------------


def test_catalogue_covers_every_corpus_model_and_nothing_else(catalogue, corpus_models):
    missing = sorted(corpus_models - set(catalogue.names()))
    assert not missing, f"{len(missing)} corpus models have no catalogue row, e.g. {missing[:5]}"
    stale = sorted(set(catalogue.names()) - corpus_models)
    assert not stale, f"catalogue rows for names absent from the corpus: {stale[:5]}"
    for name in corpus_models:
        assert catalogue.is_reviewed(name)
        assert catalogue.attributes(name).model == name


def test_categorical_values_are_from_the_documented_vocabulary(catalogue):
    sizes = {name for name, _ in SIZE_CLASSES} | {UNK}
    for row in catalogue:
        assert row.family in FAMILIES, row
        assert row.adaptation in ADAPTATIONS, row
        assert row.pretraining in PRETRAININGS, row
        assert row.size_class in sizes, row


def test_vocabulary_is_documented_in_the_data_readme():
    readme = (REPO / "medicalrec" / "catalogue" / "data" / "README.md").read_text(encoding="utf-8")
    for value in FAMILIES | ADAPTATIONS | PRETRAININGS | {name for name, _ in SIZE_CLASSES}:
        assert f"`{value}`" in readme, f"{value!r} is not documented in data/README.md"
    for column in CSV_COLUMNS:
        assert f"`{column}`" in readme, f"column {column!r} is not documented in data/README.md"


# --- a pinned, hand-checked sample -------------------------------------------------------------------

# (model, architecture, backbone, family, pretraining, adaptation, input_resolution)
PINNED = [
    ("DenseNet-121 (fine-tune)", "DenseNet-121", "DenseNet-121", "CNN", "imagenet-1k", "fine-tune", None),
    ("ResNet-50 (supervised, init unstated)", "ResNet-50", "ResNet-50", "CNN", "unknown", "full-training", 224),
    ("ViT-B/16 (linear probe)", "ViT-B/16", "ViT-B/16", "ViT", "imagenet-21k", "linear-probe", 224),
    ("UNI (kNN)", "UNI", "ViT-L/16", "pathology_fm", "pathology", "knn-probe", 224),
    ("UNI + GMA (frozen-feature MIL)", "UNI", "ViT-L/16", "pathology_fm", "pathology", "attention-mil", 224),
    ("Virchow2 (linear probe)", "Virchow2", "ViT-H/14", "pathology_fm", "pathology", "linear-probe", 224),
    ("CONCH (zero-shot)", "CONCH", "ViT-B/16", "pathology_fm", "pathology", "zero-shot", 448),
    ("CLIP ViT-B/32 (zero-shot)", "CLIP ViT-B/32", "ViT-B/32", "vision_language", "vision-language", "zero-shot", None),
    ("ResNet-18 (scratch)", "ResNet-18", "ResNet-18", "CNN", "none", "scratch", 28),
    ("ResNet-18 (scratch, 224px input)", "ResNet-18", "ResNet-18", "CNN", "none", "scratch", 224),
    ("ResNet-18 (fine-tune, pretrained on PathMNIST)", "ResNet-18", "ResNet-18", "CNN", "pathology", "fine-tune", 224),
    ("EVA-02 ViT-B/16 (kNN probe)", "EVA-02 ViT-B/16", "ViT-B/16", "ViT", "vision-language", "knn-probe", 224),
    ("SAM ViT-B/16 (fine-tune)", "SAM ViT-B/16", "ViT-B/16", "ViT", "natural-segmentation", "fine-tune", 224),
    ("XRV ResNet-50 res512-all (off-the-shelf)", "XRV ResNet-50 res512-all", "ResNet-50", "CNN", "radiology",
     "off-the-shelf", 512),
    ("Swin + Transformer (frozen-feature MIL)", "Swin-T", "Swin-T", "ViT", "imagenet-1k", "transformer-mil", None),
    ("Phikon-T + Mean pool (frozen-feature MIL)", "Phikon (iBOT teacher)", "ViT-B/16", "pathology_fm", "pathology",
     "mean-pool-mil", None),
    ("tRes50 (truncated ImageNet ResNet-50) + GMA (frozen-feature MIL)", "ResNet-50 (truncated)", "ResNet-50", "CNN",
     "imagenet-1k", "attention-mil", None),
    ("auto-sklearn", "auto-sklearn", UNK, "automl", "none", "automl", 28),
    ("SVM (CE24 organisers' baseline)", "SVM", UNK, "classic", "unknown", "full-training", None),
    ("DINO ViT-S/16 (ImageNet) (ABMIL head)", "DINO ViT-S/16", "ViT-S/16", "ViT", "natural-ssl", "attention-mil", None),
    ("ViT-S/16 (random init) (linear probe)", "ViT-S/16", "ViT-S/16", "ViT", "none", "linear-probe", None),
    ("Swin-B (VPT, 10-shot)", "Swin-B", "Swin-B", "ViT", "imagenet", "prompt-tuning", 384),
    ("REMEDIS + ABMIL (frozen-feature MIL)", "REMEDIS", UNK, "pathology_fm", "pathology", "attention-mil", None),
    ("MIL ES-GAtt-Img (GMIC-ResNet18 features)", "MIL ES-GAtt-Img (GMIC-ResNet-18 features)", "ResNet-18", "CNN",
     "unknown", "attention-mil", None),
    ("EVA-02-B/14 (EndoExtend24 domain-adaptive pre-training + fine-tune)", "EVA-02 ViT-B/14", "ViT-B/14", "ViT",
     "medical", "fine-tune", None),
    ("BiomedCLIP (zero-shot)", "BiomedCLIP", "ViT-B/16", "medical_fm", "medical", "zero-shot", None),
    ("Prov-GigaPath (kNN, k=20)", "Prov-GigaPath", "ViT-g/16", "pathology_fm", "pathology", "knn-probe", 224),
]


@pytest.mark.parametrize("model,architecture,backbone,family,pretraining,adaptation,resolution", PINNED)
def test_pinned_reviewed_rows(catalogue, model, architecture, backbone, family, pretraining, adaptation, resolution):
    row = catalogue.attributes(model)
    assert catalogue.is_reviewed(model)
    got = (row.architecture, row.backbone, row.family, row.pretraining, row.adaptation, row.input_resolution)
    assert got == (architecture, backbone, family, pretraining, adaptation, resolution)


def test_trained_parameters_follow_the_adaptation(catalogue):
    uni = {a: catalogue.attributes(f"UNI ({a})") for a in ("kNN", "linear probe")}
    assert uni["kNN"].trained_params_m == 0
    head = (uni["linear probe"].feature_dim + 1) * 1000 / 1e6  # the 1000-class reference head
    assert uni["linear probe"].trained_params_m == pytest.approx(head, abs=1e-4)
    assert uni["linear probe"].encoder_params_m == pytest.approx(303.35, abs=0.01)  # UNI's published size
    assert catalogue.attributes("CONCH (zero-shot)").trained_params_m == 0
    finetuned = catalogue.attributes("DenseNet-121 (fine-tune)")
    assert finetuned.trained_params_m == finetuned.params_m
    assert catalogue.attributes("UNI + GMA (frozen-feature MIL)").trained_params_m is None  # aggregator unknown
    for row in catalogue:
        if row.params_m is not None:
            assert row.gflops is not None and row.gflops > 0 and row.gflops_resolution is not None
            assert row.cost_source and row.size_class == size_class_of(row.encoder_params_m)
            assert row.params_m >= row.encoder_params_m
        else:  # unknown stays empty, never guessed
            assert row.gflops is None and row.encoder_params_m is None and row.size_class == UNK


def test_cost_scales_with_the_stated_resolution(catalogue):
    at224 = catalogue.attributes("ResNet-50 (fine-tune)")
    at512 = catalogue.attributes("XRV ResNet-50 res512-all (off-the-shelf)")
    assert at224.params_m == at512.params_m
    assert at512.gflops_resolution == 512 and at224.gflops_resolution == 224
    assert at512.gflops / at224.gflops == pytest.approx((512 / 224) ** 2, rel=0.05)


def test_every_override_is_applied(catalogue):
    """The reviewed facts of the overrides table are what the shipped table says."""
    with OVERRIDES.open(newline="", encoding="utf-8") as f:
        facts = list(csv.DictReader(f))
    assert facts
    for fact in facts:
        assert fact["reason"].strip(), fact
        if fact["field"] == "cost_key":
            continue
        value = getattr(catalogue.attributes(fact["model"]), fact["field"])
        expected = int(fact["value"]) if fact["field"] == "input_resolution" else fact["value"]
        assert value == expected, fact


# --- costs against real torchvision definitions ------------------------------------------------------


def _torchvision():
    pytest.importorskip("torch")
    module = sys.modules.get("build_model_catalogue")
    if module is None:
        spec = importlib.util.spec_from_file_location("build_model_catalogue", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["build_model_catalogue"] = module  # dataclasses resolve annotations through it
        spec.loader.exec_module(module)
    try:
        return module.import_torchvision()
    except ImportError:
        pytest.skip("torchvision is not installed (a build-time tool, not a dependency)")


@pytest.mark.parametrize(
    "model,builder",
    [
        ("ResNet-50 (fine-tune)", "resnet50"),
        ("DenseNet-121 (fine-tune)", "densenet121"),
        ("VGG16 (fine-tune)", "vgg16"),
        ("EfficientNet-B0 (fine-tune)", "efficientnet_b0"),
    ],
)
def test_params_match_torchvision(catalogue, model, builder):
    tv = _torchvision()
    net = getattr(tv.models, builder)(weights=None)
    expected = sum(p.numel() for p in net.parameters()) / 1e6
    assert catalogue.attributes(model).params_m == pytest.approx(expected, abs=5e-5)


# --- the parser on names it was never shown ----------------------------------------------------------

GARBAGE = ["", "   ", "foo bar (baz)", "x" * 10_000, "(((", "[", " + + ", "(fine-tune) (kNN)", "\x00\ufffd"]


@pytest.mark.parametrize("name", GARBAGE)
def test_garbage_names_give_unk_and_no_error(catalogue, name):
    for attrs in (parse_model_name(name), catalogue.attributes(name)):
        assert isinstance(attrs, ModelAttributes)
        assert attrs.architecture == UNK and attrs.family == UNK
        assert attrs.params_m is None and attrs.gflops is None and attrs.input_resolution is None
        assert not catalogue.is_reviewed(name)


def test_unreadable_name_is_all_unknown():
    attrs = parse_model_name("foo bar (baz)")
    assert all(getattr(attrs, f) == UNK for f in CATEGORICAL_FIELDS)
    assert all(
        getattr(attrs, f.name) is None
        for f in dataclasses.fields(attrs)
        if f.name not in CATEGORICAL_FIELDS and f.name != "model"
    )


def test_non_string_input_does_not_raise(catalogue):
    assert parse_model_name(None).architecture == UNK  # type: ignore[arg-type]
    assert catalogue.attributes(42).family == UNK  # type: ignore[arg-type]


def test_unseen_names_fall_back_to_the_parser(catalogue):
    attrs = catalogue.attributes("UNI2-h (fine-tune)")
    assert not catalogue.is_reviewed("UNI2-h (fine-tune)")
    assert (attrs.architecture, attrs.backbone, attrs.family, attrs.adaptation) == (
        "UNI2-h",
        "ViT-H/14",
        "pathology_fm",
        "fine-tune",
    )
    assert attrs.params_m is None  # the parser reads names; it never invents costs
    cnn = parse_model_name("ResNet50 (linear probe, 384px input)")
    assert (cnn.architecture, cnn.adaptation, cnn.input_resolution, cnn.pretraining) == (
        "ResNet-50",
        "linear-probe",
        384,
        "unknown",
    )


def test_parser_alone_agrees_with_review_where_nothing_was_overridden(catalogue):
    with OVERRIDES.open(newline="", encoding="utf-8") as f:
        overridden = {row["model"] for row in csv.DictReader(f) if row["field"] != "cost_key"}
    for row in catalogue:
        if row.model in overridden:
            continue
        parsed = parse_model_name(row.model)
        for field in ("architecture", "backbone", "family", "pretraining", "adaptation"):
            assert getattr(parsed, field) == getattr(row, field), (row.model, field)


# --- file format and runtime weight ------------------------------------------------------------------


def test_rows_round_trip_through_the_csv_format(catalogue):
    for row in catalogue:
        assert parse_row(format_row(row)) == row
    with pytest.raises(ValueError):
        parse_row({"model": "x"})


def test_a_bad_catalogue_file_names_the_line_and_column():
    from medicalrec.catalogue.catalogue import read_catalogue
    from medicalrec.errors import DataFileError

    text = (REPO / "medicalrec" / "catalogue" / "data" / "model_catalogue.csv").read_text(encoding="utf-8")
    header, first, second = text.splitlines()[:3]
    row = dict(zip(CSV_COLUMNS, next(csv.reader([first]))))
    out = io.StringIO()
    csv.writer(out).writerow({**row, "params_m": "12,5"}.values())
    with pytest.raises(DataFileError, match=r"model catalogue line 3: column 'params_m': '12,5' is not a number"):
        read_catalogue("\n".join([header, second, out.getvalue()]))
    with pytest.raises(DataFileError, match="model catalogue line 3: duplicate model"):
        read_catalogue("\n".join([header, first, first]))


def test_unknown_values_are_empty_cells_in_the_shipped_table():
    path = REPO / "medicalrec" / "catalogue" / "data" / "model_catalogue.csv"
    text = path.read_text(encoding="utf-8")
    assert UNK not in text and "nan" not in text.lower().split(",")
    header = text.splitlines()[0].split(",")
    assert tuple(header) == CSV_COLUMNS


def test_runtime_does_not_import_torch():
    code = (
        "import sys\n"
        "from medicalrec.catalogue import Catalogue\n"
        "c = Catalogue.load(); c.attributes('UNI (kNN)'); c.attributes('new thing (fine-tune)')\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


def test_candidate_names_file_keeps_names_whole_and_once(tmp_path):
    """One name per line: commas stay inside a name, comments and blank lines go, repeats count once."""
    from medicalrec.catalogue import read_names

    path = tmp_path / "names.txt"
    path.write_text("# ours\nResNet-50 (supervised, init unstated)\n\n  ConvNeXt-T (fine-tune)  \nResNet-50 (supervised, init unstated)\n")
    assert read_names(path) == ["ResNet-50 (supervised, init unstated)", "ConvNeXt-T (fine-tune)"]
    path.write_bytes("\ufeffConvNeXt-T (fine-tune)\r\nour lab net v3\r\n".encode("utf-8"))  # as Notepad saves it
    assert read_names(path) == ["ConvNeXt-T (fine-tune)", "our lab net v3"]
    path.write_bytes("\ufeff# ours\r\nour lab net v3\r\n".encode("utf-8"))  # the comment line stays a comment
    assert read_names(path) == ["our lab net v3"]


def test_how_a_candidate_name_was_read():
    catalogue = Catalogue.load()
    reviewed = next(iter(catalogue)).model
    assert catalogue.how_read(reviewed) == "in the reviewed catalogue"
    assert catalogue.how_read("ConvNeXt-T (fine-tune)") == \
        "read from its name: architecture ConvNeXt-T, family CNN, adaptation fine-tune"
    assert catalogue.how_read("our lab net v3") == "not readable from its name: every attribute unknown"
