"""Small MNIST networks for the lecture notes' training claims: batch normalisation at a high
learning rate, dropout, plain vs residual depth. Trained through the project's `fit` and cache."""
from __future__ import annotations

import torch
from torch import nn

from reference_impls.common import fit, seed_everything, trained


class MLP(nn.Module):
    """`depth` hidden layers of `width` ReLU units; optional batch norm, dropout, residual blocks."""

    def __init__(self, depth: int = 3, width: int = 128, *, bn: bool = False, dropout: float = 0.0,
                 residual: bool = False, d_in: int = 196):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(width, width), *([nn.BatchNorm1d(width)] if bn else []), nn.ReLU(),
                          *([nn.Dropout(dropout)] if dropout else [])) for _ in range(depth))
        self.residual = residual
        self.out = nn.Linear(width, 10)

    def forward(self, x):
        h = torch.relu(self.inp(x.flatten(1)))
        for b in self.blocks:
            h = h + b(h) if self.residual else b(h)
        return self.out(h)


def mnist_features(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, 196): 2x2 average-pooled, scaled to [0, 1], centred."""
    x = nn.functional.avg_pool2d(images.float().unsqueeze(1) / 255.0, 2).flatten(1)
    return x - 0.13


def train_mlp(name: str, cfg: dict, data: dict, seed: int, cache_dir=None, untrained: bool = False) -> MLP:
    """An MLP trained with SGD on `data["x"], data["y"]` (full tensors, shuffled minibatches)."""
    def build():
        seed_everything(seed)
        return MLP(cfg["depth"], cfg["width"], bn=cfg.get("bn", False), dropout=cfg.get("dropout", 0.0),
                   residual=cfg.get("residual", False))

    def train(model, resume):
        g = torch.Generator().manual_seed(seed)
        x, y, bs = data["x"], data["y"], cfg["batch"]

        def epoch(_):
            perm = torch.randperm(len(x), generator=g)
            return [(x[perm[i:i + bs]], y[perm[i:i + bs]]) for i in range(0, len(x) - bs + 1, bs)]
        opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg.get("momentum", 0.0))
        step = lambda m, b: nn.functional.cross_entropy(m(b[0]), b[1])
        try:
            fit(model, step, epoch, epochs=cfg["epochs"], optimizer=opt, checkpoint=resume, progress=False,
                desc=name)
        except FloatingPointError:   # diverged: keep the weights where they blew up (a measured outcome)
            with torch.no_grad():
                for p in model.parameters():
                    p.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
            model.diverged = True

    return trained(f"foundations_{name}", build, train, config=cfg, seed=seed, data_fingerprint=data["fingerprint"],
                   code=[__import__(__name__, fromlist=["x"])], cache_dir=cache_dir, untrained=untrained)


@torch.inference_mode()
def loss_and_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits = model.eval()(x)
    loss = float(nn.functional.cross_entropy(logits, y))
    return (loss if loss == loss else float("inf")), float((logits.argmax(1) == y).float().mean())
