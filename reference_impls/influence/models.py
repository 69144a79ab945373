"""The models of Koh & Liang's experiments, written as functions of one flat parameter vector θ.

Every model exposes per-example `losses(θ, X, y)`; the training objective is

    L(θ; w) = (1/n) Σ_i w_i ℓ(z_i, θ) + (λ/2) ||θ||²          (w = 1: all points; w_i = 0: point i removed)

which is the objective the influence function linearises: removing z_i is up-weighting it by
ε = -1/n. Convex models (float64) also give analytic per-example gradients and Hessians;
the CNN goes through autograd (`torch.func`).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def smooth_hinge(s: torch.Tensor, t: float) -> torch.Tensor:
    """SmoothHinge_t(s) = t log(1 + exp((1 - s)/t)); t = 0 is the hinge max(0, 1 - s)."""
    if t == 0:
        return torch.relu(1 - s)
    return t * F.softplus((1 - s) / t)


def _smooth_hinge_d1(s, t):
    return -(s < 1).to(s.dtype) if t == 0 else -torch.sigmoid((1 - s) / t)


def _smooth_hinge_d2(s, t):
    if t == 0:
        return torch.zeros_like(s)
    p = torch.sigmoid((1 - s) / t)
    return p * (1 - p) / t


class ConvexModel:
    """Shared code of the convex models; `lam` is the L2 weight λ."""
    lam: float
    dim: int

    def init(self, dtype=torch.float64, device="cpu") -> torch.Tensor:
        return torch.zeros(self.dim, dtype=dtype, device=device)

    def objective(self, theta, X, y, w=None):
        ell = self.losses(theta, X, y)
        n = len(ell)
        data = ell.sum() if w is None else (w * ell).sum()
        return data / n + 0.5 * self.lam * theta.dot(theta)

    def gradient(self, theta, X, y, w=None):
        G = self.grads(theta, X, y)
        w_ = torch.ones(len(G), dtype=G.dtype, device=G.device) if w is None else w
        return w_ @ G / len(G) + self.lam * theta


class MarginModel(ConvexModel):
    """Binary linear models with labels y ∈ {-1, +1}, margin s = y θᵀx and loss h(s)."""

    def __init__(self, dim: int, lam: float):
        self.dim, self.lam = dim, lam

    def margins(self, theta, X, y):
        return y.to(theta.dtype) * (X @ theta)

    def losses(self, theta, X, y):
        return self.h(self.margins(theta, X, y))

    def grads(self, theta, X, y):
        s = self.margins(theta, X, y)
        return (self.dh(s) * y.to(theta.dtype))[:, None] * X

    def gradient(self, theta, X, y, w=None):
        c = self.dh(self.margins(theta, X, y)) * y.to(theta.dtype)
        if w is not None:
            c = c * w
        return c @ X / len(X) + self.lam * theta

    def hessian(self, theta, X, y, w=None):
        c = self.d2h(self.margins(theta, X, y))
        if w is not None:
            c = c * w
        return (X.T * c) @ X / len(X) + self.lam * torch.eye(self.dim, dtype=theta.dtype, device=theta.device)

    def predict(self, theta, X):
        return torch.where(X @ theta >= 0, 1, -1)


class BinaryLogReg(MarginModel):
    """L2-regularised logistic regression, ℓ = log(1 + exp(-y θᵀx))."""

    def h(self, s):
        return F.softplus(-s)

    def dh(self, s):
        return -torch.sigmoid(-s)

    def d2h(self, s):
        p = torch.sigmoid(s)
        return p * (1 - p)


class SmoothHingeSVM(MarginModel):
    """Linear SVM with SmoothHinge_t (t = 0: the hinge, whose Hessian is 0 almost everywhere)."""

    def __init__(self, dim: int, lam: float, t: float):
        super().__init__(dim, lam)
        self.t = t

    def h(self, s):
        return smooth_hinge(s, self.t)

    def dh(self, s):
        return _smooth_hinge_d1(s, self.t)

    def d2h(self, s):
        return _smooth_hinge_d2(s, self.t)


class MultiLogReg(ConvexModel):
    """K-class L2-regularised (softmax) logistic regression; θ = W.flatten(), W of shape (K, d)."""

    def __init__(self, d: int, classes: int, lam: float):
        self.d, self.k, self.lam = d, classes, lam
        self.dim = d * classes

    def logits(self, theta, X):
        return X @ theta.view(self.k, self.d).T

    def losses(self, theta, X, y):
        return F.cross_entropy(self.logits(theta, X), y, reduction="none")

    def grads(self, theta, X, y):
        r = torch.softmax(self.logits(theta, X), 1) - F.one_hot(y, self.k).to(theta.dtype)
        return (r[:, :, None] * X[:, None, :]).reshape(len(X), -1)

    def gradient(self, theta, X, y, w=None):
        r = torch.softmax(self.logits(theta, X), 1) - F.one_hot(y, self.k).to(theta.dtype)
        if w is not None:
            r = r * w[:, None]
        return (r.T @ X).reshape(-1) / len(X) + self.lam * theta

    def hessian(self, theta, X, y, w=None):
        p = torch.softmax(self.logits(theta, X), 1)
        n, k, d = len(X), self.k, self.d
        ww = torch.ones(n, dtype=theta.dtype, device=theta.device) if w is None else w
        H = torch.empty(k, d, k, d, dtype=theta.dtype, device=theta.device)
        for a in range(k):
            for b in range(a, k):
                c = ww * (p[:, a] * (float(a == b) - p[:, b]))
                blk = (X.T * c) @ X / n
                H[a, :, b, :] = blk
                H[b, :, a, :] = blk.T
        return H.reshape(self.dim, self.dim) + self.lam * torch.eye(self.dim, dtype=theta.dtype, device=theta.device)

    def predict(self, theta, X):
        return self.logits(theta, X).argmax(1)


# ----------------------------------------------------------------------------- the CNN
class SmallCNN(nn.Module):
    """A small convolutional net with two tanh conv layers and a linear classifier (the paper used a
    deeper all-conv net on small MNIST; this is its scaled-down cousin, tanh for a smooth Hessian).
    28x28 digits: 5x5 stride 2 (-> 12), 3x3 stride 2 (-> 5); 14x14 (pooled, the smoke tier):
    3x3 stride 1 (-> 12), 3x3 stride 2 (-> 5). Both conv layers are always there, so the loss is
    non-convex in the parameters (products of the two layers' weights through tanh)."""

    def __init__(self, width: int = 8, classes: int = 10, in_size: int = 28):
        super().__init__()
        k1, s1 = (5, 2) if in_size >= 28 else (3, 1)
        self.conv1 = nn.Conv2d(1, width, k1, stride=s1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, stride=2)
        side = (in_size - k1) // s1 + 1
        side = (side - 3) // 2 + 1
        self.fc = nn.Linear(2 * width * side * side, classes)

    def forward(self, x):
        x = torch.tanh(self.conv1(x))
        x = torch.tanh(self.conv2(x))
        return self.fc(x.flatten(1))


class FunctionalNet:
    """An nn.Module seen as a function of one flat θ, with the same interface as the convex
    models (losses, objective, gradient, grads); Hessians come from autograd."""

    def __init__(self, net: nn.Module, lam: float):
        self.net, self.lam = net, lam
        self.names = [n for n, _ in net.named_parameters()]
        self.shapes = [p.shape for _, p in net.named_parameters()]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.dim = sum(self.sizes)

    def flat(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.net.parameters()])

    def unflatten(self, theta):
        return {n: t.view(s) for n, t, s in zip(self.names, theta.split(self.sizes), self.shapes)}

    def load(self, theta):
        with torch.no_grad():
            for p, t in zip(self.net.parameters(), theta.split(self.sizes)):
                p.copy_(t.view(p.shape))
        return self.net

    def logits(self, theta, X):
        return torch.func.functional_call(self.net, self.unflatten(theta), (X,))

    def losses(self, theta, X, y):
        return F.cross_entropy(self.logits(theta, X), y, reduction="none")

    objective = ConvexModel.objective

    def grads(self, theta, X, y):
        def one(th, x, t):
            return F.cross_entropy(self.logits(th, x[None]), t[None])
        return torch.func.vmap(torch.func.grad(one), in_dims=(None, 0, 0))(theta, X, y)

    def gradient(self, theta, X, y, w=None):
        theta = theta.detach().requires_grad_(True)
        return torch.autograd.grad(self.objective(theta, X, y, w), theta)[0]

    def hessian(self, theta, X, y, w=None):
        return torch.func.hessian(lambda th: self.objective(th, X, y, w))(theta)

    def predict(self, theta, X):
        return self.logits(theta, X).argmax(1)
