"""Distorted MNIST (Jaderberg et al. 2015, section 4.1), generated from the real digits, seeded.

Each 28x28 digit is placed at the centre of a 42x42 canvas (its canonical pose, kept for the
alignment measure), then rotated by U(-45, 45) degrees, scaled by U(0.7, 1.2) and translated to a
random position that keeps the digit on the canvas (the paper's "RTS"), and cluttered with four 6x6
pieces cut from other random digits (the paper's clutter). The distortion is an affine map M of
normalised canvas coordinates (canonical -> distorted point: q = s R p + t), recorded per image.

    d = distorted_mnist(images_uint8, labels, seed=0)
    d.x (N, 1, 42, 42) float in [0, 1]; d.canonical (N, 1, 42, 42); d.y (N,); d.M (N, 3, 3)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .sampler import homogeneous, transform

CANVAS = 42
MAX_ANGLE = 45.0
SCALE = (0.7, 1.2)
CLUTTER_PIECES = 4
CLUTTER_SIZE = 6
INK_RADIUS = 13 / 21      # the ink of a centred MNIST digit lies within ~13 px of the centre (half-canvas 21 px)


@dataclass
class Distorted:
    x: torch.Tensor            # (N, 1, 42, 42) distorted, cluttered canvases
    canonical: torch.Tensor    # (N, 1, 42, 42) the same digits undistorted, centred, no clutter
    y: torch.Tensor            # (N,) labels
    M: torch.Tensor            # (N, 3, 3) canonical -> distorted normalised coordinates

    def __len__(self):
        return len(self.y)

    def subset(self, n: int) -> "Distorted":
        """The first n digits."""
        return Distorted(self.x[:n], self.canonical[:n], self.y[:n], self.M[:n])


def centred(images: torch.Tensor, canvas: int = CANVAS) -> torch.Tensor:
    """uint8 (N, 28, 28) digits -> float (N, 1, canvas, canvas), the digit at the centre."""
    n, h, w = images.shape
    out = torch.zeros(n, 1, canvas, canvas)
    top, left = (canvas - h) // 2, (canvas - w) // 2
    out[:, 0, top:top + h, left:left + w] = images.float() / 255
    return out


def distortions(n: int, g: torch.Generator) -> torch.Tensor:
    """(n, 3, 3) random rotation-scale-translation maps (canonical -> distorted)."""
    a = (torch.rand(n, generator=g) * 2 - 1) * math.radians(MAX_ANGLE)
    s = SCALE[0] + torch.rand(n, generator=g) * (SCALE[1] - SCALE[0])
    room = (1 - INK_RADIUS * s).clamp(min=0)
    t = (torch.rand(n, 2, generator=g) * 2 - 1) * room[:, None]
    M = torch.zeros(n, 3, 3)
    M[:, 0, 0], M[:, 0, 1], M[:, 1, 0], M[:, 1, 1] = s * a.cos(), -s * a.sin(), s * a.sin(), s * a.cos()
    M[:, :2, 2], M[:, 2, 2] = t, 1
    return M


def distorted_mnist(images: torch.Tensor, labels: torch.Tensor, *, seed: int, clutter_from: torch.Tensor | None = None,
                    batch: int = 1024) -> Distorted:
    """The distorted, cluttered canvases of `images` (uint8 (N, 28, 28)); clutter is cut from
    `clutter_from` (default: the same images), from a digit other than the one it lands on."""
    g = torch.Generator().manual_seed(seed)
    n = len(images)
    canon = centred(images)
    M = distortions(n, g)
    theta = torch.linalg.inv(M)[:, :2]                         # distorted (output) -> canonical (input)
    x = torch.cat([transform(canon[i:i + batch], theta[i:i + batch], (CANVAS, CANVAS)) for i in range(0, n, batch)])
    src = (clutter_from if clutter_from is not None else images).float() / 255
    k, c = CLUTTER_PIECES, CLUTTER_SIZE
    donor = torch.randint(len(src), (n, k), generator=g)
    donor = torch.where(donor == torch.arange(n)[:, None] % len(src), (donor + 1) % len(src), donor)
    sy, sx = torch.randint(4, 28 - c - 4, (2, n, k), generator=g)      # pieces from the digit's inner part
    ty, tx = torch.randint(0, CANVAS - c + 1, (2, n, k), generator=g)
    d = torch.arange(c)
    rows, cols = (sy[..., None, None] + d[:, None]), (sx[..., None, None] + d)             # (n, k, c, c)
    pieces = src[donor[..., None, None], rows, cols]
    where = (ty[..., None, None] + d[:, None]) * CANVAS + tx[..., None, None] + d         # canvas pixel of each
    x = x.reshape(n, -1).scatter_reduce(1, where.reshape(n, -1), pieces.reshape(n, -1), "amax")   # pieces overlay by max
    return Distorted(x=x.reshape(n, 1, CANVAS, CANVAS).clamp(0, 1), canonical=canon, y=labels.clone(), M=M)


def compose_to_canonical(theta: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """C = M^-1 A: the map from a transformer's output coordinates to the canonical digit's
    coordinates (A = theta: output -> distorted input). A transformer that undoes the distortion
    gives the same C for every image."""
    return torch.linalg.inv(M.to(theta.dtype)) @ homogeneous(theta)
