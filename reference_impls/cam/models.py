"""GAP (and GMP) classifiers for class activation mapping, Zhou et al., CVPR 2016, Sec. 2.

    conv features (stride 8-16) -> extra 3x3 conv + ReLU -> global average (or max) pooling -> linear

The paper removes the layers after a mid-level conv block (GoogLeNet: after inception4e;
VGG16: after conv5_3, pool5 included), adds a 3x3 conv with 1024 units, GAP and a softmax
layer, and fine-tunes on ILSVRC. `build_model` gives those (backbones from torchvision/timm,
pretrained weights only from a named file) and a small VGG-style net for the smoke tier.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from reference_impls.common.train import CheckpointError


class CAMNet(nn.Module):
    """features -> extra conv -> GAP/GMP -> fc. `forward(x, return_features=True)` also returns
    the last conv maps (B, C, h, w), from which `cam` weighs class activation maps."""

    def __init__(self, features: nn.Module, feat_channels: int, n_classes: int, width: int = 1024,
                 pool: str = "gap"):
        super().__init__()
        if pool not in ("gap", "gmp"):
            raise ValueError(f"pool must be 'gap' or 'gmp', got {pool!r}")
        self.features, self.pool = features, pool
        self.extra = nn.Sequential(nn.Conv2d(feat_channels, width, 3, padding=1), nn.ReLU(inplace=True))
        self.fc = nn.Linear(width, n_classes)

    def forward(self, x, return_features: bool = False):
        f = self.extra(self.features(x))
        pooled = f.mean((2, 3)) if self.pool == "gap" else f.amax((2, 3))
        logits = self.fc(pooled)
        return (logits, f) if return_features else logits


class FCNet(nn.Module):
    """A classifier WITHOUT global pooling (VGG-style: conv features -> max-pool to a `grid` x `grid`
    map -> flatten -> FC -> ReLU -> FC, as VGG-16's pool5 -> fc6), for Grad-CAM (Selvaraju et al.
    2017), which needs no GAP: its maps weigh the last conv maps by the spatial mean of the class
    score's gradient. No CAM exists for it. `forward(x, return_features=True)` also returns the last
    conv maps (B, C, h, w). The smoke FCNet sees a 4x4 grid (max-pool 4 of the 16x16 maps): with an
    8x8 grid (max-pool 2) it classified at 39-66% top-1 error after the smoke recipe, 9-23% with 4x4."""

    def __init__(self, features: nn.Module, feat_channels: int, n_classes: int, map_size: int, hidden: int = 64,
                 grid: int = 4):
        super().__init__()
        self.features = features
        self.head = nn.Sequential(nn.MaxPool2d(map_size // grid), nn.Flatten(), nn.Linear(feat_channels * grid ** 2, hidden),
                                  nn.ReLU(inplace=True), nn.Linear(hidden, n_classes))

    def forward(self, x, return_features: bool = False):
        f = self.features(x)
        logits = self.head(f)
        return (logits, f) if return_features else logits


def small_vgg(width: int = 16) -> tuple[nn.Module, int]:
    """Smoke-tier backbone: VGG-style 3x3 convs, stride 4 (64x64 input -> 16x16 maps)."""
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    w = width
    layers = [*block(3, w), nn.MaxPool2d(2), *block(w, 2 * w), nn.MaxPool2d(2), *block(2 * w, 2 * w),
              *block(2 * w, 4 * w)]
    return nn.Sequential(*layers), 4 * w


def _googlenet_to_4e(weights):
    """torchvision GoogLeNet up to inception4e (14x14 at 224 px), as in the paper."""
    import torchvision
    g = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=weights is None)
    if weights is not None:
        _load_googlenet(g, weights)
    names = ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
             "inception4a", "inception4b", "inception4c", "inception4d", "inception4e"]
    return nn.Sequential(GoogLeNetInput(), *[getattr(g, n) for n in names]), 832


class GoogLeNetInput(nn.Module):
    """torchvision GoogLeNet's `transform_input` (its pretrained weights expect it): inputs normalised
    with the ImageNet mean/std are mapped to (x - 0.5) / 0.5 per channel. No parameters."""

    def forward(self, x):
        mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        return torch.cat([x[:, i:i + 1] * (std[i] / 0.5) + (mean[i] - 0.5) / 0.5 for i in range(3)], 1)


class OffTheShelf(nn.Module):
    """An ImageNet classifier as published (its own head), exposing a conv layer's maps for Grad-CAM
    and Backprop saliency: `forward(x, return_features=True)` -> (logits, maps)."""

    def __init__(self, trunk: nn.Module, head: nn.Module):
        super().__init__()
        self.trunk, self.head = trunk, head

    def forward(self, x, return_features: bool = False):
        f = self.trunk(x)
        logits = self.head(f)
        return (logits, f) if return_features else logits


def off_the_shelf(arch: str, weights) -> OffTheShelf:
    """torchvision VGG16 (Grad-CAM at conv5_3 + ReLU, as Selvaraju et al.) or GoogLeNet (the paper's
    Backprop rows used the off-the-shelf BVLC GoogLeNet), weights loaded strictly from `weights`."""
    import torchvision
    from reference_impls.common import safe_load
    from reference_impls.common.train import load_state
    if arch == "vgg16":
        v = torchvision.models.vgg16(weights=None)
        load_state(v, _state(safe_load(_file(weights)), weights), weights, "pretrained VGG16 weights")
        return OffTheShelf(v.features[:30], nn.Sequential(v.features[30], v.avgpool, nn.Flatten(1), v.classifier)).eval()
    if arch == "googlenet":
        g = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)
        _load_googlenet(g, weights)
        trunk = nn.Sequential(GoogLeNetInput(), *[getattr(g, n) for n in (
            "conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3", "inception4a",
            "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4", "inception5a", "inception5b")])
        return OffTheShelf(trunk, nn.Sequential(g.avgpool, nn.Flatten(1), g.dropout, g.fc)).eval()
    raise ValueError(f"off_the_shelf: vgg16 or googlenet, not {arch!r}")


def _file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"pretrained weights: no such file {path} (nothing is downloaded)")
    return path


def _state(state, path):
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise CheckpointError(f"pretrained weights: {path} does not hold a state_dict")
    return state


def _vgg16_to_conv5_3(weights):
    """timm VGG16 up to conv5_3 + ReLU (pool5 removed: 14x14 at 224 px), as in the paper."""
    from reference_impls.common.backbones import backbone
    v = backbone("vgg16", weights=weights)
    return nn.Sequential(*list(v.features.children())[:-1]), 512


def _resnet50_to_layer3(weights):
    """timm ResNet-50 up to layer3 (stride 16), the usual ResNet CAM cut (wsolevaluation)."""
    from reference_impls.common.backbones import backbone
    r = backbone("resnet50", weights=weights)
    return nn.Sequential(r.conv1, r.bn1, r.act1, r.maxpool, r.layer1, r.layer2, r.layer3), 1024


def _load_googlenet(model: nn.Module, path):
    """torchvision GoogLeNet weights, strictly: every tensor of the (aux-free) model must come from
    the file with its shape; only the auxiliary classifiers (aux1.*, aux2.*, which torchvision's
    file holds and the paper's cut model never uses) may be left over. A file that loads nothing
    -- another model's weights, a "module." prefix -- raises CheckpointError naming it."""
    from reference_impls.common import safe_load
    from reference_impls.common.train import load_state
    state = _state(safe_load(_file(path)), path)
    state = {k: v for k, v in state.items() if not k.startswith(("aux1.", "aux2."))}
    load_state(model, state, path, "pretrained GoogLeNet weights")


ARCHS = {"small_vgg": None, "googlenet": _googlenet_to_4e, "vgg16": _vgg16_to_conv5_3, "resnet50": _resnet50_to_layer3}


def build_model(arch: str, n_classes: int, pool: str = "gap", width: int | None = None,
                backbone_weights: str | Path | None = None) -> CAMNet:
    """arch: small_vgg (smoke) | googlenet | vgg16 | resnet50; pool: gap | gmp | fc (small_vgg only:
    `FCNet`, no global pooling, for Grad-CAM)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose from {sorted(ARCHS)}")
    if arch == "small_vgg" and pool == "fc":
        features, ch = small_vgg()
        return FCNet(features, ch, n_classes, map_size=16, hidden=width or 64)
    if arch == "small_vgg":
        features, ch = small_vgg()
        return CAMNet(features, ch, n_classes, width=width or 64, pool=pool)
    features, ch = ARCHS[arch](backbone_weights)
    return CAMNet(features, ch, n_classes, width=width or 1024, pool=pool)
