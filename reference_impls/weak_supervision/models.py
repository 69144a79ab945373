"""Tiny 64-px networks sharing one backbone design, for the three weak-supervision claims.

    backbone (stride 4: 64x64 -> 16x16 maps, `width` * 4 channels)
    FCHeadNet    backbone -> flatten -> FC(hidden) -> ReLU -> FC(K)                 (classic FC head)
    NINNet       backbone -> conv3x3 + ReLU -> conv1x1 (K channels) -> GAP -> logits (Lin et al., NIN)
    ACoLNet      backbone -> classifier A (as NINNet's head) on the features
                          -> classifier B on the features with A's most discriminative region erased
    SegNet       backbone -> conv3x3 + ReLU -> conv1x1 (K + 1 channels) -> bilinear x4 (full supervision)

NINNet's class channels are its class activation maps (Zhou et al. 2016; ACoL Sec. 3.1): a GAP
network's CAM  M_c = sum_k w_k^c f_k  equals the 1x1 conv's channel c before the pooling, because
pooling and a linear map commute. ACoL (Zhang et al., CVPR 2018) erases, in the features fed to
classifier B, every position where A's min-max normalised map of the ground-truth class reaches
`threshold` (0.6 in the authors' released training scripts), trains both with cross-entropy on
image labels, and localizes with the element-wise max of the two normalised maps.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def backbone(width: int = 8) -> tuple[nn.Sequential, int]:
    """VGG-style 3x3 convs with BN, a stride-2 first conv and one 2x2 max-pool: 64x64 -> 16x16,
    `4 * width` channels (the stride-2 stem keeps a CPU training step cheap)."""
    def block(cin, cout, stride=1):
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True)]
    w = width
    layers = [*block(3, w, 2), *block(w, 2 * w), nn.MaxPool2d(2), *block(2 * w, 4 * w), *block(4 * w, 4 * w)]
    return nn.Sequential(*layers), 4 * w


def class_map_head(channels: int, n_out: int, hidden: int | None = None, depth: int = 1) -> nn.Sequential:
    """`depth` conv3x3 + ReLU layers (`hidden` units), then a 1x1 conv with one output channel per
    class (ACoL's classifier: depth 2, 1024 units on VGG16's conv5_3)."""
    hidden = hidden or channels
    layers, cin = [], channels
    for _ in range(depth):
        layers += [nn.Conv2d(cin, hidden, 3, padding=1), nn.ReLU(inplace=True)]
        cin = hidden
    return nn.Sequential(*layers, nn.Conv2d(cin, n_out, 1))


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each (h, w) map of (B, h, w) or (B, k, h, w) to [0, 1] (ACoL's
    `normalize_atten_maps`); a constant map becomes 0."""
    flat = maps.flatten(-2)
    lo, hi = flat.amin(-1, keepdim=True), flat.amax(-1, keepdim=True)
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view_as(maps)


class FCHeadNet(nn.Module):
    """The classic classifier: the backbone's 16x16 maps flattened into fully connected layers."""

    def __init__(self, n_classes: int, width: int = 8, hidden: int = 64, size: int = 64):
        super().__init__()
        self.features, ch = backbone(width)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(ch * (size // 4) ** 2, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, n_classes))

    def forward(self, x):
        return self.head(self.features(x))


class NINNet(nn.Module):
    """NIN-style head: the last conv has one channel per class, global average pooling gives the
    logits, softmax is in the loss; no fully connected layer."""

    def __init__(self, n_classes: int, width: int = 8):
        super().__init__()
        self.features, ch = backbone(width)
        self.head = class_map_head(ch, n_classes)

    def class_maps(self, x):
        """(B, K, 16, 16): the last conv's class channels (= the CAMs)."""
        return self.head(self.features(x))

    def forward(self, x, return_features: bool = False):
        f = self.head[:-1](self.features(x))           # the maps the 1x1 class conv weighs
        maps = self.head[-1](f)
        logits = maps.mean((2, 3))
        return (logits, f) if return_features else logits


class ACoLNet(nn.Module):
    """Adversarial complementary learning: classifiers A and B on a shared backbone."""

    def __init__(self, n_classes: int, width: int = 8, threshold: float = 0.6, features: nn.Module | None = None,
                 channels: int | None = None, hidden: int | None = None, depth: int = 1):
        super().__init__()
        if features is None:
            features, channels = backbone(width)
        self.features = features
        self.cls_a = class_map_head(channels, n_classes, hidden, depth)
        self.cls_b = class_map_head(channels, n_classes, hidden, depth)
        self.threshold = threshold

    def erase(self, f: torch.Tensor, map_a: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Zero the features wherever A's normalised map of `classes` is >= threshold."""
        m = normalize_maps(map_a[torch.arange(len(classes)), classes]).detach()
        return f * (m < self.threshold).unsqueeze(1).to(f.dtype)

    def branches(self, x, classes: torch.Tensor | None = None):
        """(map_a, map_b): both classifiers' class maps (B, K, h, w); B sees the features erased with
        A's map of `classes` (the labels in training; A's top-1 class when None, and for a label -1,
        an object-free training canvas)."""
        f = self.features(x)
        map_a = self.cls_a(f)
        top = map_a.mean((2, 3)).argmax(1)
        classes = top if classes is None else torch.where(classes >= 0, classes, top)   # -1: an object-free canvas
        return map_a, self.cls_b(self.erase(f, map_a, classes))

    def forward(self, x, labels: torch.Tensor | None = None):
        """(logits_a, logits_b)."""
        map_a, map_b = self.branches(x, labels)
        return map_a.mean((2, 3)), map_b.mean((2, 3))

    @torch.no_grad()
    def localization_maps(self, x, classes: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """(B, h, w) maps of `classes` (A's top-1 classes when None, returned as "classes"): A's, B's
        (both normalised) and the fused max(A, B)."""
        map_a, map_b = self.branches(x, classes)
        if classes is None:
            classes = map_a.mean((2, 3)).argmax(1)
        idx = torch.arange(len(classes))
        a, b = normalize_maps(map_a[idx, classes]), normalize_maps(map_b[idx, classes])
        return {"a": a, "b": b, "fused": torch.maximum(a, b), "classes": classes}


class SegNet(nn.Module):
    """The fully supervised model of the same size: NINNet's layers with K + 1 output channels
    (background + K classes), bilinearly upsampled to the input."""

    def __init__(self, n_classes: int, width: int = 8):
        super().__init__()
        self.features, ch = backbone(width)
        self.head = class_map_head(ch, n_classes + 1)

    def forward(self, x):
        return F.interpolate(self.head(self.features(x)), size=x.shape[-2:], mode="bilinear", align_corners=False)


def acol_vgg16(n_classes: int, backbone_weights=None, threshold: float = 0.6) -> ACoLNet:
    """The paper's ACoL-VGGNet: VGG16 up to conv5_3 (pool5 removed, 14x14 at 224 px; timm weights
    only from a named file), classifiers of two 3x3 convs with 1024 units and a 1x1 class conv."""
    from reference_impls.cam.models import _vgg16_to_conv5_3
    features, ch = _vgg16_to_conv5_3(backbone_weights)
    return ACoLNet(n_classes, threshold=threshold, features=features, channels=ch, hidden=1024, depth=2)


def head_params(model: nn.Module) -> int:
    """Parameters after the backbone (`model.head`)."""
    return sum(p.numel() for p in model.head.parameters())
