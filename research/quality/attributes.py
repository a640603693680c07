"""Quick regex model attributes (experiment only; the real catalogue is built elsewhere).

attributes(name) -> dict(backbone, family, adaptation, pretraining, size)
"""
from __future__ import annotations

import re

ADAPT = [  # first match wins
    (r"frozen-feature MIL|ABMIL head|^MIL ", "mil"),
    (r"zero-shot", "zeroshot"),
    (r"kNN", "knn"),
    (r"linear probe", "linear"),
    (r"VPT", "vpt"),
    (r"off-the-shelf", "offshelf"),
    (r"scratch|random init|\(supervised\)", "scratch"),
    (r"init unstated", "supervised"),
    (r"AutoKeras|auto-sklearn|AutoML", "automl"),
    (r"fine-tune|trained on RadImageNet|patch classifier|patch->whole|domain-adaptive", "finetune"),
    (r"baseline", "supervised"),
]

PATH_FM = ("uni", "conch", "virchow", "phikon", "hoptimus", "hibou", "gigapath", "musk", "plip", "quilt",
           "keep", "provgigapath", "titan", "gpfm", "chief", "mstar", "exaonepath", "hipt", "kaiko", "lunit", "midnight",
           "h0mini", "ctranspath", "retccl", "mizero", "sp22m", "sp85m", "tres50")
MED_VL = ("biomedclip", "medclip", "biovil", "chexzero", "cxrclip", "medimageinsight", "unimedclip", "biomedgpt",
          "fetalclip", "dermlip", "monet", "make", "dermfmzero", "panderm", "retfound", "remedis")
CXR_CNN = ("xrv", "chexpert", "jfhealthcare")
GEN_VL = ("clip", "align", "blip")
NAT_VIT = ("vit", "dino", "eva", "sam", "beit", "ibot", "swin", "cait", "deit")
CNN = ("resnet", "densenet", "vgg", "efficientnet", "alexnet", "inception", "xception", "mobilenet", "shufflenet",
       "mnasnet", "googlenet", "convnext", "liu20203d", "customcnn", "yaroslavnet", "gmic", "dibmg", "mil")
AUTOML = ("autokeras", "autosklearn", "googleautoml")
ALIASES = {"uni2h": "uni2", "phikonv2": "phikon2", "conchv1.5": "conch1.5", "quiltnetb/16": "quiltnet",
           "hoptimus0": "hoptimus0", "resnet50(tr)": "resnet50"}


def backbone_of(name: str) -> str:
    base = re.split(r" \(| \+| \[|,", name)[0]
    key = re.sub(r"[\s\-_]", "", base.lower())
    return ALIASES.get(key, key)


def adaptation_of(name: str) -> str:
    for pat, lab in ADAPT:
        if re.search(pat, name):
            return lab
    return "other"


def family_of(bb: str) -> str:
    for fam, keys in (("automl", AUTOML), ("cxr_cnn", CXR_CNN), ("med_vl", MED_VL), ("path_fm", PATH_FM),
                      ("gen_vl", GEN_VL), ("nat_vit", NAT_VIT), ("cnn", CNN)):
        if any(bb.startswith(k) for k in keys):
            return fam
    return "other"


def size_of(name: str) -> str:
    n = name
    if re.search(r"7B|ViT-g|giant|ViT-H|-L\b|ViT-L|/14|Large|H-optimus|H-Optimus|UNI2|Virchow|GigaPath", n):
        return "L"
    if re.search(r"ViT-B|-B\b|B/\d|base|Base|-50|-101|-152|50\b|121|169|201|B[3-7]\b|V2-S|Inception", n):
        return "B"
    if re.search(r"ViT-S|S/\d|-18|-34|Tiny|Small|mini|x0.5|B0|B1|AlexNet|VGG|Mnas|GoogLeNet|MobileNet", n):
        return "S"
    return "?"


def pretraining_of(family: str, adaptation: str) -> str:
    if adaptation == "scratch":
        return "none"
    return {"path_fm": "pathology", "med_vl": "medical", "cxr_cnn": "medical", "gen_vl": "web_vl",
            "nat_vit": "natural", "cnn": "natural"}.get(family, "other")


def attributes(name: str) -> dict:
    bb = backbone_of(name)
    ad = adaptation_of(name)
    fam = family_of(bb)
    return {"backbone": bb, "family": fam, "adaptation": ad, "pretraining": pretraining_of(fam, ad),
            "size": size_of(name)}


if __name__ == "__main__":
    import collections
    import sys
    import pandas as pd
    from harness import DATA
    models = sorted(pd.read_csv(sys.argv[1] if len(sys.argv) > 1 else DATA)["model"].astype(str).unique())
    A = pd.DataFrame([dict(model=m, **attributes(m)) for m in models])
    print(A.family.value_counts(), A.adaptation.value_counts(), A["size"].value_counts(), A.backbone.nunique())
    print(A[A.family.isin(["other"]) | A.adaptation.isin(["other"])].to_string())
