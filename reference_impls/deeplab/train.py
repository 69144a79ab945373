"""Training and evaluation for DeepLab: SGD with the poly policy, pixel-wise cross-entropy with the
ignore label, random flips, bilinear upsampling of the scores to the label resolution."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from metrics.segmentation import ConfusionMatrix
from reference_impls.common import autocast, fit, poly_lr, trained

from . import crf as crf_module
from . import model as model_module
from .model import DeepLab, msc_loss

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255

# The smoke configuration: CamVid trained at 72x96 (0.4x the shared 180x240 images) from scratch
# on CPU; the scores are bilinearly upsampled and evaluated against the labels at 90x120 (half the
# shared images: cheaper to score and to run the CRF on, and still 18x20 pixels per score cell). The
# backbone is ResNet-18 at a quarter of its published widths (16/32/64/128 channels) with fc6/fc7
# width 64, to fit the CPU budget. At output stride 16 the feature map is 5x6, so the atrous rates
# are scaled to it (the paper's 6/12/18/24 on a 41x41 map -> 1/2/3/4 here; LargeFOV's 12 -> 2):
# the paper's rates would put every off-centre tap in the padding (see model.taps_inside). 5 epochs
# (8 before 2026-11-26's second budget cut, which made room for the MSC training and the scenes).
CAMVID_SMOKE = dict(dataset="camvid", size=(72, 96), eval_size=(90, 120), num_classes=11,
                    backbone="resnet18", backbone_channels=(16, 32, 64, 128), head="aspp", output_stride=16,
                    width=64, rates=(1, 2, 3, 4), largefov_rates=(2,), msc=False,
                    epochs=5, batch_size=8, lr=0.02, momentum=0.9, weight_decay=5e-4, poly_power=0.9)


def prep(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> normalised float."""
    return (x.float() - MEAN.to(x.device)) / STD.to(x.device)


def load_data(root, cfg: dict) -> dict:
    """CamVid splits as tensors: train/val/test at the training size; val/test also at eval size."""
    from datasets import camvid
    out = {"fingerprint": camvid.data_fingerprint(root)}
    for split in ("train", "val", "test"):
        x, y = camvid.load_split(root, split, size=tuple(cfg["size"]))
        out[split] = {"x": x, "y": y}
        if split != "train":
            same = tuple(cfg["eval_size"]) == tuple(cfg["size"])
            xe, ye = (x, y) if same else camvid.load_split(root, split, size=tuple(cfg["eval_size"]))
            out[split].update(x_eval=xe, y_eval=ye)
    return out


def build_model(cfg: dict, weights=None) -> DeepLab:
    return DeepLab(cfg["num_classes"], backbone=cfg["backbone"], head=cfg["head"],
                   output_stride=cfg["output_stride"], msc=cfg.get("msc", False), width=cfg.get("width", 1024),
                   rates=cfg.get("rates"), backbone_channels=cfg.get("backbone_channels"), weights=weights,
                   v3_width=cfg.get("v3_width", 256), low_width=cfg.get("low_width", 48),
                   freeze_bn=cfg.get("freeze_bn", False))


def batches(x, y, batch_size: int, seed: int):
    """epoch -> list of (images, labels) batches: a fixed shuffle per (seed, epoch), random h-flips."""
    def epoch_batches(epoch: int):
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        order = torch.randperm(len(x), generator=g)
        flip = torch.rand(len(x), generator=g) < 0.5
        out = []
        for i in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[i:i + batch_size]
            xb, yb = x[idx].clone(), y[idx].clone()
            f = flip[idx]
            xb[f], yb[f] = xb[f].flip(-1), yb[f].flip(-1)
            out.append((xb, yb))
        return out
    return epoch_batches


def train(model: DeepLab, train_split: dict, cfg: dict, seed: int, device="cpu", resume=None, progress=None):
    """SGD + momentum, poly learning rate, cross-entropy (ignore 255) on the upsampled scores."""
    data = batches(train_split["x"], train_split["y"], cfg["batch_size"], seed)
    iters = cfg["epochs"] * len(data(0))
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"])
    sched = poly_lr(opt, iters, cfg["poly_power"])

    def step(m, batch):
        xb, yb = batch
        return msc_loss(m(prep(xb)), yb)

    return fit(model, step, data, epochs=cfg["epochs"], optimizer=opt, scheduler=sched, device=device,
               checkpoint=resume, desc=f"deeplab {cfg['head']}", progress=progress)


def trained_model(cfg: dict, data: dict, seed: int, cache_dir=None, device="cpu", checkpoint=None,
                  untrained: bool = False) -> DeepLab:
    """`cfg`'s model trained on data["train"] (cached); `untrained=True`: the same model at its
    seeded initialisation (the claims' "untrained" control), never trained or cached."""
    from reference_impls.common import seed_everything
    from . import train as this

    def build():
        seed_everything(seed)
        return build_model(cfg)

    net = trained(f"deeplab_{cfg['dataset']}", build,
                  lambda m, resume: train(m, data["train"], cfg, seed, device=device, resume=resume),
                  config=cfg, seed=seed, data_fingerprint=data["fingerprint"], code=[model_module, this],
                  cache_dir=cache_dir, checkpoint=checkpoint, untrained=untrained)
    return net.to(device).eval()


@torch.inference_mode()
def _upsampled_logits(model: DeepLab, x: torch.Tensor, out_size, scales, batch_size: int, device):
    """Per batch: the logits (max-fused over `scales` if given) bilinearly upsampled to `out_size`."""
    model.eval()
    device = torch.device(device)
    for i in range(0, len(x), batch_size):
        xb = prep(x[i:i + batch_size].to(device))
        with autocast(device):
            logits = model(xb, scales=scales)
        yield F.interpolate(logits.float(), size=tuple(out_size), mode="bilinear", align_corners=False)


def predict_probs(model: DeepLab, x: torch.Tensor, out_size, scales=None, batch_size: int = 16,
                  device="cpu") -> torch.Tensor:
    """Softmax probabilities (N, C, *out_size): the scores (max-fused over `scales` if given) are
    bilinearly upsampled to `out_size`."""
    return torch.cat([lg.softmax(1).cpu() for lg in _upsampled_logits(model, x, out_size, scales, batch_size, device)])


def predict_labels(model: DeepLab, x: torch.Tensor, out_size, scales=None, batch_size: int = 16,
                   device="cpu") -> torch.Tensor:
    """Labels (N, *out_size): the argmax of `predict_probs` without keeping the probabilities."""
    # max(1).indices is argmax(1) (the first maximal index on ties), several times faster on CPU over dim 1
    return torch.cat([lg.max(1).indices.cpu() for lg in _upsampled_logits(model, x, out_size, scales, batch_size, device)])


def score(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> dict:
    return ConfusionMatrix(num_classes, ignore_index=255).update(pred, y).scores()


def evaluate(model: DeepLab, split: dict, cfg: dict, scales=None, crf: "crf_module.CRFParams | None" = None,
             device="cpu") -> dict:
    """Scores on a split at the evaluation size; optionally multi-scale inputs and/or the dense CRF."""
    if crf is None:
        pred = predict_labels(model, split["x"], cfg["eval_size"], scales=scales, device=device)
    else:
        probs = predict_probs(model, split["x"], cfg["eval_size"], scales=scales, device=device)
        pred = crf_module.crf_labels(split["x_eval"], probs, crf)
    return score(pred, split["y_eval"], cfg["num_classes"])


@torch.inference_mode()
def predict_scores(model: DeepLab, x: torch.Tensor, batch_size: int = 32, device="cpu") -> torch.Tensor:
    """The class scores at the network's output stride, before any upsampling: (N, C, h, w)."""
    model.eval()
    return torch.cat([model.scores(prep(x[i:i + batch_size].to(device))).float().cpu()
                      for i in range(0, len(x), batch_size)])
