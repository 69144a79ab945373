"""Localization maps and how much of a two-part object they cover.

    up = upsample(maps16, 64)                         # (N, 16, 16) -> (N, 64, 64), bilinear
    head_share(maps, parts)                           # share of the in-object mass on the head
    max_mask_iou(maps, fg)                            # best threshold's mean IoU with the object's mask
    centre_gaussian(64, sigma)                        # the fixed centre-prior map (a control)

Every map is min-max normalised per image first (`metrics.localization.normalize_scoremap`, as
wsolevaluation does), so the metrics compare shapes, not scales.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from metrics import localization as L

from .part_objects import BODY, HEAD


def upsample(maps: torch.Tensor, size: int) -> torch.Tensor:
    """(N, h, w) -> (N, size, size), bilinear (align_corners=False, as reference_impls.cam), on the host
    (every consumer scores them with numpy)."""
    return F.interpolate(maps[:, None].float(), size=(size, size), mode="bilinear", align_corners=False)[:, 0].cpu()


def normalized(maps) -> np.ndarray:
    """(N, H, W) -> the per-image min-max normalised maps (N, H, W) float64."""
    return np.stack([L.normalize_scoremap(m) for m in np.asarray(maps, dtype=np.float64)])


def centre_gaussian(size: int, sigma: float) -> np.ndarray:
    """exp(-r^2 / 2 sigma^2) around the canvas centre: the centre-prior map."""
    c = (size - 1) / 2
    yy, xx = np.mgrid[0:size, 0:size]
    return np.exp(-((yy - c) ** 2 + (xx - c) ** 2) / (2 * sigma ** 2))


def head_share(maps, parts) -> float:
    """Mean over images of (map mass on the head) / (map mass on the whole object). A map spread
    evenly over the object gives the head's share of the object's area (`head_area_share`)."""
    m, p = normalized(maps), np.asarray(parts)
    head = (m * (p == HEAD)).sum((1, 2))
    obj = (m * (p > 0)).sum((1, 2))
    return float(np.mean(head / np.maximum(obj, 1e-12)))


def head_area_share(parts) -> float:
    p = np.asarray(parts)
    return float(np.mean((p == HEAD).sum((1, 2)) / np.maximum((p > 0).sum((1, 2)), 1)))


def body_coverage(maps, parts, threshold: float = 0.5) -> float:
    """Mean fraction of the body's pixels where the normalised map reaches `threshold`."""
    m, p = normalized(maps), np.asarray(parts)
    body = p == BODY
    return float(np.mean(((m >= threshold) & body).sum((1, 2)) / np.maximum(body.sum((1, 2)), 1)))


def max_mask_iou(maps, fg, interval: float = 0.05) -> dict[str, float]:
    """Threshold-free mask IoU (the mask analogue of MaxBoxAcc): for each threshold t in
    arange(0, 1, interval), the mean over images of IoU(normalised map >= t, object mask); the best
    threshold's value (in %) and the threshold."""
    m, g = normalized(maps), np.asarray(fg, dtype=bool)
    best, best_t = -1.0, 0.0
    for t in np.arange(0, 1, interval):
        pred = m >= t
        inter = (pred & g).sum((1, 2))
        union = (pred | g).sum((1, 2))
        v = float(np.mean(inter / np.maximum(union, 1)))
        if v > best:
            best, best_t = v, float(t)
    return {"max_mask_iou": 100.0 * best, "max_mask_iou_threshold": best_t}


def localization_scores(maps, data: dict, interval: float = 0.05) -> dict[str, float]:
    """Every map metric of this suite for per-image maps (N, H, W) at image resolution, or one
    shared map (H, W) (a fixed prior), against data's boxes, masks and parts."""
    parts = data["masks"].numpy()
    maps = np.asarray(maps, dtype=np.float64)
    boxes = [b.reshape(1, 4).numpy() for b in data["boxes"]]
    if maps.ndim == 2:           # one shared map: its boxes are swept once, not once per image
        acc = L.box_accuracies(L.normalize_scoremap(maps), boxes, interval=interval)
        maps = np.broadcast_to(maps, parts.shape)
    else:
        acc = L.box_accuracies(list(normalized(maps)), boxes, interval=interval)
    return {**acc, **max_mask_iou(maps, parts > 0, interval), "head_share": head_share(maps, parts),
            "body_coverage": body_coverage(maps, parts)}
