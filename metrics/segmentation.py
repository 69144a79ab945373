"""Semantic-segmentation scores, as in the PASCAL VOC devkit and the DeepLab/FCN evaluation code.

Everything comes from one confusion matrix `hist[gt, pred]` accumulated with `torch.bincount`
over the labelled pixels (the ignore label, 255 for VOC/Cityscapes and the void class for CamVid,
is dropped before counting):

    IoU_c   = TP / (TP + FP + FN) = hist[c,c] / (row_c + col_c - hist[c,c])
    mIoU    = mean of IoU_c over the classes that occur (in ground truth or prediction)
    pixel accuracy = trace / total;  mean accuracy = mean_c hist[c,c] / row_c;
    frequency-weighted IoU = sum_c (row_c / total) IoU_c

A class absent from both the ground truth and the predictions of the whole set has 0/0 IoU; it is
left out of the mean (nan in the per-class table), as in the devkit/FCN `nanmean`.

Command line: score a folder of predicted PNGs against ground-truth PNGs (palette or class-id PNGs)

    python -m metrics.segmentation PRED_DIR GT_DIR [--num-classes 21] [--ignore 255] [--json]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
               "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
               "sheep", "sofa", "train", "tvmonitor")


def voc_palette(n: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map (the devkit's `labelcolormap`): (n, 3) uint8."""
    pal = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


def confusion_matrix(pred, target, num_classes: int, ignore_index: int | None = 255) -> torch.Tensor:
    """`hist[gt, pred]` (int64, num_classes x num_classes) over pixels whose label is not ignored.
    A ground-truth value outside [0, num_classes) that is not the ignore label is an error;
    so is a prediction outside that range (on a pixel that is not ignored).

    The same matrix as the devkit's / FCN's `np.bincount(n * gt[k] + pred[k], minlength=n**2)` over
    the kept pixels k. Labels in 0..255 on the CPU (uint8 PNGs, or any integer tensor whose values fit)
    take one pass: a 65536-bin `torch.bincount` of `gt << 8 | pred`, from which the ignore row is dropped
    and out-of-range labels are read off (tests/test_metric_speed.py measures the throughput)."""
    pred = torch.as_tensor(pred).reshape(-1)
    target = torch.as_tensor(target).reshape(-1)
    if pred.shape != target.shape:
        raise ValueError(f"prediction has {pred.numel()} pixels, ground truth {target.numel()}")
    if (num_classes <= 256 and pred.numel() and pred.device.type == "cpu" and target.device.type == "cpu"
            and not pred.is_floating_point() and not target.is_floating_point()
            and pred.dtype != torch.bool and target.dtype != torch.bool):
        hist = _confusion_bytes(pred, target, num_classes, ignore_index)
        if hist is not None:
            return hist
    pred, target = pred.long(), target.long()
    keep = target != ignore_index if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    pred, target = pred[keep], target[keep]
    if target.numel() and (target.min() < 0 or target.max() >= num_classes):
        raise ValueError(f"ground-truth label {int(target[(target < 0) | (target >= num_classes)][0])} "
                         f"is outside 0..{num_classes - 1} and is not the ignore label {ignore_index}")
    if pred.numel() and (pred.min() < 0 or pred.max() >= num_classes):
        raise ValueError(f"predicted label outside 0..{num_classes - 1}")
    return torch.bincount(target * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def _fits_byte(x: torch.Tensor) -> bool:
    if x.dtype == torch.uint8:
        return True
    lo, hi = torch.aminmax(x)
    return bool(lo >= 0) and bool(hi <= 255)


def _confusion_bytes(pred, target, num_classes, ignore_index):
    """The matrix when every label is in 0..255 (else None): one bincount over 256 x 256 cells."""
    if not (_fits_byte(target) and _fits_byte(pred)):
        return None
    idx = target.to(torch.int32)
    idx <<= 8
    idx |= pred.to(torch.int32) if pred.dtype != torch.uint8 else pred
    full = torch.bincount(idx, minlength=65536).reshape(256, 256)
    if ignore_index is not None and 0 <= ignore_index <= 255:
        full[ignore_index] = 0
    n = num_classes
    bad = torch.nonzero(full[n:].sum(1))
    if len(bad):
        raise ValueError(f"ground-truth label {n + int(bad[0, 0])} is outside 0..{n - 1} "
                         f"and is not the ignore label {ignore_index}")
    if bool(full[:n, n:].any()):
        raise ValueError(f"predicted label outside 0..{n - 1}")
    return full[:n, :n].clone()


class ConfusionMatrix:
    """Accumulate `update(pred, target)` over a data set, then `scores()`."""

    def __init__(self, num_classes: int, ignore_index: int | None = 255):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.hist = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, pred, target) -> "ConfusionMatrix":
        self.hist += confusion_matrix(torch.as_tensor(pred).cpu(), torch.as_tensor(target).cpu(),
                                      self.num_classes, self.ignore_index)
        return self

    def scores(self) -> dict:
        return scores_from_confusion(self.hist)


def _nanmean(x: torch.Tensor) -> float:
    x = x[~torch.isnan(x)]
    return float(x.mean()) if x.numel() else float("nan")


def scores_from_confusion(hist) -> dict:
    """All scores from a confusion matrix `hist[gt, pred]` (fractions in [0, 1]; nan where undefined):
    the VOC devkit's `VOCevalseg.m` IoU (TP / (TP + FP + FN) per class) and FCN's `score.py`
    (`per_class_iu`, `nanmean`; pixel accuracy, mean accuracy, frequency-weighted IoU)."""
    h = torch.as_tensor(hist).double()
    tp = h.diag()
    gt, pr = h.sum(1), h.sum(0)
    total = h.sum()
    union = gt + pr - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))
    acc = torch.where(gt > 0, tp / gt.clamp(min=1), torch.full_like(tp, float("nan")))
    if total > 0:
        freq = gt / total
        fwiou = float((freq[freq > 0] * iou[freq > 0]).sum())
        pixel_acc = float(tp.sum() / total)
    else:
        fwiou = pixel_acc = float("nan")
    return {"miou": _nanmean(iou), "pixel_acc": pixel_acc, "mean_acc": _nanmean(acc), "fwiou": fwiou,
            "iou": iou.tolist(), "acc": acc.tolist(), "pixels": int(total)}


def format_table(s: dict, class_names=None) -> str:
    """The per-class IoU table and the summary scores, in percent."""
    n = len(s["iou"])
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    w = max(10, max(len(x) for x in names))
    pct = lambda v: "   nan" if v is None or math.isnan(v) else f"{100 * v:6.2f}"
    lines = [f"{'class':<{w}}    IoU    acc"]
    lines += [f"{names[i]:<{w}} {pct(s['iou'][i])} {pct(s['acc'][i])}" for i in range(n)]
    lines.append("-" * (w + 14))
    for k, label in (("miou", "mIoU"), ("pixel_acc", "pixel acc"), ("mean_acc", "mean acc"), ("fwiou", "fw IoU")):
        lines.append(f"{label:<{w}} {pct(s[k])}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- trimap (boundary band)
def boundary_band(target, width: int, ignore_index: int | None = 255, void_is_boundary: bool = False) -> torch.Tensor:
    """The trimap of DeepLab (Chen et al., TPAMI 2017, Fig. 14; v1 Fig. 5): the pixels within `width`
    pixels (Chebyshev distance) of an object boundary. (N, H, W) or (H, W) labels -> bool mask, same shape.

    A boundary pixel is a labelled pixel with a 4-neighbour of another label (both sides of an edge are
    boundary pixels, so width 0 is the one-pixel-wide edge on either side). Pixels with the ignore label
    never count as a label change; with `void_is_boundary=True` (VOC, whose 'void' label is a band drawn
    along the object boundaries, which is how the paper defines its trimap) they are the boundary
    instead. Ignored pixels are never in the band themselves."""
    y = torch.as_tensor(target)
    squeeze = y.ndim == 2
    y = (y[None] if squeeze else y).long()
    if y.ndim != 3 or width < 0:
        raise ValueError(f"labels must be (N, H, W) or (H, W) and width >= 0, got shape {tuple(y.shape)}, width {width}")
    valid = y != ignore_index if ignore_index is not None else torch.ones_like(y, dtype=torch.bool)
    edge = torch.zeros_like(valid)
    for dim in (1, 2):
        a, b = y.narrow(dim, 0, y.shape[dim] - 1), y.narrow(dim, 1, y.shape[dim] - 1)
        va, vb = valid.narrow(dim, 0, y.shape[dim] - 1), valid.narrow(dim, 1, y.shape[dim] - 1)
        change = (a != b) & va & vb
        edge.narrow(dim, 0, y.shape[dim] - 1).logical_or_(change)
        edge.narrow(dim, 1, y.shape[dim] - 1).logical_or_(change)
    if void_is_boundary:
        edge |= ~valid
    # dilation by the (2w+1)^2 square, done separably (rows, then columns): the same mask, O(w) not O(w^2)
    k, pool = 2 * width + 1, torch.nn.functional.max_pool2d
    band = pool(pool(edge[:, None].float(), (1, k), stride=1, padding=(0, width)), (k, 1), stride=1,
                padding=(width, 0))[:, 0] > 0
    band &= valid
    return band[0] if squeeze else band


def trimap_scores(pred, target, num_classes: int, width: int, ignore_index: int = 255,
                  void_is_boundary: bool = False) -> dict:
    """`scores_from_confusion` over the pixels of `boundary_band(target, width)` only (the paper's
    trimap mIoU: accuracy where the boundaries are, which a coarse score map gets wrong first);
    `band_fraction` is the share of labelled pixels in the band."""
    target = torch.as_tensor(target)
    band = boundary_band(target, width, ignore_index, void_is_boundary)
    masked = torch.where(band, target.long(), torch.full_like(target.long(), ignore_index))
    s = ConfusionMatrix(num_classes, ignore_index).update(pred, masked).scores()
    labelled = int((target != ignore_index).sum())
    s["band_fraction"] = int(band.sum()) / labelled if labelled else float("nan")
    return s


# ----------------------------------------------------------------------------- PNG folders
def read_label_png(path: str | Path, palette: np.ndarray | None = None) -> np.ndarray:
    """A label map from a PNG: palette ("P") PNGs give their indices (the VOC convention), grey
    ("L") PNGs their values; RGB PNGs are mapped back through `palette` (VOC colours by default),
    and a colour not in the palette is an error naming the file."""
    from PIL import Image
    from datasets import DataError
    try:
        im = Image.open(path)
        im.load()
    except Exception as e:
        raise DataError(f"{path}: cannot read PNG ({type(e).__name__}: {e})") from None
    if im.mode in ("P", "L"):
        return np.asarray(im, dtype=np.uint8).copy()
    if im.mode in ("I", "I;16"):
        a = np.asarray(im)
        if a.max() > 255:
            raise DataError(f"{path}: label value {int(a.max())} does not fit a class-id PNG")
        return a.astype(np.uint8)
    if im.mode in ("RGB", "RGBA"):
        pal = voc_palette() if palette is None else np.asarray(palette, dtype=np.uint8)
        rgb = np.asarray(im.convert("RGB"), dtype=np.int64)
        code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        pal_code = (pal[:, 0].astype(np.int64) << 16) | (pal[:, 1].astype(np.int64) << 8) | pal[:, 2]
        lut = {int(c): i for i, c in reversed(list(enumerate(pal_code)))}
        uniq, inv = np.unique(code, return_inverse=True)
        bad = [int(u) for u in uniq if int(u) not in lut]
        if bad:
            c = bad[0]
            raise DataError(f"{path}: colour {(c >> 16, (c >> 8) & 255, c & 255)} is not in the palette")
        return np.array([lut[int(u)] for u in uniq], dtype=np.uint8)[inv].reshape(code.shape)
    raise DataError(f"{path}: unsupported PNG mode {im.mode!r} for a label map")


def score_folders(pred_dir: str | Path, gt_dir: str | Path, num_classes: int = 21,
                  ignore_index: int | None = 255) -> dict:
    """Score every ground-truth PNG in `gt_dir` against the PNG of the same name in `pred_dir`."""
    from datasets import DataError
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    gts = sorted(gt_dir.glob("*.png"))
    if not gts:
        raise DataError(f"{gt_dir}: no ground-truth PNGs")
    cm = ConfusionMatrix(num_classes, ignore_index)
    for g in gts:
        p = pred_dir / g.name
        if not p.exists():
            raise DataError(f"{p}: no prediction for ground truth {g}")
        pred, gt = read_label_png(p), read_label_png(g)
        if pred.shape != gt.shape:
            raise DataError(f"{p}: prediction is {pred.shape[1]}x{pred.shape[0]}, ground truth {g} is "
                            f"{gt.shape[1]}x{gt.shape[0]}")
        try:
            cm.update(torch.from_numpy(pred), torch.from_numpy(gt))
        except ValueError as e:
            raise DataError(f"{p} / {g}: {e}") from None
    s = cm.scores()
    s["images"] = len(gts)
    return s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m metrics.segmentation", description=__doc__.split("\n")[0])
    ap.add_argument("pred_dir")
    ap.add_argument("gt_dir")
    ap.add_argument("--num-classes", type=int, default=21, help="21 for VOC (default), 11 for CamVid, 19 for Cityscapes")
    ap.add_argument("--ignore", type=int, default=255, help="ignore label (255 for VOC; 11 for CamVid void); -1: none")
    ap.add_argument("--json", action="store_true", help="print the scores as JSON")
    a = ap.parse_args(argv)
    from datasets import DataError
    try:
        s = score_folders(a.pred_dir, a.gt_dir, a.num_classes, None if a.ignore < 0 else a.ignore)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(s))
    else:
        names = VOC_CLASSES if a.num_classes == 21 else None
        print(format_table(s, names))
        print(f"({s['images']} images, {s['pixels']} labelled pixels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
