"""Koh & Liang, "Understanding Black-box Predictions via Influence Functions", ICML 2017 — on real MNIST.

§4.1  Influence vs leave-one-out retraining: logistic regression (Fig. 2), the CNN (Fig. 2),
      and the non-differentiable hinge made smooth (Fig. 3, SmoothHinge_t).
§3    Efficient inverse-HVPs: CG and LiSSA agree with the exact inverse, and are cheaper as d grows.
§5.4  Fixing mislabeled examples by self-influence (Fig. 6; the paper used Enron spam, not
      available here: we flip 10% of MNIST labels instead).
Smoke sizes are small subsets (see README.md); the full tier runs the paper's sizes.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

from reference_impls.common import num_threads
from reference_impls.influence import BinaryLogReg, MultiLogReg, SmoothHingeSVM, cg_ihvp, exact_ihvp, hvp
from reference_impls.influence import experiments as ex
from reference_impls.influence import influence as inf
from reference_impls.influence.solvers import lissa_ihvp

LAM_LR = 1e-3       # L2 weight of the 10-class logistic regression (objective: mean loss + λ/2 |θ|²)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with num_threads(1):
        yield


@pytest.fixture(scope="module")
def mnist_lr(data_root, seed):
    """10-class logistic regression on 1,000 MNIST training images (14x14 average-pooled pixels)."""
    d = ex.load_data(data_root, seed=seed, n_train=1000, pool=2, n_test=2000)
    model = MultiLogReg(d["X"].shape[1], 10, LAM_LR)
    d["model"], d["theta"] = model, ex.fit_convex(model, d["X"], d["y"])
    return d


def _scatter(artifacts, name, runs):
    fig, axes = plt.subplots(1, len(runs), figsize=(3.3 * len(runs), 3.2), squeeze=False)
    for ax, (title, r) in zip(axes[0], runs.items()):
        ax.scatter(r["actual"].cpu(), r["predicted"].cpu(), s=10)
        lo = float(min(r["actual"].min(), r["predicted"].min()))
        hi = float(max(r["actual"].max(), r["predicted"].max()))
        ax.plot([lo, hi], [lo, hi], "k:", lw=0.8)
        ax.set_title(f"{title}\nR = {r['R']:.3f}", fontsize=9)
        ax.set_xlabel("actual Δ test loss (LOO)"), ax.set_ylabel("predicted (influence)")
    fig.tight_layout()
    artifacts.save_figure(fig, name)


# ----------------------------------------------------------------------------- §4.1, Fig. 2
def test_logreg_influence_matches_leave_one_out(mnist_lr, claim, seed, artifacts):
    d = mnist_lr
    m, th = d["model"], d["theta"]
    j = ex.pick_test_point(m.losses(th, d["Xt"], d["yt"]), seed)
    r = ex.loo_experiment(m, th, d["X"], d["y"], d["Xt"][j], d["yt"][j], k=40, seed=seed)
    _scatter(artifacts, "logreg_predicted_vs_actual", {"logistic regression, 40 LOO": r})
    # controls on the same 40 points: gradient dot product (H = I) and random scores
    claim("logreg_loo_pearson", r["R"], controls=r["R_controls"], test_index=j)


def test_cg_and_lissa_agree_with_exact(mnist_lr, data_root, claim, seed):
    # CG on double-backprop HVPs of the 10-class model (d = 1,970) against Cholesky.
    d = mnist_lr
    m, th, X, y = d["model"], d["theta"], d["X"], d["y"]
    v = m.grads(th, d["Xt"][:1], d["yt"][:1])[0]
    exact = exact_ihvp(m.hessian(th, X, y), v)
    cg, _ = cg_ihvp(lambda p: hvp(lambda t: m.objective(t, X, y), th, p), v, tol=1e-12)
    claim("cg_matches_exact", float((cg - exact).norm() / exact.norm()))

    # LiSSA on the 1-vs-7 logistic regression (7x7 pooled pixels, d = 50), mini-batches of 100.
    b = ex.load_data(data_root, seed=seed, n_train=1000, pool=4, binary=True)
    lm = BinaryLogReg(b["X"].shape[1], 0.01)
    lth = ex.fit_convex(lm, b["X"], b["y"])
    H = lm.hessian(lth, b["X"], b["y"])
    G = lm.grads(lth, b["X"], b["y"])
    v = lm.grads(lth, b["Xt"][:1], b["yt"][:1])[0]
    scale = float(torch.linalg.eigvalsh(H).max()) * 1.5
    X_, y_ = b["X"], b["y"]
    est = lissa_ihvp(lambda h, idx: hvp(lambda t: lm.objective(t, X_[idx], y_[idx]), lth, h), v, len(X_),
                     scale=scale, depth=1500, repeats=2, batch_size=100,
                     generator=torch.Generator().manual_seed(seed))
    infl_exact = inf.influence_up_loss(G, exact_ihvp(H, v))
    infl_lissa = inf.influence_up_loss(G, est)
    baseline = ex.pearson(inf.influence_up_loss(G, v), infl_exact)   # H = I: plain gradient similarity
    claim("lissa_matches_exact", ex.pearson(infl_lissa, infl_exact), gradient_dot_baseline=baseline,
          rel_err=float((est - exact_ihvp(H, v)).norm() / exact_ihvp(H, v).norm()))


# ----------------------------------------------------------------------------- §4.2, Fig. 3
def test_smooth_hinge_predicts_svm_retraining(data_root, claim, seed, artifacts):
    """A linear SVM on 1 vs 7 trained with the hinge (SmoothHinge_t at t = 1e-4, which is within
    t·log 2 of it everywhere, so Newton can reach a tight optimum); its influence predicted with the
    hinge itself (t = 0: zero Hessian, step gradients) and with smoothed surrogates t = 0.001, 0.1,
    all three scored on ONE shared set of >= 50 training points (the union of each one's top
    points), with a bootstrap interval of R(t = 0.001) - R(t = 0) over those points."""
    d = ex.load_data(data_root, seed=seed, n_train=500, pool=2, binary=True)
    X, y, lam = d["X"], d["y"], 0.01
    svm = SmoothHingeSVM(X.shape[1], lam, 1e-4)
    th = ex.fit_convex(svm, X, y, tol=1e-9, path=[SmoothHingeSVM(X.shape[1], lam, t) for t in (1e-2, 1e-3)])
    j = ex.pick_test_point(svm.losses(th, d["Xt"], d["yt"]), seed)
    predictors = {f"t = {t:g}": SmoothHingeSVM(X.shape[1], lam, t) for t in (0.0, 0.001, 0.1)}
    r = ex.shared_loo_experiment(svm, th, X, y, d["Xt"][j], d["yt"][j], predictors, min_points=50, tol=1e-9,
                                 seed=seed, control_of="t = 0.001", compare=("t = 0.001", "t = 0"))
    _scatter(artifacts, "svm_smooth_hinge", {k: dict(actual=r["actual"], predicted=p, R=r["R"][k])
                                             for k, p in r["predicted"].items()})
    R = r["R"]
    claim("smooth_hinge_beats_hinge", R["t = 0.001"], than=R["t = 0"], controls=r["R_controls"], R_t01=R["t = 0.1"],
          n_points=len(r["indices"]), bootstrap_95=[round(x, 4) for x in r["bootstrap_diff"]], test_index=j)


# ----------------------------------------------------------------------------- CNN
def test_cnn_influence_vs_retraining(data_root, claim, seed, cache_dir, device, artifacts):
    """A CNN with two tanh conv layers on 150 images (14x14 pooled); the test point is one of the
    CNN's own highest-loss test images; 30 removed points, each retrained 50 full-batch SGD steps
    from θ̂ (as the paper's Fig. 2 CNN: retraining from θ̂, not to the leave-one-out optimum)."""
    d = ex.load_data(data_root, seed=seed, n_train=150, pool=2, n_test=1000)
    imgs = torch.nn.functional.avg_pool2d(d["images"].double()[:, None] / 255, 2)
    test = torch.nn.functional.avg_pool2d(d["test_images"].double()[:, None] / 255, 2)
    data = dict(X_img=imgs, y=d["y"], X_test_img=test, y_test=d["yt"], fingerprint=d["fingerprint"])
    r = ex.cnn_experiment(data, seed=seed, cache_dir=cache_dir, device=device, retrain_steps=50, k=30)
    _scatter(artifacts, "cnn_predicted_vs_actual", {f"two-conv CNN, damped CG, {r['n_points']} LOO": r})
    claim("cnn_loo_pearson", r["R"], controls=r["R_controls"], cg_iters=r["cg_iters"], grad_norm=r["grad_norm"],
          test_index=r["test_index"], n_points=r["n_points"])


# ----------------------------------------------------------------------------- §5.4, Fig. 6
def test_self_influence_finds_flipped_labels(mnist_lr, claim, seed, artifacts):
    d = mnist_lr
    r = ex.mislabel_experiment(d["X"], d["y"], lam=LAM_LR, classes=10, flip_fraction=0.1, seed=seed)
    f, found = r["fractions"], r["found"]
    fig, ax = plt.subplots(figsize=(4, 3))
    for name, v in found.items():
        if name in ("random_2", "train_loss_untrained", "self_influence_untrained"):
            continue
        ax.plot([100 * x for x in f], [100 * x for x in v], "o-", label=name)
    ax.set_xlabel("training data checked (%)"), ax.set_ylabel("flipped labels found (%)")
    ax.set_title(f"10% of 1,000 MNIST labels flipped (seed {r['flip_seed']})", fontsize=9)
    ax.legend(fontsize=8)
    artifacts.save_figure(fig, "mislabel_fraction_found")
    # the area between the curves of Fig. 6: the mean margin over the checked fractions 5..30%
    # (a minimum would be <= 0 by construction once both rankings have found every flip)
    mean_margin = lambda a, b: sum(x - y for x, y in zip(found[a], found[b])) / len(f)
    infl_vs_loss = mean_margin("self_influence", "train_loss")
    loss_vs_rand = mean_margin("train_loss", "random")
    # control: the self-influence of the untrained model (θ = 0), against the same training-loss arm
    claim("self_influence_finds_more_flips_than_loss", infl_vs_loss, than=0.0,
          controls={"untrained": mean_margin("self_influence_untrained", "train_loss")}, **{
        f"found_{k}": [round(x, 3) for x in v] for k, v in found.items()}, flip_seed=r["flip_seed"])
    # controls: a second random ranking, and the training loss of the model at its initialisation
    claim("train_loss_finds_more_flips_than_random", loss_vs_rand, than=0.0,
          controls={"random": mean_margin("random_2", "random"),
                    "untrained": mean_margin("train_loss_untrained", "random")})


# ----------------------------------------------------------------------------- §3 cost
def test_cg_cheaper_than_exact_as_dimension_grows(data_root, claim, speed, seed, artifacts):
    sets = {}
    for pool in (4, 2, 1):
        b = ex.load_data(data_root, seed=seed, n_train=1000, pool=pool, binary=True)
        sets[b["X"].shape[1]] = (b["X"], b["y"])
    rows = ex.solver_costs(sets, lam=0.01, compare=speed.compare)
    fig, ax = plt.subplots(figsize=(4, 3))
    for k in ("exact", "cg", "lissa"):
        ax.plot([r["d"] for r in rows], [r[k] for r in rows], "o-", label=k)
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xlabel("parameters d"), ax.set_ylabel("seconds per H⁻¹v"), ax.legend(fontsize=8)
    artifacts.save_figure(fig, "ihvp_cost_vs_dimension")
    big = rows[-1]
    claim("cg_cost_ratio_at_largest_d", big["cg"] / big["exact"], d=big["d"],
          ratios_cg=[round(r["cg"] / r["exact"], 4) for r in rows],
          ratios_lissa=[round(r["lissa"] / r["exact"], 4) for r in rows])
