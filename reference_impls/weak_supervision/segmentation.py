"""Segmentation masks seeded by class activation maps (image labels only) and their scoring.

    masks = cam_seed_masks(maps, classes, threshold=0.3)  # pixel -> class + 1 where the class's map
                                                           # reaches `threshold` of its range, else 0
    masks = box_prior_masks(box, classes, size)           # control: a fixed box filled with the class
    miou(masks, semantic, n_classes + 1)                   # VOC IoU (metrics.segmentation), in %

The weak model never sees a mask: its class comes from the classifier (top-1), its extent from the
CAM of that class. Seeds are used as the segmentation directly (no second network is trained on
them: a protocol simplification, see suites/weak_supervision/README.md).
"""
from __future__ import annotations

import numpy as np
import torch

from metrics.segmentation import confusion_matrix, scores_from_confusion

from .maps import normalized


def cam_seed_masks(maps, classes, threshold: float, is_normalized: bool = False) -> np.ndarray:
    """maps (N, H, W) of each image's predicted class, classes (N,) -> labels (N, H, W): class + 1
    where the min-max normalised map is >= threshold, background 0 elsewhere (`is_normalized`: the
    maps are `maps.normalized` already, e.g. for a threshold sweep)."""
    m = np.asarray(maps) if is_normalized else normalized(maps)
    c = np.asarray(classes).reshape(-1, 1, 1)
    return np.where(m >= threshold, c + 1, 0).astype(np.int64)


def box_prior_masks(box, classes, size: int) -> np.ndarray:
    """The inclusive box (x0, y0, x1, y1) filled with each image's class + 1, background elsewhere."""
    x0, y0, x1, y1 = (int(v) for v in box)
    inside = np.zeros((size, size), bool)
    inside[y0:y1 + 1, x0:x1 + 1] = True
    c = np.asarray(classes).reshape(-1, 1, 1)
    return np.where(inside[None], c + 1, 0).astype(np.int64)


def miou(pred, target, num_classes: int) -> dict:
    """mIoU (%) over background + classes, and the per-class IoUs (%)."""
    s = scores_from_confusion(confusion_matrix(torch.as_tensor(pred), torch.as_tensor(target), num_classes,
                                               ignore_index=None))
    return {"miou": 100.0 * s["miou"], "iou": [round(100.0 * v, 2) for v in s["iou"]],
            "pixel_acc": 100.0 * s["pixel_acc"]}
