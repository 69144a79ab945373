"""Optimizers on an ill-conditioned quadratic and on a convex logistic regression (CS231n, Neural
Networks Part 3): the update rules are torch.optim's; the problems and the measurements are here."""
from __future__ import annotations

import torch

# f(x) = 1/2 (x1^2 + KAPPA * x2^2): condition number KAPPA, minimum 0 at the origin
KAPPA = 50.0
START = (-10.0, 1.0)


def quadratic(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (x[0] ** 2 + KAPPA * x[1] ** 2)


def run(make_opt, steps: int, start=START, threshold: float | None = None):
    """Minimise the quadratic from `start`; returns (trajectory (steps+1, 2), losses, steps to
    reach `threshold` or None)."""
    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = make_opt([x])
    traj, losses, hit = [x.detach().clone()], [], None
    for t in range(steps):
        opt.zero_grad()
        loss = quadratic(x)
        losses.append(float(loss.detach()))
        if threshold is not None and hit is None and losses[-1] < threshold:
            hit = t
        loss.backward()
        opt.step()
        traj.append(x.detach().clone())
    return torch.stack(traj), losses, hit


OPTIMIZERS = {   # one learning rate for the first-order methods, below 2/KAPPA (SGD's stability limit)
    "sgd": lambda p: torch.optim.SGD(p, lr=0.019),
    "momentum": lambda p: torch.optim.SGD(p, lr=0.019, momentum=0.9),
    "nesterov": lambda p: torch.optim.SGD(p, lr=0.019, momentum=0.9, nesterov=True),
}


def effective_step(opt_name: str, steps: int, lr: float = 0.01, noise: float = 1.0, seed: int = 0,
                   start=(-1.0, 0.1)) -> list[float]:
    """AdaGrad / RMSProp on the quadratic with stochastic gradients (N(0, noise^2) added, as a
    minibatch gradient would be): the per-step effective learning rate lr / (sqrt(cache) + eps) on
    the steep coordinate, read from the optimizer's state after every step."""
    g = torch.Generator().manual_seed(seed)
    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    if opt_name == "adagrad":
        opt = torch.optim.Adagrad([x], lr=lr, eps=1e-10)
        key = "sum"
    else:
        opt = torch.optim.RMSprop([x], lr=lr, alpha=0.99, eps=1e-8)
        key = "square_avg"
    out = []
    for _ in range(steps):
        opt.zero_grad()
        quadratic(x).backward()
        x.grad += noise * torch.randn(2, generator=g, dtype=torch.float64)
        opt.step()
        out.append(float(lr / (opt.state[x][key][1].sqrt() + 1e-8)))
    return out


def logreg_loss(w: torch.Tensor, X: torch.Tensor, y: torch.Tensor, lam: float) -> torch.Tensor:
    """Mean logistic loss of labels y in {-1, +1} plus lam/2 |w|^2 (a strictly convex problem)."""
    return torch.nn.functional.softplus(-y * (X @ w)).mean() + 0.5 * lam * (w * w).sum()


def lbfgs_vs_sgd(X: torch.Tensor, y: torch.Tensor, evals: int = 60, lam: float = 1e-3, sgd_lr: float = 0.5):
    """Full-batch L-BFGS and full-batch SGD, each allowed `evals` function+gradient evaluations;
    returns (final loss L-BFGS, final loss SGD)."""
    X, y = X.double(), y.double()
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=1.0, max_iter=evals, max_eval=evals, history_size=10,
                            line_search_fn="strong_wolfe", tolerance_grad=0, tolerance_change=0)

    def closure():
        opt.zero_grad()
        loss = logreg_loss(w, X, y, lam)
        loss.backward()
        return loss
    opt.step(closure)
    lbfgs = float(logreg_loss(w.detach(), X, y, lam))
    v = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    sgd = torch.optim.SGD([v], lr=sgd_lr)
    for _ in range(evals):
        sgd.zero_grad()
        logreg_loss(v, X, y, lam).backward()
        sgd.step()
    return lbfgs, float(logreg_loss(v.detach(), X, y, lam))
