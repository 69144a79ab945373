"""The smoke-tier experiment: GAP and GMP nets trained with image labels only on the cluttered
one-object proxy (datasets.wsol_proxy), then localized with CAM, Backprop saliency and the
centre / full-image boxes. `experiment(seed)` trains (or loads from the cache) and evaluates."""
from __future__ import annotations

import datasets.wsol_proxy as proxy_data
from metrics.localization import center_box, full_box
from reference_impls.common import seed_everything, trained

from . import build_model, evaluate, evaluate_boxes, load_data, train
from . import maps, models

CONFIG = {"arch": "small_vgg", "n_train": 1500, "n_test": 200, "epochs": 20, "lr": 4e-3, "batch_size": 64,
          "threshold": 0.2, "cam_curve_interval": 0.05}


def proxy(seed: int, cfg: dict = CONFIG) -> dict:
    return load_data(cfg["n_train"], cfg["n_test"], seed)


def trained_model(pool: str, data: dict, seed: int, cache_dir=None, device="cpu", cfg: dict = CONFIG):
    import reference_impls.cam as cam_pkg

    def build():
        seed_everything(seed)
        return build_model(cfg["arch"], proxy_data.n_classes(), pool=pool)

    def fit_(model, resume):
        seed_everything(seed)
        train(model, data["train"], epochs=cfg["epochs"], seed=seed, lr=cfg["lr"], batch_size=cfg["batch_size"],
              device=device, checkpoint=resume)
    return trained(f"cam_proxy_{pool}", build, fit_, config={**cfg, "pool": pool}, seed=seed,
                   code=[cam_pkg, models, maps, proxy_data], cache_dir=cache_dir).to(device)


def experiment(seed: int, cache_dir=None, device="cpu", cfg: dict = CONFIG) -> dict:
    data = proxy(seed, cfg)
    gap, gmp = (trained_model(p, data, seed, cache_dir, device, cfg) for p in ("gap", "gmp"))
    kw = dict(threshold=cfg["threshold"], interval=cfg["cam_curve_interval"], device=device)
    return {"data": data, "gap": gap, "gmp": gmp,
            "gap_cam": evaluate(gap, data["test"], "cam", keep_maps=6, **kw),
            "gmp_cam": evaluate(gmp, data["test"], "cam", **kw),
            "gap_backprop": evaluate(gap, data["test"], "backprop", **kw),
            "gap_center": evaluate_boxes(gap, data["test"], center_box, device=device),
            "gap_full": evaluate_boxes(gap, data["test"], full_box, device=device)}


if __name__ == "__main__":   # calibration: python -m reference_impls.cam.proxy SEED [SEED ...]
    import sys
    import time

    import torch
    torch.set_num_threads(1)
    for s in map(int, sys.argv[1:]):
        t = time.time()
        r = experiment(s, cache_dir="/tmp/camh/cache")
        print(f"seed {s} ({time.time() - t:.0f}s):", flush=True)
        for k, v in r.items():
            if isinstance(v, dict) and "top1_loc_error" in v:
                print(" ", k, {m: round(x, 2) for m, x in v.items() if m != "examples"}, flush=True)
