"""Synthetic-scenes detection proxy: several shape classes at several scales, with clutter and
occlusion, deterministic by seed (datasets.synthetic.scenes). Boxes are half-open pixel boxes
[x0, y0, x1, y1) and labels are 0-based class ids.

    data = proxy_split(n=600, seed=0, split="train")      # {"images": (N,3,H,W) float, "targets": [...]}
"""
from __future__ import annotations

import numpy as np
import torch

from .synthetic import SHAPES, SceneConfig, SceneDataset

# small and large objects (radius 9%..30% of the side), up to 3 per image, some overlap and clutter
PROXY = SceneConfig(size=64, n_classes=4, min_objects=1, max_objects=3, scale=(0.09, 0.3),
                    max_overlap=0.25, clutter=2, distractors=1, background_contrast=0.35)
CLASS_NAMES = tuple(SHAPES[:PROXY.n_classes])
_SPLIT_OFFSET = {"train": 0, "val": 1_000_003, "test": 2_000_003}


def proxy_split(n: int, seed: int, split: str = "train", cfg: SceneConfig = PROXY) -> dict:
    """n scenes of one split (train/val/test draw disjoint scene streams of the same seed).
    images: float32 (N, 3, H, W) in [0, 1]; targets: [{"boxes": (K, 4) float32, "labels": (K,) int64}]."""
    ds = SceneDataset(n, seed=seed * 7_919 + _SPLIT_OFFSET[split], cfg=cfg)
    scenes = [ds[i] for i in range(n)]
    images = torch.from_numpy(np.stack([s.image for s in scenes])).permute(0, 3, 1, 2).float().div_(255)
    targets = [{"boxes": torch.from_numpy(s.boxes.astype(np.float32)).reshape(-1, 4),
                "labels": torch.from_numpy(s.classes.astype(np.int64))} for s in scenes]
    return {"images": images.contiguous(), "targets": targets, "cfg": cfg, "class_names": CLASS_NAMES}


def batches(data: dict, batch_size: int, seed: int, epoch: int = 0):
    """Shuffled (images, targets) mini-batches for one epoch, deterministic in (seed, epoch)."""
    g = torch.Generator().manual_seed(seed * 1_000 + epoch)
    order = torch.randperm(len(data["images"]), generator=g)
    out = []
    for i in range(0, len(order) - batch_size + 1, batch_size):
        idx = order[i:i + batch_size]
        out.append((data["images"][idx], [data["targets"][j] for j in idx.tolist()]))
    return out
