"""Smoke-tier weakly supervised localization proxy: one object on a larger cluttered canvas.

    data = wsol_proxy(n=3000, seed=0)          # train split: images + image-level labels only
    data["images"]  (N, 3, S, S) float32, normalised
    data["labels"]  (N,) int64 class of the one object
    data["boxes"]   (N, 4) int64 inclusive pixel box (x0, y0, x1, y1) -- held out for evaluation

Each canvas holds exactly one object of one of K shape classes (datasets.synthetic.scenes),
small relative to the canvas (so the centre box and the full-image box are poor guesses),
placed anywhere, with clutter strokes and distractor blobs around it. Training code only ever
sees "images" and "labels" (`train_view`); "boxes" exist for the evaluation split.

Boxes use the ILSVRC/wsolevaluation convention: inclusive pixel coordinates, so a box
covering columns 3..10 is (3, y0, 10, y1) and has width 8.
"""
from __future__ import annotations

import numpy as np
import torch

from .synthetic import SceneConfig, make_scene

CANVAS = 64
CONFIG = SceneConfig(size=CANVAS, n_classes=6, min_objects=1, max_objects=1, scale=(0.12, 0.22),
                     clutter=6, distractors=3, background_contrast=0.5)
MEAN, STD = 100.0, 60.0


def wsol_proxy(n: int, seed: int, split: str = "train", cfg: SceneConfig = CONFIG) -> dict[str, torch.Tensor]:
    """`n` canvases for `split` ("train" or "test": disjoint random streams), deterministic by seed."""
    stream = {"train": 0, "test": 1}[split]
    images = np.zeros((n, cfg.size, cfg.size, 3), np.uint8)
    labels = np.zeros(n, np.int64)
    boxes = np.zeros((n, 4), np.int64)
    for i in range(n):
        s = make_scene(np.random.default_rng([seed, stream, i]), cfg)
        assert len(s.classes) == 1, "the proxy places exactly one object per canvas"
        images[i], labels[i] = s.image, s.classes[0]
        x0, y0, x1, y1 = s.boxes[0]                      # scenes give [x0, x1) half-open boxes
        boxes[i] = (x0, y0, x1 - 1, y1 - 1)              # -> inclusive pixel coordinates
    x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() - MEAN) / STD
    return {"images": x.contiguous(), "labels": torch.from_numpy(labels), "boxes": torch.from_numpy(boxes),
            "raw": torch.from_numpy(images)}


def train_view(data: dict) -> dict:
    """What weakly supervised training may see: images and image-level labels, no boxes."""
    return {"images": data["images"], "labels": data["labels"]}


def n_classes(cfg: SceneConfig = CONFIG) -> int:
    return cfg.n_classes
