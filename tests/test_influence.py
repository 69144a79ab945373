"""Influence functions: analytic derivatives vs autograd, the three inverse-HVP solvers, the
smooth hinge, singular Hessians, and influence vs exact leave-one-out on a tiny problem."""
import math

import pytest
import scipy.stats
import torch

from reference_impls.influence import (BinaryLogReg, FunctionalNet, MultiLogReg, SingularHessianError, SmallCNN,
                                       SmoothHingeSVM, cg_ihvp, exact_ihvp, hvp, leave_one_out, lissa_ihvp,
                                       newton, predicted_loss_change_on_removal, self_influence, smooth_hinge)
from reference_impls.influence.experiments import autograd_hessian, pearson

D = torch.float64


def _data(n=60, d=5, classes=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.cat([torch.randn(n, d, generator=g, dtype=D), torch.ones(n, 1, dtype=D)], 1)
    if classes:
        y = torch.randint(0, classes, (n,), generator=g)
    else:
        y = torch.where(torch.randn(n, generator=g, dtype=D) + X[:, 0] > 0, 1, -1)
    return X, y


MODELS = [lambda: (BinaryLogReg(6, 0.1), _data()), lambda: (SmoothHingeSVM(6, 0.1, 0.05), _data()),
          lambda: (MultiLogReg(6, 3, 0.1), _data(classes=3))]


@pytest.mark.parametrize("make", MODELS)
def test_analytic_derivatives_match_autograd(make):
    m, (X, y) = make()
    theta = torch.randn(m.dim, generator=torch.Generator().manual_seed(1), dtype=D) * 0.3
    w = torch.rand(len(X), generator=torch.Generator().manual_seed(2), dtype=D)
    obj = lambda t: m.objective(t, X, y, w)
    assert torch.allclose(m.gradient(theta, X, y, w), torch.func.grad(obj)(theta), atol=1e-12)
    assert torch.allclose(m.hessian(theta, X, y, w), torch.func.hessian(obj)(theta), atol=1e-10)
    per = torch.func.vmap(torch.func.grad(lambda t, x, yy: m.losses(t, x[None], yy[None])[0]),
                          in_dims=(None, 0, 0))(theta, X, y)
    assert torch.allclose(m.grads(theta, X, y), per, atol=1e-12)
    assert torch.allclose(hvp(obj, theta, X[0] if m.dim == 6 else torch.ones(m.dim, dtype=D)),
                          m.hessian(theta, X, y, w) @ (X[0] if m.dim == 6 else torch.ones(m.dim, dtype=D)), atol=1e-10)
    assert torch.allclose(autograd_hessian(obj, theta, chunk=4), m.hessian(theta, X, y, w), atol=1e-10)


def test_smooth_hinge():
    s = torch.linspace(-3, 3, 61, dtype=D)
    hinge = torch.relu(1 - s)
    assert torch.equal(smooth_hinge(s, 0), hinge)
    for t in (0.1, 0.001):
        v = smooth_hinge(s, t)
        assert (v >= hinge - 1e-15).all() and float((v - hinge).max()) <= t * math.log(2) + 1e-15
    assert float(smooth_hinge(torch.tensor(1.0, dtype=D), 0.1)) == pytest.approx(0.1 * math.log(2))
    svm0 = SmoothHingeSVM(6, 0.1, 0.0)
    X, y = _data()
    assert torch.equal(svm0.hessian(torch.zeros(6, dtype=D), X, y), 0.1 * torch.eye(6, dtype=D))   # hinge: H = λI


def test_solvers_agree_on_spd_matrix():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(30, 30, generator=g, dtype=D)
    H = A @ A.T / 30 + 0.5 * torch.eye(30, dtype=D)
    v = torch.randn(30, generator=g, dtype=D)
    x = torch.linalg.solve(H, v)
    assert torch.allclose(exact_ihvp(H, v), x, atol=1e-12)
    xc, it = cg_ihvp(lambda p: H @ p, v, tol=1e-13)
    assert torch.allclose(xc, x, atol=1e-10) and it <= 60
    assert torch.allclose(exact_ihvp(H, v, damping=0.3), torch.linalg.solve(H + 0.3 * torch.eye(30, dtype=D), v), atol=1e-12)
    scale = float(torch.linalg.eigvalsh(H).max()) * 1.1
    xl = lissa_ihvp(lambda h, idx: H @ h, v, 1, scale=scale, depth=3000, generator=g)
    assert float((xl - x).norm() / x.norm()) < 1e-6


def test_singular_hessian_needs_damping():
    X, y = _data(classes=3)
    X = torch.cat([X, torch.zeros(len(X), 1, dtype=D)], 1)      # a pixel that is always 0, and no L2
    m = MultiLogReg(7, 3, 0.0)
    H = m.hessian(torch.zeros(m.dim, dtype=D), X, y)
    with pytest.raises(SingularHessianError, match="damping"):
        exact_ihvp(H, torch.ones(m.dim, dtype=D))
    with pytest.raises(SingularHessianError, match="damping"):
        cg_ihvp(lambda p: H @ p - 1e-3 * p, torch.ones(m.dim, dtype=D))   # indefinite
    exact_ihvp(H, torch.ones(m.dim, dtype=D), damping=1e-3)                # fine with damping


def test_influence_predicts_leave_one_out_on_tiny_problem():
    X, y = _data(n=80)
    m = BinaryLogReg(6, 0.05)
    th = newton(m, X, y)
    xt, yt = X[:1] * 1.5, y[:1]
    s = exact_ihvp(m.hessian(th, X, y), m.grads(th, xt, yt)[0])
    pred = predicted_loss_change_on_removal(m.grads(th, X, y), s, len(X))
    idx = torch.arange(len(X))
    loo = leave_one_out(m, X, y, th, idx)
    actual = torch.stack([m.losses(t, xt, yt)[0] for t in loo]) - m.losses(th, xt, yt)[0]
    assert pearson(pred, actual) > 0.99
    assert float((pred - actual).abs().max()) < 0.25 * float(actual.abs().max())   # first order, n = 80
    # leave_one_out's answer is the minimiser of the weighted objective, found from scratch too
    w = torch.ones(len(X), dtype=D)
    w[5] = 0
    assert torch.allclose(loo[5], newton(m, X, y, None, w), atol=1e-9)


def test_self_influence_definition():
    X, y = _data()
    m = BinaryLogReg(6, 0.1)
    th = newton(m, X, y)
    H, G = m.hessian(th, X, y), m.grads(th, X, y)
    got = self_influence(G, lambda V: exact_ihvp(H, V))
    want = torch.stack([-(g @ torch.linalg.solve(H, g)) for g in G])
    assert torch.allclose(got, want, atol=1e-12) and (got <= 0).all()


def test_pearson_matches_scipy_and_degenerate():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(50, generator=g, dtype=D), torch.randn(50, generator=g, dtype=D)
    assert pearson(a, b) == pytest.approx(scipy.stats.pearsonr(a.numpy(), b.numpy())[0], abs=1e-12)
    assert pearson(a, 2 * a + 1) == pytest.approx(1.0)
    assert math.isnan(pearson(a, torch.ones(50, dtype=D)))


def test_functional_cnn_flat_parameters():
    torch.manual_seed(0)
    net = SmallCNN(2, in_size=14).double()
    fn = FunctionalNet(net, 1e-3)
    X, y = torch.rand(4, 1, 14, 14, dtype=D), torch.tensor([0, 1, 2, 3])
    th = fn.flat()
    assert torch.allclose(fn.logits(th, X), net(X))
    assert torch.allclose(fn.grads(th, X, y).mean(0) + fn.lam * th, fn.gradient(th, X, y), atol=1e-12)
    v = torch.randn(fn.dim, dtype=D)
    assert torch.allclose(hvp(lambda t: fn.objective(t, X, y), th, v), fn.hessian(th, X, y) @ v, atol=1e-10)


def test_control_scores_gradient_dot_is_influence_with_identity_hessian():
    from reference_impls.influence.experiments import control_scores
    g = torch.Generator().manual_seed(0)
    G, gt = torch.randn(7, 3, generator=g, dtype=D), torch.randn(3, generator=g, dtype=D)
    c = control_scores(G, gt, n=7, seed=1)
    torch.testing.assert_close(c["gradient_dot"], predicted_loss_change_on_removal(G, gt, 7))
    torch.testing.assert_close(c["gradient_dot"], (G @ gt) / 7)
    torch.testing.assert_close(c["random"], control_scores(G, gt, n=7, seed=1)["random"])   # seeded
    assert not torch.equal(c["random"], control_scores(G, gt, n=7, seed=2)["random"])


def test_shared_loo_scores_every_predictor_on_one_set():
    """Two predictors of the same model on a tiny problem: one shared set of >= min_points points
    holding each predictor's top point, the exact-Hessian predictor near R = 1, and a bootstrap
    interval of the R difference that contains the point estimate."""
    from reference_impls.influence.experiments import shared_loo_experiment
    X, y = _data(n=80)
    m = BinaryLogReg(6, 0.05)
    th = newton(m, X[:-1], y[:-1], tol=1e-12)
    preds = {"exact": m, "other_lambda": BinaryLogReg(6, 5.0)}
    r = shared_loo_experiment(m, th, X[:-1], y[:-1], X[-1], y[-1], preds, min_points=12, tol=1e-12, seed=0,
                              control_of="exact", compare=("exact", "other_lambda"), bootstrap=200)
    assert len(r["indices"]) >= 12 and len(set(r["indices"].tolist())) == len(r["indices"])
    assert r["R"]["exact"] > 0.99
    assert set(r["R_controls"]) == {"gradient_dot", "random"}
    lo, hi = r["bootstrap_diff"]
    assert lo <= r["R"]["exact"] - r["R"]["other_lambda"] + 1e-9 and lo <= hi


def test_newton_and_leave_one_out_train_nothing_in_the_negative_control_run():
    from reference_impls.common import set_untrained_mode, untrained_mode
    X, y = _data()
    m = BinaryLogReg(6, 0.1)
    before = untrained_mode()
    try:
        set_untrained_mode(True)
        th = newton(m, X, y)
        assert torch.equal(th, m.init())
        loo = leave_one_out(m, X, y, th + 1, torch.tensor([0, 3]))
        assert torch.equal(loo, (th + 1)[None].repeat(2, 1))
    finally:
        set_untrained_mode(before)


def test_retrain_sgd_is_torch_sgd_per_weight_vector():
    """`retrain_sgd` runs plain full-batch SGD per row of W: the same θ as torch.optim.SGD on the
    module with that weighted objective; a zero weight removes the point."""
    from reference_impls.influence.experiments import retrain_sgd
    torch.manual_seed(0)
    net = SmallCNN(2, in_size=14).double()
    fn = FunctionalNet(net, 1e-3)
    X, y = torch.rand(6, 1, 14, 14, dtype=D), torch.tensor([0, 1, 2, 3, 4, 5])
    th0 = fn.flat()
    W = torch.ones(2, 6, dtype=D)
    W[1, 2] = 0
    got = retrain_sgd(fn, th0, X, y, W, steps=5, lr=0.3)
    for r in range(2):
        fn.load(th0)
        opt = torch.optim.SGD(net.parameters(), lr=0.3)
        for _ in range(5):
            opt.zero_grad()
            fn.objective(torch.cat([p.reshape(-1) for p in net.parameters()]), X, y, W[r]).backward()
            opt.step()
        torch.testing.assert_close(got[r], fn.flat(), atol=1e-12, rtol=0)
    assert not torch.allclose(got[0], got[1])


def test_small_cnn_has_two_conv_layers_at_both_sizes():
    for size in (14, 28):
        net = SmallCNN(3, in_size=size)
        assert isinstance(net.conv2, torch.nn.Conv2d)
        assert net(torch.rand(2, 1, size, size)).shape == (2, 10)
