"""The full tier: ACoL-VGGNet checkpoints scored on ILSVRC val or CUB-200-2011 test with the ILSVRC
top-1 / top-5 localization error (the protocol of reference_impls.cam.imagenet: 224x224 inputs,
one fused ACoL map per top-k class -- B's input erased with A's map of that class -- upsampled to
224, a box around the largest component above `threshold` of the map, rescaled to the image)."""
from __future__ import annotations

import torch

from datasets import read_rgb
from metrics import localization as L
from reference_impls.cam.imagenet import SIZE, _rescale, to_tensor
from reference_impls.common import autocast

from .maps import upsample


@torch.no_grad()
def evaluate_acol(model, samples: list[dict], *, device="cpu", batch_size: int = 32, k: int = 5,
                  threshold: float = 0.2) -> dict:
    model.eval().to(device)
    classes, boxes, gt_cls, gt_boxes = [], [], [], []
    for i in range(0, len(samples), batch_size):
        chunk = samples[i:i + batch_size]
        images = [read_rgb(s["path"]) for s in chunk]
        x = torch.stack([to_tensor(im) for im in images]).to(device)
        with autocast(torch.device(device)):
            logits_a, _ = model(x)
            top = logits_a.float().topk(k, 1).indices
            maps = [upsample(model.localization_maps(x, top[:, j])["fused"].float(), SIZE) for j in range(k)]
        maps = torch.stack(maps, 1).cpu().numpy()
        for b, (s, im) in enumerate(zip(chunk, images)):
            size = s.get("size") or im.size
            classes.append(top[b].tolist())
            boxes.append([_rescale(L.cam_box(maps[b, j], threshold), size) for j in range(k)])
            gt_cls.append(s["class"])
            gt_boxes.append(s["boxes"])
    return {"top1_loc_error": L.loc_error(classes, boxes, gt_cls, gt_boxes, k=1),
            "top5_loc_error": L.loc_error(classes, boxes, gt_cls, gt_boxes, k=5),
            "top1_cls_error": L.cls_error(classes, gt_cls, k=1), "n": len(samples)}
