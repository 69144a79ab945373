"""Gradient checking (CS231n, Neural Networks Part 3): compare autograd's analytic gradient with
centred finite differences in float64, as relative error |a - n| / max(|a|, |n|)."""
from __future__ import annotations

import torch
from torch import nn


def relative_error(analytic: torch.Tensor, numeric: torch.Tensor) -> float:
    a, n = analytic.flatten(), numeric.flatten()
    den = torch.maximum(a.abs(), n.abs()).clamp_min(1e-12)
    return float(((a - n).abs() / den)[torch.maximum(a.abs(), n.abs()) > 1e-9].max())


def check(module_or_fn, x: torch.Tensor, h: float = 1e-6) -> float:
    """Max relative error between d sum(f(x) * r)/dx by autograd and by centred differences,
    r a fixed random projection (so every output element matters)."""
    f = module_or_fn
    x = x.detach().double().requires_grad_(True)
    r = torch.randn(f(x).shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (f(x) * r).sum().backward()
    analytic = x.grad.clone()
    numeric = torch.zeros_like(x)
    flat = x.detach().view(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            old = float(flat[i])
            flat[i] = old + h
            fp = float((f(x) * r).sum())
            flat[i] = old - h
            fm = float((f(x) * r).sum())
            flat[i] = old
            numeric.view(-1)[i] = (fp - fm) / (2 * h)
    return relative_error(analytic, numeric)


class BuggyTanh(torch.autograd.Function):
    """tanh whose backward forgets the square: 1 - y instead of 1 - y^2 (a planted bug)."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y)


def layers(seed: int = 0) -> dict:
    """Every layer type the project's reference implementations use, in float64, small."""
    torch.manual_seed(seed)
    lstm = nn.LSTM(3, 4, batch_first=True).double()
    bn = nn.BatchNorm2d(3).double().train()
    return {
        "linear": (nn.Linear(5, 4).double(), torch.randn(3, 5)),
        "conv2d": (nn.Conv2d(2, 3, 3, padding=1).double(), torch.randn(2, 2, 5, 5)),
        "dilated_conv2d": (nn.Conv2d(2, 2, 3, padding=2, dilation=2).double(), torch.randn(1, 2, 7, 7)),
        "conv_transpose2d": (nn.ConvTranspose2d(2, 2, 4, stride=2, padding=1).double(), torch.randn(1, 2, 3, 3)),
        "batchnorm2d_train": (bn, torch.randn(4, 3, 3, 3)),
        "tanh": (torch.tanh, torch.randn(4, 5)),
        "sigmoid": (torch.sigmoid, torch.randn(4, 5)),
        "relu": (torch.relu, torch.randn(4, 5) + 0.05),     # away from the kink at 0
        "maxpool2d": (nn.MaxPool2d(2), torch.randn(1, 2, 4, 4)),
        "avgpool_gap": (lambda x: x.mean((2, 3)), torch.randn(2, 3, 4, 4)),
        "softmax_cross_entropy": (lambda x: nn.functional.cross_entropy(x, torch.tensor([0, 2, 1])),
                                  torch.randn(3, 4)),
        "lstm": (lambda x: lstm(x)[0], torch.randn(2, 3, 3)),
        "embedding_free_attention": (lambda x: torch.softmax(x @ x.transpose(-1, -2), -1) @ x, torch.randn(2, 3, 4)),
    }
