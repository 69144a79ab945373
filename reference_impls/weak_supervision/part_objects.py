"""A weakly supervised localization proxy whose objects have two parts (for ACoL's claim).

    data = parts_proxy(n=1200, seed=0, split="train")
    data["images"]  (N, 3, 64, 64) float32, normalised like datasets.wsol_proxy
    data["labels"]  (N,) int64: the object's class
    data["boxes"]   (N, 4) int64: inclusive box around the WHOLE object (head and body)
    data["masks"]   (N, 64, 64) int64: 0 background, 1 head, 2 body (visible pixels)
    data["semantic"](N, 64, 64) int64: 0 background, c + 1 on the object's pixels (head and body)

Each canvas holds one large object made of two parts along a horizontal or vertical axis:

* a HEAD: the class's shape (datasets.synthetic.scenes.SHAPES), solid, in the class's colour --
  small (radius 6-8 px) and a perfectly reliable, easy cue;
* a BODY: a long bar (26-34 x 10-13 px) in a colour shared by all classes, carrying the class's texture on
  a fraction `body_reliability` of the canvases (else another class's texture) -- three times the
  head's area and a weaker cue.

A classifier that minimises its loss on image labels needs only the head, so its class
activation map can lock onto the head (ACoL's premise: "CAM finds only the most discriminative
part"); a map that covers the object's extent must also cover the body. A head-only box has
IoU ~0.3 with the whole object's box, so it fails MaxBoxAccV2's IoU 0.5 and 0.7 criteria.
Clutter strokes and a distractor bar sit under the object, as in the one-object proxy.
Training code only ever sees "images" and "labels" (`datasets.wsol_proxy.train_view`).
`empty_canvases(n, seed)`: the same scenes without an object (background, clutter, distractor), for
the classifiers' object-free training canvases.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from datasets.synthetic.scenes import COLOR_VALUES, SHAPES, _background, _grid, shape_mask, texture
from datasets.wsol_proxy import MEAN, STD

HEAD, BODY = 1, 2
BODY_TEXTURES = ("stripes", "vstripes", "checker", "dots", "diagonal")
HEAD_COLORS = (0, 1, 2, 3, 4)          # COLOR_NAMES: red, green, blue, yellow, purple -- one per class
BODY_COLORS = (5, 6, 7)                # orange, white, cyan: the body's colour says nothing about the class


@dataclass(frozen=True)
class PartsConfig:
    size: int = 64
    n_classes: int = 4                       # head shapes SHAPES[:n], body textures BODY_TEXTURES[:n]
    head_radius: tuple[float, float] = (6.0, 8.0)
    body_length: tuple[float, float] = (26.0, 34.0)
    body_width: tuple[float, float] = (10.0, 13.0)
    body_reliability: float = 0.7            # P(body texture = the class's texture)
    clutter: int = 3
    distractors: int = 1
    background_contrast: float = 0.35


CONFIG = PartsConfig()


def make_parts_object(rng: np.random.Generator, cfg: PartsConfig = CONFIG, empty: bool = False):
    """(image uint8 (S, S, 3), class, parts mask (S, S): 0 / HEAD / BODY). `empty`: the same
    background, clutter and distractor, no object (class -1, an all-zero mask)."""
    S = cfg.size
    yy, xx = _grid(S)
    img = _background(rng, S, cfg.background_contrast)
    for _ in range(cfg.clutter):
        x0, y0 = rng.uniform(0, S, 2)
        ang, length = rng.uniform(0, np.pi), rng.uniform(0.2, 0.5) * S
        t = np.linspace(0, 1, int(length))
        xs = np.clip((x0 + np.cos(ang) * length * t).astype(int), 0, S - 1)
        ys = np.clip((y0 + np.sin(ang) * length * t).astype(int), 0, S - 1)
        img[ys, xs] = rng.uniform(60, 255, 3)
    for _ in range(cfg.distractors):
        w, h = rng.uniform(0.04, 0.08) * S, rng.uniform(0.2, 0.35) * S
        if rng.random() < 0.5:
            w, h = h, w
        x0, y0 = int(rng.uniform(0, S - w)), int(rng.uniform(0, S - h))
        patch = img[y0:y0 + int(h) + 1, x0:x0 + int(w) + 1]
        patch[:] = COLOR_VALUES[rng.integers(len(COLOR_VALUES))] * rng.uniform(0.5, 0.9, size=patch.shape[:2] + (1,))
    if empty:
        return np.clip(img, 0, 255).astype(np.uint8), -1, np.zeros((S, S), np.int64)

    cls = int(rng.integers(cfg.n_classes))
    r = rng.uniform(*cfg.head_radius)
    length, width = rng.uniform(*cfg.body_length), rng.uniform(*cfg.body_width)
    vertical, head_first = rng.random() < 0.5, rng.random() < 0.5
    extent = length + 2 * r                       # along the axis: body, then the head beyond its end
    across = max(width, 2 * r)
    # the object's along-axis start a and across-axis centre c, inside the canvas with 1 px to spare
    a = rng.uniform(1, S - 1 - extent)
    c = rng.uniform(1 + across / 2, S - 1 - across / 2)
    if head_first:
        head_centre, body_lo = a + r, a + 2 * r
    else:
        head_centre, body_lo = a + length + r, a
    # along-axis / across-axis pixel coordinates
    along, acr = (yy, xx) if vertical else (xx, yy)
    body = (along >= body_lo) & (along < body_lo + length) & (np.abs(acr - c) <= width / 2)
    d_along, d_acr = (along - head_centre) / r, (acr - c) / r
    head = shape_mask(SHAPES[cls], d_acr if vertical else d_along, d_along if vertical else d_acr)
    tex_cls = cls if rng.random() < cfg.body_reliability else \
        int((cls + rng.integers(1, cfg.n_classes)) % cfg.n_classes)
    head_col = HEAD_COLORS[cls]
    body_col = BODY_COLORS[rng.integers(len(BODY_COLORS))]
    tex = texture(BODY_TEXTURES[tex_cls], yy, xx, period=rng.uniform(4.0, 6.0))
    img[body] = (COLOR_VALUES[body_col] * tex[..., None])[body]
    img[head] = COLOR_VALUES[head_col]
    parts = np.zeros((S, S), np.int64)
    parts[body] = BODY
    parts[head] = HEAD
    return np.clip(img, 0, 255).astype(np.uint8), cls, parts


def parts_proxy(n: int, seed: int, split: str = "train", cfg: PartsConfig = CONFIG,
                first: int = 0) -> dict[str, torch.Tensor]:
    """`n` canvases for `split` ("train" or "test": disjoint random streams), deterministic by seed:
    canvases first, ..., first + n - 1 of the stream (each canvas has its own generator, so a set is
    the concatenation of its parts)."""
    stream = {"train": 10, "test": 11}[split]
    S = cfg.size
    images = np.zeros((n, S, S, 3), np.uint8)
    labels = np.zeros(n, np.int64)
    masks = np.zeros((n, S, S), np.int64)
    for i in range(n):
        images[i], labels[i], masks[i] = make_parts_object(np.random.default_rng([seed, stream, first + i]), cfg)
    fg = masks > 0
    rows, cols = fg.any(2), fg.any(1)
    boxes = np.stack([cols.argmax(1), rows.argmax(1), S - 1 - cols[:, ::-1].argmax(1),
                      S - 1 - rows[:, ::-1].argmax(1)], 1)
    x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() - MEAN) / STD
    semantic = np.where(fg, labels[:, None, None] + 1, 0)
    return {"images": x.contiguous(), "labels": torch.from_numpy(labels), "boxes": torch.from_numpy(boxes),
            "masks": torch.from_numpy(masks), "semantic": torch.from_numpy(semantic), "raw": torch.from_numpy(images)}


def empty_canvases(n: int, seed: int, cfg: PartsConfig = CONFIG) -> torch.Tensor:
    """`n` object-free training canvases (N, 3, S, S), normalised as parts_proxy's images: background,
    clutter strokes and a distractor bar (whose colour may be any head colour), no object. Their own
    random stream: the object canvases of every split are unchanged."""
    images = np.stack([make_parts_object(np.random.default_rng([seed, 12, i]), cfg, empty=True)[0] for i in range(n)]) \
        if n else np.zeros((0, cfg.size, cfg.size, 3), np.uint8)
    return ((torch.from_numpy(images).permute(0, 3, 1, 2).float() - MEAN) / STD).contiguous()


def n_classes(cfg: PartsConfig = CONFIG) -> int:
    return cfg.n_classes
