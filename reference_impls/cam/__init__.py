"""Class activation mapping (Zhou et al., CVPR 2016) and the baselines it is compared with.

    data  = load_data(n_train, n_test, seed)                # smoke proxy (datasets.wsol_proxy)
    model = build_model("small_vgg", n_classes, pool="gap")
    train(model, data["train"], epochs=..., seed=..., checkpoint=...)
    res   = evaluate(model, data["test"], method="cam")     # ILSVRC + wsolevaluation metrics

`evaluate` runs the paper's protocol: top-5 classes from the classifier, one map per class
(CAM, Grad-CAM or Backprop saliency), a box per class from the 20%-of-max heuristic, and the
ILSVRC top-1/top-5 localization errors; the ground-truth class's map also gives GT-known
localization, MaxBoxAcc and MaxBoxAccV2. `evaluate_boxes` scores fixed boxes (centre box,
full image) with the same classifier's classes.
"""
from __future__ import annotations


import numpy as np
import torch
import torch.nn.functional as F

from datasets.wsol_proxy import train_view, wsol_proxy
from metrics import localization as L
from reference_impls.common import fit

from .maps import METHODS, cam, cam_from_features, gradcam_and_backprop, top_classes, upsample
from .models import CAMNet, build_model

NHWC = torch.channels_last       # training and evaluation layout (see `train`)

__all__ = ["load_data", "build_model", "train", "evaluate", "evaluate_gt", "evaluate_boxes", "classify", "cam_overhead", "CAMNet", "METHODS"]


def load_data(n_train: int, n_test: int, seed: int) -> dict:
    """Training sees `train` (images and labels); `train_boxes` only fits the fixed-box baseline."""
    train = wsol_proxy(n_train, seed, "train")
    return {"train": train_view(train), "train_boxes": train["boxes"], "test": wsol_proxy(n_test, seed, "test")}


def _batches(data: dict, batch_size: int, seed: int, flip: bool = True):
    """Callable epoch -> shuffled (image, label) batches, deterministic in (seed, epoch)."""
    x, y = data["images"], data["labels"]

    def epoch(e: int):
        g = torch.Generator().manual_seed(seed * 1000 + e)
        order = torch.randperm(len(y), generator=g)
        out = []
        for i in range(0, len(y), batch_size):
            idx = order[i:i + batch_size]
            xb = x[idx]
            if flip:
                m = torch.rand(len(idx), generator=g) < 0.5
                xb = torch.where(m[:, None, None, None], xb.flip(-1), xb)
            out.append((xb, y[idx]))
        return out
    return epoch


def train(model, data: dict, *, epochs: int, seed: int, lr: float = 2e-3, batch_size: int = 64,
          device="cpu", checkpoint=None) -> list[float]:
    """Image-level labels only: softmax cross-entropy (the paper's objective), AdamW + cosine."""
    from reference_impls.common.train import cosine_warmup
    batches = _batches(data, batch_size, seed)
    steps = epochs * -(-len(data["labels"]) // batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = cosine_warmup(opt, steps, warmup=steps // 20)

    def step(m, batch):
        xb, yb = batch
        return F.cross_entropy(m(xb.contiguous(memory_format=NHWC)), yb)
    # NHWC (channels_last): the same model, its convs and max-pools ~1.4x faster on CPU; the
    # trained model is handed back in the default layout, as a cached one is loaded
    model.to(memory_format=NHWC)
    history = fit(model, step, batches, epochs=epochs, optimizer=opt, scheduler=sched, device=device,
                  checkpoint=checkpoint, desc=f"cam {getattr(model, 'pool', '')}")
    model.to(memory_format=torch.contiguous_format)
    return history


def _gt_boxes(data, i):
    b = data["boxes"][i]
    return np.asarray(b, dtype=np.float64).reshape(-1, 4)


def evaluate(model, data: dict, method: str = "cam", *, k: int = 5, threshold: float = 0.2,
             batch_size: int = 100, device="cpu", interval: float = 0.01, keep_maps: int = 0,
             v2: bool = True, gt_only: bool = False) -> dict:
    """Localization metrics of `method` ("cam", "gradcam", "backprop") on data with held-out boxes.
    `k` classes get a map and a box (k=1 suffices for top-1 loc error and the GT-known metrics;
    top-5 loc error is reported when k >= 5); `v2=False` skips MaxBoxAccV2. `gt_only=True`: only
    the ground-truth class's maps (one map per image; the GT-known metrics, MaxBoxAcc/V2, and the
    top-1 classification error), no predicted-class boxes and no loc errors."""
    fn = METHODS[method]
    model.eval().to(device, memory_format=NHWC)
    if gt_only:
        return evaluate_gt(model, data, (method,), threshold=threshold, batch_size=batch_size, device=device,
                           interval=interval, keep_maps=keep_maps, v2=v2)[method]
    classes, boxes, gt_maps, gt_box_pred = [], [], [], []
    kept = []
    for i in range(0, len(data["labels"]), batch_size):
        x = data["images"][i:i + batch_size].to(device).contiguous(memory_format=NHWC)
        y = data["labels"][i:i + batch_size].to(device)
        if method == "cam":       # one forward pass: the top-k classes' maps and the GT class's
            with torch.no_grad():
                logits, f = model(x, return_features=True)
                top = top_classes(logits, k)
                both = upsample(cam_from_features(f, model.fc.weight, torch.cat([top, y[:, None]], 1)), x.shape[-2:])
            maps, gmaps = both[:, :-1], both[:, -1:]
        else:
            logits, maps, top = fn(model, x, k=k)
            gmaps = maps[:, :1].clone()                   # the GT class's map, for the GT-known metrics
            miss = (top[:, 0] != y).nonzero().flatten()
            if len(miss):
                gmaps[miss] = fn(model, x[miss], classes=y[miss, None])[1].to(gmaps.dtype)
        maps, gmaps, top = maps.float().cpu().numpy(), gmaps.float().cpu().numpy(), top.cpu().numpy()
        n, kk = top.shape
        pred = L.cam_boxes(maps.reshape(n * kk, *maps.shape[-2:]), threshold)
        gt_pred = L.cam_boxes(gmaps[:, 0], threshold)
        for b in range(n):
            classes.append(top[b].tolist())
            boxes.append(pred[b * kk:(b + 1) * kk])
            gm = gmaps[b, 0]
            gt_box_pred.append(gt_pred[b])
            gt_maps.append(L.normalize_scoremap(gm))
            if len(kept) < keep_maps:
                kept.append({"map": gm, "box": gt_box_pred[-1], "top1_box": boxes[-1][0], "top1": int(top[b, 0])})
    gt_cls = data["labels"].tolist()
    gt_boxes = [_gt_boxes(data, i) for i in range(len(gt_cls))]
    out = {"top1_loc_error": L.loc_error(classes, boxes, gt_cls, gt_boxes, k=1),
           "top1_cls_error": L.cls_error(classes, gt_cls, k=1),
           "gt_known_loc": L.gt_known_loc(gt_box_pred, gt_boxes),
           **L.box_accuracies(gt_maps, gt_boxes, interval=interval, v2=v2)}
    if k >= 5:
        out["top5_loc_error"] = L.loc_error(classes, boxes, gt_cls, gt_boxes, k=5)
        out["top5_cls_error"] = L.cls_error(classes, gt_cls, k=5)
    if keep_maps:
        out["examples"] = kept
    return out


def _gt_class_maps(model, x, y, methods):
    """(logits, {method: (B, 1, H, W) maps of the GT class}); Grad-CAM and Backprop together share
    one forward and one backward pass (`gradcam_and_backprop`: the same numbers as apart)."""
    if sorted(methods) == ["backprop", "gradcam"]:
        logits, g, b, _ = gradcam_and_backprop(model, x, classes=y[:, None])
        return logits, {"gradcam": g, "backprop": b}
    maps = {}
    for m in methods:
        logits, maps[m], _ = METHODS[m](model, x, classes=y[:, None])
    return logits, maps


def evaluate_gt(model, data: dict, methods=("gradcam", "backprop"), *, threshold: float = 0.2, batch_size: int = 100,
                device="cpu", interval: float = 0.01, keep_maps: int = 0, v2: bool = True) -> dict:
    """{method: `evaluate(model, data, method, gt_only=True)`} for several methods in one pass over
    the data: one map per image and method, for the ground-truth class (the GT-known metrics,
    MaxBoxAcc/V2 and the top-1 classification error)."""
    model.eval().to(device, memory_format=NHWC)
    acc = {m: {"maps": [], "boxes": [], "kept": []} for m in methods}
    top1 = []
    for i in range(0, len(data["labels"]), batch_size):
        x = data["images"][i:i + batch_size].to(device).contiguous(memory_format=NHWC)
        y = data["labels"][i:i + batch_size].to(device)
        logits, maps = _gt_class_maps(model, x, y, methods)
        t1 = top_classes(logits, 1).cpu().tolist()
        top1 += t1
        for m, a in acc.items():
            gmaps = maps[m][:, 0].float().cpu().numpy()
            for gm, box, t in zip(gmaps, L.cam_boxes(gmaps, threshold), t1):
                a["maps"].append(L.normalize_scoremap(gm))
                a["boxes"].append(box)
                if len(a["kept"]) < keep_maps:
                    a["kept"].append({"map": gm, "box": box, "top1": t[0]})
    gt_cls = data["labels"].tolist()
    gt_boxes = [_gt_boxes(data, i) for i in range(len(gt_cls))]
    out = {}
    for m, a in acc.items():
        out[m] = {"top1_cls_error": L.cls_error(top1, gt_cls, k=1), "gt_known_loc": L.gt_known_loc(a["boxes"], gt_boxes),
                  **L.box_accuracies(a["maps"], gt_boxes, interval=interval, v2=v2)}
        if keep_maps:
            out[m]["examples"] = a["kept"]
    return out


@torch.no_grad()
def classify(model, data: dict, *, k: int = 5, batch_size: int = 200, device="cpu") -> list[list[int]]:
    """The model's top-k classes of every image (a forward pass only)."""
    model.eval().to(device, memory_format=NHWC)
    classes = []
    for i in range(0, len(data["labels"]), batch_size):
        x = data["images"][i:i + batch_size].to(device).contiguous(memory_format=NHWC)
        classes += top_classes(model(x), k).cpu().tolist()
    return classes


@torch.no_grad()
def evaluate_boxes(model, data: dict, box, *, k: int = 5, batch_size: int = 200, device="cpu",
                   interval: float = 0.01) -> dict:
    """A fixed-box baseline with the model's classes: `box` is (x0, y0, x1, y1) or `box(width, height)`
    (centre box, full image). The GT-known metrics score the box as a map (`L.box_map`) with the
    same code as the CAMs (so MaxBoxAcc is the hit rate at IoU 0.5 of the box in wsolevaluation's
    x + w convention)."""
    h, w = data["images"].shape[-2:]
    box = tuple(box(w, h)) if callable(box) else tuple(int(v) for v in box)
    classes = classify(model, data, k=k, batch_size=batch_size, device=device)
    gt_cls = data["labels"].tolist()
    gt_boxes = [_gt_boxes(data, i) for i in range(len(gt_cls))]
    boxes = [[box] * len(c) for c in classes]
    return {"box": box,
            "top1_loc_error": L.loc_error(classes, boxes, gt_cls, gt_boxes, k=1),
            "top5_loc_error": L.loc_error(classes, boxes, gt_cls, gt_boxes, k=5),
            "top1_cls_error": L.cls_error(classes, gt_cls, k=1),
            "gt_known_loc": L.gt_known_loc([box] * len(gt_cls), gt_boxes),
            **L.box_accuracies(L.box_map(box, w, h), gt_boxes, interval=interval)}


def cam_overhead(model, x: torch.Tensor, compare, k: int = 5, repeats: int = 7) -> dict:
    """Time a forward pass alone and a forward pass + top-k CAMs (weighting and upsampling) with
    `compare` (the suites pass `speed.compare`: interleaved rounds, pytest-benchmark statistics,
    process time); returns the median times and the ratio of the fastest of each (the run least
    disturbed by other load on a shared CPU: median ratios moved 1.00 -> 1.13 between runs here),
    with the median ratio beside it."""
    model.eval()

    def forward():
        with torch.inference_mode():
            model(x)

    def forward_cam():
        with torch.inference_mode():
            cam(model, x, k=k)
    t = compare({"forward": forward, "forward_cam": forward_cam}, rounds=repeats, warmup=1)
    f, c = t.median("forward"), t.median("forward_cam")
    return {"forward_s": f, "forward_cam_s": c, "ratio": t["forward_cam"].min / t["forward"].min,
            "median_ratio": c / f, "images_per_s": len(x) / f}
