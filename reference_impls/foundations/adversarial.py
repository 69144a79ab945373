"""Adversarial examples from linearity (CS231n, "Visualizing and understanding"; Goodfellow et al.
2015): the fast gradient sign method against a linear softmax classifier on MNIST, and how the
flip rate grows with the input's dimension at a fixed per-pixel epsilon."""
from __future__ import annotations

import torch
from torch import nn

from reference_impls.common import untrained_mode


def train_linear(x: torch.Tensor, y: torch.Tensor, seed: int, steps: int = 100, lam: float = 1e-4) -> nn.Linear:
    """Softmax regression by full-batch L-BFGS (skipped in the negative-control run)."""
    torch.manual_seed(seed)
    model = nn.Linear(x.shape[1], 10)
    if untrained_mode():
        return model
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=steps, history_size=10,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y) + 0.5 * lam * model.weight.pow(2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    return model


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    nn.functional.cross_entropy(model(x), y).backward()
    return (x + eps * x.grad.sign()).detach()


@torch.no_grad()
def flip_rate(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor) -> float:
    """Fraction of test digits whose predicted class changes."""
    return float((model(x).argmax(1) != model(x_adv).argmax(1)).float().mean())


def random_sign(x: torch.Tensor, eps: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return x + eps * (torch.randint(0, 2, x.shape, generator=g).float() * 2 - 1)


def upsample(images: torch.Tensor, factor: int) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float (N, (28 f)^2) in [0, 1]: nearest upsampling multiplies the input
    dimension by f^2 without adding information."""
    x = images.float().unsqueeze(1) / 255.0
    return nn.functional.interpolate(x, scale_factor=factor, mode="nearest").flatten(1)
