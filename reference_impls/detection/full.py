"""The full-tier protocols on the real datasets (GPU; optionally under torchrun).

- Faster R-CNN VGG-16 on VOC 2007 test, trained on VOC 2007 trainval ("07", 69.9 mAP) or 2007+2012
  trainval ("07+12", 73.2): shorter side 600 (longer <= 1000), horizontal flips, SGD momentum 0.9,
  weight decay 5e-4, lr 1e-3 for 60k / 80k images then 1e-4 for 20k / 40k, ImageNet VGG-16 weights
  from a file you name. Scored with the VOC 2007 11-point AP, difficult objects ignored.
- YOLO v1 on VOC 2007 test (63.4 mAP, trained on 07+12): 448 x 448, S=7, B=2, 135 epochs, batch 64,
  momentum 0.9, decay 5e-4, lr 1e-3 -> 1e-2 warm-up, then 1e-2 (75 ep), 1e-3 (30), 1e-4 (30); dropout 0.5,
  scaling/translation up to 20% and exposure/saturation up to 1.5 in HSV (`yolo_augment`), plus flips;
  backbone = a timm model with ImageNet weights from a file, inputs normalised with ImageNet's mean/std.
- torchvision fasterrcnn_resnet50_fpn on COCO val2017 with its published weights (a file you name).

Trained detectors go through the checkpoint cache (`common.trained`), or come from a file
(REPRO_DETECTION_CHECKPOINT_<NAME>), so a finished training run is only evaluated.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from datasets import DataError
from datasets.voc_detection import VOC_CLASSES, load_voc
from metrics.detection import GroundTruth, coco_evaluate, voc_evaluate
from reference_impls.common import fit, seed_everything, world
from reference_impls.common import loader as common_loader

VOC_TEST_YEAR = "2007"


def env_path(name: str) -> str | None:
    """A user-named file from the environment (weights are never downloaded)."""
    v = os.environ.get(name)
    if v and not Path(v).is_file():
        raise FileNotFoundError(f"{name}={v}: no such file")
    return v


def hsv_jitter(x: torch.Tensor, sat: float, val: float) -> torch.Tensor:
    """Scale an RGB image's (3,H,W in [0,1]) HSV saturation and value (exposure) by `sat`, `val`
    (darknet's YOLO v1 augmentation draws both in [1/1.5, 1.5]); hue is kept."""
    mx, _ = x.max(0)
    mn, _ = x.min(0)
    # RGB = V * (1 - S * (1 - c)) with c = (x - mn) / (mx - mn) per channel: scale S and V, then rebuild
    s = torch.where(mx > 0, (mx - mn) / mx.clamp(min=1e-12), torch.zeros_like(mx))
    c = torch.where(mx > mn, (x - mn) / (mx - mn).clamp(min=1e-12), torch.ones_like(x))
    s2, v2 = (s * sat).clamp(0, 1), (mx * val).clamp(0, 1)
    return v2 * (1 - s2 * (1 - c))


def scale_translate(x: torch.Tensor, boxes: np.ndarray, scale: float, dx: float, dy: float,
                    min_size: float = 1.0) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """YOLO v1's geometric augmentation: zoom the (3,H,W) image by `scale` about its centre and shift
    it by (dx, dy) pixels, keeping the size (uncovered pixels are 0); boxes (K,4) half-open pixels
    move with it and are clipped to the image; returns (image, boxes, kept) where `kept` marks the
    boxes still wider and taller than `min_size`."""
    import torch.nn.functional as F
    _, H, W = x.shape
    cx, cy = W / 2, H / 2
    # output pixel u comes from input pixel (u - c - d) / scale + c, in align_corners=False coordinates
    theta = torch.tensor([[1 / scale, 0, -2 * dx / (W * scale)], [0, 1 / scale, -2 * dy / (H * scale)]],
                         dtype=x.dtype)[None]
    grid = F.affine_grid(theta, (1, 3, H, W), align_corners=False)
    out = F.grid_sample(x[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    b = boxes.astype(np.float32).copy()
    b[:, [0, 2]] = (b[:, [0, 2]] - cx) * scale + cx + dx
    b[:, [1, 3]] = (b[:, [1, 3]] - cy) * scale + cy + dy
    b = np.clip(b, 0, [W, H, W, H]).astype(np.float32)
    kept = ((b[:, 2] - b[:, 0]) > min_size) & ((b[:, 3] - b[:, 1]) > min_size)
    return out, b, kept


def yolo_augment(x: torch.Tensor, boxes: np.ndarray, g: torch.Generator | None = None):
    """The YOLO paper's training augmentation: random scaling and translation of up to 20% of the
    image size, and exposure/saturation scaled by up to 1.5 in HSV. Returns (image, boxes, kept)."""
    u = torch.rand(5, generator=g).tolist()
    _, H, W = x.shape
    scale = 1 + 0.2 * (2 * u[0] - 1)
    x, boxes, kept = scale_translate(x, boxes, scale, 0.2 * W * (2 * u[1] - 1), 0.2 * H * (2 * u[2] - 1))
    sat, val = (1.5 ** (2 * u[3] - 1), 1.5 ** (2 * u[4] - 1))
    return hsv_jitter(x, sat, val), boxes, kept


class VOCImages(torch.utils.data.Dataset):
    """VOC records -> (image float (3,H,W) [0,1] resized so the shorter side is `short`,
    target with boxes in that frame, 0-based labels; difficult objects dropped for training).
    `yolo_aug`: YOLO v1's scaling/translation and HSV jitter (`yolo_augment`) on training images."""

    def __init__(self, records, short: int | None = 600, square: int | None = None, train: bool = True, flip: bool = True,
                 yolo_aug: bool = False):
        self.recs, self.short, self.square, self.train, self.flip = records, short, square, train, flip
        self.yolo_aug = yolo_aug

    def __len__(self):
        return len(self.recs)

    def __getitem__(self, i):
        from PIL import Image
        r = self.recs[i]
        try:
            img = Image.open(r["image"]).convert("RGB")
        except OSError as e:
            raise DataError(f"{r['image']}: not a readable image ({e})") from None
        boxes = r["boxes"].astype(np.float32).copy()
        boxes[:, :2] -= 1  # 1-based inclusive -> 0-based half-open
        keep = ~r["difficult"] if self.train else np.ones(len(boxes), bool)
        boxes, labels = boxes[keep], r["labels"][keep]
        if self.square:
            sx, sy = self.square / img.width, self.square / img.height
            img = img.resize((self.square, self.square), Image.BILINEAR)
        else:
            s = self.short / min(img.width, img.height)
            s = min(s, 1000 / max(img.width, img.height))
            sx = sy = s
            img = img.resize((round(img.width * s), round(img.height * s)), Image.BILINEAR)
        boxes *= np.array([sx, sy, sx, sy], np.float32)
        x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float().div_(255)
        if self.train and self.flip and torch.rand(()) < 0.5:
            x = x.flip(-1)
            boxes = np.stack([x.shape[-1] - boxes[:, 2], boxes[:, 1], x.shape[-1] - boxes[:, 0], boxes[:, 3]], 1)
        if self.train and self.yolo_aug:
            x, boxes, kept = yolo_augment(x, boxes)
            boxes, labels = boxes[kept], labels[kept]
        return x, {"boxes": torch.from_numpy(boxes).reshape(-1, 4), "labels": torch.from_numpy(labels),
                   "scale": torch.tensor([sx, sy, sx, sy])}


def collate(batch):
    return [b[0] for b in batch], [b[1] for b in batch]


def voc_trainval(data_root, which: str) -> list:
    years = {"07": ["2007"], "07+12": ["2007", "2012"]}[which]
    return [r for y in years for r in load_voc(data_root, y, "trainval")]


@torch.inference_mode()
def evaluate_voc(model, data_root, device, kind: str = "faster_rcnn", square: int | None = None) -> dict:
    """VOC 2007 test, 11-point AP, difficult ignored; boxes mapped back to the original pixels."""
    recs = load_voc(data_root, VOC_TEST_YEAR, "test")
    ds = VOCImages(recs, short=600, square=square, train=False)
    model.eval().to(device)
    preds, gts = {}, {}
    for i in range(len(ds)):
        x, t = ds[i]
        if kind == "yolo":
            d = model.detect(x[None].to(device))[0]
        else:
            d = model([x.to(device)])[0]
            d["labels"] = d["labels"] - 1
        b = d["boxes"].float().cpu() / t["scale"]
        b[:, :2] += 1  # back to VOC's 1-based inclusive pixels
        b[:, 2:] = torch.maximum(b[:, 2:], b[:, :2])   # a box under a pixel wide is one pixel, not negative
        preds[recs[i]["id"]] = {"boxes": b.numpy(), "scores": d["scores"].float().cpu().numpy(),
                                "labels": d["labels"].cpu().numpy()}
        gts[recs[i]["id"]] = GroundTruth(recs[i]["boxes"], recs[i]["labels"], recs[i]["difficult"])
    return voc_evaluate(preds, gts, len(VOC_CLASSES), use_07=True, inclusive=True, class_names=VOC_CLASSES)


def train_faster_rcnn_voc(model, data_root, which: str, device, seed: int, resume=None):
    """The paper's VOC schedule (single image per batch, as in the paper), via common.fit."""
    seed_everything(seed)
    recs = voc_trainval(data_root, which)
    iters = {"07": (60_000, 20_000), "07+12": (80_000, 40_000)}[which]
    # one image per rank per step (the paper's batch of 1 on each GPU); shards under torchrun
    loader = common_loader(VOCImages(recs, short=600), world()[1], seed=seed, collate_fn=collate,
                           drop_last=False)
    epochs = max(1, round(sum(iters) / len(recs)))
    drop = iters[0] / sum(iters)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9, weight_decay=5e-4)
    total = epochs * len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1.0 if i < drop * total else 0.1)

    def step(m, batch):
        images, targets = batch
        targets = [{"boxes": t["boxes"], "labels": t["labels"] + 1} for t in targets]
        return {"loss": sum(m(images, targets).values())}
    return fit(model, step, loader, epochs=epochs, optimizer=opt, scheduler=sched, device=device,
               checkpoint=resume, desc="faster-rcnn voc")


def train_yolo_voc(model, data_root, device, seed: int, resume=None):
    seed_everything(seed)
    recs = voc_trainval(data_root, "07+12")
    loader = common_loader(VOCImages(recs, short=None, square=448), 64, seed=seed, collate_fn=collate)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9, weight_decay=5e-4)
    per_epoch = len(loader)

    def lr(i):
        e = i / per_epoch
        if e < 1:
            return 0.1 + 0.9 * e  # warm-up from 1e-3 to 1e-2
        return 1.0 if e < 76 else 0.1 if e < 106 else 0.01
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr)

    def step(m, batch):
        images, targets = batch
        mm = m.module if hasattr(m, "module") else m
        return mm.loss(m(torch.stack(images)), targets, 448)
    return fit(model, step, loader, epochs=135, optimizer=opt, scheduler=sched, device=device, checkpoint=resume,
               desc="yolo voc")


@torch.inference_mode()
def evaluate_coco(model, coco: dict, device, batch_size: int = 4) -> dict:
    """COCO val box AP with pycocotools; torchvision's contiguous labels 1..90 are COCO category ids."""
    from PIL import Image
    model.eval().to(device)
    results = []
    images = coco["dataset"]["images"]
    for i in range(0, len(images), batch_size):
        chunk = images[i:i + batch_size]
        xs = []
        for im in chunk:
            p = Path(coco["images"]) / im["file_name"]
            try:
                xs.append(torch.from_numpy(np.asarray(Image.open(p).convert("RGB")).copy()).permute(2, 0, 1)
                          .float().div_(255).to(device))
            except OSError as e:
                raise DataError(f"{p}: not a readable image ({e})") from None
        for im, d in zip(chunk, model(xs)):
            for b, s, l in zip(d["boxes"].float().cpu().tolist(), d["scores"].float().cpu().tolist(), d["labels"].cpu().tolist()):
                results.append({"image_id": im["id"], "category_id": int(l), "score": s,
                                "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]})
    return coco_evaluate(coco["dataset"], results)
