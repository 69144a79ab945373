"""Trivial detectors that never look at the test image: the controls a trained detector must beat.

Both are fitted on the TRAINING split's ground truth only and emit the same boxes for every test
image, in the `predict` format (boxes (K, 4) float32 xyxy, scores (K,), labels (K,) 0-based), so the
same VOC 07 / COCO scoring code scores them as it scores a detector.

    centre = centre_box_prior(train, n_images=256)        # per class: its mean box at the centre
    fixed = fixed_box_prior(train, n_images=256, k=25)    # per class: the k best fixed boxes

- `centre_box_prior`: for each class, one box of that class's mean training width and height
  centred in the image, with confidence = the class's share of the training boxes.
- `fixed_box_prior`: for each class, k boxes chosen greedily among the class's training boxes
  (as candidates) to cover the most training boxes of that class at IoU >= 0.5 (greedy set
  cover); each box's confidence is the fraction of training boxes it newly covers, so boxes are
  ranked by the precision they would have had on the training set. This is the strongest
  image-blind detector for an AP50 metric we know how to fit cheaply: AP only rises when more,
  lower-scored boxes are added, and COCO keeps 100 detections per image (k = 25 x 4 classes).
"""
from __future__ import annotations

import numpy as np


def _train_boxes(train: dict) -> tuple[np.ndarray, np.ndarray]:
    boxes = np.concatenate([np.asarray(t["boxes"], np.float64).reshape(-1, 4) for t in train["targets"]])
    labels = np.concatenate([np.asarray(t["labels"]).reshape(-1) for t in train["targets"]]).astype(np.int64)
    return boxes, labels


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes (half-open pixel boxes: area = w * h)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _repeat(boxes, scores, labels, n_images: int) -> list[dict]:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores, labels = np.asarray(scores, np.float32), np.asarray(labels, np.int64)
    return [{"boxes": boxes.copy(), "scores": scores.copy(), "labels": labels.copy()} for _ in range(n_images)]


def centre_box_prior(train: dict, n_images: int, size: int | None = None) -> list[dict]:
    """Per class, the class's mean training box size at the image centre; confidence = class frequency."""
    size = size or train["images"].shape[-1]
    boxes, labels = _train_boxes(train)
    out_b, out_s, out_l = [], [], []
    for c in range(len(train["class_names"])):
        mine = boxes[labels == c]
        if not len(mine):
            continue
        w, h = float((mine[:, 2] - mine[:, 0]).mean()), float((mine[:, 3] - mine[:, 1]).mean())
        out_b.append([size / 2 - w / 2, size / 2 - h / 2, size / 2 + w / 2, size / 2 + h / 2])
        out_s.append(len(mine) / len(boxes))
        out_l.append(c)
    return _repeat(out_b, out_s, out_l, n_images)


def fixed_box_prior(train: dict, n_images: int, k: int = 25, iou: float = 0.5) -> list[dict]:
    """Per class, the k fixed boxes (among its training boxes) that greedily cover the most
    training boxes of the class at IoU >= `iou`; confidence = covered boxes / training images."""
    boxes, labels = _train_boxes(train)
    n_train = len(train["targets"])
    out_b, out_s, out_l = [], [], []
    for c in range(len(train["class_names"])):
        mine = boxes[labels == c]
        if not len(mine):
            continue
        hits = box_iou(mine, mine) >= iou            # candidate i covers ground-truth box j
        covered = np.zeros(len(mine), bool)
        for _ in range(min(k, len(mine))):
            gain = (hits & ~covered[None, :]).sum(1)
            best = int(np.argmax(gain))               # ties: the first candidate (deterministic)
            if gain[best] == 0:
                break
            out_b.append(mine[best])
            out_s.append(gain[best] / n_train)
            out_l.append(c)
            covered |= hits[best]
    return _repeat(out_b, out_s, out_l, n_images)


__all__ = ["box_iou", "centre_box_prior", "fixed_box_prior"]
