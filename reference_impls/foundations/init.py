"""Weight initialisation and activation statistics in a deep network (CS231n, Neural Networks
Part 2; Glorot & Bengio 2010; He et al. 2015): forward a random batch through a stack of fully
connected layers and look at each layer's activations."""
from __future__ import annotations

import math

import torch


def layer_activations(act: str, init: str, *, depth: int = 10, width: int = 500, n: int = 1000,
                      seed: int = 0) -> list[torch.Tensor]:
    """Activations of each of `depth` layers (no biases) for a N(0, 1) input batch."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, width, generator=g)
    f = torch.tanh if act == "tanh" else torch.relu
    out = []
    for _ in range(depth):
        std = {"std0.01": 0.01, "std1": 1.0, "xavier": 1 / math.sqrt(width), "he": math.sqrt(2 / width)}[init]
        w = torch.randn(width, width, generator=g) * std
        h = f(h @ w)
        out.append(h)
    return out


def std_ratio(acts: list[torch.Tensor]) -> float:
    """Standard deviation of the last layer's activations over the first layer's."""
    return float(acts[-1].std() / acts[0].std())


def saturated_fraction(acts: list[torch.Tensor], level: float = 0.99) -> float:
    """Fraction of the last tanh layer's units with |a| > level."""
    return float((acts[-1].abs() > level).float().mean())


def variance_ratio_per_layer(acts: list[torch.Tensor]) -> float:
    """Geometric mean over layers of E[a_l^2] / E[a_{l-1}^2] (the second moment a ReLU layer
    carries forward): 1/2 under Xavier, 1 under He."""
    m = [float((a * a).mean()) for a in acts]
    return math.exp(sum(math.log(m[i + 1] / m[i]) for i in range(len(m) - 1)) / (len(m) - 1))
