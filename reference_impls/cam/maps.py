"""Localization maps: CAM (Zhou et al. 2016), Grad-CAM (Selvaraju et al. 2017) and Backprop
saliency (Simonyan et al. 2014), each (B, k, H, W) for k requested classes, upsampled to the image."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def upsample(maps: torch.Tensor, size) -> torch.Tensor:
    """Bilinear upsampling of (B, k, h, w) maps to the image size (H, W)."""
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def cam_from_features(features: torch.Tensor, fc_weight: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """M_c(x, y) = sum_k w_k^c f_k(x, y): features (B, C, h, w), fc_weight (K, C), classes (B, k) -> (B, k, h, w)."""
    w = fc_weight[classes]                                    # (B, k, C)
    return torch.einsum("bkc,bchw->bkhw", w, features)


def top_classes(logits: torch.Tensor, k: int = 5) -> torch.Tensor:
    return logits.topk(min(k, logits.shape[1]), dim=1).indices


@torch.no_grad()
def cam(model, x: torch.Tensor, classes: torch.Tensor | None = None, k: int = 5):
    """(logits, maps): class activation maps for `classes` (B, k) or the top-k predicted classes."""
    logits, f = model(x, return_features=True)
    classes = top_classes(logits, k) if classes is None else classes
    return logits, upsample(cam_from_features(f, model.fc.weight, classes), x.shape[-2:]), classes


def _per_class_grads(model, x, classes, use_features: bool):
    """Gradients of each requested class score w.r.t. the input or the last conv maps."""
    out = []
    with torch.enable_grad():
        x = x.detach().requires_grad_(use_features is False)
        logits, f = model(x, return_features=True)
        for j in range(classes.shape[1]):
            s = logits.gather(1, classes[:, j:j + 1]).sum()
            target = f if use_features else x
            g, = torch.autograd.grad(s, target, retain_graph=j + 1 < classes.shape[1])
            out.append(g)
    return logits.detach(), f.detach(), out


def gradcam(model, x: torch.Tensor, classes: torch.Tensor | None = None, k: int = 5, relu: bool = True,
            size=None):
    """Grad-CAM: ReLU(sum_k alpha_k^c A_k), alpha = spatial mean of d score_c / d A_k, upsampled to
    the image (`size=False`: at the feature maps' resolution; `relu=False`: before the ReLU)."""
    if classes is None:
        with torch.no_grad():
            classes = top_classes(model(x), k)
    logits, f, grads = _per_class_grads(model, x, classes, use_features=True)
    maps = torch.stack([(g.mean((2, 3), keepdim=True) * f).sum(1) for g in grads], 1)
    maps = F.relu(maps) if relu else maps
    return logits, maps if size is False else upsample(maps, x.shape[-2:]), classes


def backprop_saliency(model, x: torch.Tensor, classes: torch.Tensor | None = None, k: int = 5):
    """Simonyan et al.: |d score_c / d image|, max over colour channels, at image resolution."""
    if classes is None:
        with torch.no_grad():
            classes = top_classes(model(x), k)
    logits, _, grads = _per_class_grads(model, x, classes, use_features=False)
    return logits, torch.stack([g.abs().amax(1) for g in grads], 1), classes


METHODS = {"cam": cam, "gradcam": gradcam, "backprop": backprop_saliency}
