"""Ground truth: fit convex models to a tight tolerance, and leave-one-out retraining.

Convex models are solved by damped Newton (backtracking line search) in float64 until
||∇L||_∞ <= tol. Leave-one-out runs are warm-started at θ̂ and iterate with the Hessian
factor of θ̂ held fixed (the chord / simplified-Newton method), checking the *true* gradient of
the leave-one-out objective each step; if that stalls, they fall back to full Newton. Either
way the stopping test is the exact gradient, so the answer is the LOO minimiser to `tol`.
The CNN is retrained from θ̂ for a fixed number of full-batch steps (`experiments.cnn_experiment`,
through `common.fit`).

Both are training paths outside `common.trained`/`fit`: in the negative-control run
(`common.untrained_mode()`) they train nothing -- `newton` returns its starting point (the model's
initialisation, θ = 0) and `leave_one_out` returns θ̂ for every removed point. In a rehearsal
(`common.full_steps()` = N, from `pytest --tier full --full-steps N`) they follow `fit`'s cut: at most
N Newton steps and N chord steps per removed point, no full-Newton fallback and no convergence check
(at d = 7,850 each step is a Cholesky of seconds; the path runs, the numbers mean nothing).
"""
from __future__ import annotations

import torch

from reference_impls.common import full_steps, untrained_mode

from .solvers import cholesky, exact_ihvp


def newton(model, X, y, theta0=None, w=None, *, tol: float = 1e-10, maxiter: int = 300) -> torch.Tensor:
    theta = model.init(X.dtype, X.device) if theta0 is None else theta0.clone()
    if untrained_mode():   # the negative-control run: no training
        return theta
    rehearsal = full_steps() is not None
    if rehearsal:          # a rehearsal (--full-steps N): N steps, unconverged
        maxiter = min(maxiter, full_steps())
    f = model.objective(theta, X, y, w)
    for _ in range(maxiter):
        g = model.gradient(theta, X, y, w)
        if float(g.abs().max()) <= tol:
            return theta
        step = exact_ihvp(model.hessian(theta, X, y, w), g)
        a, gnorm = 1.0, g.norm()
        while True:   # Armijo, or (near the optimum, where f is flat to rounding) a smaller gradient
            cand = theta - a * step
            fc = model.objective(cand, X, y, w)
            if fc <= f - 1e-4 * a * (g @ step) or a < 1e-8:
                break
            if fc <= f + 1e-15 * abs(f) and model.gradient(cand, X, y, w).norm() < 0.9 * gnorm:
                break
            a *= 0.5
        theta, f = cand, fc
    if rehearsal:
        return theta
    g = model.gradient(theta, X, y, w)
    if float(g.abs().max()) > tol:
        raise ArithmeticError(f"Newton did not converge: ||grad||_inf = {float(g.abs().max()):.2e} > {tol}")
    return theta


def leave_one_out(model, X, y, theta_hat, indices, *, tol: float = 1e-10, chord_iters: int = 30,
                  L_hat: torch.Tensor | None = None) -> torch.Tensor:
    """θ̂_{-i} for each i in `indices` (rows of the returned matrix); θ̂ itself for every i in the
    negative-control run (no retraining)."""
    if untrained_mode():
        return theta_hat[None].repeat(len(indices), 1)
    L_hat = cholesky(model.hessian(theta_hat, X, y)) if L_hat is None else L_hat
    rehearsal = full_steps() is not None
    if rehearsal:          # a rehearsal (--full-steps N): N chord steps, no Newton fallback
        chord_iters = min(chord_iters, full_steps())
    out = []
    for i in indices.tolist():
        w = torch.ones(len(X), dtype=X.dtype, device=X.device)
        w[i] = 0
        theta = theta_hat.clone()
        for _ in range(chord_iters):
            g = model.gradient(theta, X, y, w)
            if float(g.abs().max()) <= tol:
                break
            theta = theta - exact_ihvp(None, g, L=L_hat)
        else:
            if not rehearsal:
                theta = newton(model, X, y, theta, w, tol=tol)
        out.append(theta)
    return torch.stack(out)
