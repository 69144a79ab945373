"""ST-CNN and the same CNN without the transformer.

    net = STNClassifier(transformer=True)      # localisation net -> affine grid -> bilinear sampler -> CNN
    logits, theta = net(x)                     # x (B, 1, 42, 42); theta (B, 2, 3)

The CNN classifies a 21x21 view of the 42x42 canvas. Without the transformer theta is the identity,
so the view is the whole canvas at half resolution (bilinear sampling at the identity is a 2x2
average); with it, the localisation net chooses an affine window (the paper's ST-CNN Aff). The
localisation net's last layer starts at zero weights and the identity bias (the paper's
initialisation), so the untrained ST-CNN sees exactly what the plain CNN sees.
"""
from __future__ import annotations

import torch
from torch import nn

from .sampler import identity, transform

OUT = 21


class Classifier(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),        # 21 -> 10
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),       # 10 -> 5
            nn.Flatten(), nn.Linear(32 * 5 * 5, 64), nn.ReLU(), nn.Linear(64, classes))

    def forward(self, v):
        return self.net(v)


class Localisation(nn.Module):
    """A small CNN regressing the 6 affine parameters from the 42x42 canvas: max pooling to 21x21,
    two 20-filter 5x5 convolutions with max pooling between (as in public reproductions of the
    paper's distorted-MNIST ST-CNN, e.g. hvy/chainer-spatial-transformer-networks), a 50-unit hidden
    layer, then the regression layer at zero weights and the identity bias (the paper's identity
    initialisation)."""

    def __init__(self, filters: int = 20, hidden: int = 50):
        super().__init__()
        self.features = nn.Sequential(
            nn.MaxPool2d(2),                                                   # 42 -> 21
            nn.Conv2d(1, filters, 5), nn.MaxPool2d(2), nn.ReLU(),              # 21 -> 17 -> 8
            nn.Conv2d(filters, filters, 5), nn.ReLU(),                         # 8 -> 4
            nn.Flatten(), nn.Linear(filters * 4 * 4, hidden), nn.ReLU())
        self.theta = nn.Linear(hidden, 6)
        nn.init.zeros_(self.theta.weight)
        with torch.no_grad():
            self.theta.bias.copy_(torch.tensor([1.0, 0, 0, 0, 1.0, 0]))

    def forward(self, x):
        return self.theta(self.features(x)).view(-1, 2, 3)


class STNClassifier(nn.Module):
    def __init__(self, transformer: bool = True, classes: int = 10, out: int = OUT):
        super().__init__()
        self.out = out
        self.loc = Localisation() if transformer else None
        self.cnn = Classifier(classes)

    def warp(self, x):
        """(transformed view (B, 1, out, out), theta (B, 2, 3))."""
        theta = self.loc(x) if self.loc is not None else identity(len(x), x.dtype, x.device)
        return transform(x, theta, (self.out, self.out)), theta

    def forward(self, x):
        v, theta = self.warp(x)
        return self.cnn(v), theta
