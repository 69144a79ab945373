"""The smoke-tier experiment: GAP and GMP nets trained with image labels only on the cluttered
one-object proxy (datasets.wsol_proxy), then localized with CAM and Backprop saliency, against
the controls every learned claim must beat, measured in the same run by the same code:

* untrained: the same nets at their seeded initialisation (`trained(..., untrained=True)`),
  localized and scored exactly like the trained ones;
* centre_box: the strongest fixed box, fitted to the training split's boxes
  (`metrics.localization.best_fixed_box`; the centred box of the mean size is its first
  candidate), with the trained GAP net's classes;
* class_prior: the training split's majority class (classification).

Grad-CAM (Selvaraju et al. 2017) on a classifier WITHOUT GAP (`FCNet`: conv -> FC layers, trained
with the same recipe on the same canvases) against Backprop saliency of that net, with its own
untrained control and a centred Gaussian map (`centre_gaussian`, the strongest map-shaped
position prior: at its best threshold it is the best centred box of any size).

`experiment(seed)` trains (or loads from the cache) and evaluates on CONFIG["n_test"] canvases."""
from __future__ import annotations

import numpy as np
import torch

import datasets.wsol_proxy as proxy_data
from metrics import localization as L
from reference_impls.common import seed_everything, trained, untrained_mode

from . import build_model, classify, evaluate, evaluate_boxes, evaluate_gt, load_data, train
from . import models

# 1,000 test canvases: with 200, top-1 loc error moved 9 points with the thread count (issue 13)
CONFIG = {"arch": "small_vgg", "n_train": 1200, "n_test": 1000, "epochs": 8, "lr": 4e-3, "batch_size": 32,
          "extra_width": 32, "fc_hidden": 64, "threshold": 0.2, "cam_curve_interval": 0.05, "n_exact": 100}


def proxy(seed: int, cfg: dict = CONFIG) -> dict:
    return load_data(cfg["n_train"], cfg["n_test"], seed)


TRAIN_KEYS = ("arch", "n_train", "epochs", "lr", "batch_size", "extra_width", "fc_hidden")   # what the trained weights depend on


def _training_source() -> str:
    """The training code's source, read once at import (a long-lived process keeps its key)."""
    import inspect

    import reference_impls.cam as cam_pkg
    return "".join(inspect.getsource(f) for f in (cam_pkg.train, cam_pkg._batches))


_TRAINING_SOURCE = _training_source()


def trained_model(pool: str, data: dict, seed: int, cache_dir=None, device="cpu", cfg: dict = CONFIG,
                  untrained: bool = False):
    """The GAP or GMP net trained on `data["train"]` (cached); `untrained=True`: its seeded initialisation."""
    def build():
        seed_everything(seed)
        return build_model(cfg["arch"], proxy_data.n_classes(), pool=pool,
                           width=cfg["fc_hidden"] if pool == "fc" else cfg["extra_width"])

    def fit_(model, resume):
        seed_everything(seed)
        train(model, data["train"], epochs=cfg["epochs"], seed=seed, lr=cfg["lr"], batch_size=cfg["batch_size"],
              device=device, checkpoint=resume)
    # the cache key covers the training code and config only: evaluation changes keep the trained nets
    return trained(f"cam_proxy_{pool}", build, fit_, config={**{k: cfg[k] for k in TRAIN_KEYS}, "pool": pool},
                   seed=seed, code=[models, proxy_data, _TRAINING_SOURCE], cache_dir=cache_dir,
                   untrained=untrained).to(device)


def class_prior_error(train_labels: torch.Tensor, test_labels: torch.Tensor) -> float:
    """Top-1 classification error (%) of always answering the training split's majority class."""
    majority = int(torch.bincount(train_labels).argmax())
    return L.cls_error([[majority]] * len(test_labels), test_labels.tolist(), k=1)


def centre_gaussian(width: int, height: int, sigma: float) -> np.ndarray:
    """A centred isotropic Gaussian map (normalised to [0, 1]): the position-prior control for map
    metrics; its thresholds give centred boxes of every size, so its MaxBoxAcc is the best of them."""
    ys, xs = np.mgrid[0:height, 0:width]
    g = np.exp(-(((xs - (width - 1) / 2) ** 2 + (ys - (height - 1) / 2) ** 2) / (2 * sigma ** 2)))
    return L.normalize_scoremap(g)


def gradcam_matches_cam(model, x: torch.Tensor, classes: torch.Tensor) -> dict:
    """Selvaraju et al. Sec. 3.1: for a GAP net, alpha_k^c = w_k^c / Z, so Grad-CAM before its ReLU
    is CAM / Z (Z = h * w), a positive scale. Returns the fitted scale (least squares, maps at the
    feature resolution), its ratio to 1 / Z, and the largest deviation relative to the CAM's range."""
    from .maps import cam_from_features, gradcam
    dev = next(model.parameters()).device
    x, classes = x.to(dev), classes.to(dev)          # the model's device (a GPU run too)
    with torch.no_grad():
        _, f = model(x, return_features=True)
        c = cam_from_features(f, model.fc.weight, classes).double()
    g = gradcam(model, x, classes=classes, relu=False, size=False)[1].double()
    scale = float((g * c).sum() / (c * c).sum())
    z = f.shape[-1] * f.shape[-2]
    return {"scale": scale, "scale_times_z": scale * z,
            "max_rel_deviation": float((g - scale * c).abs().max() / (c.max() - c.min())),
            "maps": int(c.shape[0] * c.shape[1])}


def experiment(seed: int, cache_dir=None, device="cpu", cfg: dict = CONFIG) -> dict:
    data = proxy(seed, cfg)
    test = data["test"]
    gap, gmp, fcn = (trained_model(p, data, seed, cache_dir, device, cfg) for p in ("gap", "gmp", "fc"))
    kw = dict(threshold=cfg["threshold"], interval=cfg["cam_curve_interval"], device=device)
    h, w = test["images"].shape[-2:]
    test_boxes = [b.reshape(1, 4).numpy() for b in test["boxes"]]

    def as_map(m):      # a fixed map shared by every canvas, scored by the same code as the CAMs
        return L.box_accuracies(m, test_boxes, interval=kw["interval"])
    # the centre_box control: the fixed box fitted to the training boxes for each metric's IoU criterion
    fixed = L.best_fixed_box(data["train_boxes"], w, h)
    fixed_v2 = L.best_fixed_box(data["train_boxes"], w, h, iou_threshold=[t / 100 for t in L.V2_IOU_THRESHOLDS])
    side = float((data["train_boxes"][:, 2:] - data["train_boxes"][:, :2] + 1).float().mean())
    out = {"data": data, "gap": gap, "gmp": gmp, "fc": fcn,
           "gap_cam": evaluate(gap, test, "cam", keep_maps=6, **kw),
           "gmp_cam": evaluate(gmp, test, "cam", k=1, **kw),               # k=1: top-1 and GT-known metrics
           "gap_backprop": evaluate(gap, test, "backprop", k=1, v2=False, **kw),
           "centre_box": evaluate_boxes(gap, test, fixed, device=device, interval=kw["interval"]),
           "centre_box_v2": {"box": fixed_v2, **as_map(L.box_map(fixed_v2, w, h))},
           # sigma: half the mean training box side (its thresholds sweep every centred size anyway)
           "centre_gaussian": as_map(centre_gaussian(w, h, side / 2)),
           "class_prior_cls_error": class_prior_error(data["train"]["labels"], test["labels"]),
           "gradcam_vs_cam": gradcam_matches_cam(gap, test["images"][:cfg["n_exact"]],
                                                 test["labels"][:cfg["n_exact"], None])}
    # the FCNet claim reads GT-class maps only (MaxBoxAccV2): one map per canvas and method, Grad-CAM's
    # and Backprop's from one forward and one backward pass (the same numbers as two separate passes)
    fc_maps = evaluate_gt(fcn, test, ("gradcam", "backprop"), keep_maps=6, **kw)
    out["fc_gradcam"], out["fc_backprop"] = fc_maps["gradcam"], fc_maps["backprop"]
    if untrained_mode():      # the nets above already are the untrained ones: the same weights, the same numbers
        out["untrained_gap_cam"], out["untrained_gmp_cls_error"] = out["gap_cam"], out["gmp_cam"]["top1_cls_error"]
        out["untrained_fc_gradcam"] = out["fc_gradcam"]
    else:
        u_gap, u_gmp, u_fc = (trained_model(p, data, seed, cache_dir, device, cfg, untrained=True)
                              for p in ("gap", "gmp", "fc"))
        out["untrained_gap_cam"] = evaluate(u_gap, test, "cam", k=1, **kw)
        out["untrained_gmp_cls_error"] = L.cls_error(classify(u_gmp, test, k=1, device=device),
                                                     test["labels"].tolist(), k=1)
        out["untrained_fc_gradcam"] = evaluate(u_fc, test, "gradcam", gt_only=True, **kw)
    return out


if __name__ == "__main__":   # one seed's numbers without pytest: python -m reference_impls.cam.proxy SEED [SEED ...]
    import sys
    import time

    torch.set_num_threads(1)
    for s in map(int, sys.argv[1:]):
        t = time.time()
        r = experiment(s)
        print(f"seed {s} ({time.time() - t:.0f}s):", flush=True)
        for k, v in r.items():
            if isinstance(v, dict) and "top1_loc_error" in v:
                print(" ", k, {m: (round(x, 2) if isinstance(x, float) else x) for m, x in v.items() if m != "examples"},
                      flush=True)
            elif isinstance(v, float):
                print(" ", k, round(v, 2), flush=True)
