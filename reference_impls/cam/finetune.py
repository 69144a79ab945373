"""Full tier: the paper's fine-tuning of the CAM networks on ILSVRC train (Zhou et al. Sec. 2), the
training path behind the val-table claims when no checkpoint is named.

The network (`build_model`): an ImageNet-pretrained backbone cut as the paper says (GoogLeNet after
inception4e, VGG16 after conv5_3 with pool5 removed: 14x14 maps at 224 px), an added 3x3 conv with
1024 units + ReLU, global average (GAP) or max (GMP) pooling, and a fully connected softmax layer
(cross-entropy). Pretrained weights load strictly from the file the user names
(`backbone_weights=`): a file that loads nothing raises CheckpointError naming it.

Recipe: the authors' released solver (models/solver_imagenet_googlenetCAM.prototxt and
train_val_googlenetCAM.prototxt, github.com/zhoubolei/CAM): SGD, base lr 0.001, momentum 0.9,
weight decay 5e-4, lr x0.1 every 40,000 iterations, 160,000 iterations of batch 256, random crops
(227 in Caffe, 224 here) with mirroring from the squashed 256x256 image. Inputs use torchvision's
normalisation (what the torchvision/timm pretrained weights expect) instead of Caffe's mean image.
Training goes through `reference_impls.common.trained`/`fit` (cache, resume, AMP on GPU, DDP under
torchrun, skipped in the negative-control run).
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from reference_impls.common import fit, loader, seed_everything, trained

from .imagenet import FULL, MEAN, SIZE
from .models import build_model

SOLVER = {"lr": 1e-3, "momentum": 0.9, "weight_decay": 5e-4, "step_iters": 40_000, "gamma": 0.1,
          "iters": 160_000, "batch_size": 256}


def train_transform():
    import torchvision.transforms as T
    return T.Compose([T.Resize((FULL, FULL)), T.RandomCrop(SIZE), T.RandomHorizontalFlip(), T.ToTensor(),
                      T.Normalize(MEAN.tolist(), [0.229, 0.224, 0.225])])


def _loader(samples, batch_size: int, seed: int, workers: int | None = None):
    from datasets.imagenet import ImageFiles
    # common.loader: a DistributedSampler shard per rank under torchrun, seeded workers, pinned memory,
    # and a batch cut to the miniature layout in a rehearsal (--full-steps)
    return loader(ImageFiles(samples, train_transform()), batch_size, seed=seed, num_workers=workers)


def finetune(arch: str, pool: str, samples: list, backbone_weights: str | Path, *, device="cuda", seed: int = 0,
             cache_dir=None, solver: dict = SOLVER, workers: int | None = None, data_fingerprint: str = ""):
    """The fine-tuned CAM net (cached by `trained`): `samples` = [(path, class)] of ILSVRC train."""
    if arch not in ("googlenet", "vgg16"):
        raise ValueError(f"the paper fine-tunes googlenet and vgg16 CAM nets, not {arch!r}")

    def build():
        seed_everything(seed)
        return build_model(arch, 1000, pool=pool, backbone_weights=backbone_weights)

    def fit_(model, resume):
        loader = _loader(samples, solver["batch_size"], seed, workers)
        per_epoch = max(1, len(loader))
        epochs = max(1, math.ceil(solver["iters"] / per_epoch))
        opt = torch.optim.SGD(model.parameters(), lr=solver["lr"], momentum=solver["momentum"],
                              weight_decay=solver["weight_decay"])
        sched = torch.optim.lr_scheduler.StepLR(opt, solver["step_iters"], solver["gamma"])   # stepped per iteration

        def step(m, batch):
            x, y = batch
            return F.cross_entropy(m(x), y)
        fit(model, step, loader, epochs=epochs, optimizer=opt, scheduler=sched, device=device, checkpoint=resume,
            desc=f"cam {arch}-{pool} ILSVRC")
    from . import models
    return trained(f"cam_ilsvrc_{arch}_{pool}", build, fit_, cache_dir=cache_dir, seed=seed,
                   config={"arch": arch, "pool": pool, **solver, "backbone": str(backbone_weights)},
                   data_fingerprint=data_fingerprint, code=[models, Path(__file__).read_text()])
