"""A synthetic MedicalRec-Bench corpus of any size, for scale tests and for recommenders to learn from.

Why: the real corpora are small (70 bundled records, 2,401 public ones); the MedicalRec paper's
5,000-record bench is unpublished. This generator writes a literature-like corpus in the canonical
schema whose best model per task follows a documented latent model, so a recommender *can* learn the
mapping from task features to models, and the pipeline can be run on 1,000,000 records.
Every record is labelled synthetic: ``ref`` is ``"SYNTHETIC-000001 generated study (seed S)"`` and
``origin`` names this module, its version and the seed. Nothing here is a published result.

Structure
    A corpus is a sequence of *papers* (``ref``). A paper has 1-5 tasks (62% one, 20% two, 10%
    three, 5% four, 3% five), mostly of one clinical family (70% of further tasks stay in the
    family of the first), and one set of evaluated models: 8% report a single model, 6% are
    benchmarks of 15-45 models, the rest compare 2 + Poisson(4) models (at most 15). Each task
    evaluates the paper's set, each model dropped with probability 0.15 (at least one kept). The
    records of the last paper are cut where ``n_records`` is reached.

Task families (``domain``: weight; modalities; task types)
    the five MedicalRec families (54% of papers):
    Skin cancer .13 (Dermatoscope, Clinical photograph; binary or 3-9 classes),
    Tumour .12 (MRI, CT, Histopathology; binary or 3-4 classes),
    Wound .07 (Clinical photograph; binary or 3-6 classes),
    Breast cancer .12 (Mammography, Breast Ultrasound, Histopathology; binary or 3-8 classes),
    MRI .10 (MRI; binary, 3-4 classes, or 4-stage ordinal);
    others: Colorectal cancer .07 (Colon Pathology, Endoscopy), Retinal disease .06 (Retinal OCT,
    Fundus Camera), Diabetic retinopathy .06 (Fundus Camera; 5-grade ordinal), Thoracic disease .07
    (Chest X-Ray; 14-15 label multi-label or 3-4 classes), Pneumonia .07 (Chest X-Ray, Chest CT),
    COVID-19 .05 (Chest X-Ray, Chest CT), Organ .04 (Abdominal CT; 8 or 11 classes), Lymph node
    metastasis .04 (Histopathology (lymph node); binary). Domain and modality spellings follow
    ``shared/data/medicalrec_public_bench.csv`` where the same family appears there. Sizes are
    log-normal around a per-family median (900 images for wounds up to 60,000 for lymph-node
    patches), image sizes are drawn from the sizes papers of the family use (28 px to 2048 px),
    colour modalities have 3 channels, grey ones 1 (35% converted to 3 for ImageNet models).

Models (``model``, the items)
    A fixed catalogue of ``len(model_catalogue())`` = 511 names: 96 architectures (5 hand-made
    CNNs, 49 ImageNet CNNs, 20 vision transformers, 10 self-supervised foundation models, 5
    pathology foundation models, 3 RadImageNet models, 4 ensembles) crossed with the training
    schemes that make sense for them (408 names: ``scratch``, ``fine-tune``,
    ``pretrained`` = ImageNet weights with only the top block and head trained, ``linear probe``,
    ``kNN probe``), 10 classical classifiers x 10 feature extractors ("SVM on HOG features") and
    three AutoML tools. Names follow the public corpus' spelling ("ResNet-18 (fine-tune)").
    Popularity is Zipf: ranking the names by architecture popularity x scheme popularity, name of
    rank r has prior weight ``1 / r**1.07``; a paper draws its models without replacement with
    weight ``prior * exp(0.6 * q)`` (q below, on its first task), so authors favour models that
    suit their data, as real authors do. Result: the most used name (``ResNet-50 (fine-tune)``,
    ~10% of records) is ~180 times as frequent as the median one; 10 names cover ~40%.

Latent quality (logit units; why the best model depends on the task)
    With ``ds = clip(log10(n_train) - 3.5, -2, 2)``, ``rs = clip(log2(min(width, height) / 128),
    -2.5, 3)`` and the model's capacity ``kappa`` in [0, 1]::

        q = 0.3 kappa + arch_adjustment + scheme_base
          + 1.2 hunger ds                        data size: scratch and big models need data,
                                                 probes and classical pipelines do not
          + 0.35 (kappa - 0.5) rs  [CNNs]        high resolution favours deeper CNNs
          - 0.6 max(0, -rs)        [ViTs]        patch transformers suffer on tiny images
          - 0.35 [grey, natural-image weights]   ImageNet colour features transfer less to grey
          + 0.4  [radiology, RadImageNet]
          + 0.9 / -0.4 [pathology FM, histopathology / other]
          + 0.4  [self-supervised FM, frozen probe]
          + multi-label: 0.25 kappa, -0.4 classical
          - 0.12 log2(n_classes) [classical]
          + 0.35 / -0.5 [colour-histogram features on colour / grey]
          + u[model, domain] ~ N(0, 0.15)        fixed per seed
          + N(0, 0.2) per (paper, model) + N(0, 0.15) per record    tuning effort, luck

    ``scheme_base`` is -0.1 scratch (0 for hand-made CNNs), 0.35 fine-tune, 0.25 pretrained, -0.15
    linear probe, -0.4 kNN probe, -0.5 + classifier and feature terms for classical pipelines.
    ``hunger`` is 0.25 + 0.6 kappa + 0.35 [ViT] for scratch, 0.1 + 0.35 kappa + 0.2 [ViT] for
    fine-tune, 0.05 + 0.2 kappa for pretrained, -0.15 linear probe, -0.25 kNN probe, -0.35
    classical (-0.2 on deep features). So on 300 training images frozen self-supervised features
    and classical pipelines are competitive and a scratch ViT is hopeless, while on 100,000 images
    scratch training of big CNNs and ViTs catches up with fine-tuning. In a 100,000-record corpus
    the best model of a task (tasks with >= 5 models) is trained from scratch in 2% of tasks below
    1,000 training images and 23% above 10,000, a ``pretrained`` model in 26% and 11%, a linear
    probe in 8% and 0.2%.
    A task has an easiness ``a ~ N(family offset + 0.8, 0.7) - 0.15
    (log2 n_classes - 1) - 0.6 [ordinal] - 0.7 [multi-label]``; with ``L = a + q`` and chance
    level ``c`` (0.5 binary and multi-label, 1/n_classes otherwise):
    ``accuracy = c + (1 - c) sigmoid(L)``, ``auc = 0.5 + 0.5 sigmoid(L + 0.9)`` (so AUC >= accuracy
    before noise), each + N(0, 0.006); precision and recall scatter around accuracy, ``f1`` is
    their harmonic mean, balanced accuracy sits slightly below accuracy. All metrics are clipped to
    [0, 1] and rounded to 3 decimals.

Missingness (fraction of records; like a literature table, decided per paper or per task)
    ====================  ======  ===========================================================
    column                rate    unit of decision
    ====================  ======  ===========================================================
    domain                0       -
    modality              0.10    task
    task_type             0.05    task
    n_samples             0.05    task
    n_train               0.15    task
    n_test                0.20    task
    n_val                 0.50    task
    k_fold                0.40    task (reported: 0 for 65%, else 3, 4, 5 or 10)
    width, height         0.15    task (together)
    channels              0.30    task
    n_classes             0.02    task
    augmentation          0.50    paper (reported: True for 70%)
    accuracy              0.10    paper (a paper without accuracy always reports AUC)
    auc                   0.50    paper
    precision/recall/f1   0.60    paper (reported by 42%) then 5% of cells per record
    balanced_accuracy     0.85    paper
    ====================  ======  ===========================================================

    Missing means "not reported": the latent model always uses the true value. Per-paper decisions
    make the rates noisier than per-record ones would.
    Counts are consistent: ``n_train + n_val + n_test <= n_samples`` (15% of tasks exclude up to 5%
    of images), with k-fold cross-validation ``n_test = n_samples / k`` and ``n_val = 0``.

Determinism and scale
    Paper ``p`` draws from ``np.random.default_rng([seed, 1, p])`` and the model x domain effects
    from ``default_rng([seed, 0])``, so the output is a pure function of (seed, n_records): it does
    not depend on ``chunk_size``, and a longer corpus starts with the shorter one. Time is linear
    in ``n_records`` and memory constant: rows stream to the file one chunk at a time (at most one
    chunk plus one paper of rows in memory). The catalogue stays at 511 models whatever the size;
    papers grow as about one per 10 records and tasks as about one per 6 (5,000 records: 519
    papers, 896 tasks, 404 distinct models; 1,000,000 records: 99,906 papers, 167,013 tasks, all
    511 models). Time and memory: README, Benchmarks.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.errors import ConfigError

GENERATOR_VERSION = "1"
DEFAULT_N_RECORDS = C.DEFAULT_GENERATED_RECORDS
DEFAULT_SEED = 0
DEFAULT_CHUNK_SIZE = C.DEFAULT_GENERATOR_CHUNK
DEFAULT_OUT = "medicalrec_synthetic_bench.csv"
SYNTHETIC_PREFIX = "SYNTHETIC-"

# No ``dataset`` column: every generated task is its own image collection, so the task protocol
# groups generated data by task.
OUTPUT_COLUMNS = tuple(c for c in C.CANONICAL_COLUMNS if c != C.DATASET) + (C.ORIGIN,)
_TEXT_OUT = (C.REF, C.TASK, C.DOMAIN, C.MODALITY, C.TASK_TYPE, C.MODEL, C.ORIGIN)

# Documented missingness (see the module docstring); tests compare the output with these.
MISSING_RATES: dict[str, float] = {
    C.DOMAIN: 0.0, C.MODALITY: 0.10, C.TASK_TYPE: 0.05, C.N_SAMPLES: 0.05, C.N_TRAIN: 0.15,
    C.N_TEST: 0.20, C.N_VAL: 0.50, C.K_FOLD: 0.40, C.WIDTH: 0.15, C.HEIGHT: 0.15, C.CHANNELS: 0.30,
    C.N_CLASSES: 0.02, C.AUGMENTATION: 0.50, C.ACCURACY: 0.10, C.AUC: 0.50, C.PRECISION: 0.60,
    C.RECALL: 0.60, C.F1: 0.60, C.BALANCED_ACCURACY: 0.85,
}
_P_ACCURACY = 1.0 - MISSING_RATES[C.ACCURACY]
_P_AUC_GIVEN_ACCURACY = 1.0 - MISSING_RATES[C.AUC] / _P_ACCURACY
_P_PRF_PAPER = 0.42
_P_PRF_CELL = 0.95


# --------------------------------------------------------------------------------------------
# Task families
# --------------------------------------------------------------------------------------------

_SIZES_GENERIC = (((224, 224), .5), ((256, 256), .1), ((512, 512), .08), ((128, 128), .1),
                  ((299, 299), .07), ((64, 64), .07), ((28, 28), .05), ((384, 384), .03))
_SIZES_SKIN = (((224, 224), .45), ((256, 256), .1), ((299, 299), .1), ((384, 384), .05),
               ((600, 450), .1), ((28, 28), .05), ((64, 64), .05), ((128, 128), .1))
_SIZES_HISTO = (((96, 96), .2), ((224, 224), .45), ((512, 512), .1), ((150, 150), .1),
                ((28, 28), .05), ((700, 460), .05), ((2048, 1536), .05))
_SIZES_XRAY = (((224, 224), .5), ((256, 256), .1), ((512, 512), .1), ((1024, 1024), .05),
               ((128, 128), .1), ((299, 299), .05), ((28, 28), .05), ((64, 64), .05))
_SIZES_FUNDUS = (((512, 512), .3), ((224, 224), .35), ((299, 299), .1), ((1024, 1024), .1),
                 ((28, 28), .05), ((384, 384), .1))
_SIZES_MRI = (((224, 224), .4), ((256, 256), .2), ((128, 128), .15), ((512, 512), .1),
              ((240, 240), .1), ((64, 64), .05))


@dataclass(frozen=True)
class _Modality:
    name: str
    weight: float
    colour: bool
    histo: bool = False
    radiology: bool = False
    sizes: tuple = _SIZES_GENERIC


@dataclass(frozen=True)
class _Family:
    domain: str
    weight: float
    short: str
    modalities: tuple[_Modality, ...]
    task_types: tuple[tuple[str, float, tuple[int, ...]], ...]  # (type, weight, class counts)
    median_samples: float
    easiness: float


_DERMATOSCOPE = _Modality("Dermatoscope", .75, True, sizes=_SIZES_SKIN)
_PHOTO = _Modality("Clinical photograph", 1.0, True, sizes=_SIZES_SKIN)
_MRI = _Modality("MRI", 1.0, False, radiology=True, sizes=_SIZES_MRI)
_CT = _Modality("CT", 1.0, False, radiology=True, sizes=_SIZES_MRI)
_HISTO = _Modality("Histopathology", 1.0, True, histo=True, sizes=_SIZES_HISTO)
_CXR = _Modality("Chest X-Ray", 1.0, False, radiology=True, sizes=_SIZES_XRAY)
_CHEST_CT = _Modality("Chest CT", 1.0, False, radiology=True, sizes=_SIZES_MRI)
_FUNDUS = _Modality("Fundus Camera", 1.0, True, sizes=_SIZES_FUNDUS)


def _w(modality: _Modality, weight: float) -> _Modality:
    return _Modality(modality.name, weight, modality.colour, modality.histo, modality.radiology,
                     modality.sizes)


FAMILIES: tuple[_Family, ...] = (
    _Family("Skin cancer", .13, "Dermoscopy", (_DERMATOSCOPE, _w(_PHOTO, .25)),
            (("binary", .45, (2,)), ("multi-class", .55, (3, 4, 7, 8, 9))), 4000, 0.1),
    _Family("Tumour", .12, "Brain tumour", (_w(_MRI, .55), _w(_CT, .15), _w(_HISTO, .3)),
            (("binary", .35, (2,)), ("multi-class", .65, (3, 4))), 3000, 0.5),
    _Family("Wound", .07, "Wound image", (_w(_PHOTO, 1.0),),
            (("binary", .4, (2,)), ("multi-class", .6, (3, 4, 5, 6))), 900, -0.1),
    _Family("Breast cancer", .12, "Breast imaging",
            (_Modality("Mammography", .35, False, radiology=True, sizes=_SIZES_XRAY),
             _Modality("Breast Ultrasound", .3, False, sizes=_SIZES_GENERIC), _w(_HISTO, .35)),
            (("binary", .6, (2,)), ("multi-class", .4, (3, 4, 8))), 2000, 0.0),
    _Family("MRI", .10, "Brain MRI", (_w(_MRI, 1.0),),
            (("binary", .3, (2,)), ("multi-class", .4, (3, 4)), ("ordinal", .3, (4,))), 3000, 0.2),
    _Family("Colorectal cancer", .07, "Colorectal",
            (_Modality("Colon Pathology", .6, True, histo=True, sizes=_SIZES_HISTO),
             _Modality("Endoscopy", .4, True, sizes=_SIZES_GENERIC)),
            (("binary", .3, (2,)), ("multi-class", .7, (8, 9))), 15000, 0.8),
    _Family("Retinal disease", .06, "Retina",
            (_Modality("Retinal OCT", .6, False, sizes=_SIZES_GENERIC), _w(_FUNDUS, .4)),
            (("multi-class", 1.0, (4,)),), 20000, 0.8),
    _Family("Diabetic retinopathy", .06, "Fundus", (_w(_FUNDUS, 1.0),),
            (("ordinal", .8, (5,)), ("binary", .2, (2,))), 5000, -0.8),
    _Family("Thoracic disease", .07, "Chest radiograph", (_w(_CXR, 1.0),),
            (("multi-label", .6, (14, 15)), ("multi-class", .4, (3, 4))), 30000, -0.6),
    _Family("Pneumonia", .07, "Pneumonia", (_w(_CXR, .85), _w(_CHEST_CT, .15)),
            (("binary", .7, (2,)), ("multi-class", .3, (3,))), 5000, 0.7),
    _Family("COVID-19", .05, "COVID-19", (_w(_CXR, .7), _w(_CHEST_CT, .3)),
            (("binary", .6, (2,)), ("multi-class", .4, (3,))), 4000, 0.9),
    _Family("Organ", .04, "Abdominal organ",
            (_Modality("Abdominal CT", 1.0, False, radiology=True, sizes=_SIZES_MRI),),
            (("multi-class", 1.0, (8, 11)),), 20000, 1.0),
    _Family("Lymph node metastasis", .04, "Lymph node patch",
            (_Modality("Histopathology (lymph node)", 1.0, True, histo=True, sizes=_SIZES_HISTO),),
            (("binary", 1.0, (2,)),), 60000, 0.6),
)


# --------------------------------------------------------------------------------------------
# Model catalogue
# --------------------------------------------------------------------------------------------

# Scheme: (base quality, popularity)
_SCHEMES: dict[str, tuple[float, float]] = {
    "scratch": (-0.1, 0.5),
    "fine-tune": (0.35, 1.0),
    "pretrained": (0.25, 0.7),
    "linear probe": (-0.15, 0.25),
    "kNN probe": (-0.4, 0.08),
}
_KIND_SCHEMES: dict[str, tuple[str, ...]] = {
    "custom": ("scratch",),
    "cnn": ("scratch", "fine-tune", "pretrained", "linear probe", "kNN probe"),
    "vit": ("scratch", "fine-tune", "pretrained", "linear probe", "kNN probe"),
    "ssl": ("fine-tune", "linear probe", "kNN probe"),
    "histo_fm": ("fine-tune", "linear probe", "kNN probe"),
    "medrad": ("fine-tune", "pretrained", "linear probe"),
    "ensemble": ("fine-tune",),
}

# (name, kind, capacity kappa, popularity, adjustment, is transformer)
_ARCHITECTURES: tuple[tuple[str, str, float, float, float, bool], ...] = (
    ("LeNet-5", "custom", .02, .3, -.2, False),
    ("Custom 3-layer CNN", "custom", .05, 1.5, 0, False),
    ("Custom 5-layer CNN", "custom", .1, 1.2, 0, False),
    ("Custom 8-layer CNN", "custom", .18, .5, 0, False),
    ("CapsNet", "custom", .1, .2, -.1, False),
    ("AlexNet", "cnn", .3, 1.0, -.2, False),
    ("VGG-11", "cnn", .4, .3, -.05, False),
    ("VGG-13", "cnn", .42, .2, -.05, False),
    ("VGG16", "cnn", .45, 2.5, -.05, False),
    ("VGG19", "cnn", .48, 1.2, -.05, False),
    ("GoogLeNet", "cnn", .3, .5, 0, False),
    ("Inception-v3", "cnn", .5, 1.2, 0, False),
    ("Inception-v4", "cnn", .55, .3, 0, False),
    ("InceptionResNet-v2", "cnn", .6, .6, .05, False),
    ("Xception", "cnn", .5, .8, .05, False),
    ("ResNet-18", "cnn", .35, 1.8, 0, False),
    ("ResNet-34", "cnn", .4, .7, 0, False),
    ("ResNet-50", "cnn", .55, 3.0, 0, False),
    ("ResNet-101", "cnn", .65, 1.0, 0, False),
    ("ResNet-152", "cnn", .72, .6, 0, False),
    ("ResNeXt-50 (32x4d)", "cnn", .58, .3, .05, False),
    ("Wide ResNet-50-2", "cnn", .62, .2, .05, False),
    ("SE-ResNet-50", "cnn", .57, .2, .05, False),
    ("DenseNet-121", "cnn", .5, 2.0, .05, False),
    ("DenseNet-169", "cnn", .55, .8, .05, False),
    ("DenseNet-201", "cnn", .6, .9, .05, False),
    ("MobileNet-v1", "cnn", .15, .3, -.05, False),
    ("MobileNet-v2", "cnn", .2, 1.5, 0, False),
    ("MobileNetV3-Small", "cnn", .1, .3, 0, False),
    ("MobileNetV3-Large", "cnn", .22, .5, 0, False),
    ("ShuffleNetV2-x0.5", "cnn", .08, .15, 0, False),
    ("ShuffleNetV2-x1.0", "cnn", .12, .3, 0, False),
    ("SqueezeNet-1.1", "cnn", .08, .3, -.1, False),
    ("MnasNet1.0", "cnn", .18, .15, 0, False),
    ("GhostNet", "cnn", .15, .1, 0, False),
    ("EfficientNet-B0", "cnn", .3, 1.6, .1, False),
    ("EfficientNet-B1", "cnn", .33, .4, .1, False),
    ("EfficientNet-B2", "cnn", .36, .4, .1, False),
    ("EfficientNet-B3", "cnn", .42, .7, .1, False),
    ("EfficientNet-B4", "cnn", .5, .6, .1, False),
    ("EfficientNet-B5", "cnn", .58, .3, .1, False),
    ("EfficientNet-B6", "cnn", .65, .2, .1, False),
    ("EfficientNet-B7", "cnn", .72, .35, .1, False),
    ("EfficientNetV2-S", "cnn", .5, .4, .12, False),
    ("EfficientNetV2-M", "cnn", .62, .2, .12, False),
    ("EfficientNetV2-L", "cnn", .75, .1, .12, False),
    ("RegNetY-1.6GF", "cnn", .35, .1, .05, False),
    ("RegNetY-16GF", "cnn", .65, .1, .05, False),
    ("NASNet-Mobile", "cnn", .2, .2, 0, False),
    ("NASNet-Large", "cnn", .75, .15, 0, False),
    ("ConvNeXt-Tiny", "cnn", .55, .5, .15, False),
    ("ConvNeXt-Small", "cnn", .65, .2, .15, False),
    ("ConvNeXt-Base", "cnn", .75, .3, .15, False),
    ("ConvNeXt-Large", "cnn", .85, .1, .15, False),
    ("ViT-Ti/16", "vit", .3, .15, 0, True),
    ("ViT-S/16", "vit", .45, .3, 0, True),
    ("ViT-B/16", "vit", .7, 1.0, 0, True),
    ("ViT-B/32", "vit", .65, .3, -.05, True),
    ("ViT-L/16", "vit", .9, .25, 0, True),
    ("ViT-H/14", "vit", .98, .05, 0, True),
    ("DeiT-Ti", "vit", .3, .15, .05, True),
    ("DeiT-S", "vit", .45, .25, .05, True),
    ("DeiT-B", "vit", .7, .25, .05, True),
    ("Swin-T", "vit", .55, .5, .1, True),
    ("Swin-S", "vit", .65, .2, .1, True),
    ("Swin-B", "vit", .75, .35, .1, True),
    ("Swin-L", "vit", .88, .08, .1, True),
    ("BEiT-B/16", "vit", .7, .1, .05, True),
    ("CaiT-S24", "vit", .6, .05, .05, True),
    ("PVT-v2-B2", "vit", .5, .05, .05, True),
    ("MaxViT-T", "vit", .55, .08, .1, True),
    ("CoAtNet-0", "vit", .5, .05, .1, True),
    ("CrossViT-S", "vit", .5, .05, .05, True),
    ("MedViT-S", "vit", .45, .1, .05, True),
    ("DINO ViT-B/16", "ssl", .7, .15, 0, True),
    ("DINOv2 ViT-S/14", "ssl", .5, .2, .05, True),
    ("DINOv2 ViT-B/14", "ssl", .75, .2, .05, True),
    ("DINOv2 ViT-L/14", "ssl", .9, .1, .05, True),
    ("CLIP ViT-B/16", "ssl", .7, .15, 0, True),
    ("EVA-02 ViT-B/16", "ssl", .7, .05, .05, True),
    ("SAM ViT-B/16", "ssl", .7, .05, -.15, True),
    ("MAE ViT-B/16", "ssl", .7, .05, 0, True),
    ("SimCLR ResNet-50", "ssl", .55, .08, -.05, False),
    ("BiomedCLIP", "ssl", .7, .1, .05, True),
    ("CTransPath", "histo_fm", .5, .1, 0, True),
    ("UNI", "histo_fm", .9, .08, .1, True),
    ("Phikon", "histo_fm", .7, .06, .05, True),
    ("Virchow", "histo_fm", .98, .03, .1, True),
    ("Prov-GigaPath", "histo_fm", .98, .03, .1, True),
    ("RadImageNet ResNet-50", "medrad", .55, .1, 0, False),
    ("RadImageNet DenseNet-121", "medrad", .5, .05, 0, False),
    ("RadImageNet InceptionResNet-v2", "medrad", .6, .03, 0, False),
    ("Ensemble of ResNet-50 + DenseNet-121", "ensemble", .7, .2, .2, False),
    ("Ensemble of VGG16 + Inception-v3 + Xception", "ensemble", .7, .1, .15, False),
    ("Ensemble of EfficientNet-B0..B4", "ensemble", .65, .08, .2, False),
    ("Ensemble of ViT-B/16 + ResNet-50", "ensemble", .75, .05, .2, False),
)

# (name, popularity, base, hunger, multi-label penalty applies, uses deep features)
_CLASSIFIERS = (("SVM", 1.5), ("Random Forest", 1.0), ("kNN", 0.6), ("Logistic Regression", 0.4),
                ("XGBoost", 0.5), ("AdaBoost", 0.2), ("Naive Bayes", 0.15), ("MLP", 0.3),
                ("Decision Tree", 0.2), ("LightGBM", 0.15))
_CLASSIFIER_BASE = {"SVM": .1, "Random Forest": .05, "kNN": -.1, "Logistic Regression": -.05,
                    "XGBoost": .1, "AdaBoost": -.05, "Naive Bayes": -.3, "MLP": 0,
                    "Decision Tree": -.3, "LightGBM": .1}
# feature: (popularity, base, deep)
_FEATURES = {"HOG": (1.0, 0, False), "LBP": (.7, 0, False), "GLCM": (.8, 0, False),
             "colour histogram": (.4, -.1, False), "SIFT bag-of-words": (.3, -.05, False),
             "Gabor": (.25, -.05, False), "wavelet": (.25, -.05, False),
             "raw pixel": (.3, -.4, False), "ResNet-50": (.5, .4, True), "VGG16": (.4, .35, True)}
# AutoML tools: (name, popularity, base, hunger, kappa, classical, natural-image weights)
_AUTOML = (("auto-sklearn", .3, -.3, -.1, .2, True, False), ("AutoKeras", .3, .1, .3, .3, False, False),
           ("Google AutoML Vision", .3, .4, .1, .5, False, True))

ZIPF_EXPONENT = 1.07
HUNGER_WEIGHT = 1.2
SELECTION_AFFINITY = 0.6
BASE_EASINESS = 0.8


@dataclass(frozen=True)
class ModelCatalogue:
    """Every candidate name with the attributes the latent quality uses (arrays aligned by index)."""

    names: np.ndarray
    prior: np.ndarray          # Zipf weight by popularity rank, sums to 1
    base: np.ndarray
    hunger: np.ndarray
    kappa: np.ndarray
    cnn: np.ndarray            # 1.0 / 0.0 flags from here on
    vit: np.ndarray
    natural: np.ndarray        # uses natural-image (ImageNet, CLIP, ...) pretrained weights
    medrad: np.ndarray
    histo_fm: np.ndarray
    ssl_probe: np.ndarray
    classical: np.ndarray
    colour_feature: np.ndarray
    log_prior: np.ndarray
    deep_cnn_capacity: np.ndarray  # kappa - 0.5 for CNNs, 0 otherwise: the resolution term's weight

    def __len__(self) -> int:
        return len(self.names)


def _hunger(scheme: str, kappa: float, vit: bool) -> float:
    return {"scratch": 0.25 + 0.6 * kappa + 0.35 * vit, "fine-tune": 0.1 + 0.35 * kappa + 0.2 * vit,
            "pretrained": 0.05 + 0.2 * kappa, "linear probe": -0.15, "kNN probe": -0.25}[scheme]


@lru_cache(maxsize=1)
def model_catalogue() -> ModelCatalogue:
    """The fixed list of model names and their latent attributes (same for every seed)."""
    rows: list[dict] = []
    for name, kind, kappa, popularity, adjustment, vit in _ARCHITECTURES:
        for scheme in _KIND_SCHEMES[kind]:
            base_scheme, scheme_popularity = _SCHEMES[scheme]
            if kind == "custom":
                base_scheme, scheme_popularity = 0.0, 1.0
            probe = scheme in ("linear probe", "kNN probe")
            rows.append(dict(
                name=f"{name} ({scheme})", popularity=popularity * scheme_popularity,
                base=0.3 * kappa + adjustment + base_scheme, hunger=_hunger(scheme, kappa, vit),
                kappa=kappa, cnn=float(not vit), vit=float(vit),
                natural=float(scheme != "scratch" and kind in ("cnn", "vit", "ssl", "ensemble")),
                medrad=float(kind == "medrad"), histo_fm=float(kind == "histo_fm"),
                ssl_probe=float(kind == "ssl" and probe), classical=0.0, colour_feature=0.0,
            ))
    for classifier, classifier_popularity in _CLASSIFIERS:
        for feature, (feature_popularity, feature_base, deep) in _FEATURES.items():
            rows.append(dict(
                name=f"{classifier} on {feature} features",
                popularity=0.8 * classifier_popularity * feature_popularity,
                base=-0.5 + _CLASSIFIER_BASE[classifier] + feature_base,
                hunger=-0.2 if deep else -0.35, kappa=0.05, cnn=0.0, vit=0.0, natural=float(deep),
                medrad=0.0, histo_fm=0.0, ssl_probe=0.0, classical=1.0,
                colour_feature=float(feature == "colour histogram"),
            ))
    for name, popularity, base, hunger, kappa, classical, natural in _AUTOML:
        rows.append(dict(name=name, popularity=popularity, base=base, hunger=hunger, kappa=kappa,
                         cnn=float(not classical), vit=0.0, natural=float(natural), medrad=0.0,
                         histo_fm=0.0, ssl_probe=0.0, classical=float(classical), colour_feature=0.0))
    table = pd.DataFrame(rows)
    order = np.lexsort((table["name"].to_numpy(dtype=object), -table["popularity"].to_numpy()))
    rank = np.empty(len(table), dtype=float)
    rank[order] = np.arange(1, len(table) + 1)
    prior = 1.0 / rank**ZIPF_EXPONENT
    prior = prior / prior.sum()
    column = {c: table[c].to_numpy(dtype=float) for c in table.columns if c not in ("name", "popularity")}
    deep_cnn_capacity = (column["kappa"] - 0.5) * column["cnn"] * (1.0 - column["classical"])
    return ModelCatalogue(names=table["name"].to_numpy(dtype=object), prior=prior, log_prior=np.log(prior),
                          deep_cnn_capacity=deep_cnn_capacity, **column)


# --------------------------------------------------------------------------------------------
# One paper
# --------------------------------------------------------------------------------------------

# Task-level output columns, in the order of a task tuple (then augmentation and ref, per paper).
_TASK_COLUMNS = (C.TASK, C.DOMAIN, C.MODALITY, C.TASK_TYPE, C.N_SAMPLES, C.N_TRAIN, C.N_TEST, C.N_VAL,
                 C.K_FOLD, C.WIDTH, C.HEIGHT, C.CHANNELS, C.N_CLASSES, C.AUGMENTATION, C.REF)
_RECORD_METRICS = (C.ACCURACY, C.PRECISION, C.RECALL, C.F1, C.AUC, C.BALANCED_ACCURACY)
_NAN = float("nan")


def _cumulative(weights) -> list[float]:
    return list(accumulate(float(w) for w in weights))


def _draw(u: float, cumulative: list[float]) -> int:
    """Index drawn with the given cumulative weights from one uniform number (fast, no numpy)."""
    return min(bisect_right(cumulative, u * cumulative[-1]), len(cumulative) - 1)


_FAMILY_CUMULATIVE = _cumulative(f.weight for f in FAMILIES)
_MODALITY_CUMULATIVE = [_cumulative(m.weight for m in f.modalities) for f in FAMILIES]
_TYPE_CUMULATIVE = [_cumulative(t[1] for t in f.task_types) for f in FAMILIES]
_SIZE_CUMULATIVE = {m.sizes: _cumulative(w for _, w in m.sizes) for f in FAMILIES for m in f.modalities}
_K_FOLDS, _K_FOLD_CUMULATIVE = (3, 4, 5, 10), _cumulative((.1, .1, .5, .3))
_TASKS_PER_PAPER_CUMULATIVE = _cumulative((.62, .2, .1, .05, .03))


@dataclass
class _Task:
    family_index: int
    reported: tuple  # the task's values in ``_TASK_COLUMNS[:13]`` order; None / NaN = not reported
    n_train: float  # true values, for the latent model
    resolution: float
    grey: bool
    modality: _Modality
    task_type: str
    n_classes: int
    easiness: float


def _missing(u: float, column: str, value):
    return (None if isinstance(value, str) else _NAN) if u < MISSING_RATES[column] else value


def _make_task(rng: np.random.Generator, family_index: int, label: str) -> _Task:
    family = FAMILIES[family_index]
    u = rng.random(24).tolist()
    z = rng.standard_normal(2).tolist()
    modality = family.modalities[_draw(u[0], _MODALITY_CUMULATIVE[family_index])]
    task_type, _, class_counts = family.task_types[_draw(u[1], _TYPE_CUMULATIVE[family_index])]
    n_classes = int(class_counts[min(int(u[2] * len(class_counts)), len(class_counts) - 1)])
    n_samples = int(min(max(round(family.median_samples * math.exp(z[0])), 50), 300_000))
    width, height = modality.sizes[_draw(u[3], _SIZE_CUMULATIVE[modality.sizes])][0]
    channels = 3 if modality.colour or u[4] < 0.35 else 1

    k_fold = 0 if u[5] < 0.65 else _K_FOLDS[_draw(u[6], _K_FOLD_CUMULATIVE)]
    used = n_samples if u[7] >= 0.15 else max(round(n_samples * (1.0 - 0.05 * u[8])), 3)
    if k_fold:
        n_test, n_val = max(used // k_fold, 1), 0
    else:
        n_test = max(round(used * (0.1 + 0.2 * u[9])), 1)
        n_val = 0 if u[10] < 0.4 else round(used * (0.05 + 0.15 * u[11]))
    n_train = used - n_test - n_val  # >= half of ``used`` because n_samples >= 50

    easiness = (family.easiness + BASE_EASINESS + 0.7 * z[1] - 0.15 * (math.log2(n_classes) - 1)
                - 0.6 * (task_type == "ordinal") - 0.7 * (task_type == "multi-label"))
    reported = (
        label, family.domain,
        _missing(u[12], C.MODALITY, modality.name), _missing(u[13], C.TASK_TYPE, task_type),
        _missing(u[14], C.N_SAMPLES, n_samples), _missing(u[15], C.N_TRAIN, n_train),
        _missing(u[16], C.N_TEST, n_test), _missing(u[17], C.N_VAL, n_val),
        _missing(u[18], C.K_FOLD, k_fold),
        _missing(u[19], C.WIDTH, width), _missing(u[19], C.HEIGHT, height),
        _missing(u[20], C.CHANNELS, channels), _missing(u[21], C.N_CLASSES, n_classes),
    )
    return _Task(family_index, reported, float(n_train), float(min(width, height)), channels == 1,
                 modality, task_type, n_classes, easiness)


def _quality(catalogue: ModelCatalogue, task: _Task, effects: np.ndarray) -> np.ndarray:
    """Deterministic part of the latent quality of every catalogue model on ``task``."""
    ds = min(max(math.log10(task.n_train) - 3.5, -2.0), 2.0)
    rs = min(max(math.log2(task.resolution / 128.0), -2.5), 3.0)
    c = catalogue
    q = (c.base + HUNGER_WEIGHT * ds * c.hunger
         + 0.35 * rs * c.deep_cnn_capacity
         - 0.6 * max(0.0, -rs) * c.vit
         + effects[:, task.family_index])
    if task.grey:
        q = q - 0.35 * c.natural - 0.5 * c.colour_feature
    else:
        q = q + 0.35 * c.colour_feature
    if task.modality.radiology:
        q = q + 0.4 * c.medrad
    q = q + (0.9 if task.modality.histo else -0.4) * c.histo_fm + 0.4 * c.ssl_probe
    q = q - 0.12 * math.log2(task.n_classes) * c.classical
    if task.task_type == "multi-label":
        q = q + 0.25 * c.kappa - 0.4 * c.classical
    return q


def _n_models(u: float, v: float, rng: np.random.Generator) -> int:
    if u < 0.08:
        return 1
    if u < 0.14:
        return 15 + min(int(v * 31), 30)
    return int(min(2 + rng.poisson(4), 15))


@dataclass
class _PaperRecords:
    """One paper: its task tuples (``_TASK_COLUMNS`` order) and its records, which point into them."""

    tasks: list[tuple]
    task_index: np.ndarray  # per record, index into ``tasks``
    model_index: np.ndarray  # per record, index into the catalogue
    metrics: np.ndarray  # float [len(_RECORD_METRICS), n_records], NaN = not reported


def _paper(seed: int, index: int, catalogue: ModelCatalogue, effects: np.ndarray) -> _PaperRecords:
    """All records of paper ``index``; its randomness comes from (seed, index) only."""
    rng = np.random.default_rng([seed, 1, index])
    u = rng.random(16).tolist()
    n_tasks = 1 + _draw(u[0], _TASKS_PER_PAPER_CUMULATIVE)
    first_family = _draw(u[1], _FAMILY_CUMULATIVE)
    tasks = []
    for t in range(n_tasks):
        family = first_family if t == 0 or u[2 + t] < 0.7 else _draw(u[7 + t], _FAMILY_CUMULATIVE)
        tasks.append(_make_task(rng, family, f"{FAMILIES[family].short} dataset {chr(ord('A') + t)}"))

    m = _n_models(u[12], u[13], rng)
    q_first = _quality(catalogue, tasks[0], effects)
    keys = catalogue.log_prior + SELECTION_AFFINITY * q_first + rng.gumbel(size=len(catalogue))
    chosen = np.argpartition(-keys, m - 1)[:m]
    chosen = chosen[np.argsort(-keys[chosen], kind="stable")]
    quality = np.stack([q_first[chosen]] + [_quality(catalogue, t, effects)[chosen] for t in tasks[1:]])

    flags = rng.random(5).tolist()
    augmentation = _NAN if flags[0] < MISSING_RATES[C.AUGMENTATION] else float(flags[1] < 0.7)
    has_accuracy = flags[2] < _P_ACCURACY
    has_auc = (not has_accuracy) or flags[3] < _P_AUC_GIVEN_ACCURACY
    has_prf = flags[4] < _P_PRF_PAPER
    has_bacc = rng.random() < 1.0 - MISSING_RATES[C.BALANCED_ACCURACY]

    paper_effect = 0.2 * rng.standard_normal(m)
    keep = rng.random((n_tasks, m)) >= 0.15
    keep[~keep.any(axis=1), 0] = True  # every task keeps at least its first model
    task_index = np.repeat(np.arange(n_tasks), keep.sum(axis=1))
    model_index = np.broadcast_to(chosen, keep.shape)[keep]
    n = len(model_index)
    easiness = np.array([t.easiness for t in tasks])[task_index]
    chance = np.array([0.5 if t.task_type in ("binary", "multi-label") else 1.0 / t.n_classes
                       for t in tasks])[task_index]
    noise = rng.standard_normal((6, n))
    cells = rng.random((3, n))
    latent = easiness + quality[keep] + np.broadcast_to(paper_effect, keep.shape)[keep] + 0.15 * noise[0]

    accuracy = _unit(chance + (1 - chance) * _sigmoid(latent) + 0.006 * noise[1])
    auc = _unit(0.5 + 0.5 * _sigmoid(latent + 0.9) + 0.006 * noise[2])
    precision = _unit(accuracy - 0.005 + 0.02 * noise[3])
    recall = _unit(accuracy - 0.015 + 0.03 * noise[4])
    total = precision + recall
    f1 = 2 * precision * recall / np.where(total > 0, total, 1.0)
    balanced = _unit(accuracy - np.abs(0.01 + 0.03 * noise[5]))
    metrics = np.round(np.stack([accuracy, precision, recall, f1, auc, balanced]), 3)
    reported = np.array([has_accuracy, has_prf, has_prf, has_prf, has_auc, has_bacc])[:, None]
    reported = np.broadcast_to(reported, metrics.shape).copy()
    reported[1:4] &= cells < _P_PRF_CELL
    metrics[~reported] = np.nan

    ref = f"{SYNTHETIC_PREFIX}{index + 1:06d} generated study (seed {seed})"
    return _PaperRecords([t.reported + (augmentation, ref) for t in tasks], task_index, model_index, metrics)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _unit(x: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(x, 0.0), 1.0)


def model_domain_effects(seed: int, catalogue: ModelCatalogue | None = None) -> np.ndarray:
    """``[n_models, n_families]`` fixed per-seed affinities u(model, domain) ~ N(0, 0.15)."""
    catalogue = catalogue or model_catalogue()
    return np.random.default_rng([seed, 0]).normal(0.0, 0.15, size=(len(catalogue), len(FAMILIES)))


# --------------------------------------------------------------------------------------------
# Streaming
# --------------------------------------------------------------------------------------------

class _Pending:
    """Records generated but not yet emitted, with the task tuples they point to.

    Holds at most one chunk plus one paper of rows, so memory does not grow with ``n_records``.
    """

    def __init__(self) -> None:
        self.tasks: list[tuple] = []
        self.task_index: list[np.ndarray] = []
        self.model_index: list[np.ndarray] = []
        self.metrics: list[np.ndarray] = []
        self.size = 0

    def add(self, paper: _PaperRecords, take: int) -> None:
        self.task_index.append(paper.task_index[:take] + len(self.tasks))
        self.tasks.extend(paper.tasks)
        self.model_index.append(paper.model_index[:take])
        self.metrics.append(paper.metrics[:, :take])
        self.size += take

    def pop(self, size: int, catalogue: ModelCatalogue, origin: str, start: int) -> pd.DataFrame:
        task_index = np.concatenate(self.task_index)
        model_index = np.concatenate(self.model_index)
        metrics = np.concatenate(self.metrics, axis=1)
        frame = _frame(self.tasks, task_index[:size], catalogue.names[model_index[:size]],
                       metrics[:, :size], origin, start)
        rest = task_index[size:]
        first = int(rest.min()) if len(rest) else len(self.tasks)
        self.tasks = self.tasks[first:]
        self.task_index = [rest - first]
        self.model_index = [model_index[size:]]
        self.metrics = [metrics[:, size:]]
        self.size -= size
        return frame


def _frame(tasks: list[tuple], task_index: np.ndarray, models: np.ndarray, metrics: np.ndarray,
           origin: str, start: int) -> pd.DataFrame:
    """Typed DataFrame in output column order: text as str, counts as Int64, flags as boolean."""
    task_columns = list(zip(*tasks))
    data: dict[str, object] = {}
    for position, column in enumerate(_TASK_COLUMNS):
        values = task_columns[position]
        if column in _TEXT_OUT:
            data[column] = pd.array(np.array(values, dtype=object)[task_index], dtype="str")
            continue
        floats = np.array(values, dtype=float)[task_index]
        missing = np.isnan(floats)
        if column == C.AUGMENTATION:
            data[column] = pd.arrays.BooleanArray(floats == 1.0, missing)
        else:
            data[column] = pd.arrays.IntegerArray(np.where(missing, 0, floats).astype(np.int64), missing)
    for position, column in enumerate(_RECORD_METRICS):
        data[column] = metrics[position]
    data[C.MODEL] = pd.array(models, dtype="str")
    data[C.ORIGIN] = pd.array(np.full(len(models), origin, dtype=object), dtype="str")
    return pd.DataFrame({c: data[c] for c in OUTPUT_COLUMNS}, index=pd.RangeIndex(start, start + len(models)))


def _validate(n_records: int, seed: int, chunk_size: int) -> None:
    if isinstance(n_records, bool) or not isinstance(n_records, (int, np.integer)) or n_records < 1:
        raise ConfigError(f"n_records must be a positive integer, got {n_records!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")


def iter_records(n_records: int = DEFAULT_N_RECORDS, seed: int = DEFAULT_SEED,
                 chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[pd.DataFrame]:
    """Yield the corpus as DataFrames of ``chunk_size`` rows (the last may be shorter).

    Columns: ``CANONICAL_COLUMNS`` + ``origin``; the index counts rows from 0 across chunks.
    The concatenation is the same for every ``chunk_size``.
    """
    _validate(n_records, seed, chunk_size)
    catalogue = model_catalogue()
    effects = model_domain_effects(seed, catalogue)
    origin = f"synthetic: medicalrec.bench.generator v{GENERATOR_VERSION} seed={seed}"
    pending = _Pending()
    emitted = produced = paper = 0
    while produced < n_records:
        records = _paper(seed, paper, catalogue, effects)
        paper += 1
        take = min(len(records.model_index), n_records - produced)
        pending.add(records, take)
        produced += take
        while pending.size >= chunk_size or (produced == n_records and pending.size):
            size = min(chunk_size, pending.size)
            yield pending.pop(size, catalogue, origin, emitted)
            emitted += size


@dataclass(frozen=True)
class GenerationSummary:
    """What ``generate`` wrote."""

    path: Path
    n_records: int
    n_papers: int
    n_tasks: int
    n_models: int
    seed: int

    def __str__(self) -> str:
        return (f"wrote {self.n_records:,} synthetic records ({self.n_papers:,} papers, "
                f"{self.n_tasks:,} tasks, {self.n_models:,} models, seed {self.seed}) to {self.path}")


def _parquet_schema():
    import pyarrow as pa

    types = {}
    for column in OUTPUT_COLUMNS:
        if column in _TEXT_OUT:
            types[column] = pa.string()
        elif column in C.COUNT_COLUMNS:
            types[column] = pa.int64()
        elif column == C.AUGMENTATION:
            types[column] = pa.bool_()
        else:
            types[column] = pa.float64()
    return pa.schema([(c, types[c]) for c in OUTPUT_COLUMNS])


def generate(n_records: int = DEFAULT_N_RECORDS, seed: int = DEFAULT_SEED, out: str | Path = DEFAULT_OUT,
             chunk_size: int = DEFAULT_CHUNK_SIZE,
             on_chunk: Callable[[int], None] | None = None) -> GenerationSummary:
    """Write ``n_records`` synthetic records to ``out`` (``.csv``, or ``.parquet`` / ``.pq``).

    Rows stream one chunk at a time, so memory does not grow with ``n_records``. The file is
    written next to ``out`` and renamed at the end, so a failed run never leaves a half file.
    ``on_chunk(rows)`` is called after each chunk (for progress bars). The same seed gives a
    byte-identical CSV whatever ``chunk_size``; Parquet row groups follow ``chunk_size`` (same
    content, different bytes).
    """
    _validate(n_records, seed, chunk_size)
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ConfigError(f"output {path}: unknown extension {path.suffix!r}; use .csv or .parquet")
    if not path.parent.exists():
        raise ConfigError(f"output {path}: directory {path.parent} does not exist")
    from medicalrec.atomic import atomic_outputs

    counter = _Counter(on_chunk)
    with atomic_outputs(path) as (partial,):
        if suffix == ".csv":
            with open(partial, "w", encoding="utf-8", newline="") as handle:
                for frame in iter_records(n_records, seed, chunk_size):
                    frame.to_csv(handle, header=counter.records == 0, index=False, lineterminator="\n")
                    counter.add(frame)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            schema = _parquet_schema()
            with pq.ParquetWriter(partial, schema) as writer:
                for frame in iter_records(n_records, seed, chunk_size):
                    writer.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
                    counter.add(frame)
    return GenerationSummary(path, counter.records, counter.papers, counter.tasks, len(counter.models),
                             int(seed))


class _Counter:
    """Counts records, papers and tasks in constant memory: the rows of one paper, and of one task,
    are contiguous, so counting changes of key (carried across chunks) counts them. The model set
    is bounded by the catalogue."""

    def __init__(self, on_chunk: Callable[[int], None] | None):
        self.on_chunk = on_chunk
        self.records = self.papers = self.tasks = 0
        self.models: set[str] = set()
        self._last_ref: str | None = None
        self._last_task: str | None = None

    def add(self, frame: pd.DataFrame) -> None:
        ref = frame[C.REF].to_numpy(dtype=object)
        task = frame[C.TASK].to_numpy(dtype=object)
        previous_ref = np.concatenate([[self._last_ref], ref[:-1]])
        previous_task = np.concatenate([[self._last_task], task[:-1]])
        new_paper = ref != previous_ref
        self.papers += int(new_paper.sum())
        self.tasks += int((new_paper | (task != previous_task)).sum())
        self._last_ref, self._last_task = ref[-1], task[-1]
        self.models.update(frame[C.MODEL].unique())
        self.records += len(frame)
        if self.on_chunk is not None:
            self.on_chunk(len(frame))
