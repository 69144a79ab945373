"""Training and evaluation of the ST-CNN and its controls on distorted MNIST.

    data = load(data_root, seed)                         # train/test Distorted sets + fingerprint
    net = train_model(True, data, seed=..., cache_dir=...)   # ST-CNN (False: the plain CNN)
    acc = accuracy(net, data["test"])
    align = alignment(net, data["train"], data["test"])    # per-image correlation with the canonical pose
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from datasets.mnist import load_mnist, mnist_fingerprint
from reference_impls.common import fit, seed_everything, trained

from . import data as data_module
from . import model as model_module
from . import sampler as sampler_module
from .data import compose_to_canonical, distorted_mnist
from .model import STNClassifier
from .sampler import identity, transform


def load(root, seed: int, n_train: int, n_test: int) -> dict:
    """Distorted training digits (a seeded draw from MNIST train) and test digits (the first
    n_test of MNIST test), distortions and clutter seeded; clutter from training digits only."""
    x, y = load_mnist(root, "train")
    xt, yt = load_mnist(root, "test")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n_train]
    train = distorted_mnist(x[idx], y[idx], seed=seed)
    test = distorted_mnist(xt[:n_test], yt[:n_test], seed=10_000 + seed, clutter_from=x[idx])
    fp = f"{mnist_fingerprint(root)}-distorted-{seed}-{n_train}-{n_test}"
    return {"train": train, "test": test, "fingerprint": fp}


def train_model(transformer: bool, data: dict, *, seed: int, epochs: int, batch: int, lr: float,
                loc_lr: float, cache_dir=None, device="cpu", untrained: bool = False) -> STNClassifier:
    """Adam on cross-entropy; the localisation net at its own (lower) learning rate. The same seed,
    batches and steps for the ST-CNN and the plain CNN."""
    cfg = dict(transformer=transformer, epochs=epochs, batch=batch, lr=lr, loc_lr=loc_lr)

    def build():
        seed_everything(seed)
        cnn_first = STNClassifier(transformer=False)      # the classifier starts the same in both arms
        net = STNClassifier(transformer=transformer)
        net.cnn.load_state_dict(cnn_first.cnn.state_dict())
        return net

    def run(net, resume):
        groups = [{"params": net.cnn.parameters(), "lr": lr}]
        if net.loc is not None:
            groups.append({"params": net.loc.parameters(), "lr": loc_lr})
        opt = torch.optim.Adam(groups)
        tr = data["train"]

        def batches(epoch):
            perm = torch.randperm(len(tr), generator=torch.Generator().manual_seed(seed * 1000 + epoch))
            return [(tr.x[perm[i:i + batch]], tr.y[perm[i:i + batch]]) for i in range(0, len(tr), batch)]

        def step(m, b):
            xb, yb = b
            return F.cross_entropy(m(xb)[0], yb)

        fit(net, step, batches, epochs=epochs, optimizer=opt, device=device, checkpoint=resume, amp=False,
            desc="st-cnn" if transformer else "cnn")

    return trained("stn_cnn" if transformer else "plain_cnn", build, run, config=cfg, seed=seed,
                   data_fingerprint=data["fingerprint"], code=[data_module, model_module, sampler_module],
                   cache_dir=cache_dir, untrained=untrained)


@torch.inference_mode()
def predict(net: STNClassifier, x: torch.Tensor, batch: int = 1000):
    """(predicted labels, theta (N, 2, 3), transformed views (N, 1, 21, 21))."""
    net.eval()
    preds, thetas, views = [], [], []
    for i in range(0, len(x), batch):
        v, theta = net.warp(x[i:i + batch])
        preds.append(net.cnn(v).argmax(1)), thetas.append(theta), views.append(v)
    return torch.cat(preds), torch.cat(thetas), torch.cat(views)


def accuracy(net: STNClassifier, d) -> float:
    return 100 * float((predict(net, d.x)[0] == d.y).float().mean())


def majority_accuracy(train_y: torch.Tensor, test_y: torch.Tensor) -> float:
    """The class prior: always answer the most frequent training class."""
    return 100 * float((test_y == torch.bincount(train_y).argmax()).float().mean())


def pixel_nn_accuracy(train, test, batch: int = 500) -> float:
    """1-nearest neighbour (L2 on the 42x42 canvases) among the distorted training digits."""
    a = train.x.flatten(1)
    hits = 0
    for i in range(0, len(test), batch):
        q = test.x[i:i + batch].flatten(1)
        hits += int((train.y[torch.cdist(q, a).argmin(1)] == test.y[i:i + batch]).sum())
    return 100 * hits / len(test)


def correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each pair of images (N, ...) -> (N,)."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-12)


def alignment(theta_train: torch.Tensor, train, theta_test: torch.Tensor, views_test: torch.Tensor, test) -> dict:
    """Alignment with the canonical pose: the correlation of each transformed test digit (the 21x21
    view the CNN sees) with its own undistorted digit rendered in the transformer's canonical frame.
    That frame is the mean over the TRAINING set of C = M^-1 A (output -> canonical coordinates;
    a transformer may settle on any fixed zoom and position, the paper's point is that it is the
    same for every image). With theta = identity (no transformer) the frame is ~ the canvas
    itself and the measure is the input's own alignment. Returns the mean correlation, the spread
    (std over test images) of the residual rotation angle in degrees and of the residual log scale."""
    frame = compose_to_canonical(theta_train.double(), train.M).mean(0)[:2].float()
    target = transform(test.canonical, frame.expand(len(test), 2, 3), views_test.shape[-2:])
    corr = correlation(views_test, target)
    C = compose_to_canonical(theta_test.double(), test.M)[:, :2, :2]
    angle = torch.rad2deg(torch.atan2(C[:, 1, 0] - C[:, 0, 1], C[:, 0, 0] + C[:, 1, 1]))
    logscale = 0.5 * torch.log(torch.linalg.det(C).abs())
    return {"corr": float(corr.mean()), "corr_per_image": corr, "angle_sd": float(angle.std()),
            "logscale_sd": float(logscale.std())}


def identity_views(x: torch.Tensor, out: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The input as the plain CNN sees it: (theta = identity, the 21x21 view)."""
    theta = identity(len(x))
    return theta, transform(x, theta, (out, out))
