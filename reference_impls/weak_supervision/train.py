"""Training with image labels only (classifiers, ACoL) or pixel labels (the fully supervised model),
through the project's `fit` loop: AdamW, cosine schedule with warm-up, horizontal flips."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from reference_impls.common import fit
from reference_impls.common.train import cosine_warmup

from .models import ACoLNet, SegNet


def batches(images: torch.Tensor, targets: torch.Tensor, batch_size: int, seed: int, flip: bool = True):
    """Callable epoch -> shuffled (image, target) batches, deterministic in (seed, epoch); a dense
    target (N, H, W) is flipped with its image."""
    def epoch(e: int):
        g = torch.Generator().manual_seed(seed * 1000 + e)
        order = torch.randperm(len(images), generator=g)
        out = []
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            xb, yb = images[idx], targets[idx]
            if flip:
                m = torch.rand(len(idx), generator=g) < 0.5
                xb = torch.where(m[:, None, None, None], xb.flip(-1), xb)
                if yb.dim() == 3:
                    yb = torch.where(m[:, None, None], yb.flip(-1), yb)
            out.append((xb, yb))
        return out
    return epoch


def median_frequency_weights(masks: torch.Tensor, n_labels: int) -> torch.Tensor:
    """Class weights median(freq) / freq(c) over the training masks' pixels (Eigen & Fergus; the
    SegNet paper's class balancing): without them the tiny net predicts background everywhere
    for its first hundred steps (89% of the pixels)."""
    freq = torch.bincount(masks.flatten(), minlength=n_labels).double()
    freq = freq / freq.sum()
    present = freq > 0
    w = torch.zeros(n_labels, dtype=torch.float64)
    w[present] = freq[present].median() / freq[present]
    return w.float()


def image_label_loss(logits: torch.Tensor, labels: torch.Tensor, kind: str = "softmax") -> torch.Tensor:
    """The classifiers' loss on image labels (N,), where -1 marks an object-free canvas.

    softmax: cross-entropy with the label, and with the uniform distribution over the classes on an
             object-free canvas (Lee et al., ICLR 2018; Hendrycks et al.'s Outlier Exposure, ICLR 2019):
             no class may then be recognised by the mere absence of the others' evidence;
    sigmoid: the multi-label soft-margin loss of WSSS CAM networks (AffinityNet, IRN), one-vs-rest,
             with an all-zero target on an object-free canvas."""
    k, obj = logits.shape[1], labels >= 0
    if kind == "sigmoid":
        target = F.one_hot(labels.clamp_min(0), k).to(logits.dtype) * obj[:, None]
        return F.binary_cross_entropy_with_logits(logits, target)
    if kind != "softmax":
        raise ValueError(f"unknown loss {kind!r}")
    if bool(obj.all()):
        return F.cross_entropy(logits, labels)
    target = torch.where(obj[:, None], F.one_hot(labels.clamp_min(0), k).to(logits.dtype), 1.0 / k)
    return F.cross_entropy(logits, target)


def loss_fn(model, weight: torch.Tensor | None = None, kind: str = "softmax"):
    """The paper's objective of each model: cross-entropy on the image label (`image_label_loss`;
    ACoL: of both classifiers, B's input erased with A's map of the label); pixel cross-entropy
    (SegNet, with class weights `weight`)."""
    if isinstance(model, ACoLNet):
        def step(m, batch):
            xb, yb = batch
            la, lb = m(xb, yb)
            return image_label_loss(la, yb, kind) + image_label_loss(lb, yb, kind)
    elif isinstance(model, SegNet):
        def step(m, batch):
            xb, yb = batch
            return F.cross_entropy(m(xb), yb, weight=weight)
    else:
        def step(m, batch):
            xb, yb = batch
            return image_label_loss(m(xb), yb, kind)
    return step


def train(model, images: torch.Tensor, targets: torch.Tensor, *, epochs: int, seed: int, lr: float = 4e-3,
          batch_size: int = 64, device="cpu", checkpoint=None, loss: str = "softmax") -> list[float]:
    """`targets`: image labels (N,) for the classifiers and ACoL (-1: an object-free canvas, see
    `image_label_loss`), semantic masks (N, H, W) for SegNet."""
    if isinstance(model, SegNet) != (targets.dim() == 3):
        raise ValueError("SegNet trains on (N, H, W) masks, the classifiers on (N,) labels")
    weight = median_frequency_weights(targets, model.head[-1].out_channels).to(device) if isinstance(model, SegNet) else None
    data = batches(images, targets, batch_size, seed)
    steps = epochs * -(-len(images) // batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = cosine_warmup(opt, steps, warmup=steps // 20)
    return fit(model, loss_fn(model, weight, loss), data, epochs=epochs, optimizer=opt, scheduler=sched, device=device,
               checkpoint=checkpoint, desc=type(model).__name__)
