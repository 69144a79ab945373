"""Detection: YOLO v1 and Faster R-CNN, trained with the shared loop and scored with the VOC/COCO
protocols (metrics.detection).

    data = load_data(seed, n_train, n_test)           # the synthetic-scenes proxy
    yolo = build_model("yolo", SMOKE)                  # or "faster_rcnn"
    train(yolo, data["train"], SMOKE, seed, resume)    # common.fit
    scores, preds = evaluate(yolo, data["test"])       # VOC AP (07 and area), COCO AP/AP50
    prior = score(fixed_box_prior(data["train"], 256), data["test"])   # an image-blind control
    t = speed.compare({"yolo": inference_fn(yolo, size=64)}); fps = 30 / t.median("yolo")
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from datasets.detection_proxy import PROXY, batches, proxy_split
from metrics.detection import GroundTruth, coco_evaluate, to_coco, voc_evaluate
from reference_impls.common import fit, seed_everything
from reference_impls.common.train import cosine_warmup

from .faster_rcnn import build_faster_rcnn, set_box_regression, timm_feature_map
from .priors import centre_box_prior, fixed_box_prior
from .yolo import YOLOv1


@dataclass(frozen=True)
class Config:
    """One experiment's sizes. The defaults: 64 px images, a MobileNetV3-small backbone cut at stride 8
    (24 channels) shared by both detectors, YOLO's S = 8, few RoIs, a few epochs of Adam."""
    backbone: str = "mobilenetv3_small_100"
    stage: int = 2                  # timm feature stage (stride 8)
    size: int = 64
    num_classes: int = PROXY.n_classes
    yolo_epochs: int = 10
    frcnn_epochs: int = 3
    batch_size: int = 32            # Faster R-CNN
    yolo_batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-4
    # YOLO
    S: int = 8
    B: int = 2
    yolo_hidden: int = 512
    yolo_channels: int = 64
    yolo_dropout: float = 0.0
    # Faster R-CNN
    anchor_sizes: tuple = (8, 16, 32)
    rpn_batch: int = 64
    roi_batch: int = 32
    rpn_train: tuple = (300, 100)   # pre-/post-NMS proposals per image in training
    rpn_test: tuple = (300, 50)
    representation: int = 256
    neck: int = 64
    box_regression: bool = True
    roi_pool: str = "align"         # torchvision's RoIAlign ("pool": the paper's RoI max pooling)


# the synthetic-scenes proxy at 96 px for both detectors, YOLO with S = 6 (16 px per cell: objects of
# 18-60 % of the side span 1-4 cells, as VOC objects span a few of the paper's 7 x 7 cells at 448 px)
# Faster R-CNN pools RoIs with the paper's RoIPool (also ~6x cheaper than RoIAlign's backward on CPU)
SMOKE = Config(size=96, S=6, anchor_sizes=(12, 24, 48), roi_pool="pool")
# the raccoon set (real photographs, one large object each) at 64 px (YOLO S = 8): both detectors
# from their seeded initialisation on 160 images, flips as augmentation, few proposals/RoIs, RoIAlign
RACCOON = Config(num_classes=1, yolo_epochs=8, frcnn_epochs=10, batch_size=16, rpn_batch=32, roi_batch=16,
                 rpn_train=(100, 30), rpn_test=(100, 20), anchor_sizes=(16, 32, 64))


def build_yolo(backbone: str, stage: int, num_classes: int, *, input_size: int, S: int = 7, B: int = 2,
               hidden: int = 4096, dropout: float = 0.5, head_channels: int = 1024,
               weights: str | None = None, imagenet_norm: bool = False) -> YOLOv1:
    """YOLO v1 on a timm backbone cut after `stage` (its last feature map feeds the head); the one
    builder of the smoke (MobileNetV3-small, 64 px, from scratch) and full (ResNet-50, 448 px, ImageNet
    weights: `imagenet_norm=True` normalises inputs with ImageNet's mean/std) YOLOs."""
    feats, ch, stride = timm_feature_map(backbone, stage, weights)
    return YOLOv1(feats, ch, input_size // stride, num_classes, S=S, B=B, hidden=hidden, dropout=dropout,
                  head_channels=head_channels, input_size=input_size, normalize=imagenet_norm)


def build_model(kind: str, cfg: Config = SMOKE) -> nn.Module:
    if kind == "yolo":
        return build_yolo(cfg.backbone, cfg.stage, cfg.num_classes, input_size=cfg.size, S=cfg.S, B=cfg.B,
                          hidden=cfg.yolo_hidden, dropout=cfg.yolo_dropout, head_channels=cfg.yolo_channels)
    if kind == "faster_rcnn":
        return build_faster_rcnn(
            cfg.num_classes + 1, f"timm:{cfg.backbone}@{cfg.stage}", min_size=cfg.size, max_size=cfg.size,
            box_regression=cfg.box_regression, anchor_sizes=cfg.anchor_sizes,
            rpn_batch_size_per_image=cfg.rpn_batch, box_batch_size_per_image=cfg.roi_batch,
            rpn_pre_nms_top_n_train=cfg.rpn_train[0], rpn_post_nms_top_n_train=cfg.rpn_train[1],
            rpn_pre_nms_top_n_test=cfg.rpn_test[0], rpn_post_nms_top_n_test=cfg.rpn_test[1],
            representation=cfg.representation, neck_channels=cfg.neck, roi_pool=cfg.roi_pool)
    raise ValueError(f"unknown detector {kind!r} (yolo or faster_rcnn)")


def load_data(seed: int, n_train: int = 1024, n_test: int = 256, size: int = PROXY.size) -> dict:
    """The proxy's train/test scenes rendered at `size` px (objects keep their size relative to the image)."""
    cfg = replace(PROXY, size=size)
    return {"train": proxy_split(n_train, seed, "train", cfg), "test": proxy_split(n_test, seed, "test", cfg)}


def step_fn(kind: str, size: int):
    """The per-batch loss for common.fit."""
    if kind == "yolo":
        def step(model, batch):
            images, targets = batch
            m = model.module if hasattr(model, "module") else model
            return m.loss(model(images), targets, size)
        return step

    def step(model, batch):
        images, targets = batch
        m = model.module if hasattr(model, "module") else model
        targets = [{"boxes": t["boxes"], "labels": t["labels"] + 1} for t in targets]  # 0 = background
        losses = model(list(images), targets)
        if not m.trains_box_regression:
            losses.pop("loss_box_reg")
        return {"loss": sum(losses.values()), **losses}
    return step


def train(model: nn.Module, kind: str, data: dict, cfg: Config, seed: int, resume=None, device="cpu",
          batches=batches) -> list[float]:
    """`batches(data, batch_size, seed, epoch)` -> one epoch's (images, targets) mini-batches
    (default: shuffled, no augmentation; the raccoon set passes `raccoon.flipped_batches`)."""
    seed_everything(seed)
    n_epochs = cfg.yolo_epochs if kind == "yolo" else cfg.frcnn_epochs
    bs = cfg.yolo_batch_size if kind == "yolo" else cfg.batch_size
    epochs = [batches(data, bs, seed, e) for e in range(n_epochs)]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = cosine_warmup(opt, n_epochs * len(epochs[0]), warmup=len(epochs[0]) // 2)
    return fit(model, step_fn(kind, cfg.size), lambda e: epochs[e], epochs=n_epochs, optimizer=opt, scheduler=sched,
               device=device, checkpoint=resume, clip_grad=10.0, desc=kind)


@torch.inference_mode()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 64, device="cpu") -> list[dict]:
    model.eval().to(device)
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device)
        if isinstance(model, YOLOv1):
            dets = model.detect(x)
        else:
            dets = [{"boxes": d["boxes"], "scores": d["scores"], "labels": d["labels"] - 1} for d in model(list(x))]
        out += [{k: v.float().cpu().numpy() if k != "labels" else v.cpu().numpy() for k, v in d.items()} for d in dets]
    return out


def evaluate(model: nn.Module, data: dict, device="cpu") -> tuple[dict, list[dict]]:
    """VOC AP at IoU 0.5 by the 2007 11-point rule (voc07_mAP) and the 2010+ area rule
    (voc_area_mAP), and COCO AP/AP50/AP75, on a proxy split."""
    preds = predict(model, data["images"], device=device)
    return score(preds, data), preds


def score(preds: list[dict], data: dict) -> dict:
    gts = {i: GroundTruth(t["boxes"].numpy(), t["labels"].numpy()) for i, t in enumerate(data["targets"])}
    P = {i: p for i, p in enumerate(preds)}
    K = len(data["class_names"])
    voc07 = voc_evaluate(P, gts, K, use_07=True, inclusive=False)
    size = data["images"].shape[-1]
    gt_json, res = to_coco(P, gts, K, image_sizes={i: (size, size) for i in gts})
    coco = coco_evaluate(gt_json, res)
    return {"voc07_mAP": voc07["mAP"], "voc_area_mAP": voc07["mAP_area"], "coco_AP": coco["AP"], "coco_AP50": coco["AP50"],
            "coco_AP75": coco["AP75"], "voc07_AP": voc07["AP"]}


def inference_fn(model: nn.Module, size: int | tuple[int, int], n: int = 30, device="cpu", seed: int = 0):
    """A function that runs `n` random images through the detector at batch size 1 (as the papers
    time it), detection post-processing included, synchronising the GPU at the end. Time it with
    the suites' `speed.compare` (images per second = n / median seconds)."""
    model.eval().to(device)
    g = torch.Generator().manual_seed(seed)
    h, w = (size, size) if isinstance(size, int) else size
    x = torch.rand(n, 3, h, w, generator=g).to(device)
    run = (lambda im: model.detect(im)) if isinstance(model, YOLOv1) else (lambda im: model(list(im)))
    cuda = torch.device(device).type == "cuda"

    @torch.inference_mode()
    def fn():
        for i in range(n):
            run(x[i:i + 1])
        if cuda:
            torch.cuda.synchronize()
    return fn


__all__ = ["Config", "SMOKE", "RACCOON", "batches", "replace", "YOLOv1", "build_model", "build_yolo", "build_faster_rcnn", "set_box_regression", "load_data",
           "train", "predict", "evaluate", "score", "centre_box_prior", "fixed_box_prior", "inference_fn", "asdict"]
