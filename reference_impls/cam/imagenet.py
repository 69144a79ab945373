"""The full-tier protocol on ILSVRC (Zhou et al. Tables 2 and 3), with the authors' released code
(github.com/zhoubolei/CAM) as the reference for what the paper leaves out:

* crops="ten" (the paper's; `ILSVRC_generate_heatmap.m` + `mergeTenCrop.m`): the image squashed to
  256x256, Caffe's ten 224x224 crops (four corners, centre, and their mirrors); class scores are
  the mean over the crops, top-5 classes from them; each crop's CAM for those classes is upsampled
  to 224, put back where the crop came from (mirrors flipped back) and the absolute values are
  summed (`mergeTenCrop.m`: sum(abs(...))); the merged 256x256 map is resized to the original
  image before any box is drawn. crops="single": one 224x224 squash, the CAM upsampled to 224
  and the boxes rescaled to the original image (a cheaper protocol, labelled as such).
* box="plain": per class, the box around the largest component above 20% of the map's max (Table
  2; Table 3's 42.9 row); box="heuristic": the authors' dt_box + bboxCombine (Table 3's 37.1
  row; `reference_impls.cam.boxes`); "center" / "full": fixed-box baselines.

Under torchrun each rank scores a slice of the images and the results are gathered."""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from datasets import read_rgb
from metrics import localization as L
from reference_impls.common import autocast, world

from .boxes import heuristic_predictions
from .maps import METHODS

MEAN, STD = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])   # torchvision's
SIZE, FULL = 224, 256


def to_tensor(img, size: int = SIZE) -> torch.Tensor:
    """Squash to size x size, torchvision normalisation (what its pretrained weights expect)."""
    x = torch.from_numpy(np.asarray(img.resize((size, size)), dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (x - MEAN[:, None, None]) / STD[:, None, None]


def _rescale(box, size):
    w, h = size
    x0, y0, x1, y1 = box
    return (x0 * w / SIZE, y0 * h / SIZE, (x1 + 1) * w / SIZE - 1, (y1 + 1) * h / SIZE - 1)


def ten_crop_offsets(full: int = FULL, crop: int = SIZE) -> list[tuple[int, int, bool]]:
    """(top, left, mirrored) of Caffe's ten crops: corners, centre, then the same mirrored."""
    e, c = full - crop, (full - crop) // 2
    base = [(0, 0), (0, e), (e, 0), (e, e), (c, c)]
    return [(t, l, False) for t, l in base] + [(t, l, True) for t, l in base]


def ten_crops(x: torch.Tensor, crop: int = SIZE) -> torch.Tensor:
    """(B, C, 256, 256) -> (B * 10, C, crop, crop), image-major, in `ten_crop_offsets` order."""
    out = []
    for t, l, m in ten_crop_offsets(x.shape[-1], crop):
        c = x[..., t:t + crop, l:l + crop]
        out.append(c.flip(-1) if m else c)
    return torch.stack(out, 1).flatten(0, 1)


def merge_ten_crop(maps: torch.Tensor, full: int = FULL) -> torch.Tensor:
    """mergeTenCrop.m: (..., 10, crop, crop) crop maps -> (..., full, full), each crop's map put back
    at its place (mirrors flipped back) and sum(abs(.)) over the ten."""
    crop = maps.shape[-1]
    out = maps.new_zeros(*maps.shape[:-3], full, full)
    for i, (t, l, m) in enumerate(ten_crop_offsets(full, crop)):
        c = maps[..., i, :, :]
        out[..., t:t + crop, l:l + crop] += (c.flip(-1) if m else c).abs()
    return out


def _maps_ten_crop(model, method, x256, k):
    """Top-k classes from the crops' mean scores and their merged ten-crop maps (B, k, 256, 256)."""
    b = len(x256)
    crops = ten_crops(x256)
    with torch.no_grad():
        logits = model(crops).view(b, 10, -1).float().mean(1)
    top = logits.topk(k, 1).indices
    _, maps, _ = METHODS[method](model, crops, classes=top.repeat_interleave(10, 0))
    maps = maps.float().view(b, 10, k, SIZE, SIZE).transpose(1, 2)          # (B, k, 10, 224, 224)
    return logits, merge_ten_crop(maps), top


def evaluate_ilsvrc(model, samples: list[dict], method: str = "cam", *, box: str = "plain", crops: str = "ten",
                    device="cpu", batch_size: int = 32, k: int = 5, threshold: float = 0.2) -> dict:
    """box: "plain" | "heuristic" | "center" | "full"; crops: "ten" (the paper's) | "single"."""
    if box not in ("plain", "heuristic", "center", "full") or crops not in ("ten", "single"):
        raise ValueError(f"evaluate_ilsvrc: box {box!r} / crops {crops!r} unknown")
    rank, world_size = world()
    mine = samples[rank::world_size]
    model.eval().to(device)
    classes, boxes, gt_cls, gt_boxes, top_cls = [], [], [], [], []
    n_img, t_fwd = 0, 0.0
    for i in range(0, len(mine), batch_size):
        chunk = mine[i:i + batch_size]
        imgs = [read_rgb(s["path"]) for s in chunk]
        t0 = time.perf_counter()
        with autocast(torch.device(device)):
            if crops == "ten":
                x = torch.stack([to_tensor(im, FULL) for im in imgs]).to(device)
                logits, maps, top = _maps_ten_crop(model, method, x, k)
            else:
                x = torch.stack([to_tensor(im) for im in imgs]).to(device)
                logits, maps, top = METHODS[method](model, x, k=k)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        t_fwd += time.perf_counter() - t0
        n_img += len(chunk)
        top = top.cpu().numpy()
        for b, s in enumerate(chunk):
            w, h = s["size"]
            if box in ("center", "full"):
                bb = [L.center_box(w, h) if box == "center" else L.full_box(w, h)] * top.shape[1]
                classes.append(top[b].tolist()), boxes.append(bb)
            else:
                m = maps[b].float()
                if crops == "ten":         # the merged map resized to the original image, boxes drawn there
                    m = F.interpolate(m[None], size=(h, w), mode="bilinear", align_corners=False)[0]
                m = m.cpu().numpy()
                if box == "plain":
                    bb = [L.cam_box(m[j], threshold) for j in range(len(m))]
                    if crops == "single":
                        bb = [_rescale(v, s["size"]) for v in bb]
                    classes.append(top[b].tolist()), boxes.append(bb)
                else:
                    c, bb = heuristic_predictions(top[b].tolist(), m)
                    if crops == "single":
                        bb = [_rescale(v, s["size"]) for v in bb]
                    classes.append(c), boxes.append(bb)
            gt_cls.append(s["class"]), gt_boxes.append(s["boxes"]), top_cls.append(top[b].tolist())
    if world_size > 1:
        import torch.distributed as dist
        parts = [None] * world_size
        dist.all_gather_object(parts, (classes, boxes, gt_cls, gt_boxes, top_cls))
        classes, boxes, gt_cls, gt_boxes, top_cls = (sum((p[j] for p in parts), []) for j in range(5))
    return {"top1_loc_error": L.loc_error(classes, boxes, gt_cls, gt_boxes, k=1),
            "top5_loc_error": L.loc_error(classes, boxes, gt_cls, gt_boxes, k=5),
            "top1_cls_error": L.cls_error(top_cls, gt_cls, k=1),
            "top5_cls_error": L.cls_error(top_cls, gt_cls, k=5),
            "images_per_s": n_img / max(t_fwd, 1e-9), "crops": crops, "box": box}
