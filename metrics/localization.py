"""Weakly supervised object localization metrics: the ILSVRC protocol and wsolevaluation's.

Box convention everywhere: (x0, y0, x1, y1) in *inclusive* pixel coordinates, as in the
ILSVRC devkit and wsolevaluation: a box covering columns 3..10 has width 10 - 3 + 1 = 8, and
IoU counts pixels with that +1 (`iou`). A predicted box is a row of 4 non-negative numbers
with x1 >= x0 and y1 >= y0; anything else raises ValueError.

ILSVRC localization error (Russakovsky et al.; Zhou et al., CVPR 2016 Table 2):
    an image is correct at top-k when one of the k highest-scoring classes is the
    ground-truth class and the box predicted for it has IoU >= 0.5 with one of the image's
    ground-truth boxes. Error = 1 - fraction correct (in %).
GT-known localization: the box predicted for the ground-truth class, IoU >= 0.5.
MaxBoxAcc (Choe et al., CVPR 2020, wsolevaluation `BoxEvaluator`):
    for each CAM threshold t in arange(0, 1, interval), binarise the min-max normalised map at
    int(t * max(uint8 map)) (strictly greater), take the box of the largest contour (by
    polygon area, as cv2.contourArea), count images whose box has IoU >= 0.5 with a GT box;
    report the best threshold's accuracy.
MaxBoxAccV2: every contour's box competes (the best IoU counts), for IoU thresholds 30/50/70;
    the mean of the three MaxBoxAccs.

Contours are computed with scipy instead of OpenCV, reproducing cv2.findContours(RETR_TREE,
CHAIN_APPROX_SIMPLE): 8-connected foreground components (outer contours) and 4-connected
background holes (hole contours, whose border is the hole's box grown by one pixel), boxes as
cv2.boundingRect + wsolevaluation's clipping of x1/y1 to W-1/H-1, the largest contour by
polygon area through boundary pixel centres, ties to the contour cv2 lists first.
tests/test_localization.py checks this against cv2 where cv2 is installed.

Command line: score any method's predictions against ILSVRC ground truth:
    python -m metrics.localization PRED_CSV GT [--json]
PRED_CSV columns: image_id,class,score,x0,y0,x1,y1[,cam_threshold]; GT is a folder of the
official per-image XML files or a wsolevaluation metadata folder (localization.txt,
class_labels.txt). See `main`.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

IOU_THRESHOLD = 0.5
V2_IOU_THRESHOLDS = (30, 50, 70)
_EIGHT = np.ones((3, 3), bool)
_FOUR = ndimage.generate_binary_structure(2, 1)


# ----------------------------------------------------------------------------- boxes and IoU
def check_boxes(boxes, what: str = "boxes") -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim == 1:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{what}: expected shape (n, 4) of (x0, y0, x1, y1), got {np.shape(boxes)}")
    if not np.isfinite(b).all():
        raise ValueError(f"{what}: non-finite coordinates {b[~np.isfinite(b).all(1)][:3].tolist()}")
    if (b < 0).any():
        raise ValueError(f"{what}: negative coordinates {b[(b < 0).any(1)][:3].tolist()}")
    if (b[:, 2] < b[:, 0]).any() or (b[:, 3] < b[:, 1]).any():
        raise ValueError(f"{what}: x1 < x0 or y1 < y0 in {b[(b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])][:3].tolist()}"
                         " (expected x0y0x1y1, inclusive pixel coordinates)")
    return b


def iou(a, b) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of inclusive-pixel boxes (the +1 convention)."""
    a, b = check_boxes(a, "box a"), check_boxes(b, "box b")
    ix = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
    iy = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1
    inter = np.maximum(ix, 0) * np.maximum(iy, 0)
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def resize_box(box, image_size, new_size) -> tuple[int, int, int, int]:
    """wsolevaluation's `resize_bbox`: scale (x0, y0, x1, y1) from image (w, h) to new (w, h), truncating."""
    x0, y0, x1, y1 = map(float, box)
    (w, h), (nw, nh) = image_size, new_size
    return int(x0 * nw / w), int(y0 * nh / h), int(x1 * nw / w), int(y1 * nh / h)


def center_box(width: int, height: int, fraction: float = 0.5) -> tuple[int, int, int, int]:
    """Baseline: a box of `fraction` of each side, centred (inclusive coordinates)."""
    bw, bh = max(1, round(width * fraction)), max(1, round(height * fraction))
    x0, y0 = (width - bw) // 2, (height - bh) // 2
    return x0, y0, x0 + bw - 1, y0 + bh - 1


def full_box(width: int, height: int) -> tuple[int, int, int, int]:
    """Baseline: the whole image."""
    return 0, 0, width - 1, height - 1


# ----------------------------------------------------------------------------- score maps -> boxes
def normalize_scoremap(cam, on_nan: str = "raise") -> np.ndarray:
    """Min-max normalise to [0, 1] (wsolevaluation `normalize_scoremap`); a constant map becomes
    all zeros. NaN: "raise" (default, a clear error) or "zero" (wsolevaluation's silent zeros)."""
    cam = np.array(cam, dtype=np.float64)
    if cam.ndim != 2:
        raise ValueError(f"score map must be 2-D (H, W), got shape {cam.shape}")
    if not np.isfinite(cam).all():
        if on_nan == "zero":
            return np.zeros_like(cam)
        raise ValueError(f"score map has {int((~np.isfinite(cam)).sum())} NaN/inf values")
    lo, hi = cam.min(), cam.max()
    if lo == hi:
        return np.zeros_like(cam)
    return (cam - lo) / (hi - lo)


def _check_unit(scoremap) -> np.ndarray:
    s = np.asarray(scoremap, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"score map must be 2-D (H, W), got shape {s.shape}")
    if np.isnan(s).any():
        raise ValueError("score map contains NaN (normalize_scoremap first, or fix the map)")
    if (s < 0).any() or (s > 1).any():
        raise ValueError(f"score map must lie in [0, 1] (min {s.min():.4g}, max {s.max():.4g}); use normalize_scoremap")
    return s


def _contour_area(mask: np.ndarray) -> float:
    """cv2.contourArea of the outer contour of one 8-connected component: the polygon through the
    boundary pixel centres encloses every 2x2 cell of filled pixels and half of every 3-pixel cell."""
    # the holes filled: everything but the 4-connected background part holding the padded border
    # (= binary_fill_holes(structure=_FOUR), one labelling call instead of iterated erosions). `mask`
    # is the component's bounding-box crop: at most 2 pixels high or wide, every background pixel
    # touches the border (no hole), and a 2x2 cell across the border never holds 3 filled pixels.
    filled = mask
    if min(mask.shape) > 2:
        background = np.ones((mask.shape[0] + 2, mask.shape[1] + 2), bool)    # ~np.pad(mask, 1), faster
        background[1:-1, 1:-1] = ~mask
        bg, _ = ndimage.label(background, structure=_FOUR)
        filled = (bg != bg[0, 0])[1:-1, 1:-1]
    cells = filled[:-1, :-1].astype(np.int8) + filled[1:, :-1] + filled[:-1, 1:] + filled[1:, 1:]
    return float((cells == 4).sum() + 0.5 * (cells == 3).sum())


def contour_boxes(binary: np.ndarray, mode: str = "largest") -> list[tuple[int, int, int, int]]:
    """Boxes of the contours of a binary map, as wsolevaluation derives them from OpenCV.

    mode "largest": the box of the largest outer contour (MaxBoxAcc, wsolevaluation V1);
    "all": every contour, outer and hole (MaxBoxAccV2's multi-contour evaluation);
    "largest_component": the box of the component with the most pixels (Zhou et al.'s wording)."""
    labels, n = ndimage.label(binary, structure=_EIGHT)
    return _component_boxes(binary, labels, n, mode)


def _component_boxes(binary: np.ndarray, labels: np.ndarray, n: int, mode: str) -> list[tuple[int, int, int, int]]:
    """`contour_boxes` from the 8-connected labelling of `binary` (shared between modes)."""
    h, w = binary.shape
    if n == 0:
        return [(0, 0, 0, 0)]
    slices = ndimage.find_objects(labels)

    def box(sl, grow=0):
        y, x = sl
        x0, y0 = x.start - grow, y.start - grow
        x1, y1 = x.stop + grow, y.stop + grow   # cv2.boundingRect: x + w = last column + 1
        return (x0, y0, min(x1, w - 1), min(y1, h - 1))

    if mode == "largest_component":
        sizes = ndimage.sum_labels(binary, labels, index=np.arange(1, n + 1))
        return [box(slices[int(np.argmax(sizes))])]
    if mode == "largest" and n == 1:
        return [box(slices[0])]
    if mode == "largest":
        # polygon area <= (box width - 1) * (box height - 1): visit components by that bound, stop early
        bound = [(sl[1].stop - sl[1].start - 1) * (sl[0].stop - sl[0].start - 1) for sl in slices]
        areas = [-1.0] * n
        for i in sorted(range(n), key=lambda i: -bound[i]):
            if bound[i] < max(areas):
                break
            areas[i] = _contour_area(labels[slices[i]] == i + 1)
        best = max(areas)
        # cv2 lists contours in reverse discovery (raster) order and max() keeps the first:
        # among equal areas, the component whose first raster pixel comes last wins
        ties = [i for i, a in enumerate(areas) if a == best]
        first_pixel = [np.flatnonzero(labels.ravel() == i + 1)[0] for i in ties] if len(ties) > 1 else [0]
        return [box(slices[ties[int(np.argmax(first_pixel))]])]
    if mode == "all":
        out = [box(sl) for sl in slices]
        bg, nb = ndimage.label(~binary.astype(bool), structure=_FOUR)
        if nb:
            border = np.unique(np.concatenate([bg[0], bg[-1], bg[:, 0], bg[:, -1]]))
            for j, sl in enumerate(ndimage.find_objects(bg)):
                if j + 1 not in border:
                    out.append(box(sl, grow=1))
        return out
    raise ValueError(f"unknown contour mode {mode!r} (largest, all, largest_component)")


def threshold_map(scoremap: np.ndarray, threshold: float) -> np.ndarray:
    """wsolevaluation's binarisation: uint8(map * 255) > int(threshold * max(uint8 map))."""
    img = (scoremap * 255).astype(np.uint8)
    return img > int(threshold * img.max())


def scoremap_boxes(scoremap, thresholds, mode: str = "largest") -> list[list[tuple[int, int, int, int]]]:
    """For each CAM threshold, the list of candidate boxes (one for mode "largest")."""
    s = _check_unit(scoremap)
    return [contour_boxes(threshold_map(s, t), mode) for t in thresholds]


def cam_box(cam, threshold: float = 0.2) -> tuple[int, int, int, int]:
    """Zhou et al.'s heuristic: keep the region whose value is above `threshold` x the map's max,
    box around the largest connected component (8-connected, by pixel count; inclusive
    coordinates exactly covering it). A map with no positive value or a constant map -> whole image."""
    cam = np.asarray(cam, dtype=np.float64)
    if cam.ndim != 2 or not np.isfinite(cam).all():
        raise ValueError(f"cam_box: need a finite 2-D map, got shape {cam.shape}"
                         + (" with NaN/inf" if cam.ndim == 2 else ""))
    hi = cam.max()
    keep = cam >= threshold * hi if hi > 0 and cam.min() < hi else np.ones_like(cam, bool)
    labels, n = ndimage.label(keep, structure=_EIGHT)
    sizes = ndimage.sum_labels(keep, labels, index=np.arange(1, n + 1))
    y, x = ndimage.find_objects(labels)[int(np.argmax(sizes))]
    return x.start, y.start, x.stop - 1, y.stop - 1


def cam_boxes(cams, threshold: float = 0.2) -> list[tuple[int, int, int, int]]:
    """`cam_box` of a stack of maps (n, H, W) with one labelling call: the maps are planes of a 3-D
    array labelled with a structure that never connects two planes (labels follow raster order
    within a plane, so ties go to the same component as `cam_box`'s argmax)."""
    cams = np.asarray(cams, dtype=np.float64)
    if cams.ndim != 3 or not np.isfinite(cams).all():
        raise ValueError(f"cam_boxes: need finite maps of shape (n, H, W), got shape {cams.shape}"
                         + (" with NaN/inf" if cams.ndim == 3 else ""))
    n = len(cams)
    if n == 0:
        return []
    hi, lo = cams.reshape(n, -1).max(1), cams.reshape(n, -1).min(1)
    usable = (hi > 0) & (lo < hi)
    keep = np.where(usable[:, None, None], cams >= (threshold * hi)[:, None, None], True)
    labels, _ = ndimage.label(keep, structure=_EIGHT_PLANES)
    sizes = np.bincount(labels.ravel())
    best: dict[int, tuple[int, int, tuple]] = {}
    for lab, (z, y, x) in enumerate(ndimage.find_objects(labels), 1):
        p = z.start
        if p not in best or sizes[lab] > best[p][0]:
            best[p] = (sizes[lab], lab, (y, x))
    return [(best[p][2][1].start, best[p][2][0].start, best[p][2][1].stop - 1, best[p][2][0].stop - 1)
            for p in range(n)]


def cam_thresholds(interval: float = 0.01) -> np.ndarray:
    return np.arange(0, 1, interval)


_EIGHT_PLANES = np.zeros((3, 3, 3), bool)      # 8-connected within a plane, never across planes
_EIGHT_PLANES[1] = True
_FOUR_PLANES = np.zeros((3, 3, 3), bool)
_FOUR_PLANES[1] = _FOUR


def threshold_sweep(scoremaps, thresholds, chunk: int = 32,
                    modes=("largest", "all")) -> list[dict[str, list[list[tuple]]]]:
    """`scoremap_boxes` of many maps at many thresholds, modes "largest" and "all", with one
    labelling call per chunk of maps: the binary maps of every (map, threshold) are stacked as
    planes of a 3-D array and labelled with a structure that never connects two planes (the
    same components, boxes and tie order as `contour_boxes` plane by plane: labels follow raster
    order within a plane). Returns, per map, {mode: [candidate boxes per threshold]}."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    out = []
    for c in range(0, len(scoremaps), chunk):
        imgs = [(_check_unit(m) * 255).astype(np.uint8) for m in scoremaps[c:c + chunk]]
        groups = [np.stack(imgs)] if len({i.shape for i in imgs}) == 1 else [i[None] for i in imgs]
        for g in groups:                               # maps of different shapes: one at a time
            out += _sweep_planes(g, thresholds, "all" in modes)
    return out


def _sweep_planes(imgs: np.ndarray, thresholds: np.ndarray, with_all: bool = True) -> list[dict]:
    n, h, w = imgs.shape
    t_count = len(thresholds)
    cut = np.array([[int(t * top) for t in thresholds] for top in imgs.reshape(n, -1).max(1)])   # threshold_map
    planes = (imgs[:, None] > cut[:, :, None, None]).reshape(n * t_count, h, w)
    labels, _ = ndimage.label(planes, structure=_EIGHT_PLANES)
    comps = [[] for _ in range(n * t_count)]
    for lab, (z, y, x) in enumerate(ndimage.find_objects(labels), 1):
        comps[z.start].append((lab, (y, x)))
    holes = [[] for _ in range(n * t_count)]
    if with_all:
        bg, _ = ndimage.label(~planes, structure=_FOUR_PLANES)
        for z, y, x in ndimage.find_objects(bg):
            if y.start > 0 and x.start > 0 and y.stop < h and x.stop < w:      # a background part off the border
                holes[z.start].append((y, x))

    def box(sl, grow=0):
        y, x = sl
        return (x.start - grow, y.start - grow, min(x.stop + grow, w - 1), min(y.stop + grow, h - 1))

    def largest(p, cs):
        if len(cs) == 1:
            return box(cs[0][1])
        # as contour_boxes: polygon area bounded by (box w - 1)(box h - 1); ties -> the last in raster order
        bound = [(sl[1].stop - sl[1].start - 1) * (sl[0].stop - sl[0].start - 1) for _, sl in cs]
        areas = [-1.0] * len(cs)
        for i in sorted(range(len(cs)), key=lambda i: -bound[i]):
            if bound[i] < max(areas):
                break
            lab, (y, x) = cs[i]
            areas[i] = _contour_area(labels[p, y, x] == lab)
        best = max(areas)
        return box(cs[max(i for i, a in enumerate(areas) if a == best)][1])

    out = []
    for i in range(n):
        rec = {"largest": [], "all": []} if with_all else {"largest": []}
        for p in range(i * t_count, (i + 1) * t_count):
            if not comps[p]:
                rec["largest"].append((0, 0, 0, 0))
                if with_all:
                    rec["all"].append([(0, 0, 0, 0)])
                continue
            rec["largest"].append(largest(p, comps[p]))
            if with_all:
                rec["all"].append([box(sl) for _, sl in comps[p]] + [box(sl, grow=1) for sl in holes[p]])
        out.append(rec)
    return out


def _label_boxes(labels: np.ndarray, n: int, h: int, w: int):
    """Per label 1..n of a stack of planes (P, h, w): its plane and its (x0, y0, xmax, ymax) pixel
    extent, with numpy (the same as find_objects, without a Python object per label)."""
    flat = labels.ravel()
    nz = np.flatnonzero(flat)
    lab = flat[nz] - 1
    z, r = np.divmod(nz, h * w)
    y, x = np.divmod(r, w)
    x0, y0 = np.full(n, w, np.int64), np.full(n, h, np.int64)
    x1, y1 = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
    np.minimum.at(x0, lab, x), np.minimum.at(y0, lab, y), np.maximum.at(x1, lab, x), np.maximum.at(y1, lab, y)
    plane = np.zeros(n, np.int64)
    plane[lab] = z                  # every pixel of a label lies in one plane
    return plane, x0, y0, x1, y1


def _sweep_arrays(imgs: np.ndarray, thresholds: np.ndarray, with_all: bool):
    """`_sweep_planes` as arrays: (largest (n, T, 4), all-mode candidate boxes (M, 4) and the plane
    (image * T + threshold) of each). The same boxes, tie order and empty-plane box (0, 0, 0, 0)."""
    n, h, w = imgs.shape
    t_count = len(thresholds)
    cut = np.array([[int(t * top) for t in thresholds] for top in imgs.reshape(n, -1).max(1)])   # threshold_map
    planes = (imgs[:, None] > cut[:, :, None, None]).reshape(n * t_count, h, w)
    labels, nlab = ndimage.label(planes, structure=_EIGHT_PLANES)
    plane, x0, y0, x1, y1 = _label_boxes(labels, nlab, h, w)
    boxes = np.stack([x0, y0, np.minimum(x1 + 1, w - 1), np.minimum(y1 + 1, h - 1)], 1)   # cv2.boundingRect + clip
    count = np.bincount(plane, minlength=n * t_count)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])          # labels are numbered plane by plane
    largest = np.zeros((n * t_count, 4), np.int64)
    one = count == 1
    largest[one] = boxes[start[one]]
    bound = (x1 - x0) * (y1 - y0)
    for p in np.flatnonzero(count > 1):        # as contour_boxes: polygon area <= (w - 1)(h - 1); ties -> last
        labs = np.arange(start[p], start[p] + count[p])
        areas = np.full(len(labs), -1.0)
        for i in np.argsort(-bound[labs], kind="stable"):
            if bound[labs[i]] < areas.max():
                break
            k = labs[i]
            areas[i] = _contour_area(labels[p, y0[k]:y1[k] + 1, x0[k]:x1[k] + 1] == k + 1)
        largest[p] = boxes[labs[np.flatnonzero(areas == areas.max())[-1]]]
    if not with_all:
        return largest.reshape(n, t_count, 4), None, None
    bg, nbg = ndimage.label(~planes, structure=_FOUR_PLANES)
    # holes: the background parts off the border (their extents from find_objects' one C pass;
    # _label_boxes over every background pixel cost more than the rest of the sweep)
    hole = [(z.start, x.start - 1, y.start - 1, min(x.stop + 1, w - 1), min(y.stop + 1, h - 1))
            for z, y, x in ndimage.find_objects(bg) if y.start > 0 and x.start > 0 and y.stop < h and x.stop < w]
    hole = np.array(hole, np.int64).reshape(-1, 5)
    bplane, holes = hole[:, 0], hole[:, 1:]
    empty = np.flatnonzero(count == 0)
    cand = np.concatenate([boxes, holes, np.zeros((len(empty), 4), np.int64)])
    owner = np.concatenate([plane, bplane, empty])
    return largest.reshape(n, t_count, 4), cand, owner


def _best_ious(scoremaps, gt_boxes, thresholds, with_all: bool, shared: bool, chunk: int = 32):
    """(N, T) best IoU with the image's GT boxes of the largest contour's box, and of any contour's
    box (with_all), per CAM threshold; the same numbers as threshold_sweep + iou."""
    t_count = len(thresholds)
    largest, every = np.zeros((len(gt_boxes), t_count)), np.zeros((len(gt_boxes), t_count))
    gts = [check_boxes(g, f"ground-truth boxes of image {i}") for i, g in enumerate(gt_boxes)]
    maps = [scoremaps] if shared else scoremaps
    done = 0
    for c in range(0, len(maps), chunk):
        imgs = [(_check_unit(m) * 255).astype(np.uint8) for m in maps[c:c + chunk]]
        groups = [np.stack(imgs)] if len({i.shape for i in imgs}) == 1 else [i[None] for i in imgs]
        for g in groups:
            lg, cand, owner = _sweep_arrays(g, thresholds, with_all)
            for j in range(len(g)):
                targets = range(len(gts)) if shared else [done + j]
                sel = (owner // t_count == j) if with_all else None
                for i in targets:
                    largest[i] = iou(lg[j], gts[i]).max(1)
                    if with_all:
                        best = np.zeros(t_count)
                        np.maximum.at(best, owner[sel] % t_count, iou(cand[sel], gts[i]).max(1))
                        every[i] = best
            done += len(g)
    return largest, every


def box_map(box, width: int, height: int) -> np.ndarray:
    """A score map that is 1 inside the inclusive `box` and 0 elsewhere (a fixed-box baseline):
    scored by the map metrics (MaxBoxAcc, MaxBoxAccV2) like every CAM, it predicts the same box at
    every CAM threshold -- in wsolevaluation's convention, (x0, y0, x1 + 1, y1 + 1) clipped to the
    image (cv2.boundingRect's x + w), as for the CAMs' contours."""
    x0, y0, x1, y1 = (int(v) for v in check_boxes(box, "box_map")[0])
    m = np.zeros((height, width))
    m[y0:y1 + 1, x0:x1 + 1] = 1.0
    return m


def best_fixed_box(gt_boxes, width: int, height: int, iou_threshold=IOU_THRESHOLD,
                   stride: int = 2) -> tuple[int, int, int, int]:
    """The strongest fixed-box baseline fitted to ground-truth boxes (e.g. a training set's, one
    box per image): the box with IoU >= `iou_threshold` on the most of them (several thresholds,
    e.g. MaxBoxAccV2's (0.3, 0.5, 0.7): the most hits summed over them). Candidates: the centred
    box of the mean size (listed first, so it wins ties), then every box whose width and height
    lie between the smallest and largest ground-truth size, on a grid of `stride` pixels for
    sizes and positions. Returns inclusive (x0, y0, x1, y1)."""
    thr = np.atleast_1d(np.asarray(iou_threshold, dtype=np.float64))

    def n_hits(cand):
        o = iou(cand, g)
        return sum((o >= t).sum(1) for t in thr)
    g = check_boxes(gt_boxes, "best_fixed_box: ground-truth boxes")
    gw, gh = g[:, 2] - g[:, 0] + 1, g[:, 3] - g[:, 1] + 1
    if gw.max() > width or gh.max() > height:
        raise ValueError(f"best_fixed_box: a ground-truth box exceeds the {width}x{height} image")
    mw, mh = int(round(gw.mean())), int(round(gh.mean()))
    centred = ((width - mw) // 2, (height - mh) // 2)
    best = (centred[0], centred[1], centred[0] + mw - 1, centred[1] + mh - 1)
    best_hits = int(n_hits(best)[0])
    for bw in range(int(gw.min()), int(gw.max()) + 1, stride):
        for bh in range(int(gh.min()), int(gh.max()) + 1, stride):
            xs, ys = np.arange(0, width - bw + 1, stride), np.arange(0, height - bh + 1, stride)
            x0, y0 = (a.ravel() for a in np.meshgrid(xs, ys))
            cand = np.stack([x0, y0, x0 + bw - 1, y0 + bh - 1], 1)
            hits = n_hits(cand)
            j = int(np.argmax(hits))
            if hits[j] > best_hits:
                best, best_hits = tuple(int(v) for v in cand[j]), int(hits[j])
    return best


# ----------------------------------------------------------------------------- accuracies
def _best_iou(boxes, gt) -> float:
    return float(iou(boxes, gt).max())


def loc_error(pred_classes, pred_boxes, gt_classes, gt_boxes, k: int = 5,
              iou_threshold: float = IOU_THRESHOLD) -> float:
    """ILSVRC top-k localization error (%). pred_classes[i]: classes by decreasing score;
    pred_boxes[i][j]: the box for pred_classes[i][j]; gt_boxes[i]: (m, 4) boxes of gt_classes[i]."""
    n = len(gt_classes)
    if n == 0:
        raise ValueError("loc_error: no images")
    wrong = 0
    for i in range(n):
        ok = False
        for j in range(min(k, len(pred_classes[i]))):
            if int(pred_classes[i][j]) == int(gt_classes[i]) and \
                    _best_iou(pred_boxes[i][j], gt_boxes[i]) >= iou_threshold:
                ok = True
                break
        wrong += not ok
    return 100.0 * wrong / n


def cls_error(pred_classes, gt_classes, k: int = 5) -> float:
    """Top-k classification error (%)."""
    n = len(gt_classes)
    if n == 0:
        raise ValueError("cls_error: no images")
    return 100.0 * sum(int(g) not in [int(c) for c in p[:k]] for p, g in zip(pred_classes, gt_classes)) / n


def gt_known_loc(boxes, gt_boxes, iou_threshold: float = IOU_THRESHOLD) -> float:
    """GT-known localization accuracy (%): the box for the ground-truth class, IoU >= 0.5."""
    if len(boxes) == 0:
        raise ValueError("gt_known_loc: no images")
    return 100.0 * float(np.mean([_best_iou(b, g) >= iou_threshold for b, g in zip(boxes, gt_boxes)]))


def box_accuracy_curve(best_ious: np.ndarray, iou_threshold: float) -> np.ndarray:
    """best_ious (N images, T cam thresholds) -> accuracy (%) per cam threshold."""
    return 100.0 * (np.asarray(best_ious) >= iou_threshold).mean(0)


def scoremap_best_ious(scoremaps, gt_boxes, thresholds, mode: str) -> np.ndarray:
    """(N, T): for each image and CAM threshold, the best IoU of its candidate boxes with its GT boxes."""
    out = np.zeros((len(scoremaps), len(thresholds)))
    for i, (s, g) in enumerate(zip(scoremaps, gt_boxes)):
        g = check_boxes(g, f"ground-truth boxes of image {i}")
        for t, cand in enumerate(scoremap_boxes(s, thresholds, mode)):
            out[i, t] = iou(np.asarray(cand), g).max()
    return out


def box_accuracies(scoremaps, gt_boxes, interval: float = 0.01, iou_threshold: float = IOU_THRESHOLD,
                   iou_thresholds=V2_IOU_THRESHOLDS, v2: bool = True) -> dict[str, float]:
    """MaxBoxAcc and MaxBoxAccV2 (%) in one threshold sweep per map (equal to `max_box_acc` and
    `max_box_acc_v2`; `v2=False`: MaxBoxAcc only). `scoremaps`: one normalised map per image, or a
    single 2-D map shared by every image (a fixed-box baseline: `box_map`), swept once. Also the
    best CAM threshold of MaxBoxAcc."""
    thresholds = cam_thresholds(interval)
    shared = isinstance(scoremaps, np.ndarray) and scoremaps.ndim == 2
    if not shared and len(scoremaps) != len(gt_boxes):
        raise ValueError(f"box_accuracies: {len(scoremaps)} score maps for {len(gt_boxes)} images")
    largest, every = _best_ious(scoremaps, gt_boxes, thresholds, v2, shared)
    acc = box_accuracy_curve(largest, iou_threshold)
    out = {"max_box_acc": float(acc.max()), "max_box_acc_threshold": float(thresholds[int(acc.argmax())])}
    if v2:
        per = {t: box_accuracy_curve(every, t / 100) for t in iou_thresholds}
        out["max_box_acc_v2"] = float(np.mean([c.max() for c in per.values()]))
        for t, c in per.items():
            out[f"max_box_acc_v2_iou{t}"] = float(c.max())
    return out


def max_box_acc(scoremaps, gt_boxes, interval: float = 0.01, iou_threshold: float = IOU_THRESHOLD) -> float:
    """MaxBoxAcc (%): scoremaps normalised to [0, 1], in the frame of gt_boxes (wsolevaluation: 224x224)."""
    ious = scoremap_best_ious(scoremaps, gt_boxes, cam_thresholds(interval), "largest")
    return float(box_accuracy_curve(ious, iou_threshold).max())


def max_box_acc_v2(scoremaps, gt_boxes, interval: float = 0.01,
                   iou_thresholds=V2_IOU_THRESHOLDS) -> dict[str, float]:
    """MaxBoxAccV2 (%): all contours, mean over IoU thresholds (30, 50, 70); also each one."""
    ious = scoremap_best_ious(scoremaps, gt_boxes, cam_thresholds(interval), "all")
    per = {f"iou{t}": float(box_accuracy_curve(ious, t / 100).max()) for t in iou_thresholds}
    return {"mean": float(np.mean(list(per.values()))), **per}


# ----------------------------------------------------------------------------- command line
def read_predictions(path: str | Path) -> dict[str, list[dict]]:
    """PRED_CSV -> {image_id: [rows]}; rows carry class, score, box and an optional cam_threshold.
    Every field is checked (UTF-8 text, the header, integer class >= 0, finite score, a valid
    inclusive box, cam_threshold in [0, 1]); a bad row raises DataError naming the file and line."""
    import io
    from datasets import DataError, read_text
    path = Path(path)
    need = ["image_id", "class", "score", "x0", "y0", "x1", "y1"]
    out: dict[str, list[dict]] = {}
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    missing = [c for c in need if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; expected header {','.join(need)}[,cam_threshold]")
    for n, row in enumerate(reader, 2):
        try:
            if None in row or any(row[c] is None for c in need):
                raise ValueError(f"expected {len(reader.fieldnames)} fields")
            if not row["image_id"].strip():
                raise ValueError("empty image_id")
            box = tuple(float(row[c]) for c in ("x0", "y0", "x1", "y1"))
            check_boxes(box)
            thr = (row.get("cam_threshold") or "").strip()
            sc = (row["score"] or "").strip()
            if not sc and not thr:
                raise ValueError("a top-k prediction row needs a score")
            cls = int(row["class"])
            if cls < 0:
                raise ValueError(f"class {cls} is negative")
            rec = {"class": cls, "score": float(sc) if sc else math.nan, "box": box,
                   "cam_threshold": float(thr) if thr else None}
            if sc and not math.isfinite(rec["score"]):
                raise ValueError(f"score {sc!r} is not a finite number")
            if thr and not 0.0 <= rec["cam_threshold"] <= 1.0:     # (NaN fails this too)
                raise ValueError(f"cam_threshold {thr!r} is not a number in [0, 1]")
        except (ValueError, TypeError) as e:
            raise DataError(f"{path}:{n}: bad row {dict(row)}: {e}") from None
        out.setdefault(Path(row["image_id"].strip()).stem, []).append(rec)
    return out


def score(preds: dict[str, list[dict]], gt: dict[str, dict]) -> dict[str, float]:
    """Every metric the predictions allow, over the ground-truth images (missing predictions count as wrong)."""
    ids = sorted(gt)
    unknown = sorted(set(preds) - set(gt))
    if unknown:
        raise ValueError(f"predictions for {len(unknown)} image(s) not in the ground truth, e.g. {unknown[:3]}")
    classes, boxes, gt_cls, gt_box, known = [], [], [], [], []
    curves: dict[float, list[float]] = {}
    for i in ids:
        rows = preds.get(i, [])
        plain = sorted((r for r in rows if r["cam_threshold"] is None), key=lambda r: -r["score"])
        classes.append([r["class"] for r in plain])
        boxes.append([r["box"] for r in plain])
        g = gt[i]
        gt_cls.append(g["class"]), gt_box.append(np.asarray(g["boxes"]))
        mine = [r for r in plain if r["class"] == g["class"]]
        known.append(_best_iou(mine[0]["box"], g["boxes"]) if mine else 0.0)
        for r in rows:
            if r["cam_threshold"] is not None and r["class"] == g["class"]:
                curves.setdefault(r["cam_threshold"], {}).setdefault(i, []).append(r["box"])
    out = {"images": len(ids),
           "top1_loc_error": loc_error(classes, boxes, gt_cls, gt_box, k=1),
           "top5_loc_error": loc_error(classes, boxes, gt_cls, gt_box, k=5),
           "top1_cls_error": cls_error(classes, gt_cls, k=1),
           "top5_cls_error": cls_error(classes, gt_cls, k=5),
           "gt_known_loc": 100.0 * float(np.mean(np.asarray(known) >= IOU_THRESHOLD))}
    if curves:
        thr = sorted(curves)
        ious = np.zeros((len(ids), len(thr)))
        for t_i, t in enumerate(thr):
            for n, i in enumerate(ids):
                if i in curves[t]:
                    ious[n, t_i] = iou(np.asarray(curves[t][i]), gt[i]["boxes"]).max()
        out["max_box_acc"] = float(box_accuracy_curve(ious, IOU_THRESHOLD).max())
        out["max_box_acc_v2"] = float(np.mean([box_accuracy_curve(ious, t / 100).max() for t in V2_IOU_THRESHOLDS]))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m metrics.localization", description=(
        "Score WSOL predictions against ILSVRC ground truth: top-1/top-5 localization and classification "
        "error, GT-known localization and (with cam_threshold rows) MaxBoxAcc / MaxBoxAccV2."))
    p.add_argument("pred_csv", help="CSV with header image_id,class,score,x0,y0,x1,y1[,cam_threshold]; boxes "
                   "in original-image inclusive pixels; rows with a cam_threshold are the GT-class boxes at that "
                   "threshold (for MaxBoxAcc), the others the top-k predictions")
    p.add_argument("gt", help="folder of ILSVRC per-image XML files (ILSVRC2012_val_*.xml), or a wsolevaluation "
                   "metadata folder (localization.txt + class_labels.txt)")
    p.add_argument("--synsets", default=None, help="synset list fixing the class order for XML ground truth "
                   "(LOC_synset_mapping.txt layout); default: the sorted synsets found in the XMLs")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    from datasets import DataError, DataMissing
    from datasets.ilsvrc import load_ground_truth
    try:
        gt = load_ground_truth(args.gt, synsets=args.synsets)
        preds = read_predictions(args.pred_csv)
        unknown = sorted(set(preds) - set(gt))
        if unknown:
            raise DataError(f"{args.pred_csv}: predictions for {len(unknown)} image(s) not in the ground truth "
                            f"{args.gt}, e.g. {unknown[:3]}")
        result = score(preds, gt)
    except (DataError, DataMissing, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for k, v in result.items():
            print(f"{k:16s} {v:10.2f}" if isinstance(v, float) and not math.isnan(v) else f"{k:16s} {v!s:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
