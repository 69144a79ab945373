"""Inverse-Hessian-vector products H⁻¹v, three ways (Koh & Liang §3):

- `exact_ihvp`: Cholesky of the explicit Hessian (small models);
- `cg_ihvp`: conjugate gradient on Hessian-vector products from double backprop (`hvp`);
- `lissa_ihvp`: LiSSA (Agarwal et al. 2016): the recursion
      h_0 = v,  h_j = v + (1 - damping) h_{j-1} - (H_batch h_{j-1}) / scale
  unrolled `depth` times on random mini-batches, result h_depth / scale, averaged over `repeats`.
All of them solve (H + damping I) x = v (LiSSA's damping shrinks the recursion the same way).
"""
from __future__ import annotations

from typing import Callable

import torch


class SingularHessianError(ArithmeticError):
    """The (damped) Hessian is singular or not positive definite: add damping (or L2)."""


def hvp(objective: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """H v by double backprop: ∇_θ (∇_θ L(θ) · v)."""
    theta = theta.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(objective(theta), theta, create_graph=True)
    (hv,) = torch.autograd.grad(g @ v, theta)
    return hv


def cholesky(H: torch.Tensor, damping: float = 0.0, rcond: float = 1e-12) -> torch.Tensor:
    """Lower Cholesky factor of H + damping I; SingularHessianError when it is (numerically) singular."""
    A = H + damping * torch.eye(len(H), dtype=H.dtype, device=H.device) if damping else H
    L, info = torch.linalg.cholesky_ex(A)
    if int(info) != 0:
        raise SingularHessianError(
            f"Hessian ({len(H)}x{len(H)}, damping {damping}) is not positive definite (Cholesky fails at "
            f"column {int(info)}); add damping or L2 regularisation")
    d = torch.diagonal(L) ** 2
    if float(d.min()) <= rcond * float(d.max()):
        raise SingularHessianError(
            f"Hessian ({len(H)}x{len(H)}, damping {damping}) is singular to working precision "
            f"(pivot ratio {float(d.min() / d.max()):.2e}); add damping or L2 regularisation")
    return L


def exact_ihvp(H: torch.Tensor, v: torch.Tensor, damping: float = 0.0, L: torch.Tensor | None = None) -> torch.Tensor:
    """(H + damping I)⁻¹ v; v may be a vector or a matrix of column vectors."""
    L = cholesky(H, damping) if L is None else L
    col = v.ndim == 1
    x = torch.cholesky_solve(v[:, None] if col else v, L)
    return x[:, 0] if col else x


def cg_ihvp(hvp_fn: Callable[[torch.Tensor], torch.Tensor], v: torch.Tensor, *, damping: float = 0.0,
            tol: float = 1e-10, maxiter: int | None = None) -> tuple[torch.Tensor, int]:
    """Conjugate gradient for (H + damping I) x = v using only H·p products. Stops when
    ||r|| <= tol ||v||; returns (x, iterations). Negative curvature -> SingularHessianError."""
    maxiter = maxiter or 10 * len(v)
    x = torch.zeros_like(v)
    r = v.clone()
    p = r.clone()
    rr = r @ r
    stop = tol * float(v.norm())
    for it in range(1, maxiter + 1):
        Ap = hvp_fn(p) + damping * p
        pAp = p @ Ap
        if float(pAp) <= 0:
            raise SingularHessianError(f"CG met non-positive curvature pᵀHp = {float(pAp):.3e} at iteration {it}; "
                                       f"the Hessian is not positive definite: add damping")
        alpha = rr / pAp
        x += alpha * p
        r -= alpha * Ap
        rr_new = r @ r
        if float(rr_new) ** 0.5 <= stop:
            return x, it
        p = r + (rr_new / rr) * p
        rr = rr_new
    raise ArithmeticError(f"CG did not reach tol {tol} in {maxiter} iterations (residual "
                          f"{float(rr) ** 0.5 / float(v.norm()):.2e}); the Hessian may be ill-conditioned")


def lissa_ihvp(batch_hvp: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], v: torch.Tensor, n: int, *,
               scale: float, damping: float = 0.0, depth: int = 1000, repeats: int = 1, batch_size: int = 1,
               generator: torch.Generator) -> torch.Tensor:
    """LiSSA estimate of (H + damping·scale I)⁻¹ v. `batch_hvp(vec, idx)` is the Hessian of the
    objective on the training points `idx` (data term averaged over them, plus the regulariser)
    times vec. `scale` must exceed H's largest eigenvalue for the recursion to converge."""
    est = torch.zeros_like(v)
    for _ in range(repeats):
        h = v.clone()
        for _ in range(depth):
            idx = torch.randint(0, n, (batch_size,), generator=generator)
            h = v + (1 - damping) * h - batch_hvp(h, idx) / scale
        est += h / scale
    return est / repeats
