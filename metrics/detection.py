"""Object-detection scores: PASCAL VOC average precision and COCO mAP.

VOC: the official devkit's `VOCevaldet.m` / `VOCap.m` (the default, `rule="devkit"`), or the
port in py-faster-rcnn's `voc_eval.py` (`rule="py-faster-rcnn"`), which differs in one place:
- per class, detections are sorted by score, highest first, stably: ties keep their order in the
  input (a comp4 file's line order; in memory, the order of the predictions dict and of each
  image's boxes), as MATLAB's `sort` does; each is matched to the ground-truth box of its image
  with the largest IoU; a true positive needs IoU >= 0.5 under the devkit (`ovmax >= minoverlap`)
  and IoU > 0.5 under py-faster-rcnn (`ovmax > ovthresh`); a second hit on an already matched box
  is a false positive (a duplicate);
- ground truth marked "difficult" is ignored: it does not count as a positive, and a detection
  whose best match is a difficult box is neither a TP nor an FP;
- boxes are inclusive pixel coordinates (x1 - x0 + 1 is the width), as in VOC XML; pass
  `inclusive=False` for half-open [x0, x1) boxes (the synthetic scenes);
- AP: VOC 2007's 11-point interpolation (`use_07=True`: mean over recall r in {0, 0.1, ..., 1} of
  the max precision at recall >= r, with the thresholds MATLAB's `0:0.1:1` produces -- 0.6 and
  0.7 exactly, where `np.arange` gives 0.6000000000000001) or VOC 2010+'s area under the
  monotone precision envelope.
- a class with no (non-difficult) positives has AP nan and is left out of the mAP.

COCO: pycocotools' COCOeval (bbox), the 12 standard numbers: AP, AP50, AP75, AP_small/medium/large,
AR1, AR10, AR100, AR_small/medium/large. `coco_evaluate` takes file paths or in-memory dicts and
never modifies the caller's (pycocotools writes into them). `to_coco` turns VOC "difficult"
objects into `iscrowd = 1` regions, the only ignore flag pycocotools honours (it overwrites
`ignore` from `iscrowd`): a detection matched to one counts neither as TP nor FP, with COCO's
crowd overlap (intersection over the detection's area).

Malformed detections (NaN coordinates or scores, x1 < x0 or y1 < y0) raise `DetectionError`
naming the offending entry; an empty detection list is valid (AP 0 where there are positives).
COCO inputs are validated before pycocotools sees them (`check_coco_ground_truth`,
`check_coco_results`): types, finiteness, w/h >= 0, ids present in the ground truth, and the
file's path in every message. Where pycocotools is silent we decided: a result whose
`category_id` is not one of the ground truth's categories is an error (pycocotools scores it
as an unmatched detection of a class with no AP, hiding a 0- vs 1-based label bug); a result
for an image the ground truth lacks is an error too (pycocotools asserts).

Command line:

    python -m metrics.detection coco ANNOTATIONS.json RESULTS.json [--json]
    python -m metrics.detection voc VOC_ROOT/VOC2007 DETS_DIR [--split test] [--use-07|--area] [--json]

where DETS_DIR holds the devkit's per-class files `comp4_det_<split>_<class>.txt` with lines
`image_id score x0 y0 x1 y1`.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

COCO_STAT_NAMES = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
                   "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")


class DetectionError(ValueError):
    """A malformed detection or ground-truth entry; the message says which one and why."""


@dataclass
class GroundTruth:
    """One image's objects: boxes (N, 4) [x0, y0, x1, y1], labels (N,), difficult (N,) bool."""
    boxes: np.ndarray
    labels: np.ndarray
    difficult: np.ndarray | None = None


# ----------------------------------------------------------------------------- VOC
RULES = ("devkit", "py-faster-rcnn")


def matlab_colon(a: float, step: float, b: float) -> np.ndarray:
    """MATLAB's `a:step:b`: the first half counted up from a, the second half down from b, so the
    last value is b exactly (0:0.1:1 holds 0.6 and 0.7, where np.arange holds 0.6000000000000001)."""
    n = int(round((b - a) / step))
    return np.array([a + k * step if 2 * k <= n else b - (n - k) * step for k in range(n + 1)])


VOC07_RECALLS = matlab_colon(0.0, 0.1, 1.0)


def voc_ap(rec: np.ndarray, prec: np.ndarray, use_07: bool = True) -> float:
    """AP from a recall/precision curve (the devkit's `VOCevaldet` 11-point loop / `VOCap`)."""
    rec, prec = np.asarray(rec, np.float64), np.asarray(prec, np.float64)
    if use_07:
        ap = 0.0
        for t in VOC07_RECALLS:
            p = np.max(prec[rec >= t]) if np.any(rec >= t) else 0.0
            ap += p / 11.0
        return float(ap)
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _check_boxes(boxes: np.ndarray, what: str) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    bad = ~np.isfinite(boxes).all(1)
    if bad.any():
        raise DetectionError(f"{what}: box {int(np.argmax(bad))} has a non-finite coordinate: {boxes[bad][0].tolist()}")
    neg = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if neg.any():
        raise DetectionError(f"{what}: box {int(np.argmax(neg))} has negative width or height "
                             f"(x1 < x0 or y1 < y0): {boxes[neg][0].tolist()}")
    return boxes


def iou_matrix(a: np.ndarray, b: np.ndarray, inclusive: bool = True) -> np.ndarray:
    """IoU between every box of a (N,4) and b (M,4); `inclusive` adds 1 to widths (VOC pixels)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    e = 1.0 if inclusive else 0.0
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + e
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + e
    inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
    area_a = (a[:, 2] - a[:, 0] + e) * (a[:, 3] - a[:, 1] + e)
    area_b = (b[:, 2] - b[:, 0] + e) * (b[:, 3] - b[:, 1] + e)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def voc_eval_class(dets: Sequence[tuple], gts: dict, cls: int, iou_thresh: float = 0.5,
                   use_07: bool = True, inclusive: bool = True,
                   rule: str = "devkit") -> tuple[float, np.ndarray, np.ndarray]:
    """AP of one class. `dets`: (image_id, score, box) of this class, in file order (ties keep it);
    `gts`: image_id -> GroundTruth. Returns (ap, recall, precision); ap is nan when the class has
    no non-difficult positives. `rule`: "devkit" (IoU >= thresh) or "py-faster-rcnn" (IoU > thresh)."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    gt_boxes, gt_diff, used = {}, {}, {}
    npos = 0
    for img, g in gts.items():
        m = np.asarray(g.labels) == cls
        gt_boxes[img] = np.asarray(g.boxes, np.float64).reshape(-1, 4)[m]
        d = np.zeros(len(g.labels), bool) if g.difficult is None else np.asarray(g.difficult, bool)
        gt_diff[img] = d[m]
        used[img] = np.zeros(int(m.sum()), bool)
        npos += int((~gt_diff[img]).sum())
    if not dets:
        return (float("nan") if npos == 0 else 0.0), np.zeros(0), np.zeros(0)
    ids = [d[0] for d in dets]
    scores = np.array([d[1] for d in dets], np.float64)
    if not np.isfinite(scores).all():
        raise DetectionError(f"class {cls}: detection {int(np.argmax(~np.isfinite(scores)))} has a non-finite score")
    boxes = _check_boxes(np.array([d[2] for d in dets], np.float64), f"class {cls} detections")
    order = np.argsort(-scores, kind="stable")
    # best-matching ground truth of each detection (IoUs computed per image, all at once)
    best_ov, best_j = np.zeros(len(dets)), np.zeros(len(dets), np.int64)
    by_img: dict = {}
    for j, img in enumerate(ids):
        by_img.setdefault(img, []).append(j)
    for img, js in by_img.items():
        if img not in gt_boxes:
            raise DetectionError(f"class {cls}: detection for unknown image id {img!r}")
        if len(gt_boxes[img]):
            ov = iou_matrix(boxes[js], gt_boxes[img], inclusive)
            best_ov[js], best_j[js] = ov.max(1), ov.argmax(1)
        else:
            best_ov[js] = -np.inf
    tp, fp = np.zeros(len(order)), np.zeros(len(order))
    for k, j in enumerate(order):
        img, jmax = ids[j], best_j[j]
        if best_ov[j] >= iou_thresh if rule == "devkit" else best_ov[j] > iou_thresh:
            if gt_diff[img][jmax]:
                continue
            if not used[img][jmax]:
                tp[k], used[img][jmax] = 1, True
            else:
                fp[k] = 1
        else:
            fp[k] = 1
    if npos == 0:
        return float("nan"), np.zeros(0), np.zeros(0)
    fp, tp = np.cumsum(fp), np.cumsum(tp)
    rec = tp / npos
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return voc_ap(rec, prec, use_07), rec, prec


def voc_evaluate(predictions: dict, gts: dict, num_classes: int, iou_thresh: float = 0.5,
                 use_07: bool = True, inclusive: bool = True, class_names: Sequence[str] | None = None,
                 rule: str = "devkit") -> dict:
    """mAP over classes. `predictions`: image_id -> dict(boxes (K,4), scores (K,), labels (K,));
    `gts`: image_id -> GroundTruth. Returns {"mAP", "AP": {class: ap}, "mAP_07", "mAP_area"}; mAP (the
    `use_07` rule) is the mean over classes with positives (nan if none has any). Tied scores keep
    the order of `predictions` (images in dict order, boxes in array order)."""
    per_class: dict[int, list] = {c: [] for c in range(num_classes)}
    for img, p in predictions.items():
        boxes = _check_boxes(p["boxes"], f"image {img!r} detections")
        scores, labels = np.asarray(p["scores"]).reshape(-1), np.asarray(p["labels"]).reshape(-1)
        if not (len(boxes) == len(scores) == len(labels)):
            raise DetectionError(f"image {img!r}: {len(boxes)} boxes, {len(scores)} scores, {len(labels)} labels")
        for b, s, l in zip(boxes, scores, labels):
            if not 0 <= int(l) < num_classes:
                raise DetectionError(f"image {img!r}: label {int(l)} outside 0..{num_classes - 1}")
            per_class[int(l)].append((img, float(s), b))
    return voc_evaluate_classes(per_class, gts, num_classes, iou_thresh, use_07, inclusive, class_names, rule)


def voc_evaluate_classes(per_class: dict, gts: dict, num_classes: int, iou_thresh: float = 0.5,
                         use_07: bool = True, inclusive: bool = True, class_names: Sequence[str] | None = None,
                         rule: str = "devkit") -> dict:
    """`voc_evaluate` from per-class detection lists (class -> [(image_id, score, box)] in file
    order, as `read_voc_dets` returns them): the devkit's own input shape."""
    aps, other = {}, {}
    for c in range(num_classes):
        name = class_names[c] if class_names else c
        ap, rec, prec = voc_eval_class(per_class.get(c, []), gts, c, iou_thresh, use_07, inclusive, rule)
        aps[name] = ap
        other[name] = voc_ap(rec, prec, not use_07) if len(rec) else ap
    def mean(d):
        vals = [a for a in d.values() if not math.isnan(a)]
        return float(np.mean(vals)) if vals else float("nan")
    return {"mAP": mean(aps), "AP": aps, "mAP_07": mean(aps if use_07 else other),
            "mAP_area": mean(other if use_07 else aps)}


# ----------------------------------------------------------------------------- COCO
def _load_json(x, what: str):
    """A path -> the parsed JSON (DetectionError naming the file if unreadable, not UTF-8 or not
    JSON); an in-memory object is returned as it is."""
    if isinstance(x, (str, Path)):
        try:
            raw = Path(x).read_bytes()
        except OSError as e:
            raise DetectionError(f"{what} {x}: cannot read ({e.strerror or e})") from None
        try:
            return json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise DetectionError(f"{what} {x}: not UTF-8 text (byte {e.start})") from None
        except (json.JSONDecodeError, RecursionError) as e:
            raise DetectionError(f"{what} {x}: cannot read JSON ({e})") from None
    return x


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


def _is_id(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _finite_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_bbox(b, where: str):
    if not isinstance(b, list) or len(b) != 4 or not all(_finite_number(v) for v in b):
        raise DetectionError(f"{where}: bbox missing or not finite (a list of 4 finite numbers [x, y, w, h]): {b!r}")
    if b[2] < 0 or b[3] < 0:
        raise DetectionError(f"{where}: negative width or height in bbox {b}")


def check_coco_ground_truth(gt, where: str = "annotations") -> tuple[set, set]:
    """Validate a COCO instances dict before pycocotools sees it (which would fail with a bare
    KeyError/TypeError deep inside, or score nonsense). Returns (image ids, category ids).
    `where` prefixes every message (the file's path for a file)."""
    if not isinstance(gt, dict):
        raise DetectionError(f"{where}: a COCO instances file is a JSON object, got {type(gt).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(gt.get(key), list):
            raise DetectionError(f"{where}: '{key}' must be a list (a COCO instances file has images, "
                                 f"annotations and categories), got {type(gt.get(key)).__name__}")
    ids: dict[str, set] = {}
    for key in ("images", "categories"):
        seen = ids.setdefault(key, set())
        for i, e in enumerate(gt[key]):
            if not isinstance(e, dict) or not _is_id(e.get("id")):
                raise DetectionError(f"{where}: {key}[{i}] needs an integer 'id', got {e!r:.80}")
            if e["id"] in seen:
                raise DetectionError(f"{where}: {key}[{i}]: duplicate id {e['id']}")
            seen.add(e["id"])
    ann_ids = set()
    for i, a in enumerate(gt["annotations"]):
        w = f"{where}: annotations[{i}]"
        if not isinstance(a, dict):
            raise DetectionError(f"{w}: expected an object, got {type(a).__name__}")
        for key in ("id", "image_id", "category_id"):
            if not _is_id(a.get(key)):
                raise DetectionError(f"{w}: '{key}' must be an integer, got {a.get(key)!r}")
        if a["id"] in ann_ids:
            raise DetectionError(f"{w}: duplicate annotation id {a['id']}")
        ann_ids.add(a["id"])
        if a["image_id"] not in ids["images"]:
            raise DetectionError(f"{w}: image_id {a['image_id']} is not in 'images'")
        if a["category_id"] not in ids["categories"]:
            raise DetectionError(f"{w}: category_id {a['category_id']} is not in 'categories'")
        _check_bbox(a.get("bbox"), w)
        if not _finite_number(a.get("area")) or a["area"] < 0:
            raise DetectionError(f"{w}: 'area' must be a finite number >= 0, got {a.get('area')!r}")
        if a.get("iscrowd") not in (0, 1) or isinstance(a.get("iscrowd"), float):
            raise DetectionError(f"{w}: 'iscrowd' must be 0 or 1, got {a.get('iscrowd')!r}")
    return ids["images"], ids["categories"]


def check_coco_results(res, image_ids: set, category_ids: set, where: str = "results",
                       iou_type: str = "bbox", unknown_category: str = "error") -> list:
    """Validate a COCO results list against the ground truth's ids: every entry an object with an
    integer image_id known to the ground truth, an integer category_id known to it, a finite score
    and (bbox) 4 finite numbers with w, h >= 0.

    An unknown category_id is an error (naming the file, the entry and the id): pycocotools would
    score it silently -- a detection of a class that does not exist never matches, and the class
    has no AP, so a label-mapping bug (0- vs 1-based ids) passes unnoticed as a low score.
    `unknown_category="ignore"` keeps pycocotools' behaviour explicitly: such entries are dropped
    (e.g. torchvision's COCO models can emit the "N/A" placeholder ids). Returns the entries to score."""
    if unknown_category not in ("error", "ignore"):
        raise ValueError(f"unknown_category must be 'error' or 'ignore', got {unknown_category!r}")
    if not isinstance(res, list):
        raise DetectionError(f"{where}: results must be a list of {{image_id, category_id, bbox, score}}, "
                             f"got {type(res).__name__}")
    for i, r in enumerate(res):
        w = f"{where}: result {i}"
        if not isinstance(r, dict):
            raise DetectionError(f"{w}: expected an object {{image_id, category_id, bbox, score}}, got {type(r).__name__}")
        for key in ("image_id", "category_id"):
            if not _is_id(r.get(key)):
                raise DetectionError(f"{w}: '{key}' must be an integer, got {r.get(key)!r}")
        if r["image_id"] not in image_ids:
            raise DetectionError(f"{w}: image_id {r['image_id']} is not in the ground truth's images")
        if r["category_id"] not in category_ids and unknown_category == "error":
            raise DetectionError(f"{w}: category_id {r['category_id']} is not one of the ground truth's categories "
                                 f"(pass unknown_category='ignore' to drop such detections, as pycocotools does)")
        if not _finite_number(r.get("score")):
            raise DetectionError(f"{w}: score missing or not finite (a finite number): {r.get('score')!r}")
        if iou_type == "bbox":
            _check_bbox(r.get("bbox"), w)
        elif not isinstance(r.get("segmentation"), (dict, list)):
            raise DetectionError(f"{w}: {iou_type} results need a 'segmentation' (RLE or polygons)")
    return [r for r in res if r["category_id"] in category_ids]


def coco_evaluate(annotations, results, iou_type: str = "bbox", img_ids: Iterable[int] | None = None,
                  backend: str = "pycocotools", unknown_category: str = "error") -> dict:
    """The 12 COCOeval numbers as a dict (COCO_STAT_NAMES). `annotations`: a COCO instances JSON
    path or dict; `results`: a results JSON path or a list of {image_id, category_id, bbox [x,y,w,h], score}.
    An empty results list gives all-zero AP (pycocotools itself refuses an empty list).

    Both inputs are validated first (`check_coco_ground_truth`, `check_coco_results`): a malformed
    entry, an image id absent from the ground truth, or a category id unknown to it raises
    DetectionError naming the file (for paths) and the entry (`unknown_category="ignore"`: drop
    detections of unknown categories instead, pycocotools' silent behaviour).

    `backend`: "pycocotools" (the reference, default) or, opt-in, "faster-coco-eval" (its C++
    COCOeval_faster; bbox only): identical on all 12 numbers on 5,000-image synthetic sets and about
    5x faster, but not bit-identical everywhere -- on the official fake bbox results
    (coco-detection/) AP50 differs in the last bits (0.6969727247299577 vs ...79), the other 11 are
    equal. tests/test_metric_speed.py measures both. Needs `pip install 'paper-repro[fastcoco]'`."""
    COCO, COCOeval = _coco_backend(backend, iou_type)
    import copy
    gt_dict = copy.deepcopy(_load_json(annotations, "annotations"))   # pycocotools writes into both
    res = copy.deepcopy(_load_json(results, "results"))
    gt_where = str(annotations) if isinstance(annotations, (str, Path)) else "annotations"
    where = str(results) if isinstance(results, (str, Path)) else "results"
    image_ids, category_ids = check_coco_ground_truth(gt_dict, gt_where)
    res = check_coco_results(res, image_ids, category_ids, where, iou_type, unknown_category)
    with _quiet():
        gt = COCO()
        gt.dataset = gt_dict
        gt.createIndex()
        if not res:
            return {k: 0.0 if k.startswith(("AP", "AR")) else float("nan") for k in COCO_STAT_NAMES}
        dt = gt.loadRes(res)
        ev = COCOeval(gt, dt, iou_type)
        if img_ids is not None:
            ev.params.imgIds = sorted(img_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return dict(zip(COCO_STAT_NAMES, (float(v) for v in ev.stats)))


COCO_BACKENDS = ("pycocotools", "faster-coco-eval")


def _coco_backend(backend: str, iou_type: str):
    if backend == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        return COCO, COCOeval
    if backend == "faster-coco-eval":
        if iou_type != "bbox":
            raise ValueError(f"backend 'faster-coco-eval' is checked against pycocotools for bbox only, not {iou_type!r}")
        try:
            from faster_coco_eval import COCO, COCOeval_faster
        except ImportError:
            raise RuntimeError("backend 'faster-coco-eval' needs the faster-coco-eval package "
                               "(pip install 'paper-repro[fastcoco]')") from None
        return COCO, COCOeval_faster
    raise ValueError(f"unknown COCO backend {backend!r}; one of {COCO_BACKENDS}")


def to_coco(predictions: dict, gts: dict, num_classes: int, image_sizes: dict | None = None,
            inclusive: bool = False) -> tuple[dict, list]:
    """In-memory COCO ground truth and results from per-image dicts (integer image ids).
    Boxes [x0,y0,x1,y1] become [x, y, w, h]; difficult objects become `iscrowd = 1` regions, which
    pycocotools ignores (a detection matched to one is neither TP nor FP; see the module docstring)."""
    e = 1.0 if inclusive else 0.0
    images, anns = [], []
    for img, g in gts.items():
        w, h = (image_sizes or {}).get(img, (0, 0))
        images.append({"id": int(img), "width": int(w), "height": int(h)})
        diff = np.zeros(len(g.labels), bool) if g.difficult is None else np.asarray(g.difficult, bool)
        for b, l, d in zip(np.asarray(g.boxes, np.float64).reshape(-1, 4), g.labels, diff):
            bw, bh = b[2] - b[0] + e, b[3] - b[1] + e
            anns.append({"id": len(anns) + 1, "image_id": int(img), "category_id": int(l) + 1,
                         "bbox": [float(b[0]), float(b[1]), float(bw), float(bh)], "area": float(bw * bh),
                         "iscrowd": int(d)})
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": c + 1, "name": str(c)} for c in range(num_classes)]}
    res = []
    for img, p in predictions.items():
        boxes = _check_boxes(p["boxes"], f"image {img!r} detections")
        for b, s, l in zip(boxes, np.asarray(p["scores"]).reshape(-1), np.asarray(p["labels"]).reshape(-1)):
            res.append({"image_id": int(img), "category_id": int(l) + 1, "score": float(s),
                        "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0] + e), float(b[3] - b[1] + e)]})
    return gt, res


# ----------------------------------------------------------------------------- command line
def read_voc_dets(dets_dir: Path, split: str, classes: Sequence[str]) -> dict:
    """The devkit's comp4 files -> class index -> [(image_id, score, box)] in each file's line order
    (the order the devkit breaks score ties by). A missing class file means no detections of that class."""
    per_class: dict = {}
    for c, name in enumerate(classes):
        f = Path(dets_dir) / f"comp4_det_{split}_{name}.txt"
        if not f.exists():
            continue
        dets = per_class.setdefault(c, [])
        try:
            text = f.read_bytes().decode("utf-8")
        except UnicodeDecodeError as e:
            raise DetectionError(f"{f}: not UTF-8 text (byte {e.start})") from None
        for ln, line in enumerate(text.splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise DetectionError(f"{f}:{ln}: expected 'image_id score x0 y0 x1 y1', got {line!r}")
            try:
                score, *box = map(float, parts[1:])
            except ValueError:
                raise DetectionError(f"{f}:{ln}: non-numeric value in {line!r}") from None
            if not all(math.isfinite(v) for v in (score, *box)):
                raise DetectionError(f"{f}:{ln}: non-finite score or coordinate in {line!r}")
            if box[2] < box[0] or box[3] < box[1]:
                raise DetectionError(f"{f}:{ln}: negative width or height (x1 < x0 or y1 < y0) in {line!r}")
            dets.append((parts[0], score, np.array(box, np.float64)))
    return per_class


def format_table(scores: dict) -> str:
    rows = []
    for k, v in scores.items():
        if isinstance(v, dict):
            rows += [f"  {name:<14s} {ap * 100:6.2f}" for name, ap in v.items()]
        else:
            rows.append(f"{k:<16s} {v * 100:6.2f}" if k != "n" else f"{k:<16s} {v}")
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m metrics.detection", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("coco", help="score a COCO results JSON with pycocotools")
    c.add_argument("annotations"), c.add_argument("results")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    v = sub.add_parser("voc", help="score devkit-style comp4 detection files")
    v.add_argument("voc_dir", help="VOCdevkit/VOC2007 (Annotations/, ImageSets/Main/)")
    v.add_argument("dets_dir")
    v.add_argument("--split", default="test")
    g = v.add_mutually_exclusive_group()
    g.add_argument("--use-07", dest="use_07", action="store_true", default=True, help="11-point AP (default)")
    g.add_argument("--area", dest="use_07", action="store_false", help="VOC2010+ area under the curve")
    v.add_argument("--rule", choices=RULES, default="devkit",
                   help="overlap rule: the official devkit's IoU >= 0.5 (default) or py-faster-rcnn's IoU > 0.5")
    v.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from datasets import DataError, DataMissing
    try:
        if args.cmd == "coco":
            out = coco_evaluate(args.annotations, args.results)
        else:
            from datasets.voc_detection import VOC_CLASSES, read_voc_split
            recs = read_voc_split(Path(args.voc_dir), args.split)
            gts = {r["id"]: GroundTruth(r["boxes"], r["labels"], r["difficult"]) for r in recs}
            per_class = read_voc_dets(Path(args.dets_dir), args.split, VOC_CLASSES)
            for c, dets in per_class.items():
                unknown = sorted({d[0] for d in dets} - set(gts))
                if unknown:
                    f = Path(args.dets_dir) / f"comp4_det_{args.split}_{VOC_CLASSES[c]}.txt"
                    raise DetectionError(f"{f}: detections for {len(unknown)} image id(s) not in the "
                                         f"{args.split} split, e.g. {unknown[:3]}")
            out = voc_evaluate_classes(per_class, gts, len(VOC_CLASSES), use_07=args.use_07,
                                       class_names=VOC_CLASSES, rule=args.rule)
    except (DetectionError, DataError, DataMissing) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=1) if args.json else format_table(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
