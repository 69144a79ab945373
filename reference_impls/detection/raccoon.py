"""The raccoon set (200 real photographs, one class, PASCAL VOC XML) in the smoke tier.

Both detectors train on the set's published 160-image train split, resized to a small square, and
are scored on its 40 test images with the VOC 2007 protocol on the images' own XML: predictions are
mapped back to each image's original pixels (1-based inclusive, as the devkit reads the XML) and
matched at IoU 0.5 by `metrics.detection.voc_evaluate` (11-point AP; the area AP beside it).

    data = load_split(data_root, "train", size=96)      # images (N,3,s,s) in [0,1], targets, records
    scores = score(preds, test)                          # preds in the s x s frame, 0-based labels
    prior = score(centre_box_prior(train, len(test["images"])), test)   # the image-blind control
"""
from __future__ import annotations

import numpy as np
import torch

from datasets.detection_proxy import batches
from datasets.voc_detection import RACCOON_CLASSES, load_image, load_raccoon
from metrics.detection import GroundTruth, voc_evaluate


def load_split(data_root, split: str, size: int) -> dict:
    """The raccoon `split` ('train' 160 / 'test' 40, the set's CSV split) as size x size images
    with half-open boxes in that frame (0-based labels), and the original records for scoring."""
    recs = load_raccoon(data_root, split)
    images, targets, scales = [], [], []
    for r in recs:
        img, boxes = load_image(r, size=size)
        images.append(torch.from_numpy(img.copy()).permute(2, 0, 1))
        targets.append({"boxes": torch.from_numpy(boxes).reshape(-1, 4), "labels": torch.from_numpy(r["labels"])})
        scales.append([size / r["width"], size / r["height"]] * 2)
    return {"images": torch.stack(images).float().div_(255).contiguous(), "targets": targets, "records": recs,
            "scales": np.asarray(scales, np.float64), "class_names": RACCOON_CLASSES}


def fingerprint(data_root) -> str:
    """The raccoon files' identity for the checkpoint cache: the hash of the set's SHA256SUMS."""
    import hashlib
    from datasets import locate, read_text
    sums = locate(data_root, "raccoon/SHA256SUMS", "raccoon/SHA256SUMS (the set's checksums)")
    return "raccoon:" + hashlib.sha256(read_text(sums).encode()).hexdigest()[:16]


def hflip(images: torch.Tensor, targets: list[dict], flip: torch.Tensor) -> tuple[torch.Tensor, list[dict]]:
    """Mirror the images where `flip` (N,) is True, and their half-open boxes: x -> W - x."""
    W = images.shape[-1]
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    out = []
    for t, f in zip(targets, flip.tolist()):
        b = t["boxes"]
        out.append({"boxes": torch.stack([W - b[:, 2], b[:, 1], W - b[:, 0], b[:, 3]], 1) if f else b,
                    "labels": t["labels"]})
    return images, out


def flipped_batches(data: dict, batch_size: int, seed: int, epoch: int = 0) -> list:
    """`detection_proxy.batches` with each image mirrored left-right with probability 1/2 (seeded
    by seed and epoch): the papers' training augmentation (Faster R-CNN: flips only)."""
    g = torch.Generator().manual_seed(seed * 1_000 + epoch + 500_009)
    out = []
    for images, targets in batches(data, batch_size, seed, epoch):
        out.append(hflip(images, targets, torch.rand(len(images), generator=g) < 0.5))
    return out


def to_original(preds: list[dict], data: dict) -> dict:
    """Predictions in the resized frame (half-open pixels) -> each image's original pixels in the
    XML's 1-based inclusive convention, keyed by the record id."""
    out = {}
    for p, rec, s in zip(preds, data["records"], data["scales"]):
        b = np.asarray(p["boxes"], np.float64).reshape(-1, 4) / s
        b[:, :2] += 1
        b = np.clip(b, 1, [rec["width"], rec["height"]] * 2)
        b[:, 2:] = np.maximum(b[:, 2:], b[:, :2])   # a box under one pixel wide stays a (1-pixel) box
        out[rec["id"]] = {"boxes": b, "scores": np.asarray(p["scores"]), "labels": np.asarray(p["labels"])}
    return out


def score(preds: list[dict], data: dict) -> dict:
    """VOC 2007 11-point AP (IoU 0.5) and the 2010+ area AP on the records' own XML boxes."""
    gts = {r["id"]: GroundTruth(r["boxes"], r["labels"], r["difficult"]) for r in data["records"]}
    res = voc_evaluate(to_original(preds, data), gts, len(data["class_names"]), use_07=True, inclusive=True,
                       class_names=data["class_names"])
    return {"voc07_mAP": res["mAP"], "voc_area_mAP": res["mAP_area"]}


__all__ = ["load_split", "fingerprint", "hflip", "flipped_batches", "to_original", "score"]
