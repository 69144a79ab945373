"""Jaderberg, Simonyan, Zisserman, Kavukcuoglu, "Spatial Transformer Networks" (NIPS 2015), section 4.1:
distorted MNIST.

The digits are real MNIST digits, rotated (+-45 degrees), scaled (0.7-1.2), translated on a 42x42
canvas and cluttered with four 6x6 pieces of other digits (reference_impls/stn/data.py, seeded).
An ST-CNN (a localisation net regressing an affine transform, the grid generator and the bilinear
sampler, then a small CNN on the 21x21 transformed view) is trained against the same CNN without the
transformer (the identity transform: the whole canvas at half resolution), the same steps, batches
and seed. Controls, measured here by the same evaluation code: the ST-CNN untrained (its seeded
initialisation), the class prior (majority class), and pixel nearest neighbour among the distorted
training digits.

Then: does the learned transform undo the distortion? The transformed digits are compared with the
undistorted digits (correlation, in the transformer's own canonical frame); the input's alignment
(the identity transform) and the untrained transformer's are the controls. And the sampler's
gradients (eq. 6-7) are checked against finite differences.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

from reference_impls.common import num_threads
from reference_impls.stn import experiment as stn
from reference_impls.stn.sampler import finite_difference_check, identity

N_TRAIN, N_TEST = 4000, 1000
TRAIN = dict(epochs=5, batch=32, lr=1e-3, loc_lr=3e-4)      # 625 Adam steps per arm; the localisation net slower
N_FRAME = 1000            # training digits that fix the transformer's canonical frame


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with num_threads(1):
        yield


@pytest.fixture(scope="module")
def digits(data_root, seed):
    return stn.load(data_root, seed, N_TRAIN, N_TEST)


@pytest.fixture(scope="module")
def nets(digits, seed, cache_dir, device):
    return {"stn": stn.train_model(True, digits, seed=seed, cache_dir=cache_dir, **TRAIN),
            "cnn": stn.train_model(False, digits, seed=seed, cache_dir=cache_dir, **TRAIN),
            "untrained": stn.train_model(True, digits, seed=seed, cache_dir=cache_dir, untrained=True, **TRAIN)}


def test_st_cnn_beats_cnn(claim, digits, nets):
    """Table 1 (RTS, clutter): the ST-CNN's test accuracy against the same CNN without the transformer."""
    train, test = digits["train"], digits["test"]
    acc = {k: stn.accuracy(net, test) for k, net in nets.items()}
    claim("st_cnn_beats_cnn", acc["stn"], than=acc["cnn"],
          controls={"untrained": acc["untrained"], "majority": stn.majority_accuracy(train.y, test.y),
                    "pixel_nn": stn.pixel_nn_accuracy(train, test)},
          test_digits=len(test))


def test_transform_undoes_distortion(claim, digits, nets, artifacts, seed):
    """Section 4.1 / figure 3: the transformer brings the distorted digits to a common pose."""
    test = digits["test"]
    train = digits["train"].subset(N_FRAME)
    out = {}
    for name in ("stn", "untrained"):
        _, th_train, _ = stn.predict(nets[name], train.x)
        _, th_test, views = stn.predict(nets[name], test.x)
        out[name] = stn.alignment(th_train, train, th_test, views, test)
        out[name]["views"] = views
    th_train, _ = stn.identity_views(train.x, 21)
    th_test, views = stn.identity_views(test.x, 21)
    out["input"] = stn.alignment(th_train, train, th_test, views, test)
    s = out["stn"]
    claim("stn_aligns_digits", s["corr"],
          controls={"input": out["input"]["corr"], "untrained": out["untrained"]["corr"]},
          angle_sd=s["angle_sd"], input_angle_sd=out["input"]["angle_sd"], logscale_sd=s["logscale_sd"],
          input_logscale_sd=out["input"]["logscale_sd"])

    n = 10
    fig, axes = plt.subplots(3, n, figsize=(n * 0.9, 3))
    rows = (("input", test.x[:n, 0]), ("ST output", s["views"][:n, 0]), ("undistorted", test.canonical[:n, 0]))
    for r, (label, imgs) in enumerate(rows):
        for c in range(n):
            axes[r, c].imshow(imgs[c], cmap="gray_r", vmin=0, vmax=1)
            axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=7)
    fig.suptitle(f"distorted MNIST: ST-CNN transformed digits (seed {seed})", fontsize=8)
    artifacts.save_figure(fig, "stn_transformed_digits")


def test_sampler_gradient_finite_differences(claim):
    """Eq. 6-7: the bilinear sampler's gradients w.r.t. the input map and the transform parameters,
    against central finite differences (float64, two random transforms of a random 2-channel map)."""
    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for _ in range(2):
        U = torch.randn(1, 2, 7, 9, generator=g, dtype=torch.float64)
        theta = identity(1, torch.float64) + 0.3 * torch.randn(1, 2, 3, generator=g, dtype=torch.float64)
        r = finite_difference_check(U, theta)
        worst = max(worst, r["max_err_theta"] / r["max_grad_theta"], r["max_err_U"] / r["max_grad_U"])
    claim("sampler_gradient_matches_finite_differences", worst)
