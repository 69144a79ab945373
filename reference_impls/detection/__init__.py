"""Detection: YOLO v1 and Faster R-CNN, trained with the shared loop and scored with the VOC/COCO
protocols (metrics.detection).

    data = load_data(seed, n_train, n_test)           # the synthetic-scenes proxy
    yolo = build_model("yolo", SMOKE)                  # or "faster_rcnn"
    train(yolo, data["train"], SMOKE, seed, resume)    # common.fit
    scores, preds = evaluate(yolo, data["test"])       # VOC AP (07 and area), COCO AP/AP50
    fps = images_per_second(yolo, size=64)
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from datasets.detection_proxy import PROXY, batches, proxy_split
from metrics.detection import GroundTruth, coco_evaluate, to_coco, voc_evaluate
from reference_impls.common import fit, seed_everything
from reference_impls.common.train import cosine_warmup

from .faster_rcnn import build_faster_rcnn, set_box_regression
from .yolo import YOLOv1


@dataclass(frozen=True)
class Config:
    """One experiment's sizes. The smoke defaults: 64 px scenes, a MobileNetV3-small backbone cut at
    stride 8 (24 channels) shared by both detectors, few RoIs, a few epochs of Adam."""
    backbone: str = "mobilenetv3_small_100"
    stage: int = 2                  # timm feature stage (stride 8)
    size: int = 64
    num_classes: int = PROXY.n_classes
    yolo_epochs: int = 10
    frcnn_epochs: int = 4
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


SMOKE = Config()


def _timm_features(cfg: Config) -> nn.Module:
    from reference_impls.common.backbones import backbone
    return backbone(cfg.backbone, features_only=True, out_indices=(cfg.stage,))


class _Last(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)[-1]


def build_model(kind: str, cfg: Config = SMOKE) -> nn.Module:
    if kind == "yolo":
        feats = _timm_features(cfg)
        ch, red = feats.feature_info.channels()[-1], feats.feature_info.reduction()[-1]
        return YOLOv1(_Last(feats), ch, cfg.size // red, cfg.num_classes, S=cfg.S, B=cfg.B, hidden=cfg.yolo_hidden,
                      dropout=cfg.yolo_dropout, head_channels=cfg.yolo_channels, input_size=cfg.size)
    if kind == "faster_rcnn":
        return build_faster_rcnn(
            cfg.num_classes + 1, f"timm:{cfg.backbone}@{cfg.stage}", min_size=cfg.size, max_size=cfg.size,
            box_regression=cfg.box_regression, anchor_sizes=cfg.anchor_sizes,
            rpn_batch_size_per_image=cfg.rpn_batch, box_batch_size_per_image=cfg.roi_batch,
            rpn_pre_nms_top_n_train=cfg.rpn_train[0], rpn_post_nms_top_n_train=cfg.rpn_train[1],
            rpn_pre_nms_top_n_test=cfg.rpn_test[0], rpn_post_nms_top_n_test=cfg.rpn_test[1],
            representation=cfg.representation, neck_channels=cfg.neck)
    raise ValueError(f"unknown detector {kind!r} (yolo or faster_rcnn)")


def load_data(seed: int, n_train: int = 1024, n_test: int = 256) -> dict:
    return {"train": proxy_split(n_train, seed, "train"), "test": proxy_split(n_test, seed, "test")}


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


def train(model: nn.Module, kind: str, data: dict, cfg: Config, seed: int, resume=None, device="cpu") -> list[float]:
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
    """VOC AP (2007 11-point and area, IoU 0.5) and COCO AP/AP50 on a proxy split."""
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
    return {"voc07_mAP": voc07["mAP"], "voc_mAP": voc07["mAP_area"], "coco_AP": coco["AP"], "coco_AP50": coco["AP50"],
            "coco_AP75": coco["AP75"], "voc07_AP": voc07["AP"]}


def center_box_baseline(data: dict) -> list[dict]:
    """The trivial detector: one centred box (the training set's mean box size) per class, score 1."""
    size = data["images"].shape[-1]
    K = len(data["class_names"])
    wh = torch.cat([t["boxes"] for t in data["targets"]])
    w, h = float((wh[:, 2] - wh[:, 0]).mean()), float((wh[:, 3] - wh[:, 1]).mean())
    box = np.array([[size / 2 - w / 2, size / 2 - h / 2, size / 2 + w / 2, size / 2 + h / 2]], np.float32)
    return [{"boxes": np.repeat(box, K, 0), "scores": np.ones(K, np.float32), "labels": np.arange(K)}
            for _ in data["images"]]


@torch.inference_mode()
def images_per_second(model: nn.Module, size: int, n: int = 30, reps: int = 3, device="cpu", seed: int = 0) -> float:
    """Inference throughput at batch size 1 (as the papers time it): the best of `reps` timed runs
    of n images each, after a warm-up, detection post-processing included."""
    model.eval().to(device)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g).to(device)
    run = (lambda im: model.detect(im)) if isinstance(model, YOLOv1) else (lambda im: model(list(im)))
    for i in range(3):
        run(x[i:i + 1])
    best = float("inf")
    for _ in range(reps):
        if device != "cpu" and torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for i in range(n):
            run(x[i:i + 1])
        if device != "cpu" and torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return n / best


__all__ = ["Config", "SMOKE", "YOLOv1", "build_model", "build_faster_rcnn", "set_box_regression", "load_data",
           "train", "predict", "evaluate", "score", "center_box_baseline", "images_per_second", "asdict"]
