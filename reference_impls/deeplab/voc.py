"""The paper's PASCAL VOC 2012 protocol (full tier): DeepLab-v2 ResNet-101 + ASPP-L + MSC as released
(the ASPP head is one 3x3 atrous conv per rate 6/12/18/24 straight to the 21 classes, ~1.5 M parameters),
trained on train_aug (VOC + SBD, 10,582 images) with 321x321 random crops (random scale 0.5-1.5, flips),
batch 10, lr 2.5e-4 with the poly policy (power 0.9), the head at 10x (weights) / 20x (biases) the
backbone's lr as in the released solver, momentum 0.9, weight decay 5e-4, 20k iterations, batch-norm
statistics and affine parameters frozen (the paper fine-tunes with BN fixed); evaluated on the 1,449
val images at full resolution, without and with the dense CRF. Runs under torchrun (DDP).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from datasets import voc
from metrics.segmentation import ConfusionMatrix
from reference_impls.common import autocast, fit, poly_lr, rehearsal_batch, world
from reference_impls.common.distributed import default_workers

from . import crf as crf_module
from .model import msc_loss
from .train import prep

VOC_FULL = dict(dataset="voc", num_classes=21, backbone="resnet101", head="aspp_v2", output_stride=8, msc=True,
                freeze_bn=True, head_lr_mult=10.0, head_bias_lr_mult=20.0, crop=321, scale=(0.5, 1.5), batch_size=10, iters=20000, lr=2.5e-4, momentum=0.9,
                weight_decay=5e-4, poly_power=0.9, eval_pad=513)
# DeepLabv3+ on Cityscapes (the v3 / v3+ papers' recipe with a ResNet-101 encoder instead of their
# Xception-65: output stride 16, 769x769 crops, random scale 0.5-2, batch 8, lr 0.01 poly, 90k
# iterations on train_fine, BN trained); 82.1 (test server) is the Xception-65 + JFT model's number.
CITYSCAPES_V3PLUS = dict(dataset="cityscapes", num_classes=19, backbone="resnet101", head="v3+", output_stride=16,
                         msc=False, crop=769, scale=(0.5, 2.0), batch_size=8, iters=90000, lr=0.01, momentum=0.9,
                         weight_decay=1e-4, poly_power=0.9)


class RandomScaleCrop:
    """Random scale in `scale`, pad to `crop` (labels padded with the ignore label), random crop,
    random h-flip, all drawn from the transform's own generator. Inside a multi-worker DataLoader
    every worker holds a copy of that generator: build the loader with `seeded_loader_args` so that
    each worker reseeds it from its own seed (different per worker and per epoch, reproducible)."""

    def __init__(self, crop: int, scale=(0.5, 1.5), seed: int = 0):
        self.crop, self.scale, self.g = crop, scale, torch.Generator().manual_seed(seed)

    def reseed(self, seed: int) -> None:
        self.g = torch.Generator().manual_seed(seed)

    def __call__(self, x, y):
        s = float(torch.empty(1).uniform_(*self.scale, generator=self.g))
        h, w = x.shape[-2:]
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        x = F.interpolate(x[None].float(), size=(nh, nw), mode="bilinear", align_corners=False)[0]
        y = F.interpolate(y[None, None].float(), size=(nh, nw), mode="nearest")[0, 0].long()
        ph, pw = max(0, self.crop - nh), max(0, self.crop - nw)
        x = F.pad(x, (0, pw, 0, ph), value=0.0)  # padded pixels are ignored through the label
        y = F.pad(y, (0, pw, 0, ph), value=voc.IGNORE)
        i = int(torch.randint(0, x.shape[1] - self.crop + 1, (1,), generator=self.g))
        j = int(torch.randint(0, x.shape[2] - self.crop + 1, (1,), generator=self.g))
        x, y = x[:, i:i + self.crop, j:j + self.crop], y[i:i + self.crop, j:j + self.crop]
        if torch.rand(1, generator=self.g) < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        return x.round().clamp(0, 255).to(torch.uint8), y


def seed_worker(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: reseed the dataset's transform from this worker's seed, which
    torch derives as (base seed drawn from the loader's generator at every epoch) + worker id."""
    info = torch.utils.data.get_worker_info()
    transform = getattr(info.dataset, "transform", None)
    if hasattr(transform, "reseed"):
        transform.reseed(info.seed)


def seeded_loader_args(seed: int) -> dict:
    """DataLoader keyword arguments that give each worker, in each epoch, its own augmentation draws,
    the same on every run with the same seed."""
    return dict(worker_init_fn=seed_worker, generator=torch.Generator().manual_seed(seed))


def train_voc(model, root, cfg: dict, seed: int, device, resume=None):
    rank, _ = world()
    ds = voc.VOCSegmentation(root, "train_aug", transform=RandomScaleCrop(cfg["crop"], cfg["scale"], seed + rank))
    return train_segmentation(model, ds, cfg, seed, device, resume, "deeplab voc")


def train_cityscapes(model, root, cfg: dict, seed: int, device, resume=None):
    """DeepLabv3+ on the 2,975 finely annotated Cityscapes train frames (CITYSCAPES_V3PLUS)."""
    from datasets import cityscapes
    rank, _ = world()
    ds = cityscapes.Cityscapes(root, "train", transform=RandomScaleCrop(cfg["crop"], cfg["scale"], seed + rank))
    return train_segmentation(model, ds, cfg, seed, device, resume, "deeplabv3+ cityscapes")


def train_segmentation(model, ds, cfg: dict, seed: int, device, resume=None, desc: str = "deeplab"):
    """SGD with the poly policy over `cfg["iters"]` iterations of `ds` (items (x, y, id), already
    cropped to a common size), the head's lr multiplied as `cfg` says; DDP under torchrun."""
    rank, world_size = world()
    sampler = (torch.utils.data.distributed.DistributedSampler(ds, seed=seed) if world_size > 1 else
               torch.utils.data.RandomSampler(ds, generator=torch.Generator().manual_seed(seed)))
    per_rank = rehearsal_batch(max(1, cfg["batch_size"] // world_size), len(ds))   # cut only in a rehearsal
    loader = torch.utils.data.DataLoader(ds, batch_size=per_rank, sampler=sampler, num_workers=default_workers(4), drop_last=True,
                                         collate_fn=lambda b: (torch.stack([x for x, _, _ in b]),
                                                               torch.stack([y for _, y, _ in b])),
                                         **seeded_loader_args(seed * 1000 + rank))
    epochs = math.ceil(cfg["iters"] / len(loader))
    groups = model.param_groups(cfg["lr"], cfg.get("head_lr_mult", 1.0), cfg.get("head_bias_lr_mult", 1.0))
    opt = torch.optim.SGD(groups, lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])
    sched = poly_lr(opt, epochs * len(loader), cfg["poly_power"])
    return fit(model, lambda m, b: msc_loss(m(prep(b[0])), b[1]), loader, epochs=epochs, optimizer=opt,
               scheduler=sched, device=device, checkpoint=resume, desc=desc)


@torch.inference_mode()
def predict_image(model, x: torch.Tensor, pad: int, device) -> torch.Tensor:
    """Probabilities (C, H, W) for one uint8 image, padded to `pad` x `pad` as in the paper's 513 test crops."""
    device = torch.device(device)
    h, w = x.shape[-2:]
    ph, pw = max(0, pad - h), max(0, pad - w)
    xb = F.pad(prep(x[None].to(device)), (0, pw, 0, ph))
    with autocast(device):
        logits = model(xb)
    return logits.float()[0, :, :h, :w].softmax(0).cpu()


def evaluate_voc(model, root, split: str, device, crf: "crf_module.CRFParams | None" = None, pad: int = 513,
                 save_dir=None) -> dict | None:
    """Scores on a labelled split (with/without CRF); on "test", writes the server's PNGs to save_dir."""
    ds = voc.VOCSegmentation(root, split)
    cms = {"plain": ConfusionMatrix(21), "crf": ConfusionMatrix(21)}
    for x, y, iid in ds:
        p = predict_image(model, x, pad, device)
        pred = p.argmax(0)
        pred_crf = crf_module.crf_labels(x[None], p[None], crf)[0] if crf is not None else None
        if not ds.has_labels:
            voc.save_prediction(((pred_crf if pred_crf is not None else pred).numpy()), save_dir, iid)
            continue
        cms["plain"].update(pred, y)
        if pred_crf is not None:
            cms["crf"].update(pred_crf, y)
    if not ds.has_labels:
        return None
    return {k: cm.scores() for k, cm in cms.items() if cm.hist.sum() > 0}


def evaluate_cityscapes(model, root, split: str, device, save_dir=None) -> dict | None:
    """Cityscapes (19 train ids, full 1024x2048 frames): scores on val; on "test", writes the
    server's labelId PNGs (<save_dir>/<city>/<name>_leftImg8bit.png -> *_pred_labelIds.png)."""
    from PIL import Image

    from datasets import cityscapes
    ds = cityscapes.Cityscapes(root, split)
    cm = ConfusionMatrix(cityscapes.NUM_CLASSES)
    train_to_label = {v: k for k, v in cityscapes._ID_TO_TRAIN.items()}
    lut = np.zeros(256, dtype=np.uint8)
    for t, label_id in train_to_label.items():
        lut[t] = label_id
    for x, y, stem in ds:
        pred = predict_image(model, x, pad=0, device=device).argmax(0)
        if split == "test":
            city = stem.split("_")[0]
            out = Path(save_dir) / city
            out.mkdir(parents=True, exist_ok=True)
            Image.fromarray(lut[pred.numpy().astype(np.uint8)]).save(out / stem.replace("_leftImg8bit", "_pred_labelIds.png"))
            continue
        cm.update(pred, y)
    return None if split == "test" else cm.scores()
