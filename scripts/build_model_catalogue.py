"""Regenerate ``medicalrec/catalogue/data/model_catalogue.csv`` from the corpus model names.

Why a script and not hand-typed numbers: every cost figure in the table must be reproducible from a
real architecture definition, and every attribute must be either read from the name (the parser),
stated by the name's source (the per-source rules below) or decided by a reviewer (the overrides
CSV beside this script, one reviewed fact per line with its reason). A rebuild therefore keeps the
review work and recomputes everything else.

Costs: parameters are counted on the definition built without weights; FLOPs are counted with
``torch.utils.flop_counter.FlopCounterMode`` (which counts 2 FLOPs per multiply-accumulate) for one
image at the model's input resolution, or at 224 px when that is unknown. The forward pass runs on
the ``meta`` device: no memory is allocated (a 7B-parameter ViT costs nothing to count) and
attention runs as plain matrix products the counter sees; the CPU's fused attention kernels are not
counted by ``FlopCounterMode`` and would drop the attention FLOPs. Every network is counted with a
1000-class linear head on its pooled feature (the torchvision/timm ImageNet convention), so that
``params_m`` equals the library's own count for the torchvision classifiers.

torchvision and timm are build-time tools only (not package dependencies). The PyPI torchvision wheel
is a CUDA build whose compiled ops cannot load beside the CPU torch build; its Python model
definitions need none of them, so ``import_torchvision`` declares the two operator schemas its
import-time registrations expect and then imports it.

Usage: python scripts/build_model_catalogue.py [--corpus CSV] [--out CSV] [--check]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from medicalrec.catalogue.catalogue import CSV_COLUMNS, format_row  # noqa: E402
from medicalrec.catalogue.parser import (  # noqa: E402
    ADAPTATIONS,
    FAMILIES,
    NAME_FIELDS,
    PRETRAININGS,
    UNK,
    ModelAttributes,
    parse_model_name,
    size_class_of,
)

DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "medicalrec_public_bench.csv"
DEFAULT_OUT = REPO / "medicalrec" / "catalogue" / "data" / "model_catalogue.csv"
OVERRIDES = Path(__file__).with_name("model_catalogue_overrides.csv")
REFERENCE_CLASSES = 1000
FALLBACK_RESOLUTION = 224

# --------------------------------------------------------------------------------------------------
# What a name's source states about the network's input size (checked against the source).
# --------------------------------------------------------------------------------------------------

REF_INPUT_RESOLUTION: dict[str, tuple[int, str]] = {
    "Doerrich2025 MedMNIST+": (224, "every image is zero-padded to 224x224 before the model (train.py)"),
    "Pewton2022 Dark corner artifacts": (224, "the task is the balanced 224px ISIC set"),
    "Juodelyte2024 transferability": (224, "every record of the source gives 224x224 images"),
    "Zaina2025 CNN-vs-ViT brain MRI": (224, "every record of the source gives 224x224 images"),
    "AscencioCabral2022 CNN-vs-CaiT COVID CT": (224, "every record of the source gives 224x224 images"),
    "Deobhakta2026 health-portfolio DR": (224, "every record of the source gives 224x224 images"),
    "Yan2024 ISIC2024 baselines": (224, "every record of the source gives 224x224 images"),
    "Yang2023 MedMNIST v2": (28, "MedMNIST v2 trains on the 28 px images unless the name says 224px"),
}
"""Per-source input size; a name gets one only when every one of its records agrees."""

_ORIGIN_RESOLUTION = re.compile(r"\w\((\d{3})\)'")  # MedFMC columns such as 'Swin(384)'


def record_resolution(ref: str, origin: str) -> Optional[int]:
    """The input size a record's source states for its model, if it states one."""
    if ref in REF_INPUT_RESOLUTION:
        return REF_INPUT_RESOLUTION[ref][0]
    m = _ORIGIN_RESOLUTION.search(origin or "")
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------------------------------
# Cost specifications: architecture -> how to build it (without weights) and how to cite it.
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CostSpec:
    """One buildable definition. ``native`` is the resolution its publisher fixes, if any."""

    source: str
    build: Callable[[int], object]
    native: Optional[int] = None


def import_torchvision():
    """Import torchvision even when its compiled ops cannot load (CUDA wheel beside CPU torch)."""
    import torch

    try:
        import torchvision  # noqa: F401

        return torchvision
    except RuntimeError:
        # torchvision's import-time fake registrations for nms/qnms need the schemas its C++
        # extension would have defined; the model definitions themselves use none of them.
        lib = torch.library.Library("torchvision", "DEF")  # noqa: TOR101 - kept alive below
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
        import_torchvision._lib = lib  # type: ignore[attr-defined]
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        import torchvision

        return torchvision


def _tv(name: str, **kwargs) -> Callable[[int], object]:
    def build(resolution: int):
        tv = import_torchvision()
        extra = {"image_size": resolution} if name.startswith("vit_") else {}
        return getattr(tv.models, name)(weights=None, **kwargs, **extra)

    return build


def _timm(name: str, sized: bool = True, **kwargs) -> Callable[[int], object]:
    def build(resolution: int):
        import_torchvision()
        import timm

        extra = {"img_size": resolution} if sized else {}
        return timm.create_model(name, pretrained=False, num_classes=REFERENCE_CLASSES, **kwargs, **extra)

    return build


def _swiglu(**kwargs) -> dict:
    import torch
    import timm

    return {"mlp_layer": timm.layers.SwiGLUPacked, "act_layer": torch.nn.SiLU, **kwargs}


def _timm_swiglu(name: str, **kwargs) -> Callable[[int], object]:
    def build(resolution: int):
        import_torchvision()
        import timm

        return timm.create_model(
            name, pretrained=False, num_classes=REFERENCE_CLASSES, img_size=resolution, **_swiglu(**kwargs)
        )

    return build


def _truncated_resnet50(resolution: int):
    """ResNet-50 cut after stage 3 (1024-d pooled feature), as in 'ResNet-50 (Tr)' baselines."""
    import torch.nn as nn

    tv = import_torchvision()
    m = tv.models.resnet50(weights=None)
    m.layer4 = nn.Identity()
    m.fc = nn.Linear(1024, REFERENCE_CLASSES)
    return m


def _ctranspath(resolution: int):
    """CTransPath: timm Swin-T whose patch embedding is the ConvStem of the CTransPath code."""
    import torch.nn as nn

    import_torchvision()
    import timm

    class ConvStem(nn.Module):
        # Transcribed from the CTransPath code (two stride-2 3x3 conv+BN+ReLU, a 1x1 projection
        # to embed_dim, then the norm layer); returns NHWC as timm 1.x Swin expects.
        def __init__(self, img_size=224, patch_size=4, in_chans=3, embed_dim=96, norm_layer=None, **_):
            super().__init__()
            self.img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
            self.patch_size = (patch_size, patch_size)
            self.grid_size = (self.img_size[0] // patch_size, self.img_size[1] // patch_size)
            self.num_patches = self.grid_size[0] * self.grid_size[1]
            stem, in_dim, out_dim = [], 3, embed_dim // 8
            for _ in range(2):
                stem += [
                    nn.Conv2d(in_dim, out_dim, kernel_size=3, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(out_dim),
                    nn.ReLU(inplace=True),
                ]
                in_dim, out_dim = out_dim, out_dim * 2
            stem.append(nn.Conv2d(in_dim, embed_dim, kernel_size=1))
            self.proj = nn.Sequential(*stem)
            self.norm = norm_layer(embed_dim) if norm_layer else nn.Identity()

        def forward(self, x):
            return self.norm(self.proj(x).permute(0, 2, 3, 1))

    return timm.create_model(
        "swin_tiny_patch4_window7_224",
        pretrained=False,
        num_classes=REFERENCE_CLASSES,
        embed_layer=ConvStem,
        img_size=resolution,
    )


def _medmnist_resnet(depth: int) -> Callable[[int], object]:
    """The 28 px ResNet of MedMNIST v2 (MedMNIST/experiments MedMNIST2D/models.py, Apache-2.0):
    a CIFAR-style ResNet, 3x3 stride-1 stem without max-pooling. Transcribed, 3 input channels."""

    def build(resolution: int):
        import torch.nn as nn
        import torch.nn.functional as F

        class BasicBlock(nn.Module):
            expansion = 1

            def __init__(self, in_planes, planes, stride=1):
                super().__init__()
                self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(planes)
                self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(planes)
                self.shortcut = nn.Sequential()
                if stride != 1 or in_planes != planes:
                    self.shortcut = nn.Sequential(
                        nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
                    )

            def forward(self, x):
                out = F.relu(self.bn1(self.conv1(x)))
                return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))

        class Bottleneck(nn.Module):
            expansion = 4

            def __init__(self, in_planes, planes, stride=1):
                super().__init__()
                self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(planes)
                self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
                self.bn2 = nn.BatchNorm2d(planes)
                self.conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
                self.bn3 = nn.BatchNorm2d(4 * planes)
                self.shortcut = nn.Sequential()
                if stride != 1 or in_planes != 4 * planes:
                    self.shortcut = nn.Sequential(
                        nn.Conv2d(in_planes, 4 * planes, 1, stride, bias=False), nn.BatchNorm2d(4 * planes)
                    )

            def forward(self, x):
                out = F.relu(self.bn1(self.conv1(x)))
                out = F.relu(self.bn2(self.conv2(out)))
                return F.relu(self.bn3(self.conv3(out)) + self.shortcut(x))

        block, blocks = (BasicBlock, [2, 2, 2, 2]) if depth == 18 else (Bottleneck, [3, 4, 6, 3])

        class ResNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.in_planes = 64
                self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
                self.bn1 = nn.BatchNorm2d(64)
                self.layer1 = self._make(64, blocks[0], 1)
                self.layer2 = self._make(128, blocks[1], 2)
                self.layer3 = self._make(256, blocks[2], 2)
                self.layer4 = self._make(512, blocks[3], 2)
                self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
                self.linear = nn.Linear(512 * block.expansion, REFERENCE_CLASSES)

            def _make(self, planes, n, stride):
                layers = []
                for s in [stride] + [1] * (n - 1):
                    layers.append(block(self.in_planes, planes, s))
                    self.in_planes = planes * block.expansion
                return nn.Sequential(*layers)

            def forward(self, x):
                out = F.relu(self.bn1(self.conv1(x)))
                out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
                return self.linear(self.avgpool(out).flatten(1))

        return ResNet()

    return build


def _tv_spec(name: str, **kwargs) -> CostSpec:
    note = "".join(f", {k}={v}" for k, v in kwargs.items())
    return CostSpec(f"torchvision {{tv}} {name}(weights=None{note})", _tv(name, **kwargs))


def _timm_spec(name: str, note: str = "", native: Optional[int] = None, sized: bool = True, **kwargs) -> CostSpec:
    args = "".join(f", {k}={v}" for k, v in kwargs.items())
    return CostSpec(f"timm {{timm}} {name}({args.lstrip(', ')}){note}", _timm(name, sized=sized, **kwargs), native)


COST_SPECS: dict[str, CostSpec] = {
    # torchvision classifiers (the test suite checks some of these counts against torchvision).
    "AlexNet": _tv_spec("alexnet"),
    "VGG-11": _tv_spec("vgg11"),
    "VGG-16": _tv_spec("vgg16"),
    "VGG-19": _tv_spec("vgg19"),
    "ResNet-18": _tv_spec("resnet18"),
    "ResNet-34": _tv_spec("resnet34"),
    "ResNet-50": _tv_spec("resnet50"),
    "ResNet-101": _tv_spec("resnet101"),
    "ResNet-152": _tv_spec("resnet152"),
    "DenseNet-121": _tv_spec("densenet121"),
    "DenseNet-169": _tv_spec("densenet169"),
    "DenseNet-201": _tv_spec("densenet201"),
    **{f"EfficientNet-B{i}": _tv_spec(f"efficientnet_b{i}") for i in range(8)},
    "EfficientNetV2-S": _tv_spec("efficientnet_v2_s"),
    "MobileNetV3-Large": _tv_spec("mobilenet_v3_large"),
    "MobileNetV3-Small": _tv_spec("mobilenet_v3_small"),
    "MnasNet-1.0": _tv_spec("mnasnet1_0"),
    "ShuffleNetV2-x0.5": _tv_spec("shufflenet_v2_x0_5"),
    "GoogLeNet": _tv_spec("googlenet", aux_logits=False, init_weights=False),
    "Inception-v3": _tv_spec("inception_v3", aux_logits=False, init_weights=False),
    "ConvNeXt-T": _tv_spec("convnext_tiny"),
    "ConvNeXt-B": _tv_spec("convnext_base"),
    "Swin-T": _tv_spec("swin_t"),
    "Swin-B": _tv_spec("swin_b"),
    "SwinV2-B": _tv_spec("swin_v2_b"),
    "ViT-B/16": _tv_spec("vit_b_16"),
    "ViT-B/32": _tv_spec("vit_b_32"),
    "ViT-L/16": _tv_spec("vit_l_16"),
    "ResNet-50 (truncated)": CostSpec(
        "torchvision {tv} resnet50(weights=None) cut after layer3, 1024-d pooled feature", _truncated_resnet50
    ),
    "ResNet-18 (MedMNIST 28px)": CostSpec(
        "MedMNIST/experiments MedMNIST2D/models.py ResNet18 (CIFAR-style stem), transcribed", _medmnist_resnet(18)
    ),
    "ResNet-50 (MedMNIST 28px)": CostSpec(
        "MedMNIST/experiments MedMNIST2D/models.py ResNet50 (CIFAR-style stem), transcribed", _medmnist_resnet(50)
    ),
    # timm definitions of general designs.
    "Xception": _timm_spec("legacy_xception", " (Keras Xception port)", sized=False),
    "Inception-ResNet-v2": _timm_spec("inception_resnet_v2", sized=False),
    "ResNet-50-V2": _timm_spec("resnetv2_50", " (pre-activation ResNet v2)", sized=False),
    "ResNet-101-V2": _timm_spec("resnetv2_101", " (pre-activation ResNet v2)", sized=False),
    "ResNet-152-V2": _timm_spec("resnetv2_152", " (pre-activation ResNet v2)", sized=False),
    "CaiT-XXS-24": _timm_spec("cait_xxs24_224"),
    "Swin-B (window 12, 384)": _timm_spec("swin_base_patch4_window12_384", native=384),
    "ViT-S/16": _timm_spec("vit_small_patch16_224"),
    "ViT-S/8": _timm_spec("vit_small_patch8_224"),
    "ViT-B/8": _timm_spec("vit_base_patch8_224"),
    "ViT-B/14 (DINOv2)": _timm_spec("vit_base_patch14_dinov2"),
    "ViT-L/14 (DINOv2)": _timm_spec("vit_large_patch14_dinov2"),
    "ViT-L/16 (DINOv3)": _timm_spec("vit_large_patch16_dinov3"),
    "ViT-7B/16 (DINOv3)": _timm_spec("vit_7b_patch16_dinov3"),
    "CLIP ViT-B/16": _timm_spec("vit_base_patch16_clip_224", " (image tower)"),
    "CLIP ViT-B/32": _timm_spec("vit_base_patch32_clip_224", " (image tower)"),
    "CLIP ViT-L/14": _timm_spec("vit_large_patch14_clip_224", " (image tower)"),
    "EVA-02 ViT-B/16 (CLIP)": _timm_spec("eva02_base_patch16_clip_224", " (EVA-02-CLIP image tower)"),
    "EVA-02 ViT-B/14": _timm_spec("eva02_base_patch14_224"),
    "SAM ViT-B/16": _timm_spec("samvit_base_patch16", " (SAM image encoder)"),
    # Foundation models: the publisher's timm configuration (model card / official loading code).
    "UNI": _timm_spec("vit_large_patch16_224", " (UNI model card config)", native=224, init_values=1e-5),
    "mSTAR": _timm_spec("vit_large_patch16_224", " (mSTAR model card config)", native=224, init_values=1e-5),
    "Phikon-v2": _timm_spec(
        "vit_large_patch16_224", " (ViT-L/16 with LayerScale, as the Phikon-v2 DINOv2 encoder)", native=224,
        init_values=1e-5,
    ),
    "UNI2-h": CostSpec(
        "timm {timm} vit_giant_patch14_224(patch_size=14, depth=24, num_heads=24, embed_dim=1536, "
        "mlp_ratio=5.33334, SwiGLUPacked, SiLU, reg_tokens=8, no_embed_class, init_values=1e-5) "
        "(UNI2-h model card config)",
        _timm_swiglu(
            "vit_giant_patch14_224", patch_size=14, depth=24, num_heads=24, init_values=1e-5, embed_dim=1536,
            mlp_ratio=2.66667 * 2, no_embed_class=True, reg_tokens=8,
        ),
        224,
    ),
    "Virchow": CostSpec(
        "timm {timm} vit_huge_patch14_224(mlp_ratio=5.3375, SwiGLUPacked, SiLU, init_values=1e-5) "
        "(Virchow model card config)",
        _timm_swiglu("vit_huge_patch14_224", init_values=1e-5, mlp_ratio=5.3375),
        224,
    ),
    "Virchow2": CostSpec(
        "timm {timm} vit_huge_patch14_224(mlp_ratio=5.3375, SwiGLUPacked, SiLU, init_values=1e-5, "
        "reg_tokens=4) (Virchow2 model card config)",
        _timm_swiglu("vit_huge_patch14_224", init_values=1e-5, mlp_ratio=5.3375, reg_tokens=4),
        224,
    ),
    "Prov-GigaPath": _timm_spec(
        "vit_giant_patch14_dinov2",
        " (Prov-GigaPath tile encoder model card config)",
        native=224,
        patch_size=16, embed_dim=1536, depth=40, num_heads=24, init_values=1e-5, mlp_ratio=5.33334,
    ),
    "H-optimus-0": _timm_spec(
        "vit_giant_patch14_reg4_dinov2", " (H-optimus-0 model card config)", native=224, init_values=1e-5
    ),
    "H-optimus-1": _timm_spec(
        "vit_giant_patch14_reg4_dinov2", " (H-optimus-1 model card config)", native=224, init_values=1e-5
    ),
    "GPFM": _timm_spec(
        "vit_large_patch14_dinov2", " (GPFM config of the kaiko eva loader)", native=224, init_values=1e-5,
        qkv_bias=True,
    ),
    "Hibou-B": _timm_spec("vit_base_patch14_reg4_dinov2", " (ViT-B/14 with 4 registers, as Hibou-B)", native=224),
    "Hibou-L": _timm_spec("vit_large_patch14_reg4_dinov2", " (ViT-L/14 with 4 registers, as Hibou-L)", native=224),
    "Midnight-12k": _timm_spec("vit_giant_patch14_dinov2", " (DINOv2 ViT-g/14, as Midnight-12k)", native=224),
    "CTransPath": CostSpec(
        "timm {timm} swin_tiny_patch4_window7_224 with the CTransPath ConvStem patch embedding", _ctranspath, 224
    ),
}

# Architectures whose cost is that of another spec (same definition, different name).
COST_ALIASES: dict[str, str] = {
    "DINO ViT-S/16": "ViT-S/16",
    "DINO ViT-B/16": "ViT-B/16",
    "iBOT ViT-B/16": "ViT-B/16",
    "iBOT ViT-L/16": "ViT-L/16",
    "kaiko ViT-S/16": "ViT-S/16",
    "kaiko ViT-S/8": "ViT-S/8",
    "kaiko ViT-B/16": "ViT-B/16",
    "kaiko ViT-B/8": "ViT-B/8",
    "kaiko ViT-L/14": "ViT-L/14 (DINOv2)",
    "Lunit ViT-S/16": "ViT-S/16",
    "Lunit-DINO": "ViT-S/16",
    "Lunit-BT": "ResNet-50",
    "Lunit-MoCo": "ResNet-50",
    "Lunit-SwAV": "ResNet-50",
    "RetCCL": "ResNet-50",
    "DINOv2 ViT-B": "ViT-B/14 (DINOv2)",
    "DINOv2 ViT-B/14": "ViT-B/14 (DINOv2)",
    "DINOv2 ViT-L": "ViT-L/14 (DINOv2)",
    "DINOv3 ViT-L/16": "ViT-L/16 (DINOv3)",
    "DINOv3 ViT-7B/16": "ViT-7B/16 (DINOv3)",
    "Phikon": "ViT-B/16",
    "Phikon (iBOT student)": "ViT-B/16",
    "Phikon (iBOT teacher)": "ViT-B/16",
    "EXAONEPath": "ViT-B/16",
    "BiomedCLIP": "ViT-B/16",
    "BLIP ViT-B/16": "ViT-B/16",
    "PLIP": "CLIP ViT-B/32",
    "QuiltNet": "CLIP ViT-B/32",
    "CheXzero": "CLIP ViT-B/32",
    "QuiltNet-B/16": "CLIP ViT-B/16",
    "DermLIP ViT-B/16": "CLIP ViT-B/16",
    "CXR-CLIP ResNet-50": "ResNet-50",
    "BioViL": "ResNet-50",
    "CHIEF": "CTransPath",
    "XRV DenseNet-121 res224-all": "DenseNet-121",
    "XRV ResNet-50 res512-all": "ResNet-50",
    "JF Healthcare DenseNet-121": "DenseNet-121",
}

_COSTLESS_ADAPTATIONS = {"knn-probe": 0.0, "zero-shot": 0.0, "off-the-shelf": 0.0}
_FULL_ADAPTATIONS = {"fine-tune", "scratch", "full-training"}


@dataclasses.dataclass(frozen=True)
class Cost:
    params_m: float
    encoder_params_m: float
    head_params_m: float
    feature_dim: int
    gflops: float
    resolution: int
    source: str


def _final_linear(model) -> tuple[object, int, int]:
    """The classifier head (module, in features, out features): a Linear, or timm's 1x1 conv head."""
    import torch.nn as nn

    def as_head(m):
        if isinstance(m, nn.Linear):
            return m, m.in_features, m.out_features
        if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1):
            return m, m.in_channels, m.out_channels
        return None

    getter = getattr(model, "get_classifier", None)
    head = getter() if callable(getter) else None
    for candidate in (head, getattr(head, "fc", None)):
        found = as_head(candidate) if candidate is not None else None
        if found:
            return found
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__}: no linear classifier head")
    return as_head(linears[-1])


def measure(spec: CostSpec, resolution: int, versions: dict[str, str]) -> Cost:
    """Count parameters and forward FLOPs of one definition for one RGB image."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(1)
    with torch.device("meta"):
        model = spec.build(resolution)
        model.eval().requires_grad_(False)  # FlopCounterMode's module tracker hooks grad-requiring inputs
        image = torch.zeros(1, 3, resolution, resolution)
    params = sum(p.numel() for p in model.parameters())
    head, in_features, out_features = _final_linear(model)
    if out_features != REFERENCE_CLASSES:
        raise ValueError(f"{spec.source}: final linear layer has {out_features} outputs")
    head_params = sum(p.numel() for p in head.parameters())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(image)
    return Cost(
        params_m=params / 1e6,
        encoder_params_m=(params - head_params) / 1e6,
        head_params_m=head_params / 1e6,
        feature_dim=int(in_features),
        gflops=counter.get_total_flops() / 1e9,
        resolution=resolution,
        source=spec.source.format(**versions),
    )


# --------------------------------------------------------------------------------------------------
# Corpus, overrides, assembly.
# --------------------------------------------------------------------------------------------------


def read_corpus(path: Path) -> dict[str, list[tuple[str, str]]]:
    """model name -> [(ref, origin), ...] of its records."""
    records: dict[str, list[tuple[str, str]]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            records[row["model"]].append((row["ref"], row.get("origin", "")))
    return dict(records)


OVERRIDABLE = set(NAME_FIELDS) | {"cost_key"}


def read_overrides(path: Path) -> dict[str, dict[str, str]]:
    """model -> {field: value} from the reviewed overrides CSV (model, field, value, reason)."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    with path.open(newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            field = row["field"]
            if field not in OVERRIDABLE:
                raise ValueError(f"{path.name}:{line}: field {field!r} cannot be overridden")
            if not row["reason"].strip():
                raise ValueError(f"{path.name}:{line}: an override needs a reason")
            if row["model"] in out and field in out[row["model"]]:
                raise ValueError(f"{path.name}:{line}: {row['model']!r} {field} overridden twice")
            out[row["model"]][field] = row["value"]
    return dict(out)


def _with(attrs: ModelAttributes, field: str, value: str) -> ModelAttributes:
    if field == "input_resolution":
        return dataclasses.replace(attrs, input_resolution=int(value) if value else None)
    return dataclasses.replace(attrs, **{field: value or UNK})


def name_attributes(
    name: str, records: list[tuple[str, str]], overrides: dict[str, str]
) -> tuple[ModelAttributes, ModelAttributes]:
    """(parser-and-source result, reviewed result) for one corpus name."""
    attrs = parse_model_name(name)
    if attrs.input_resolution is None:
        stated = {record_resolution(ref, origin) for ref, origin in records}
        if len(stated) == 1 and None not in stated:
            attrs = dataclasses.replace(attrs, input_resolution=stated.pop())
    reviewed = attrs
    for field, value in overrides.items():
        if field != "cost_key":
            reviewed = _with(reviewed, field, value)
    return attrs, reviewed


def cost_key(attrs: ModelAttributes, overrides: dict[str, str]) -> Optional[str]:
    if "cost_key" in overrides:
        return overrides["cost_key"] or None
    key = COST_ALIASES.get(attrs.architecture, attrs.architecture)
    return key if key in COST_SPECS else None


def with_cost(
    attrs: ModelAttributes, key: Optional[str], cache: dict[tuple[str, int], Cost], versions: dict[str, str]
) -> ModelAttributes:
    """Fill the cost columns (or leave them empty when the definition is not known)."""
    spec = COST_SPECS.get(key) if key else None
    resolution = attrs.input_resolution or (spec.native if spec else None) or FALLBACK_RESOLUTION
    if attrs.input_resolution is None and spec is not None and spec.native is not None:
        attrs = dataclasses.replace(attrs, input_resolution=spec.native)
    trained: Optional[float] = _COSTLESS_ADAPTATIONS.get(attrs.adaptation)
    if spec is None:
        return dataclasses.replace(attrs, trained_params_m=trained)
    if (key, resolution) not in cache:
        cache[(key, resolution)] = measure(spec, resolution, versions)
    cost = cache[(key, resolution)]
    if attrs.adaptation in _FULL_ADAPTATIONS:
        trained = cost.params_m
    elif attrs.adaptation == "linear-probe":
        trained = cost.head_params_m
    return dataclasses.replace(
        attrs,
        size_class=size_class_of(cost.encoder_params_m) or UNK,
        params_m=round(cost.params_m, 4),
        encoder_params_m=round(cost.encoder_params_m, 4),
        feature_dim=cost.feature_dim,
        gflops=round(cost.gflops, 4),
        gflops_resolution=cost.resolution,
        trained_params_m=None if trained is None else round(trained, 4),
        cost_source=cost.source,
    )


def check_vocabulary(rows: Iterable[ModelAttributes]) -> None:
    for row in rows:
        for field, vocabulary in (("family", FAMILIES), ("pretraining", PRETRAININGS), ("adaptation", ADAPTATIONS)):
            value = getattr(row, field)
            if value not in vocabulary:
                raise ValueError(f"{row.model!r}: {field}={value!r} is outside the documented vocabulary")


def build(corpus: Path) -> tuple[list[ModelAttributes], dict[str, object]]:
    tv = import_torchvision()  # before timm, which imports torchvision itself
    import timm

    versions = {"tv": tv.__version__.split("+")[0], "timm": timm.__version__}
    records = read_corpus(corpus)
    overrides = read_overrides(OVERRIDES)
    unknown = sorted(set(overrides) - set(records))
    if unknown:
        raise ValueError(f"overrides name models absent from the corpus: {unknown[:5]}")
    cache: dict[tuple[str, int], Cost] = {}
    rows, parser_only = [], 0
    for name in sorted(records):
        parsed, reviewed = name_attributes(name, records[name], overrides.get(name, {}))
        if all(getattr(parsed, f) == getattr(reviewed, f) for f in NAME_FIELDS):
            parser_only += 1
        rows.append(with_cost(reviewed, cost_key(reviewed, overrides.get(name, {})), cache, versions))
    check_vocabulary(rows)
    stats = {
        "names": len(rows),
        "parser_only": parser_only,
        "overridden": len(rows) - parser_only,
        "override_facts": sum(len(v) for v in overrides.values()),
        "with_cost": sum(r.params_m is not None for r in rows),
        "definitions": len(cache),
        "versions": versions,
    }
    return rows, stats


def write(rows: list[ModelAttributes], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(format_row(row))


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="fail if the shipped table differs from a rebuild")
    args = ap.parse_args(argv)
    rows, stats = build(args.corpus)
    if args.check:
        tmp = args.out.with_suffix(".rebuild.csv")
        write(rows, tmp)
        same = tmp.read_text(encoding="utf-8") == args.out.read_text(encoding="utf-8")
        tmp.unlink()
        print("up to date" if same else f"{args.out} differs from a rebuild")
        return 0 if same else 1
    write(rows, args.out)
    for key, value in stats.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
