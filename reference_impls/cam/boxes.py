"""The authors' box protocols for Table 3 (Zhou et al., CVPR 2016), from their released code
(github.com/zhoubolei/CAM):

* plain (the "GoogLeNet-GAP" 42.9 row; Table 2's protocol): per top-5 class, the box around the
  largest connected component above 20% of the CAM's max (`metrics.localization.cam_box`);
* heuristic (the "GoogLeNet-GAP (heuristics)" 37.1 row): `bboxgenerator/dt_box.cpp`, called by
  `ILSVRC_evaluate_bbox.m` with thresholds "20 100 110" on the class's heat map written as an 8-bit
  gray image (`ILSVRC_generate_heatmap.m`: the ten-crop CAM resized to the original image and
  divided by its max). For each threshold t: binary = gray > t; the Euclidean distance transform
  of the binary image (`dt.c`'s `dt_binary`: distance of each foreground pixel to the nearest
  background pixel), rescaled to 0..255 by its max and rounded; keep > 10 (thin parts drop out);
  the bounding rectangle of every contour (OpenCV `findContours(RETR_CCOMP)`: outer contours and
  holes), clamped as `getBBox` does. All boxes of the three thresholds are sorted by area
  (largest first) and merged (`mergeBBox`: a box overlapping a larger one by more than half the
  larger's area is removed -- the C++ loop skips the element after each removal, kept here).
  `ILSVRC_evaluate_bbox.m` keeps the two first boxes per class, [x, y, x + w, y + h], and its
  `bboxCombine` scores the five guesses (top-1 class, box 1), (top-1, box 2), (top-2, box 1),
  (top-2, box 2), (top-3, box 1) with the ILSVRC top-5 rule (`simpleEvaluation.m`).

Deviations, named: the released pipeline reads the heat map back from a JPEG (lossy); here the
8-bit map is used directly. OpenCV boxes are 0-based while the ILSVRC ground truth is 1-based;
the authors' code compares them as they are, and so does this module. Where `dt_box` finds fewer
than two boxes (an all-zero map: none; the released MATLAB script would stop there) the missing
boxes are the whole image.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from metrics import localization as L

DT_THRESHOLDS = (20, 100, 110)          # ILSVRC_evaluate_bbox.m: bbox_threshold = [20, 100, 110]
_EIGHT = np.ones((3, 3), bool)
_FOUR = ndimage.generate_binary_structure(2, 1)


def heatmap_gray(cam) -> np.ndarray:
    """ILSVRC_generate_heatmap.m: map ./ max(map), written by imwrite as 8-bit (negatives -> 0)."""
    m = np.asarray(cam, dtype=np.float64)
    if m.ndim != 2 or not np.isfinite(m).all():
        raise ValueError(f"heatmap_gray: need a finite 2-D map, got shape {m.shape}")
    hi = m.max()
    if hi <= 0:
        return np.zeros(m.shape, np.uint8)
    return np.clip(np.round(m / hi * 255.0), 0, 255).astype(np.uint8)


def _dt_binary(binary: np.ndarray) -> np.ndarray:
    """dt.c `dt_binary`: Euclidean distance to the nearest background pixel, scaled so the largest
    is 255 (round half up, clipped); an all-foreground or all-background image is left as it is."""
    if binary.all() or not binary.any():
        return np.where(binary, 255, 0).astype(np.uint8)
    d = ndimage.distance_transform_edt(binary)
    return np.clip(np.floor(d * (255.0 / d.max()) + 0.5), 0, 255).astype(np.uint8)


def _contour_rects(binary: np.ndarray) -> list[tuple[int, int, int, int]]:
    """cv2.boundingRect (x, y, w, h) of every contour of findContours(RETR_CCOMP): each 8-connected
    foreground component (outer contour) and each 4-connected background hole not touching the
    border (the hole contour runs through the foreground pixels around it: its box grown by one)."""
    labels, n = ndimage.label(binary, structure=_EIGHT)
    rects = [(x.start, y.start, x.stop - x.start, y.stop - y.start) for y, x in ndimage.find_objects(labels)]
    h, w = binary.shape
    bg, nb = ndimage.label(~binary, structure=_FOUR)
    for y, x in ndimage.find_objects(bg) if nb else []:
        if y.start > 0 and x.start > 0 and y.stop < h and x.stop < w:
            rects.append((x.start - 1, y.start - 1, x.stop - x.start + 2, y.stop - y.start + 2))
    return rects


def _limit(v, lo, hi):
    return lo if v < lo else (hi if v > hi else v)


def _big_overlap(a, b) -> bool:
    t = int(max(a[2] * a[3], b[2] * b[3]) * 0.5)
    ox = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    oy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ox * oy > t


def dt_box_rects(gray: np.ndarray, thresholds=DT_THRESHOLDS) -> list[tuple[int, int, int, int]]:
    """dt_box.cpp on an 8-bit heat map: the ranked, merged (x, y, w, h) rectangles."""
    gray = np.asarray(gray)
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"dt_box_rects: need a 2-D uint8 heat map, got {gray.dtype} {gray.shape}")
    h, w = gray.shape
    rects = []
    for t in thresholds:
        kept = _dt_binary(gray > t) > 10
        for x, y, bw, bh in _contour_rects(kept):
            rects.append((_limit(x, 0, w - 5), _limit(y, 0, h - 5), _limit(bw, 0, w - x - 5), _limit(bh, 0, h - y - 5)))
    rects.sort(key=lambda r: -r[2] * r[3])                  # rankBBox (stable here; std::sort is not)
    i = 0
    while i < len(rects):                                   # mergeBBox, with its skip after erase
        j = i + 1
        while j < len(rects):
            if _big_overlap(rects[i], rects[j]):
                del rects[j]
            j += 1
        i += 1
    return rects


def dt_boxes(cam, n: int = 2, thresholds=DT_THRESHOLDS) -> list[tuple[int, int, int, int]]:
    """The first `n` boxes of dt_box for a class's map, as ILSVRC_evaluate_bbox.m reads them:
    (x, y, x + w, y + h); missing ones (fewer boxes than n) are the whole image."""
    gray = heatmap_gray(cam)
    h, w = gray.shape
    out = [(x, y, x + bw, y + bh) for x, y, bw, bh in dt_box_rects(gray, thresholds)[:n]]
    return out + [L.full_box(w, h)] * (n - len(out))


def combine_guesses(classes, boxes_per_class, n_guesses: int = 5):
    """bboxCombine: per class in score order its two boxes, the first `n_guesses` (class, box) pairs:
    [(c1, b1), (c1, b2), (c2, b1), (c2, b2), (c3, b1)] for five guesses."""
    pairs = [(c, b) for c, bs in zip(classes, boxes_per_class) for b in bs][:n_guesses]
    return [c for c, _ in pairs], [b for _, b in pairs]


def heuristic_predictions(classes, maps):
    """Per image: top classes (score order) and their maps -> the five bboxCombine guesses."""
    need = 3                                               # five guesses use the first three classes
    return combine_guesses(list(classes)[:need], [dt_boxes(m) for m in list(maps)[:need]])
