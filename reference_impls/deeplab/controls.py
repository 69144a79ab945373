"""Trivial segmentation baselines: the controls a trained DeepLab must beat (they never see the image).

    prior = position_prior(train_labels, num_classes)        # (H, W): each position's most frequent label
    pred = predict_prior(prior, n_images, out_size)          # (N, *out_size), nearest-upsampled

- position prior: at every pixel position, the label most often seen there in the training set
  (void / ignore pixels not counted). In driving scenes (CamVid) this alone is a strong baseline:
  sky on top, road at the bottom, buildings at the sides.
- majority class: one label for every pixel, the most frequent labelled class of the training set.
A position that no training image labels falls back to the majority class. Ties go to the lower
class index (`argmax` picks the first maximum), so both are deterministic.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def class_counts(labels: torch.Tensor, num_classes: int, ignore_index: int = 255) -> torch.Tensor:
    """(N, H, W) integer labels -> (num_classes, H, W) int64 counts per position (ignore not counted)."""
    labels = torch.as_tensor(labels).long()
    if labels.ndim != 3:
        raise ValueError(f"labels must be (N, H, W), got shape {tuple(labels.shape)}")
    keep = labels != ignore_index
    bad = keep & ((labels < 0) | (labels >= num_classes))
    if bad.any():
        raise ValueError(f"label {int(labels[bad][0])} outside [0, {num_classes}) and not the ignore label")
    n, h, w = labels.shape
    cell = (labels * (h * w) + torch.arange(h * w).view(1, h, w))[keep]      # (class, position) of each pixel
    return torch.bincount(cell, minlength=num_classes * h * w).view(num_classes, h, w)


def majority_class(labels: torch.Tensor, num_classes: int, ignore_index: int = 255) -> int:
    """The most frequent labelled class over all training pixels."""
    labels = torch.as_tensor(labels).long().flatten()
    labels = labels[labels != ignore_index]
    if labels.numel() == 0:
        raise ValueError("no labelled pixel to take a majority from")
    return int(torch.bincount(labels, minlength=num_classes).argmax())


def position_prior(labels: torch.Tensor, num_classes: int, ignore_index: int = 255) -> torch.Tensor:
    """(H, W) int64: each position's most frequent training label (the per-position class prior)."""
    counts = class_counts(labels, num_classes, ignore_index)
    prior = counts.argmax(0)
    unseen = counts.sum(0) == 0
    return torch.where(unseen, majority_class(labels, num_classes, ignore_index), prior)


def predict_prior(prior: torch.Tensor, n: int, out_size=None) -> torch.Tensor:
    """The prior map as every image's prediction: (n, *out_size) int64, nearest-upsampled."""
    p = prior.long()
    if out_size is not None and tuple(out_size) != tuple(p.shape):
        p = F.interpolate(p[None, None].float(), size=tuple(out_size), mode="nearest")[0, 0].long()
    return p.expand(n, *p.shape).clone()
