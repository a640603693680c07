"""Read a classifier configuration name (``DenseNet-121 (fine-tune)``, ``UNI + GMA (frozen-feature
MIL)``, ...) into typed attributes.

Why a parser: the corpus names are the recommendation items, and a recommender that only sees an
opaque string cannot tell that ``UNI (linear probe)`` and ``UNI (kNN)`` share an encoder, or that a
new name it has never seen is a large pathology model. The parser reads what the *name* says; what
only a name's source (its ``ref``) can say is added by hand review in the shipped table
(``scripts/build_model_catalogue.py`` keeps that review). The parser never raises: a name it cannot
read gets ``[UNK]`` for categorical attributes and None for numbers.

It is pure Python on purpose (no torch): the runtime reads names; computing costs is a build step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

# --------------------------------------------------------------------------------------------------
# Vocabularies. One place, so that the parser, the shipped table, its README and the tests agree.
# --------------------------------------------------------------------------------------------------

UNK = "[UNK]"
"""What a categorical attribute is when it could not be determined."""

FAMILIES: frozenset[str] = frozenset(
    {
        "CNN",  # convolutional network of general (natural-image) provenance
        "ViT",  # vision transformer of general provenance (ViT, Swin, CaiT, EVA-02, DINO/iBOT/SAM ViTs)
        "hybrid",  # convolution + transformer design of general provenance
        "pathology_fm",  # foundation / feature model published for histopathology (incl. image-text)
        "medical_fm",  # foundation model published for another medical domain (CXR, skin, eye, ...)
        "vision_language",  # general-domain image-text model named as such (CLIP, ALIGN, BLIP, BEiT-3)
        "automl",  # an AutoML system: the network is whatever its search picked
        "classic",  # a non-deep learner (SVM, ...)
        "other",
    }
)

PRETRAININGS: frozenset[str] = frozenset(
    {
        "none",  # random initialisation
        "imagenet-1k",  # supervised ImageNet-1k
        "imagenet-21k",  # supervised ImageNet-21k (possibly then fine-tuned on ImageNet-1k)
        "imagenet",  # supervised ImageNet, the sources of the name do not say or agree which one
        "natural-ssl",  # self-supervised on natural images (DINO, DINOv2/v3, iBOT, EVA-02 MIM, ...)
        "natural-segmentation",  # promptable segmentation on natural images (SAM / SA-1B)
        "vision-language",  # general-domain image-text pre-training (CLIP, ...)
        "medical",  # medical images outside radiology and pathology, or several medical domains
        "pathology",  # histopathology (self-supervised or image-text)
        "radiology",  # X-ray, CT, MRI, ultrasound, mammography
        "unknown",  # the name and its source do not say from which start training began
    }
)

ADAPTATIONS: frozenset[str] = frozenset(
    {
        "fine-tune",  # all weights trained from a pre-trained start
        "scratch",  # all weights trained from random initialisation
        "full-training",  # all weights trained; whether from a pre-trained start is not stated
        "linear-probe",  # frozen encoder, one trained linear layer on its features
        "knn-probe",  # frozen encoder, k-nearest-neighbour classifier on its features
        "zero-shot",  # no training at all: classes come from text prompts
        "off-the-shelf",  # a released, already trained classifier applied as it is
        "prompt-tuning",  # frozen encoder, trained prompt tokens and head (e.g. VPT)
        "attention-mil",  # multiple-instance learning with attention pooling (ABMIL, gated attention)
        "transformer-mil",  # multiple-instance learning with a transformer aggregator
        "mean-pool-mil",  # multiple-instance learning with mean pooling
        "mil",  # multiple-instance learning, aggregator not named (or max pooling)
        "automl",  # an AutoML search trained whatever it picked
        "unknown",  # the name says no training scheme
    }
)

SIZE_CLASSES: tuple[tuple[str, float], ...] = (
    ("tiny", 10.0),
    ("small", 40.0),
    ("base", 150.0),
    ("large", 500.0),
    ("huge", float("inf")),
)
"""Size class by encoder parameters in millions: each entry is (name, exclusive upper bound)."""


def size_class_of(encoder_params_m: Optional[float]) -> Optional[str]:
    """The size class of an encoder with this many million parameters (None when unknown)."""
    if encoder_params_m is None:
        return None
    for name, upper in SIZE_CLASSES:
        if encoder_params_m < upper:
            return name
    return SIZE_CLASSES[-1][0]  # pragma: no cover - the last bound is infinite


# --------------------------------------------------------------------------------------------------
# The attributes.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelAttributes:
    """What the catalogue knows about one candidate model.

    Categorical fields are ``[UNK]`` when unknown, numbers are None. ``architecture`` is the network
    as the name identifies it (``ResNet-50``, ``CLIP ViT-B/16``, ``UNI``); ``backbone`` is the generic
    design underneath (``ViT-L/16`` for UNI), the thing costs are computed from.
    """

    model: str
    architecture: str = UNK
    backbone: str = UNK
    family: str = UNK
    size_class: str = UNK
    pretraining: str = UNK
    adaptation: str = UNK
    input_resolution: Optional[int] = None
    params_m: Optional[float] = None
    encoder_params_m: Optional[float] = None
    feature_dim: Optional[int] = None
    gflops: Optional[float] = None
    gflops_resolution: Optional[int] = None
    trained_params_m: Optional[float] = None
    cost_source: Optional[str] = None


CATEGORICAL_FIELDS: tuple[str, ...] = (
    "architecture",
    "backbone",
    "family",
    "size_class",
    "pretraining",
    "adaptation",
)
"""Fields that are ``[UNK]`` (never None) when unknown."""

NAME_FIELDS: tuple[str, ...] = (
    "architecture",
    "backbone",
    "family",
    "pretraining",
    "adaptation",
    "input_resolution",
)
"""Fields the parser can read from a name (the others are costs, filled at build time)."""

MAX_NAME_LENGTH = 300
"""Longer strings are not model names (the corpus's longest is well under this)."""

# --------------------------------------------------------------------------------------------------
# Name knowledge: architectures and published models.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Known:
    """A recognised encoder: how to name it and what it is."""

    architecture: str
    backbone: str
    family: str
    pretraining: Optional[str]  # None: the name alone does not say


def _fmt(template: str) -> Callable[[re.Match[str]], str]:
    return lambda m: template.format(*m.groups())


_CONVNEXT_SIZES = {"tiny": "T", "small": "S", "base": "B", "large": "L"}
_MOBILENET_SIZES = {"large": "Large", "small": "Small"}

# Generic designs, matched at the start of the encoder text (a remainder means a modified network).
_GENERIC: tuple[tuple[str, Callable[[re.Match[str]], str], str], ...] = (
    (r"ResNet-?(18|26|34|50|101|152)([ -]?V2)?", lambda m: f"ResNet-{m[1]}" + ("-V2" if m[2] else ""), "CNN"),
    (r"ResNet(18|34|50|101|152)", _fmt("ResNet-{}"), "CNN"),
    (r"DenseNet-?(121|161|169|201)", _fmt("DenseNet-{}"), "CNN"),
    (r"VGG-?(11|13|16|19)", _fmt("VGG-{}"), "CNN"),
    (r"AlexNet", lambda m: "AlexNet", "CNN"),
    (r"GoogLeNet", lambda m: "GoogLeNet", "CNN"),
    (r"Inception-?ResNet-?v2", lambda m: "Inception-ResNet-v2", "CNN"),
    (r"Inception-?v3", lambda m: "Inception-v3", "CNN"),
    (r"Xception", lambda m: "Xception", "CNN"),
    (r"EfficientNetV2-?([SML])", _fmt("EfficientNetV2-{}"), "CNN"),
    (r"EfficientNet-?B([0-8])", _fmt("EfficientNet-B{}"), "CNN"),
    (r"MobileNetV3-?(Large|Small)", lambda m: f"MobileNetV3-{_MOBILENET_SIZES[m[1].lower()]}", "CNN"),
    (r"MobileNetV3", lambda m: "MobileNetV3", "CNN"),
    (r"MnasNet-?1\.0", lambda m: "MnasNet-1.0", "CNN"),
    (r"ShuffleNetV2-?x(0\.5|1\.0|1\.5|2\.0)", _fmt("ShuffleNetV2-x{}"), "CNN"),
    (
        r"ConvNeXt-?(Tiny|Small|Base|Large|T|S|B|L)\b",
        lambda m: f"ConvNeXt-{_CONVNEXT_SIZES.get(m[1].lower(), m[1].upper())}",
        "CNN",
    ),
    (r"SwinV2-?([TSBL])\b", _fmt("SwinV2-{}"), "ViT"),
    (r"Swin-?([TSBL])\b", _fmt("Swin-{}"), "ViT"),
    (r"Swin(?: Transformer)?", lambda m: "Swin", "ViT"),
    (r"CaiT-?XXS-?24", lambda m: "CaiT-XXS-24", "ViT"),
    (r"ViT-?(Ti|S|B|L|H|g|G|7B)(?:/(\d+))?", lambda m: f"ViT-{m[1]}" + (f"/{m[2]}" if m[2] else ""), "ViT"),
)

# Words that qualify a generic design placed after them: (family, pretraining the word implies).
_PREFIXES: dict[str, tuple[str, Optional[str]]] = {
    "DINO": ("ViT", "natural-ssl"),
    "DINOv2": ("ViT", "natural-ssl"),
    "DINOv3": ("ViT", "natural-ssl"),
    "iBOT": ("ViT", "natural-ssl"),
    "SAM": ("ViT", "natural-segmentation"),
    "EVA-02": ("ViT", "natural-ssl"),
    "CLIP": ("vision_language", "vision-language"),
    "BLIP": ("vision_language", "vision-language"),
    "kaiko": ("pathology_fm", "pathology"),
    "Lunit": ("pathology_fm", "pathology"),
    "DermLIP": ("medical_fm", "medical"),
    "RETFound": ("medical_fm", "medical"),
    "CXR-CLIP": ("medical_fm", "radiology"),
    "XRV": ("CNN", "radiology"),
    "JF Healthcare": ("CNN", "radiology"),
    "CheXpert": ("CNN", "radiology"),
    "GMIC-": ("CNN", None),
}

_PATH = ("pathology_fm", "pathology")
_MED = ("medical_fm", "medical")
_RAD = ("medical_fm", "radiology")
_VL = ("vision_language", "vision-language")

# Published models whose name carries no generic design: (pattern, architecture, backbone, kind).
# Backbones are given only where the publisher's code or model card states them.
_NAMED: tuple[tuple[str, str, str, tuple[str, Optional[str]]], ...] = (
    (r"UNI", "UNI", "ViT-L/16", _PATH),
    (r"UNI2(?:-h)?", "UNI2-h", "ViT-H/14", _PATH),
    (r"CONCH", "CONCH", "ViT-B/16", _PATH),
    (r"CONCH ?v?1\.5", "CONCH v1.5", "ViT-L/16", _PATH),
    (r"Virchow", "Virchow", "ViT-H/14", _PATH),
    (r"Virchow ?2", "Virchow2", "ViT-H/14", _PATH),
    (r"Phikon", "Phikon", "ViT-B/16", _PATH),
    (r"Phikon-?v?2", "Phikon-v2", "ViT-L/16", _PATH),
    (r"H-optimus-0", "H-optimus-0", "ViT-g/14", _PATH),
    (r"H-optimus-1", "H-optimus-1", "ViT-g/14", _PATH),
    (r"H0-mini", "H0-mini", "ViT-B/14", _PATH),
    (r"Hibou-B", "Hibou-B", "ViT-B/14", _PATH),
    (r"Hibou-L", "Hibou-L", "ViT-L/14", _PATH),
    (r"Prov-GigaPath", "Prov-GigaPath", "ViT-g/16", _PATH),
    (r"GPFM", "GPFM", "ViT-L/14", _PATH),
    (r"mSTAR", "mSTAR", "ViT-L/16", _PATH),
    (r"CTransPath", "CTransPath", "Swin-T (ConvStem)", _PATH),
    (r"CHIEF", "CHIEF", "Swin-T (ConvStem)", _PATH),
    (r"MUSK", "MUSK", UNK, _PATH),
    (r"KEEP", "KEEP", UNK, _PATH),
    (r"PLIP", "PLIP", "ViT-B/32", _PATH),
    (r"Quilt-?Net", "QuiltNet", "ViT-B/32", _PATH),
    (r"Quilt-?Net-?B/16", "QuiltNet-B/16", "ViT-B/16", _PATH),
    (r"Midnight(?:-12k)?", "Midnight-12k", "ViT-g/14", _PATH),
    (r"RetCCL", "RetCCL", "ResNet-50", _PATH),
    (r"Lunit-(BT|MoCo|SwAV)", "Lunit-{0}", "ResNet-50", _PATH),
    (r"Lunit-DINO", "Lunit-DINO", UNK, _PATH),
    (r"SP22M", "SP22M", "ViT-S", _PATH),
    (r"SP85M", "SP85M", "ViT-B", _PATH),
    (r"EXAONEPath", "EXAONEPath", "ViT-B/16", _PATH),
    (r"HIPT", "HIPT", UNK, _PATH),
    (r"TITAN", "TITAN", UNK, _PATH),
    (r"MI-Zero", "MI-Zero", UNK, _PATH),
    (r"REMEDIS", "REMEDIS", UNK, _MED),
    (r"BiomedCLIP", "BiomedCLIP", "ViT-B/16", _MED),
    (r"BiomedGPT", "BiomedGPT", UNK, _MED),
    (r"BioViL", "BioViL", "ResNet-50", _RAD),
    (r"BioViL-T", "BioViL-T", UNK, _RAD),
    (r"CheXzero", "CheXzero", "ViT-B/32", _RAD),
    (r"MedCLIP", "MedCLIP", UNK, _RAD),  # released with a ResNet-50 and a Swin-T image encoder
    (r"MedImageInsight", "MedImageInsight", UNK, _MED),
    (r"FetalCLIP", "FetalCLIP", UNK, _RAD),
    (r"UniMed-CLIP", "UniMed-CLIP", UNK, _MED),
    (r"DermFM-Zero", "DermFM-Zero", UNK, _MED),
    (r"DermLIP-PanDerm", "DermLIP-PanDerm", UNK, _MED),
    (r"PanDerm", "PanDerm", UNK, _MED),
    (r"MAKE", "MAKE", UNK, _MED),
    (r"MONET", "MONET", UNK, _MED),
    (r"CLIP", "CLIP", UNK, _VL),
    (r"BLIP B/16", "BLIP ViT-B/16", "ViT-B/16", _VL),
    (r"DINOv2", "DINOv2", UNK, ("ViT", "natural-ssl")),
    (r"ALIGN(?: base)?", "ALIGN base", UNK, _VL),
    (r"BEiT-3 L/16", "BEiT-3 L/16", UNK, _VL),
    (r"auto-sklearn", "auto-sklearn", UNK, ("automl", None)),
    (r"AutoKeras", "AutoKeras", UNK, ("automl", None)),
    (r"Google AutoML Vision", "Google AutoML Vision", UNK, ("automl", None)),
    (r"SVM", "SVM", UNK, ("classic", None)),
    (r"YaroslavNet", "YaroslavNet", UNK, ("CNN", None)),
    (r"DIB-MG", "DIB-MG", UNK, ("CNN", None)),
    (r"Custom CNN", "Custom CNN", UNK, ("CNN", None)),
    (r"VGG-style CNN", "VGG-style CNN", UNK, ("CNN", None)),
    (r"Liu2020 3D CNN", "Liu2020 3D CNN", UNK, ("CNN", None)),
    (r"EVA-02-?B/14", "EVA-02 ViT-B/14", "ViT-B/14", ("ViT", "natural-ssl")),
    (r"tRes50", "ResNet-50 (truncated)", "ResNet-50", ("CNN", None)),
)

_AUTOML = {"auto-sklearn", "AutoKeras", "Google AutoML Vision"}

# "pretrained on X" sources: which pre-training domain they are.
_SOURCE_DOMAINS: tuple[tuple[str, str], ...] = (
    (r"radimagenet|chestmnist|organ[acs]?mnist|pneumoniamnist|breastmnist", "radiology"),
    (r"pathmnist", "pathology"),
    (r"mnist|medical|endo", "medical"),
    (r"imagenet-?21k", "imagenet-21k"),
    (r"imagenet", "imagenet-1k"),
)

_MIL_AGGREGATORS: tuple[tuple[str, str], ...] = (
    (r"\b(abmil|attmil|gma|gatt|att)\b", "attention-mil"),
    (r"\btransformer\b", "transformer-mil"),
    (r"\bmean\b", "mean-pool-mil"),
    (r"\bmax\b", "mil"),
)

# --------------------------------------------------------------------------------------------------
# Parsing.
# --------------------------------------------------------------------------------------------------

_GROUP = re.compile(r"\(([^()]*)\)|\[([^\[\]]*)\](?=\s|$)")


def _split_groups(text: str) -> tuple[str, list[str]]:
    """The text outside parentheses/brackets, and the groups' contents in order."""
    groups = [(m.group(1) if m.group(1) is not None else m.group(2)).strip() for m in _GROUP.finditer(text)]
    outside = " ".join(_GROUP.sub(" ", text).split())
    return outside, groups


def _match_named(text: str) -> Optional[_Known]:
    for pattern, architecture, backbone, (family, pretraining) in _NAMED:
        m = re.fullmatch(pattern, text, flags=re.IGNORECASE)
        if m:
            return _Known(architecture.format(*m.groups()), backbone, family, pretraining)
    return None


def _match_generic(text: str) -> Optional[tuple[str, str]]:
    """(architecture with any modifier text kept, family) for a generic design at the start."""
    for pattern, name, family in _GENERIC:
        m = re.match(pattern, text, flags=re.IGNORECASE)
        if m:
            rest = text[m.end() :].strip(" ,")
            return (name(m) + (f" {rest}" if rest else "")), family
    return None


def _generic_backbone(architecture: str) -> str:
    """The generic design an architecture starts with (drops a modifier such as ``3D``)."""
    for pattern, name, _ in _GENERIC:
        m = re.match(pattern, architecture, flags=re.IGNORECASE)
        if m:
            return name(m)
    return UNK


def _match_encoder(text: str) -> Optional[_Known]:
    """Recognise the encoder named by ``text`` (no parentheses, no aggregator)."""
    text = text.strip(" ,")
    if not text:
        return None
    named = _match_named(text)
    if named:
        return named
    for prefix, (family, pretraining) in sorted(_PREFIXES.items(), key=lambda kv: -len(kv[0])):
        if text.lower().startswith(prefix.lower()):
            rest = text[len(prefix) :].strip(" -")
            generic = _match_generic(rest)
            if generic:
                arch, _ = generic
                sep = "" if prefix.endswith("-") else " "
                return _Known(f"{prefix}{sep}{arch}", _generic_backbone(arch), family, pretraining)
    generic = _match_generic(text)
    if generic:
        arch, family = generic
        return _Known(arch, _generic_backbone(arch), family, None)
    return None  # modified named models ("Phikon-S", "YaroslavNet heatmap...") are the caller's


def _adaptation(groups: list[str], aggregator: str, whole: str) -> Optional[str]:
    """The training scheme the name states, or None."""
    text = " | ".join(groups).lower()
    if "zero-shot" in text:
        return "zero-shot"
    if re.search(r"\bknn\b", text):
        return "knn-probe"
    if "linear probe" in text:
        return "linear-probe"
    if re.search(r"\bvpt\b|prompt", text):
        return "prompt-tuning"
    if "abmil head" in text:
        return "attention-mil"
    if "mil" in re.findall(r"[a-z]+", text) or whole.lower().startswith("mil "):
        probe = f"{aggregator} {whole}".lower()
        for pattern, scheme in _MIL_AGGREGATORS:
            if re.search(pattern, probe.replace("-", " ")):
                return scheme
        return "mil"
    if "off-the-shelf" in text:
        return "off-the-shelf"
    if "scratch" in text:
        return "scratch"
    if "fine-tune" in text or "finetune" in text:
        return "fine-tune"
    if re.search(r"supervised|trained on|patch classifier|baseline", text):
        return "full-training"
    return None


def _pretraining(groups: list[str], adaptation: Optional[str], known: Optional[_Known]) -> Optional[str]:
    """The pre-training the name states (or its known model implies), or None."""
    text = " | ".join(groups).lower()
    if adaptation == "scratch" or "random init" in text:
        return "none"
    m = re.search(r"pretrained on ([^,|)]+)|(.*domain-adaptive pre-?training)|truncated (imagenet)", text)
    if m:
        source = next(g for g in m.groups() if g)
        for pattern, domain in _SOURCE_DOMAINS:
            if re.search(pattern, source):
                return domain
        return "unknown"
    ssl = known is not None and known.pretraining == "natural-ssl"
    if re.search(r"\bimagenet-?21k\b", text):
        return "imagenet-21k"
    if re.search(r"\bimagenet\b|natural images", text):
        return "natural-ssl" if ssl else ("imagenet-1k" if "imagenet" in text else None)
    if known is not None and known.pretraining is not None:
        return known.pretraining
    return None


def _resolution(text: str) -> Optional[int]:
    m = re.search(r"\b(\d{2,4}) ?px\b|\bres(\d{2,4})\b", text, flags=re.IGNORECASE)
    if not m:
        return None
    return int(next(g for g in m.groups() if g))


def _split_aggregator(base: str) -> tuple[str, str]:
    """``UNI + GMA`` -> (``UNI``, ``GMA``); names without `` + `` come back whole."""
    if " + " in base:
        encoder, _, rest = base.partition(" + ")
        return encoder.strip(), rest.strip()
    return base, ""


def _unknown(name: str) -> ModelAttributes:
    return ModelAttributes(model=name)


def _parse(name: str) -> ModelAttributes:
    text = " ".join(name.split())
    if not text or len(text) > MAX_NAME_LENGTH:
        return _unknown(name)
    base, groups = _split_groups(text)
    encoder_text, extra = _split_aggregator(base)

    known = _match_encoder(encoder_text)
    modifier = ""
    if known is None:
        # "MIL ES-Att-Img (GMIC-ResNet18 features)": the encoder is named in a group.
        for group in groups:
            candidate = re.sub(r"\bfeatures\b", "", group).strip()
            known = _match_encoder(candidate)
            if known:
                modifier = base
                break
    if known is None:
        # A named model with extra words ("VGG-style CNN, deterministic ...", "Liu2020 3D CNN ...").
        for pattern, architecture, backbone, (family, pretraining) in _NAMED:
            m = re.match(pattern + r"\b", encoder_text, flags=re.IGNORECASE)
            if m:
                # Modified or sub-variant of a named model: keep the name as written, design unknown.
                known = _Known(encoder_text, UNK, family, pretraining)
                break

    adaptation = _adaptation(groups, extra, base)
    if known is None and adaptation is None:
        return _unknown(name)

    architecture = known.architecture if known else UNK
    backbone = known.backbone if known else UNK
    for group in groups:
        if known is not None and re.fullmatch(r"tr|truncated", group, flags=re.IGNORECASE):
            architecture = f"{architecture} (truncated)"  # "ResNet-50 (Tr)": cut after stage 3
        elif known is not None and backbone == UNK and re.fullmatch(r"ViT-?[SBLHg](/\d+)?", group):
            backbone = group  # "PanDerm (ViT-L)": the group names the design
    if modifier:
        architecture = f"{modifier} ({architecture} features)"
    aggregator_words = re.search(r"abmil|attmil|gma|transformer|mean pool", extra, flags=re.IGNORECASE)
    if extra and not aggregator_words:
        architecture = f"{architecture} + {extra}"
    if known is not None and known.family == "automl":
        adaptation = "automl"
    if "ensemble" in text.lower() and known is not None and "ensemble" not in architecture.lower():
        architecture = f"{architecture} ensemble"

    pretraining = _pretraining(groups, adaptation, known)
    if pretraining is None:
        pretraining = "unknown" if (known is not None or adaptation is not None) else UNK
    return ModelAttributes(
        model=name,
        architecture=architecture,
        backbone=backbone,
        family=known.family if known else UNK,
        pretraining=pretraining,
        adaptation=adaptation or "unknown",
        input_resolution=_resolution(text),
    )


def parse_model_name(name: str) -> ModelAttributes:
    """Read ``name`` into attributes; never raises (unreadable input gives ``[UNK]``/None)."""
    if not isinstance(name, str):
        return _unknown(str(name))
    try:
        return _parse(name)
    except (re.error, ValueError, IndexError, KeyError, StopIteration):  # pragma: no cover
        # The contract is "never an exception" for any string; a parsing bug must degrade to [UNK].
        return _unknown(name)
