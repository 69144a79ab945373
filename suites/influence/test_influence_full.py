"""Full tier: the paper's sizes (GPU recommended; float64 throughout).

- 10-class logistic regression on 55,000 MNIST training images (784 pixels + bias, d = 7,850),
  the 500 training points of largest influence on one test loss removed and retrained (Fig. 2 left);
- the linear SVM on all MNIST 1-vs-7 training images (Fig. 3);
- the CNN on "small MNIST" (5,500 images; Fig. 2 right, R = 0.875 in the authors' notebook).
Data: <data-root>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
A rehearsal (`--tier full --full-steps N`, e.g. on `./repro data fake --layout mnist`): N Newton,
chord and retraining steps (`loo.newton`, `loo.leave_one_out`, `experiments.retrain_sgd`, `fit`),
4 removed points per experiment, and no sha256 check of the MNIST files.
"""
import pytest
import torch

from reference_impls.common import full_steps, rehearsal_items
from reference_impls.influence import MultiLogReg, SmoothHingeSVM
from reference_impls.influence import experiments as ex

pytestmark = pytest.mark.full


def _load(data_root, **kw):
    # a rehearsal may run on the miniature layout, whose bytes are not MNIST's (so not its sha256)
    return ex.load_data(data_root, verify=full_steps() is None, **kw)


def _removed(k: int) -> int:
    return len(rehearsal_items(range(k), 4))     # a rehearsal (--full-steps): 4 removed points


def _to(d, device):
    return {k: v.to(device) if torch.is_tensor(v) and k in ("X", "y", "Xt", "yt") else v for k, v in d.items()}


def test_logreg_55k_500_removed(data_root, claim, seed, device):
    d = _to(_load(data_root, seed=seed, n_train=55000, pool=1), device)
    m = MultiLogReg(d["X"].shape[1], 10, 0.01)
    th = ex.fit_convex(m, d["X"], d["y"], tol=1e-10)
    j = ex.pick_test_point(m.losses(th, d["Xt"], d["yt"]), seed)
    r = ex.loo_experiment(m, th, d["X"], d["y"], d["Xt"][j], d["yt"][j], k=_removed(500))
    claim("logreg_loo_pearson_full", r["R"], test_index=j, n_points=len(r["indices"]))


def test_svm_1v7_smooth_hinge(data_root, claim, seed, device):
    d = _to(_load(data_root, seed=seed, n_train=None, pool=1, binary=True), device)
    X, y, lam = d["X"], d["y"], 0.01
    svm = SmoothHingeSVM(X.shape[1], lam, 1e-4)
    th = ex.fit_convex(svm, X, y, tol=1e-9, path=[SmoothHingeSVM(X.shape[1], lam, t) for t in (1e-2, 1e-3)])
    j = ex.pick_test_point(svm.losses(th, d["Xt"], d["yt"]), seed)
    cache, R = {}, {}
    for t in (0.0, 0.001):
        R[t] = ex.loo_experiment(svm, th, X, y, d["Xt"][j], d["yt"][j], k=_removed(100), tol=1e-9, loo_cache=cache,
                                 predictor=SmoothHingeSVM(X.shape[1], lam, t))["R"]
    claim("svm_hinge_R_full", R[0.0])
    claim("svm_smooth_hinge_R_full", R[0.001])


def test_cnn_small_mnist(data_root, claim, seed, cache_dir, device):
    d = _load(data_root, seed=seed, n_train=5500, pool=1, n_test=10000)
    imgs = d["images"].double()[:, None] / 255
    test = d["test_images"].double()[:, None] / 255
    data = dict(X_img=imgs, y=d["y"], X_test_img=test, y_test=d["yt"], fingerprint=d["fingerprint"])
    r = ex.cnn_experiment(data, seed=seed, cache_dir=cache_dir, device=device, width=8, adam_steps=3000,
                          sgd_steps=2000, retrain_steps=2000, k=_removed(50))
    claim("cnn_loo_pearson_full", r["R"], cg_iters=r["cg_iters"], test_index=r["test_index"],
          n_points=r["n_points"])
