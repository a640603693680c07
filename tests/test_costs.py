"""Catalogue costs against architectures written out here, independently of the catalogue's
build script (which used torchvision): parameters by ``sum(p.numel())`` and FLOPs by
``torch.utils.flop_counter`` on plain ``torch.nn`` definitions of AlexNet and ResNet-18."""

from __future__ import annotations

import pytest

from medicalrec.catalogue import Catalogue

torch = pytest.importorskip("torch")
nn = torch.nn


def alexnet() -> nn.Module:
    """AlexNet as in "One weird trick" (the torchvision variant), 1000 classes."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.AdaptiveAvgPool2d((6, 6)), nn.Flatten(),
        nn.Linear(256 * 6 * 6, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000),
    )


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


def resnet18() -> nn.Module:
    """ResNet-18 (He et al. 2016) with the ImageNet stem, 1000 classes."""
    layers, cin = [], 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
        cin = cout
    return nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                         *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000))


def _flops(net: nn.Module, resolution: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net.eval()(torch.zeros(1, 3, resolution, resolution))
    return counter.get_total_flops() / 1e9


@pytest.mark.parametrize("name,build,feature_dim", [("AlexNet", alexnet, 4096), ("ResNet-18", resnet18, 512)])
def test_costs_equal_an_independent_count(name, build, feature_dim):
    catalogue = Catalogue.load()
    net = build()
    params_m = sum(p.numel() for p in net.parameters()) / 1e6
    fine_tune = catalogue.attributes(f"{name} (fine-tune)")
    assert fine_tune.params_m == pytest.approx(params_m, abs=1e-4)
    assert fine_tune.gflops == pytest.approx(_flops(net, fine_tune.gflops_resolution), rel=0.01)
    assert fine_tune.trained_params_m == fine_tune.params_m
    # Probes train only the head: a linear layer from the frozen features to 1000 classes, or nothing.
    assert catalogue.attributes(f"{name} (linear probe)").trained_params_m == pytest.approx(
        (feature_dim * 1000 + 1000) / 1e6, abs=1e-4)
    assert catalogue.attributes(f"{name} (kNN probe)").trained_params_m == 0
