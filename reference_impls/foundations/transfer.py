"""Transfer learning (CS231n transfer-learning notes: a small new dataset similar to the original
-> a linear classifier on the CNN codes) on MNIST: a small CNN pretrained on digits 0-4 gives
features for a few-shot task on digits 5-9; compared with the same CNN trained from scratch on the
few examples, with its random (untrained) features and with pixel nearest neighbours."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from reference_impls.common import fit, seed_everything, trained


class DigitCNN(nn.Module):
    """conv 16 -> pool -> conv 32 -> pool on 14x14 pooled digits (196 inputs); `features` is the
    flattened 32x3x3 last block (the "CNN code"), `out` the classifier."""

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.out = nn.Linear(32 * 3 * 3, n_classes)

    def features(self, x):
        return self.conv(x.view(-1, 1, 14, 14)).flatten(1)

    def forward(self, x):
        return self.out(self.features(x))


def split(x: torch.Tensor, y: torch.Tensor, classes) -> tuple[torch.Tensor, torch.Tensor]:
    keep = torch.isin(y, torch.as_tensor(list(classes)))
    return x[keep], y[keep]


def few_shot(x: torch.Tensor, y: torch.Tensor, shots: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`shots` examples of each class present in y, a seeded draw."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.cat([torch.nonzero(y == c)[:, 0][torch.randperm(int((y == c).sum()), generator=g)[:shots]]
                     for c in y.unique()])
    return x[idx], y[idx]


def pretrain(x, y, cfg: dict, seed: int, fingerprint: str, cache_dir=None, untrained: bool = False) -> DigitCNN:
    """The source task: Adam on (x, y) in shuffled minibatches, through the project's cache."""
    def build():
        seed_everything(seed)
        return DigitCNN()

    def train(model, resume):
        g = torch.Generator().manual_seed(seed)
        bs = cfg["batch"]

        def epoch(_):
            p = torch.randperm(len(x), generator=g)
            return [(x[p[i:i + bs]], y[p[i:i + bs]]) for i in range(0, len(x) - bs + 1, bs)]
        fit(model, lambda m, b: F.cross_entropy(m(b[0]), b[1]), epoch, epochs=cfg["epochs"],
            optimizer=torch.optim.Adam(model.parameters(), cfg["lr"]), checkpoint=resume, progress=False,
            desc="pretrain")
    return trained("foundations_transfer_source", build, train, config=cfg, seed=seed, data_fingerprint=fingerprint,
                   code=[__import__(__name__, fromlist=["x"])], cache_dir=cache_dir, untrained=untrained)


def _full_batch(model: nn.Module, params, x, y, steps: int, lr: float, wd: float = 0.0):
    """Adam on the whole (tiny) set; through `fit`, so the negative-control run trains nothing."""
    opt = torch.optim.Adam(params, lr=lr, weight_decay=wd)
    fit(model, lambda m, b: F.cross_entropy(m(b[0]), b[1]), lambda e: [(x, y)], epochs=steps, optimizer=opt,
        progress=False, log_every=10 ** 9, desc="few-shot")
    return model.eval()


class Probe(nn.Module):
    """A linear classifier on a frozen network's code."""

    def __init__(self, net: nn.Module, n_classes: int = 10):
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.head = nn.Linear(net.out.in_features, n_classes)

    def forward(self, x):
        with torch.no_grad():
            h = self.net.features(x)
        return self.head(h)


def linear_probe(net: nn.Module, x, y, seed: int, steps: int = 200, lr: float = 1e-2) -> Probe:
    seed_everything(seed)
    probe = Probe(net)
    return _full_batch(probe, probe.head.parameters(), x, y, steps, lr, wd=1e-3)


def fine_tune(net: nn.Module, x, y, seed: int, steps: int = 200, lr: float = 1e-3) -> nn.Module:
    """The pretrained network with a new output layer, every layer trained on the few examples."""
    seed_everything(seed)
    net = copy.deepcopy(net).train().requires_grad_(True)
    net.out.reset_parameters()
    return _full_batch(net, net.parameters(), x, y, steps, lr)


def from_scratch(x, y, seed: int, steps: int = 200, lr: float = 1e-3) -> DigitCNN:
    seed_everything(seed)
    net = DigitCNN()
    return _full_batch(net, net.parameters(), x, y, steps, lr)


@torch.no_grad()
def nearest_neighbour_accuracy(xtr, ytr, xte, yte) -> float:
    return float((ytr[torch.cdist(xte, xtr).argmin(1)] == yte).float().mean())


@torch.no_grad()
def accuracy(model: nn.Module, x, y) -> float:
    return float((model.eval()(x).argmax(1) == y).float().mean())
