"""Synthetic scenes: objects of K classes on textured backgrounds, deterministic by seed.

    scene = make_scene(np.random.default_rng([seed, index]), SceneConfig(n_classes=5))
    scene.image      (H, W, 3) uint8
    scene.labels     sorted class ids present (image-level labels)
    scene.classes    (N,) class id per object;  scene.boxes (N, 4) float [x0, y0, x1, y1), pixels
    scene.semantic   (H, W) int64: 0 background, c+1 for class c (visible pixels)
    scene.instance   (H, W) int64: 0 background, i+1 for object i (visible pixels)
    scene.description {"objects": [...], "relations": [...]} -> captions

A class is a shape with its own texture (circle/solid, square/stripes, ...); colour and size
are attributes that vary, so they can be described but do not give the class away. Knobs:
object count, scale range, occlusion (how much objects may overlap), clutter strokes,
distractor blobs, background texture contrast. Rendering is plain numpy on small windows:
well over 1,000 64x64 scenes per second on one core (see tests/test_synthetic.py's benchmark).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SHAPES = ["circle", "square", "triangle", "diamond", "cross", "ring", "star", "hexagon"]
TEXTURES = ["solid", "stripes", "checker", "dots", "vstripes", "diagonal", "solid", "stripes"]
COLORS = {"red": (220, 50, 47), "green": (60, 180, 75), "blue": (40, 90, 220), "yellow": (240, 210, 40),
          "purple": (150, 60, 190), "orange": (245, 130, 48), "white": (235, 235, 235), "cyan": (70, 200, 220)}
COLOR_NAMES = list(COLORS)
COLOR_VALUES = np.array(list(COLORS.values()), dtype=np.float32)


@dataclass(frozen=True)
class SceneConfig:
    size: int = 64
    n_classes: int = 5                 # K <= 8
    min_objects: int = 1
    max_objects: int = 3
    scale: tuple[float, float] = (0.12, 0.28)   # object radius as a fraction of the image size
    max_overlap: float = 0.3           # occlusion: the largest fraction of an object another may hide
    clutter: int = 3                   # thin random strokes
    distractors: int = 1               # non-class blobs (bars, noise patches)
    background_contrast: float = 0.35  # 0 = flat background


@dataclass
class Scene:
    image: np.ndarray
    labels: list[int]
    classes: np.ndarray
    boxes: np.ndarray
    semantic: np.ndarray
    instance: np.ndarray
    description: dict = field(default_factory=dict)


_GRIDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _grid(size: int):
    if size not in _GRIDS:
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        _GRIDS[size] = (yy + 0.5, xx + 0.5)
    return _GRIDS[size]


def shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Inside-test for a unit shape on normalised coordinates (|dx|, |dy| <= 1 spans the object)."""
    ax, ay = np.abs(dx), np.abs(dy)
    if shape == "circle":
        return dx * dx + dy * dy <= 1.0
    if shape == "square":
        return np.maximum(ax, ay) <= 0.8
    if shape == "triangle":
        return (dy <= 0.8) & (ax <= 0.95 * (dy + 0.9) / 1.7)
    if shape == "diamond":
        return ax + ay <= 1.0
    if shape == "cross":
        return ((ax <= 0.3) & (ay <= 0.95)) | ((ay <= 0.3) & (ax <= 0.95))
    if shape == "ring":
        r2 = dx * dx + dy * dy
        return (r2 <= 1.0) & (r2 >= 0.36)
    if shape == "star":
        r = np.sqrt(dx * dx + dy * dy)
        return r <= 0.55 + 0.42 * np.cos(5 * np.arctan2(dy, dx))
    if shape == "hexagon":
        return np.maximum(ax * 0.866 + ay * 0.5, ay) <= 0.9
    raise ValueError(f"unknown shape {shape!r}")


def texture(name: str, yy: np.ndarray, xx: np.ndarray, period: float) -> np.ndarray:
    """Brightness factor in [0.45, 1] for a texture on pixel coordinates."""
    p = max(2.0, period)
    if name == "solid":
        t = np.ones_like(yy)
    elif name == "stripes":
        t = (yy // (p / 2)) % 2
    elif name == "vstripes":
        t = (xx // (p / 2)) % 2
    elif name == "checker":
        t = ((yy // (p / 2)) + (xx // (p / 2))) % 2
    elif name == "dots":
        t = 1.0 - (((yy % p) - p / 2) ** 2 + ((xx % p) - p / 2) ** 2 <= (p / 3) ** 2)
    elif name == "diagonal":
        t = ((yy + xx) // (p / 2)) % 2
    else:
        raise ValueError(f"unknown texture {name!r}")
    return 0.45 + 0.55 * t


def _background(rng, size: int, contrast: float) -> np.ndarray:
    base = rng.uniform(30, 110, size=3).astype(np.float32)
    cells = max(2, size // 8)
    noise = rng.uniform(-1, 1, size=(cells, cells, 3)).astype(np.float32)
    noise = np.repeat(np.repeat(noise, size // cells + 1, 0), size // cells + 1, 1)[:size, :size]
    return base + contrast * 80.0 * noise


def _where(cx: float, cy: float, size: int) -> tuple[str, str]:
    h = "left" if cx < size / 3 else "right" if cx > 2 * size / 3 else "center"
    v = "top" if cy < size / 3 else "bottom" if cy > 2 * size / 3 else "middle"
    return h, v


def make_scene(rng: np.random.Generator, cfg: SceneConfig = SceneConfig()) -> Scene:
    if not 1 <= cfg.n_classes <= len(SHAPES):
        raise ValueError(f"n_classes must be in 1..{len(SHAPES)}, got {cfg.n_classes}")
    S = cfg.size
    yy, xx = _grid(S)
    img = _background(rng, S, cfg.background_contrast)
    # clutter strokes and distractor blobs go under the objects; they are background in the masks
    for _ in range(cfg.clutter):
        x0, y0 = rng.uniform(0, S, 2)
        ang, length = rng.uniform(0, np.pi), rng.uniform(0.2, 0.6) * S
        t = np.linspace(0, 1, int(length))
        xs = np.clip((x0 + np.cos(ang) * length * t).astype(int), 0, S - 1)
        ys = np.clip((y0 + np.sin(ang) * length * t).astype(int), 0, S - 1)
        img[ys, xs] = rng.uniform(60, 255, 3)
    for _ in range(cfg.distractors):
        w, h = (rng.uniform(0.04, 0.08) * S, rng.uniform(0.25, 0.4) * S)
        if rng.random() < 0.5:
            w, h = h, w
        x0, y0 = int(rng.uniform(0, S - w)), int(rng.uniform(0, S - h))
        patch = img[y0:y0 + int(h) + 1, x0:x0 + int(w) + 1]
        patch[:] = COLOR_VALUES[rng.integers(len(COLOR_VALUES))] * rng.uniform(0.5, 0.9, size=patch.shape[:2] + (1,))

    n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    instance = np.zeros((S, S), np.int64)
    classes, objects = [], []
    for _ in range(n):
        for _attempt in range(12):
            cls = int(rng.integers(cfg.n_classes))
            r = rng.uniform(*cfg.scale) * S
            cx, cy = rng.uniform(r * 0.9, S - r * 0.9, 2)
            x0, x1 = max(0, int(cx - r)), min(S, int(np.ceil(cx + r)) + 1)
            y0, y1 = max(0, int(cy - r)), min(S, int(np.ceil(cy + r)) + 1)
            wy, wx = yy[y0:y1, x0:x1], xx[y0:y1, x0:x1]
            m = shape_mask(SHAPES[cls], (wx - cx) / r, (wy - cy) / r)
            area = int(m.sum())
            if area < 6:
                continue
            covered = instance[y0:y1, x0:x1][m] > 0
            if covered.mean() > cfg.max_overlap:
                continue
            # the new object may also hide too much of an earlier one
            ok = True
            for j in np.unique(instance[y0:y1, x0:x1][m]):
                if j == 0:
                    continue
                hidden = np.count_nonzero(instance[y0:y1, x0:x1][m] == j)
                if hidden > cfg.max_overlap * objects[j - 1]["area"]:
                    ok = False
                    break
            if ok:
                break
        else:
            continue
        color = int(rng.integers(len(COLOR_NAMES)))
        tex = texture(TEXTURES[cls], wy, wx, period=max(3.0, r / 2))
        img[y0:y1, x0:x1][m] = (COLOR_VALUES[color] * tex[..., None])[m]
        instance[y0:y1, x0:x1][m] = len(objects) + 1
        classes.append(cls)
        h, v = _where(cx, cy, S)
        objects.append({"class": cls, "name": SHAPES[cls], "color": COLOR_NAMES[color],
                        "size": "large" if r > 0.5 * sum(cfg.scale) * S else "small",
                        "horizontal": h, "vertical": v, "center": (float(cx), float(cy)), "area": area})

    boxes = np.zeros((len(objects), 4), np.float32)
    keep = []
    for i, ob in enumerate(objects):
        ys, xs = np.nonzero(instance == i + 1)
        if len(ys) == 0:  # fully hidden by later objects (rare with max_overlap < 1)
            continue
        boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        ob["box"] = boxes[i].tolist()
        keep.append(i)
    if len(keep) < len(objects):
        remap = np.zeros(len(objects) + 1, np.int64)
        remap[[k + 1 for k in keep]] = np.arange(1, len(keep) + 1)
        instance = remap[instance]
        objects, boxes = [objects[k] for k in keep], boxes[keep]
        classes = [classes[k] for k in keep]
    classes = np.array(classes, np.int64)
    semantic = np.zeros((S, S), np.int64)
    if len(classes):
        semantic = np.concatenate([[0], classes + 1])[instance]
    relations = []
    for i in range(len(objects)):
        for j in range(len(objects)):
            if i == j:
                continue
            (xi, yi), (xj, yj) = objects[i]["center"], objects[j]["center"]
            if xi < xj - S / 8:
                relations.append((i, "left of", j))
            if yi < yj - S / 8:
                relations.append((i, "above", j))
    image = np.clip(img, 0, 255).astype(np.uint8)
    return Scene(image=image, labels=sorted(set(classes.tolist())), classes=classes, boxes=boxes,
                 semantic=semantic, instance=instance,
                 description={"objects": objects, "relations": relations, "size": S})


class SceneDataset:
    """Indexable, deterministic collection: item i is make_scene(default_rng([seed, i]), cfg)."""

    def __init__(self, n: int, seed: int = 0, cfg: SceneConfig = SceneConfig()):
        self.n, self.seed, self.cfg = n, seed, cfg

    def __len__(self):
        return self.n

    def __getitem__(self, i: int) -> Scene:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return make_scene(np.random.default_rng([self.seed, i]), self.cfg)

    def arrays(self) -> dict[str, np.ndarray]:
        """Stacked images (N,H,W,3), semantic masks (N,H,W) and multi-hot labels (N,K)."""
        scenes = [self[i] for i in range(self.n)]
        multi = np.zeros((self.n, self.cfg.n_classes), np.float32)
        for i, s in enumerate(scenes):
            multi[i, s.labels] = 1
        return {"images": np.stack([s.image for s in scenes]), "semantic": np.stack([s.semantic for s in scenes]),
                "labels": multi}
