"""Koh & Liang's experiments at a size a CPU runs in seconds (and, with bigger configs, the
paper's sizes). Each function returns plain numbers and tensors; the suite asserts the claims.

- `loo_experiment`: predicted (influence) vs actual (leave-one-out retraining) change in one
  test point's loss, on the k training points of largest predicted influence (Fig. 2), with the
  controls (gradient dot product, i.e. H = I, and random scores) on the same points.
- `shared_loo_experiment`: several predictors (hinge vs smooth hinge, Fig. 3) on one shared set.
- `mislabel_experiment`: flip labels, rank training points by self-influence / training loss /
  at random, and count the flips found when checking the top fraction (Fig. 6, §5.4).
- `cnn_experiment`: the same as `loo_experiment` for a small CNN, damped CG, fixed-step retraining.
- `solver_costs`: wall time of exact / CG / LiSSA inverse-HVPs as the dimension grows.
"""
from __future__ import annotations

import sys

import torch
import torch.nn.functional as F

from datasets.mnist import binary_subset, flip_labels, load_mnist, mnist_fingerprint
from reference_impls.common import fit, full_steps, trained, untrained_mode

from . import influence as inf
from . import models as models_module
from .loo import leave_one_out, newton
from .models import BinaryLogReg, FunctionalNet, MultiLogReg, SmallCNN
from .solvers import SingularHessianError, cg_ihvp, cholesky, exact_ihvp, hvp, lissa_ihvp


# ----------------------------------------------------------------------------- data
def features(images: torch.Tensor, pool: int = 1) -> torch.Tensor:
    """Pixels in [0, 1] (average-pooled by `pool`), flattened, with a constant 1 for the bias."""
    x = images.to(torch.float64)[:, None] / 255
    if pool > 1:
        x = F.avg_pool2d(x, pool)
    x = x.flatten(1)
    return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)


def load_data(root, *, seed: int, n_train: int | None, pool: int = 1, binary: bool = False, n_test: int | None = None,
              verify: bool = True):
    """A seeded subset of MNIST train (n_train points; None = all) and the test set as features.
    `verify=False` skips the sha256 check of the files (`load_mnist`), e.g. for a rehearsal on the
    miniature layout (`./repro data fake --layout mnist`), whose bytes are not MNIST's."""
    xi, yi = load_mnist(root, "train", verify=verify)
    xt, yt = load_mnist(root, "test", verify=verify)
    if binary:
        xi, yi = binary_subset(xi, yi)
        xt, yt = binary_subset(xt, yt)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(xi), generator=g)[:n_train] if n_train else torch.arange(len(xi))
    xt, yt = (xt[:n_test], yt[:n_test]) if n_test else (xt, yt)
    return dict(X=features(xi[idx], pool), y=yi[idx], Xt=features(xt, pool), yt=yt,
                images=xi[idx], test_images=xt, fingerprint=mnist_fingerprint(root), seed=seed)


def pick_test_point(losses: torch.Tensor, seed: int, among: int = 20) -> int:
    """One of the `among` highest-loss test points, chosen with `seed` (the paper inspects
    wrongly classified / high-loss test images, whose loss the training set moves the most); all of
    them when there are fewer (a miniature test set)."""
    g = torch.Generator().manual_seed(seed + 1)
    return int(losses.argsort(descending=True)[int(torch.randint(0, min(among, len(losses)), (1,), generator=g))])


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.double(), b.double()]))[0, 1])


# ----------------------------------------------------------------------------- convex models
def fit_convex(model, X, y, *, tol: float = 1e-10, path=()):
    """θ̂ by Newton; `path` = models to solve first (a continuation, e.g. larger smoothing t)."""
    theta = None
    for m in path:
        theta = newton(m, X, y, theta, tol=tol)
    return newton(model, X, y, theta, tol=tol)


def control_scores(train_grads: torch.Tensor, g_test: torch.Tensor, n: int, seed: int) -> dict:
    """The trivial predictors of the loss change that influence must beat, for every training
    point: the gradient dot product (influence with H = I: s_test = ∇L_test) and seeded random
    scores (chance)."""
    g = torch.Generator().manual_seed(seed + 3)
    return {"gradient_dot": inf.predicted_loss_change_on_removal(train_grads, g_test, n).detach(),
            "random": torch.randn(len(train_grads), generator=g, dtype=torch.float64).to(train_grads.device)}


def loo_experiment(model, theta, X, y, x_test, y_test, *, k: int, predictor=None, tol: float = 1e-10,
                   loo_cache: dict | None = None, seed: int = 0):
    """Predicted vs actual change of the test loss when removing each of the k training points
    of largest |predicted change|. `predictor` (default `model`) is the model whose gradients
    and Hessian give the influence (e.g. a smooth hinge standing in for the hinge). Also the
    Pearson R of the controls (`control_scores`) against the same actual changes, on the same points."""
    pm = predictor or model
    n = len(X)
    g_test = pm.grads(theta, x_test[None], y_test[None])[0]
    L = cholesky(pm.hessian(theta, X, y))      # also the chord factor of the retraining when pm is the model
    s_test = exact_ihvp(None, g_test, L=L)
    G = pm.grads(theta, X, y)
    pred = inf.predicted_loss_change_on_removal(G, s_test, n)
    top = pred.abs().argsort(descending=True)[:k]
    actual = _loo_actual(model, theta, X, y, x_test, y_test, top, tol, loo_cache, L_hat=L if pm is model else None)
    controls = {name: pearson(c[top], actual) for name, c in control_scores(G, g_test, n, seed).items()}
    return dict(indices=top, predicted=pred[top], actual=actual, R=pearson(pred[top], actual), R_controls=controls)


def _loo_actual(model, theta, X, y, x_test, y_test, indices, tol, loo_cache=None, L_hat=None):
    """L(z_test, θ̂_{-i}) - L(z_test, θ̂) for each i in `indices` (LOO minimisers cached by i);
    `L_hat`: the Cholesky factor of the model's Hessian at θ̂, if already computed."""
    cache = {} if loo_cache is None else loo_cache
    todo = torch.tensor([i for i in indices.tolist() if i not in cache], dtype=torch.long)
    if len(todo):
        for i, th in zip(todo.tolist(), leave_one_out(model, X, y, theta, todo, tol=tol, L_hat=L_hat)):
            cache[i] = th
    base = model.losses(theta, x_test[None], y_test[None])[0]
    return torch.stack([model.losses(cache[i], x_test[None], y_test[None])[0] for i in indices.tolist()]) - base


def shared_loo_experiment(model, theta, X, y, x_test, y_test, predictors: dict, *, min_points: int = 50,
                          tol: float = 1e-10, seed: int = 0, control_of: str | None = None,
                          bootstrap: int = 2000, compare: tuple[str, str] | None = None):
    """Several predictors of the loss change (e.g. the hinge and its smoothed surrogates) scored on
    ONE shared set of training points: the union of every predictor's top-m by |predicted change|,
    with m the smallest giving at least `min_points` points. Returns per predictor its Pearson R
    with the actual (leave-one-out) changes on that set, the controls' R (`control_scores`, with
    the gradients of predictor `control_of`), and for `compare = (a, b)` a percentile bootstrap
    interval (over the shared points, seeded) of R_a - R_b."""
    n = len(X)
    preds, grads = {}, {}
    for name, pm in predictors.items():
        g_test = pm.grads(theta, x_test[None], y_test[None])[0]
        grads[name] = (pm.grads(theta, X, y), g_test)
        preds[name] = inf.predicted_loss_change_on_removal(grads[name][0], exact_ihvp(pm.hessian(theta, X, y), g_test), n)
    order = {name: p.abs().argsort(descending=True).tolist() for name, p in preds.items()}
    chosen: list[int] = []
    for m in range(1, n + 1):
        for name in preds:
            i = order[name][m - 1]
            if i not in chosen:
                chosen.append(i)
        if len(chosen) >= min(min_points, n):
            break
    idx = torch.tensor(chosen, dtype=torch.long)
    actual = _loo_actual(model, theta, X, y, x_test, y_test, idx, tol)
    out = dict(indices=idx, actual=actual, predicted={k: p[idx] for k, p in preds.items()},
               R={k: pearson(p[idx], actual) for k, p in preds.items()}, per_predictor_top=m)
    if control_of is not None:
        G, g_test = grads[control_of]
        out["R_controls"] = {name: pearson(c[idx], actual) for name, c in control_scores(G, g_test, n, seed).items()}
    if compare is not None:
        a, b = compare
        g = torch.Generator().manual_seed(seed + 4)
        diffs = []
        for _ in range(bootstrap):
            r = torch.randint(0, len(idx), (len(idx),), generator=g)
            diffs.append(pearson(preds[a][idx][r], actual[r]) - pearson(preds[b][idx][r], actual[r]))
        d = torch.tensor(diffs, dtype=torch.float64)
        d = d[~d.isnan()]
        out["bootstrap_diff"] = (float(d.quantile(0.025)), float(d.quantile(0.975))) if len(d) else (float("nan"),) * 2
    return out


def mislabel_experiment(X, y, *, lam: float, classes: int, flip_fraction: float, seed: int,
                        fractions=(0.05, 0.1, 0.15, 0.2, 0.25, 0.3)):
    """Fraction of flipped labels found by checking the top `fractions` of the training set
    ranked by self-influence magnitude, by training loss, and at random (seeded)."""
    flip = flip_labels(y, flip_fraction, num_classes=classes, seed=seed)
    model = MultiLogReg(X.shape[1], classes, lam)
    theta = fit_convex(model, X, flip.labels)
    L = cholesky(model.hessian(theta, X, flip.labels))
    G = model.grads(theta, X, flip.labels)
    rand = torch.Generator().manual_seed(seed + 2)
    theta0 = model.init(X.dtype, X.device)   # the untrained model (what the negative-control run has)
    scores = {
        "self_influence": inf.self_influence(G, lambda V: exact_ihvp(None, V, L=L)).abs(),
        "train_loss": model.losses(theta, X, flip.labels),
        "random": torch.rand(len(X), generator=rand, dtype=torch.float64),
        # controls: a second, independent random ranking (chance), and the training loss and the
        # self-influence of the model at its initialisation (what the negative-control run ranks by)
        "random_2": torch.rand(len(X), generator=rand, dtype=torch.float64),
        "train_loss_untrained": model.losses(theta0, X, flip.labels),
        "self_influence_untrained": inf.self_influence(
            model.grads(theta0, X, flip.labels),
            lambda V: exact_ihvp(None, V, L=cholesky(model.hessian(theta0, X, flip.labels)))).abs(),
    }
    is_flip = torch.zeros(len(X), dtype=torch.bool)
    is_flip[flip.flipped] = True
    found = {}
    for name, s in scores.items():
        order = s.argsort(descending=True, stable=True)
        found[name] = [float(is_flip[order[: round(f * len(X))]].sum()) / len(flip.flipped) for f in fractions]
    return dict(fractions=list(fractions), found=found, flip_seed=flip.seed, n_flipped=len(flip.flipped))


# ----------------------------------------------------------------------------- CNN
def _cnn_step(fn: FunctionalNet, X, y, w):
    def step(model, _batch):
        ell = F.cross_entropy(model(X), y, reduction="none")
        return (w * ell).mean() + 0.5 * fn.lam * sum((p ** 2).sum() for p in model.parameters())
    return step


def retrain_sgd(fn: FunctionalNet, theta: torch.Tensor, X, y, W: torch.Tensor, *, steps: int, lr: float) -> torch.Tensor:
    """Plain full-batch SGD (θ <- θ - lr ∇L(θ; w), torch.optim.SGD's arithmetic) from θ, `steps`
    steps for every weight vector (row of W); returns the final θ per row. In the negative-control
    run it trains nothing (every row stays at θ); in a rehearsal (`full_steps()` = N, `--full-steps N`)
    it runs at most N steps per row, as `fit` does."""
    thetas = theta.detach().repeat(len(W), 1)
    if untrained_mode():
        return thetas
    if full_steps() is not None:
        steps = min(steps, full_steps())
    grad = torch.func.grad(lambda th, w: fn.objective(th, X, y, w))
    with torch.no_grad():
        for r in range(len(W)):
            th = thetas[r]
            for _ in range(steps):
                th = th - lr * grad(th, W[r])
            thetas[r] = th
    return thetas


def cnn_experiment(data, *, seed: int, cache_dir=None, width: int = 4, lam: float = 1e-3, adam_steps: int = 300,
                   sgd_steps: int = 200, lr: float = 0.2, retrain_steps: int = 100, k: int = 30,
                   damping: float = 0.01, device="cpu"):
    """Influence (damped CG on double-backprop HVPs) vs fixed-step leave-one-out retraining of a
    small two-conv-layer CNN: θ̂ is trained (Adam, then full-batch SGD); the test point is one of
    the CNN's own highest-loss test images (`pick_test_point`); then for the full set and for each
    of the k removed points of largest |predicted change| we run `retrain_steps` further full-batch
    SGD steps from θ̂; the actual change is the difference of the two test losses (the control run
    removes the drift of retraining). `data`: X_img (n,1,h,w), y, X_test_img, y_test, fingerprint."""
    X = data["X_img"].to(device)
    y = data["y"].to(device)
    cfg = dict(width=width, lam=lam, adam_steps=adam_steps, sgd_steps=sgd_steps, lr=lr, n=len(X), convs=2)
    w_all = torch.ones(len(X), dtype=torch.float64, device=device)

    def build():
        torch.manual_seed(seed)
        return SmallCNN(width, in_size=X.shape[-1]).double()

    def train(net, resume):
        f = FunctionalNet(net, lam)
        fit(net, _cnn_step(f, X, y, w_all), [None] * adam_steps, epochs=1, device=device, desc="cnn adam",
            optimizer=torch.optim.Adam(net.parameters(), lr=1e-2))
        fit(net, _cnn_step(f, X, y, w_all), [None] * sgd_steps, epochs=1, device=device, desc="cnn sgd",
            optimizer=torch.optim.SGD(net.parameters(), lr=lr))

    net = trained("influence_cnn", build, train, config=cfg, seed=seed, data_fingerprint=data["fingerprint"],
                  code=[sys.modules[__name__], models_module],
                  cache_dir=cache_dir).to(device)
    fn = FunctionalNet(net, lam)
    theta = fn.flat()
    with torch.no_grad():
        j = pick_test_point(fn.losses(theta, data["X_test_img"].to(device), data["y_test"].to(device)).cpu(), seed)
    x_t, y_t = data["X_test_img"][j].to(device), data["y_test"][j].to(device)
    g_test = fn.grads(theta, x_t[None], y_t[None])[0]
    try:
        s_test, iters = cg_ihvp(lambda v: hvp(lambda t: fn.objective(t, X, y), theta, v), g_test,
                                damping=damping, tol=1e-8)
    except SingularHessianError:   # not at a minimum (e.g. the untrained net): influence is undefined
        s_test, iters = torch.full_like(g_test, float("nan")), -1
    G = fn.grads(theta, X, y)
    pred = inf.predicted_loss_change_on_removal(G, s_test, len(X))
    top = pred.abs().argsort(descending=True)[:k]

    W = w_all.repeat(len(top) + 1, 1)               # row 0: every point (the control run)
    W[torch.arange(1, len(top) + 1, device=device), top] = 0
    thetas = retrain_sgd(fn, theta, X, y, W, steps=retrain_steps, lr=lr)
    after = torch.stack([fn.losses(t, x_t[None], y_t[None])[0] for t in thetas]).detach()
    actual = after[1:] - after[0]
    controls = {name: pearson(c[top], actual) for name, c in control_scores(G, g_test, len(X), seed).items()}
    return dict(predicted=pred[top].detach(), actual=actual, R=pearson(pred[top].detach(), actual), cg_iters=iters,
                grad_norm=float(fn.gradient(theta, X, y).norm()), R_controls=controls, test_index=j,
                n_points=len(top))


# ----------------------------------------------------------------------------- solver cost
def autograd_hessian(objective, theta, chunk: int = 64) -> torch.Tensor:
    """The explicit Hessian from p HVPs (torch.func.jacrev of the gradient, `chunk` at a time)."""
    return torch.func.jacrev(torch.func.grad(objective), chunk_size=chunk)(theta)


def solver_costs(datasets: dict, *, lam: float, compare, repeats: int = 3, lissa_depth: int = 200):
    """Per dimension d: seconds for H⁻¹v by the explicit autograd Hessian + Cholesky, by CG
    (to 1e-8), and by a LiSSA run of fixed depth (batch 100): the median of `repeats` interleaved
    rounds timed by `compare` (the suites pass `speed.compare`, pytest-benchmark statistics)."""
    rows = []
    for X, y in datasets.values():
        m = BinaryLogReg(X.shape[1], lam)
        theta = fit_convex(m, X, y, tol=1e-9)
        obj = lambda t: m.objective(t, X, y)
        v = m.grads(theta, X[:1], y[:1])[0]
        scale = float(torch.linalg.matrix_norm(X, 2) ** 2 / len(X)) * 0.25 + lam
        g = torch.Generator().manual_seed(0)
        batch_hvp = lambda h, idx: hvp(lambda t: m.objective(t, X[idx], y[idx]), theta, h)
        t = compare({"exact": lambda: exact_ihvp(autograd_hessian(obj, theta), v),
                     "cg": lambda: cg_ihvp(lambda p: hvp(obj, theta, p), v, tol=1e-8),
                     "lissa": lambda: lissa_ihvp(batch_hvp, v, len(X), scale=scale, depth=lissa_depth,
                                                 batch_size=100, generator=g)}, rounds=repeats, warmup=0)
        rows.append(dict(d=X.shape[1], exact=t.median("exact"), cg=t.median("cg"), lissa=t.median("lissa")))
    return rows
