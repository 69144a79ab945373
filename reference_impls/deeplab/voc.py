"""The paper's PASCAL VOC 2012 protocol (full tier): DeepLab-ResNet-101 + ASPP-L + MSC, trained on
train_aug (VOC + SBD, 10,582 images) with 321x321 random crops, batch 10, lr 2.5e-4 poly (power 0.9), momentum 0.9, weight decay 5e-4, 20k iterations; evaluated on
the 1,449 val images at full resolution, without and with the dense CRF. Runs under torchrun (DDP).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from datasets import voc
from metrics.segmentation import ConfusionMatrix
from reference_impls.common import autocast, fit, poly_lr, world

from . import crf as crf_module
from .model import msc_loss
from .train import prep

VOC_FULL = dict(dataset="voc", num_classes=21, backbone="resnet101", head="aspp", output_stride=8, msc=True,
                width=1024, crop=321, scale=(0.5, 1.5), batch_size=10, iters=20000, lr=2.5e-4, momentum=0.9,
                weight_decay=5e-4, poly_power=0.9, eval_pad=513)


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
    rank, world_size = world()
    ds = voc.VOCSegmentation(root, "train_aug", transform=RandomScaleCrop(cfg["crop"], cfg["scale"], seed + rank))
    sampler = (torch.utils.data.distributed.DistributedSampler(ds, seed=seed) if world_size > 1 else
               torch.utils.data.RandomSampler(ds, generator=torch.Generator().manual_seed(seed)))
    per_rank = max(1, cfg["batch_size"] // world_size)
    loader = torch.utils.data.DataLoader(ds, batch_size=per_rank, sampler=sampler, num_workers=4, drop_last=True,
                                         collate_fn=lambda b: (torch.stack([x for x, _, _ in b]),
                                                               torch.stack([y for _, y, _ in b])),
                                         **seeded_loader_args(seed * 1000 + rank))
    epochs = math.ceil(cfg["iters"] / len(loader))
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])
    sched = poly_lr(opt, epochs * len(loader), cfg["poly_power"])
    return fit(model, lambda m, b: msc_loss(m(prep(b[0])), b[1]), loader, epochs=epochs, optimizer=opt,
               scheduler=sched, device=device, checkpoint=resume, desc="deeplab voc")


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
