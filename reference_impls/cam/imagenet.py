"""The full-tier protocol on ILSVRC val: 224x224 inputs, CAM upsampled to 224, box heuristic,
boxes rescaled to the original image, ILSVRC top-1/top-5 localization error (Zhou et al. Table 2).
Under torchrun each rank scores a slice of the images and the results are gathered."""
from __future__ import annotations

import time

import numpy as np
import torch

from datasets import read_rgb
from metrics import localization as L
from reference_impls.common import autocast, world

from .maps import METHODS

MEAN, STD = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
SIZE = 224


def to_tensor(img) -> torch.Tensor:
    x = torch.from_numpy(np.asarray(img.resize((SIZE, SIZE)), dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (x - MEAN[:, None, None]) / STD[:, None, None]


def _rescale(box, size):
    w, h = size
    x0, y0, x1, y1 = box
    return (x0 * w / SIZE, y0 * h / SIZE, (x1 + 1) * w / SIZE - 1, (y1 + 1) * h / SIZE - 1)


def evaluate_ilsvrc(model, samples: list[dict], method: str = "cam", *, box: str = "heuristic", device="cpu",
                    batch_size: int = 64, k: int = 5) -> dict:
    """box: "heuristic" (the method's map, 20% of max, largest component), "center" or "full"."""
    rank, world_size = world()
    mine = samples[rank::world_size]
    model.eval().to(device)
    classes, boxes, gt_cls, gt_boxes = [], [], [], []
    n_img, t_fwd = 0, 0.0
    for i in range(0, len(mine), batch_size):
        chunk = mine[i:i + batch_size]
        x = torch.stack([to_tensor(read_rgb(s["path"])) for s in chunk]).to(device)
        t0 = time.perf_counter()
        with autocast(torch.device(device)):
            logits, maps, top = METHODS[method](model, x, k=k)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        t_fwd += time.perf_counter() - t0
        n_img += len(chunk)
        maps, top = maps.float().cpu().numpy(), top.cpu().numpy()
        for b, s in enumerate(chunk):
            if box == "heuristic":
                bb = [_rescale(L.cam_box(maps[b, j]), s["size"]) for j in range(top.shape[1])]
            else:
                w, h = s["size"]
                bb = [L.center_box(w, h) if box == "center" else L.full_box(w, h)] * top.shape[1]
            classes.append(top[b].tolist()), boxes.append(bb)
            gt_cls.append(s["class"]), gt_boxes.append(s["boxes"])
    if world_size > 1:
        import torch.distributed as dist
        parts = [None] * world_size
        dist.all_gather_object(parts, (classes, boxes, gt_cls, gt_boxes))
        classes, boxes, gt_cls, gt_boxes = (sum((p[j] for p in parts), []) for j in range(4))
    return {"top1_loc_error": L.loc_error(classes, boxes, gt_cls, gt_boxes, k=1),
            "top5_loc_error": L.loc_error(classes, boxes, gt_cls, gt_boxes, k=5),
            "top1_cls_error": L.cls_error(classes, gt_cls, k=1),
            "top5_cls_error": L.cls_error(classes, gt_cls, k=5),
            "images_per_s": n_img / max(t_fwd, 1e-9)}
