"""The visualization lecture on a small CNN trained on the synthetic one-object scenes
(datasets.wsol_proxy, whose object masks are the ground truth a map should concentrate on):

* maps for the true class: gradient saliency (Simonyan et al. 2014, `reference_impls.cam.maps`),
  guided backprop (Springenberg et al. 2015), Grad-CAM (`reference_impls.cam.maps`), occlusion
  sensitivity (Zeiler & Fergus 2014); the map-free controls: a random map, the position prior
  (the mean object mask of the training scenes) and an edge detector (Sobel magnitude);
* `mass_inside`: the fraction of a map's mass inside the object's mask;
* cascading randomisation (Adebayo et al. 2018): re-draw the weights from the top layer down and
  measure the rank correlation of each method's map with the trained model's;
* feature inversion (Mahendran & Vedaldi 2015) and Gram-matrix style statistics (Gatys et al. 2016)
  by gradient descent on the input.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import datasets.wsol_proxy as proxy_data
from datasets.synthetic import make_scene
from reference_impls.cam import maps as cam_maps
from reference_impls.common import fit, seed_everything, trained


# ----------------------------------------------------------------------------- data
def scene_masks(n: int, seed: int, split: str) -> torch.Tensor:
    """(n, S, S) bool object masks of `wsol_proxy(n, seed, split)` (the same scenes, re-rendered)."""
    stream = {"train": 0, "test": 1}[split]
    return torch.from_numpy(np.stack([make_scene(np.random.default_rng([seed, stream, i]), proxy_data.CONFIG).semantic > 0
                                      for i in range(n)]))


def scenes(n_train: int, n_test: int, seed: int, n_masks: int) -> dict:
    """Training images and labels; test images, labels and the masks of the first `n_masks` test scenes;
    the position prior (mean mask of the first `n_masks` training scenes)."""
    tr, te = proxy_data.wsol_proxy(n_train, seed, "train"), proxy_data.wsol_proxy(n_test, seed, "test")
    return {"train": proxy_data.train_view(tr), "test": {"images": te["images"], "labels": te["labels"]},
            "masks": scene_masks(n_masks, seed, "test"),
            "prior": scene_masks(n_masks, seed, "train").float().mean(0),
            "fingerprint": f"wsol_proxy-{seed}-{n_train}"}


def augment(x: torch.Tensor, g: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random horizontal flips and random crops (pad `pad` with the background value 0, crop back)."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    xp = F.pad(x, (pad,) * 4)
    dx, dy = torch.randint(0, 2 * pad + 1, (2, n), generator=g)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]
    return xp[torch.arange(n)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None], rows, cols]


# ----------------------------------------------------------------------------- model
class GuidedReLU(torch.autograd.Function):
    """ReLU whose backward pass also zeroes negative gradients (guided backpropagation)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * (x > 0) * (g > 0)


class Act(nn.Module):
    guided = False

    def forward(self, x):
        return GuidedReLU.apply(x) if self.guided else F.relu(x)


class SceneCNN(nn.Module):
    """conv(s2) 16 -> conv(s2) 32 -> conv 32 -> conv(s2) 64 -> GAP -> fc: 64x64 input, 8x8 last maps.
    `forward(x, return_features=True)` also returns the last conv maps (the Grad-CAM interface)."""
    LAYERS = ("fc", "conv4", "conv3", "conv2", "conv1")        # top to bottom: the cascading order

    def __init__(self, n_classes: int = 6, width: int = 16):
        super().__init__()
        w = width
        self.conv1, self.conv2 = nn.Conv2d(3, w, 3, 2, 1), nn.Conv2d(w, 2 * w, 3, 2, 1)
        self.conv3, self.conv4 = nn.Conv2d(2 * w, 2 * w, 3, 1, 1), nn.Conv2d(2 * w, 4 * w, 3, 2, 1)
        self.acts = nn.ModuleList(Act() for _ in range(4))
        self.fc = nn.Linear(4 * w, n_classes)

    def features(self, x, upto: int = 4) -> list[torch.Tensor]:
        out = []
        for conv, act in list(zip((self.conv1, self.conv2, self.conv3, self.conv4), self.acts))[:upto]:
            x = act(conv(x))
            out.append(x)
        return out

    def forward(self, x, return_features: bool = False):
        f = self.features(x)[-1]
        logits = self.fc(f.mean((2, 3)))
        return (logits, f) if return_features else logits


def train_scene_cnn(data: dict, cfg: dict, seed: int, cache_dir=None, untrained: bool = False) -> SceneCNN:
    """Adam on the training scenes (image labels only), with flips and crops if cfg["augment"]."""
    def build():
        seed_everything(seed)
        return SceneCNN(proxy_data.n_classes(), cfg["width"])

    def train(model, resume):
        g = torch.Generator().manual_seed(seed)
        x, y, bs = data["train"]["images"], data["train"]["labels"], cfg["batch"]

        def epoch(_):
            perm = torch.randperm(len(x), generator=g)
            out = []
            for i in range(0, len(x) - bs + 1, bs):
                xb = x[perm[i:i + bs]]
                out.append((augment(xb, g) if cfg["augment"] else xb, y[perm[i:i + bs]]))
            return out
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
        fit(model, lambda m, b: F.cross_entropy(m(b[0]), b[1]), epoch, epochs=cfg["epochs"], optimizer=opt,
            checkpoint=resume, progress=False, desc="scene cnn")
    name = f"foundations_scene_cnn{'_aug' if cfg['augment'] else ''}"
    return trained(name, build, train, config=cfg, seed=seed, data_fingerprint=data["fingerprint"],
                   code=[__import__(__name__, fromlist=["x"])], cache_dir=cache_dir, untrained=untrained)


@torch.inference_mode()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model.eval()(x).argmax(1) == y).float().mean())


# ----------------------------------------------------------------------------- maps (B, H, W), true class
def gradient_map(model, x, y):
    return cam_maps.backprop_saliency(model, x, y[:, None])[1][:, 0]


@contextlib.contextmanager
def guided(model):
    acts = [m for m in model.modules() if isinstance(m, Act)]
    for a in acts:
        a.guided = True
    try:
        yield model
    finally:
        for a in acts:
            a.guided = False


def guided_backprop_map(model, x, y):
    with guided(model):
        return gradient_map(model, x, y)


def gradcam_map(model, x, y):
    return cam_maps.gradcam(model, x, y[:, None])[1][:, 0]


@torch.no_grad()
def occlusion_map(model, x, y, patch: int = 12, stride: int = 8, batch: int = 512):
    """Zeiler & Fergus: the drop of the true class's probability when a `patch` square is set to the
    data mean (0 after normalisation), spread over the pixels it covered (negative drops count 0)."""
    n, _, h, w = x.shape
    pos = [(i, j) for i in range(0, h - patch + 1, stride) for j in range(0, w - patch + 1, stride)]
    p0 = model(x).softmax(1).gather(1, y[:, None])[:, 0]
    out, count = torch.zeros(n, h, w), torch.zeros(h, w)
    for b in range(n):
        occ = x[b].repeat(len(pos), 1, 1, 1)
        for k, (i, j) in enumerate(pos):
            occ[k, :, i:i + patch, j:j + patch] = 0
        p = torch.cat([model(occ[s:s + batch]).softmax(1)[:, y[b]] for s in range(0, len(pos), batch)])
        for k, (i, j) in enumerate(pos):
            out[b, i:i + patch, j:j + patch] += p0[b] - p[k]
    for i, j in pos:
        count[i:i + patch, j:j + patch] += 1
    return (out / count.clamp(min=1)).clamp(min=0)


def edge_map(x):
    """A model-free control: Sobel gradient magnitude of the grey image."""
    k = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    grey = x.mean(1, keepdim=True)
    gx = F.conv2d(grey, k.view(1, 1, 3, 3), padding=1)
    gy = F.conv2d(grey, k.t().reshape(1, 1, 3, 3), padding=1)
    return (gx ** 2 + gy ** 2).sqrt()[:, 0]


def random_map(shape, seed: int):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


METHODS = {"gradient": gradient_map, "guided_backprop": guided_backprop_map, "gradcam": gradcam_map}


def mass_inside(maps: torch.Tensor, masks: torch.Tensor) -> float:
    """Mean over images of the fraction of the (non-negative) map's mass inside the mask."""
    m = maps.clamp(min=0).flatten(1).double()
    inside = (m * masks.flatten(1)).sum(1)
    return float((inside / m.sum(1).clamp(min=1e-30)).mean())


# ----------------------------------------------------------------------------- Adebayo et al.
def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over images of Spearman's rank correlation between maps a[i] and b[i] (ties broken by order)."""
    def ranks(t):
        t = t.flatten(1)
        return t.argsort(1).argsort(1).double()
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    return float(((ra * rb).sum(1) / (ra.norm(dim=1) * rb.norm(dim=1))).mean())


def cascade(model: SceneCNN, seed: int):
    """Yield (layer name, model) with the weights re-drawn cumulatively from the top layer down
    (each layer's default initialisation, from a generator seeded by `seed`)."""
    import copy
    m = copy.deepcopy(model)
    torch.manual_seed(10_000 + seed)
    for name in SceneCNN.LAYERS:
        getattr(m, name).reset_parameters()
        yield name, m


def randomization_curves(model, x, y, seed: int, methods=METHODS) -> dict[str, list[float]]:
    """Per method: rank correlation of |map| with the trained model's |map| after each cascade stage."""
    ref = {k: f(model, x, y).abs() for k, f in methods.items()}
    out = {k: [] for k in methods}
    for _, m in cascade(model, seed):
        for k, f in methods.items():
            out[k].append(rank_correlation(ref[k], f(m, x, y).abs()))
    return out


# ----------------------------------------------------------------------------- inversion and style
def invert(model: SceneCNN, code: torch.Tensor, layer: int, shape, seed: int, steps: int = 100,
           lr: float = 0.1, tv: float = 0.05) -> torch.Tensor:
    """Mahendran & Vedaldi: an input whose layer-`layer` code matches `code`, by Adam from small noise,
    with a total-variation prior. Deterministic in `seed`."""
    x = (0.1 * torch.randn(shape, generator=torch.Generator().manual_seed(seed))).requires_grad_()
    opt = torch.optim.Adam([x], lr=lr)
    scale = code.pow(2).mean().clamp(min=1e-12)
    for _ in range(steps):
        f = model.features(x, layer)[-1]
        loss = (f - code).pow(2).mean() / scale + tv * total_variation(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return x.detach()


def total_variation(x):
    return (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean() + (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()


def relative_error(x: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over images of |x - target|^2 / |target - its mean|^2."""
    t = target.flatten(1)
    return float(((x.flatten(1) - t).pow(2).sum(1) / (t - t.mean(1, keepdim=True)).pow(2).sum(1)).mean())


def gram(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C) Gram matrices normalised by the number of positions."""
    b, c = f.shape[:2]
    f = f.flatten(2)
    return f @ f.transpose(1, 2) / f.shape[2]


def style_distance(model: SceneCNN, x: torch.Tensor, target: torch.Tensor, layers: int = 2) -> float:
    """Gatys et al.'s style loss: sum over layers of |G(x) - G(target)|^2 / |G(target)|^2."""
    with torch.no_grad():
        return float(_style_loss(model, x, target, layers))


def _style_loss(model, x, target, layers):
    fx, ft = model.features(x, layers), model.features(target, layers)
    return sum(((gram(a) - gram(b)).pow(2).sum() / gram(b).pow(2).sum().clamp(min=1e-12)) for a, b in zip(fx, ft))


def synthesize_style(model: SceneCNN, target: torch.Tensor, seed: int, steps: int = 100, lr: float = 0.05,
                     layers: int = 2) -> tuple[torch.Tensor, list[float]]:
    """An image with the target's Gram statistics, by Adam on the style loss from noise; (image, losses)."""
    x = (0.5 * torch.randn(target.shape, generator=torch.Generator().manual_seed(seed))).requires_grad_()
    opt = torch.optim.Adam([x], lr=lr)
    target = target.detach()
    losses = []
    for _ in range(steps):
        loss = _style_loss(model, x, target, layers)
        losses.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return x.detach(), losses
