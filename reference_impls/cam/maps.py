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


def _per_class_grads(model, x, classes, wrt=("features",), k: int = 5):
    """One forward pass, then per requested class one backward pass giving the class score's
    gradients w.r.t. each of `wrt` ("features": the last conv maps, "input": the image) at once.
    `classes` None: the top-k classes of that same forward pass (no second forward).
    Returns (logits, features, [tuple of gradients, in the order of `wrt`, per class], classes)."""
    out = []
    with torch.enable_grad():
        x = x.detach().requires_grad_("input" in wrt)
        logits, f = model(x, return_features=True)
        if classes is None:
            classes = top_classes(logits.detach(), k)
        targets = [f if w == "features" else x for w in wrt]
        for j in range(classes.shape[1]):
            s = logits.gather(1, classes[:, j:j + 1]).sum()
            out.append(torch.autograd.grad(s, targets, retain_graph=j + 1 < classes.shape[1]))
    return logits.detach(), f.detach(), out, classes


def _gradcam_maps(f, grads, relu: bool = True):
    maps = torch.stack([(g.mean((2, 3), keepdim=True) * f).sum(1) for g in grads], 1)
    return F.relu(maps) if relu else maps


def _saliency_maps(grads):
    return torch.stack([g.abs().amax(1) for g in grads], 1)


def gradcam(model, x: torch.Tensor, classes: torch.Tensor | None = None, k: int = 5, relu: bool = True,
            size=None):
    """Grad-CAM: ReLU(sum_k alpha_k^c A_k), alpha = spatial mean of d score_c / d A_k, upsampled to
    the image (`size=False`: at the feature maps' resolution; `relu=False`: before the ReLU)."""
    logits, f, grads, classes = _per_class_grads(model, x, classes, ("features",), k)
    maps = _gradcam_maps(f, [g for g, in grads], relu)
    return logits, maps if size is False else upsample(maps, x.shape[-2:]), classes


def backprop_saliency(model, x: torch.Tensor, classes: torch.Tensor | None = None, k: int = 5):
    """Simonyan et al.: |d score_c / d image|, max over colour channels, at image resolution."""
    logits, _, grads, classes = _per_class_grads(model, x, classes, ("input",), k)
    return logits, _saliency_maps([g for g, in grads]), classes


def gradcam_and_backprop(model, x: torch.Tensor, classes: torch.Tensor | None = None, k: int = 5):
    """`gradcam` and `backprop_saliency` of the same classes from one forward pass and one backward
    pass per class (both gradients at once): (logits, Grad-CAM maps, Backprop maps, classes), the
    same numbers as the two functions called apart."""
    logits, f, grads, classes = _per_class_grads(model, x, classes, ("features", "input"), k)
    return (logits, upsample(_gradcam_maps(f, [g for g, _ in grads]), x.shape[-2:]),
            _saliency_maps([g for _, g in grads]), classes)


METHODS = {"cam": cam, "gradcam": gradcam, "backprop": backprop_saliency}
