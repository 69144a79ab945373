"""Classic CNN architecture facts: parameter counts, shapes, receptive fields, multiply counts,
and three ways to compute a convolution (direct, im2col + matmul, FFT).

Everything here is measured from real modules, never computed from the formula being checked:
parameters by summing `numel()`, receptive fields by back-propagating from one output pixel,
multiplies with torch's FLOP counter.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from reference_impls.common import count_params

# ----------------------------------------------------------------------------- model zoo
TORCHVISION = {
    "vgg16": lambda: torchvision.models.vgg16(weights=None),
    "googlenet": lambda: torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False),
    "resnet50": lambda: torchvision.models.resnet50(weights=None),
    "alexnet": lambda: torchvision.models.alexnet(weights=None),
}


def build_model(name: str) -> nn.Module:
    try:
        return TORCHVISION[name]()
    except KeyError:
        raise KeyError(f"unknown architecture '{name}' (known: {', '.join(TORCHVISION)})") from None


def output_shape(module: nn.Module, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    with torch.inference_mode():
        return tuple(module(torch.zeros(1, *in_shape)).shape[1:])


# ----------------------------------------------------------------------------- the notes' small examples
def stack_3x3(in_ch: int, out_ch: int, n: int, bias: bool = True) -> nn.Sequential:
    """n stacked 3x3 'same' convolutions (VGG's replacement for one large kernel)."""
    layers = []
    for i in range(n):
        layers += [nn.Conv2d(in_ch if i == 0 else out_ch, out_ch, 3, padding=1, bias=bias), nn.ReLU()]
    return nn.Sequential(*layers)


class NaiveInception(nn.Module):
    """GoogLeNet's naive module: parallel 1x1, 3x3, 5x5 convolutions and a 3x3 max-pool, concatenated."""

    def __init__(self, in_ch: int, f1: int, f3: int, f5: int):
        super().__init__()
        self.b1 = nn.Conv2d(in_ch, f1, 1)
        self.b3 = nn.Conv2d(in_ch, f3, 3, padding=1)
        self.b5 = nn.Conv2d(in_ch, f5, 5, padding=2)
        self.pool = nn.MaxPool2d(3, 1, 1)

    def forward(self, x):
        return torch.cat([F.relu(self.b1(x)), F.relu(self.b3(x)), F.relu(self.b5(x)), self.pool(x)], 1)


class ReducedInception(nn.Module):
    """The module with 1x1 reductions before the 3x3 and 5x5 convolutions and after the pool."""

    def __init__(self, in_ch: int, f1: int, r3: int, f3: int, r5: int, f5: int, fp: int):
        super().__init__()
        self.b1 = nn.Conv2d(in_ch, f1, 1)
        self.b3 = nn.Sequential(nn.Conv2d(in_ch, r3, 1), nn.ReLU(), nn.Conv2d(r3, f3, 3, padding=1))
        self.b5 = nn.Sequential(nn.Conv2d(in_ch, r5, 1), nn.ReLU(), nn.Conv2d(r5, f5, 5, padding=2))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(in_ch, fp, 1))

    def forward(self, x):
        return torch.cat([F.relu(b(x)) for b in (self.b1, self.b3, self.b5, self.bp)], 1)


# ----------------------------------------------------------------------------- measurements
def receptive_field(module: nn.Module, in_ch: int, size: int = 33, seed: int = 0) -> int:
    """Width of the input region that influences the centre output pixel, found by gradients
    (of the centre output with respect to a seeded random input)."""
    module = module.eval()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, in_ch, size, size, generator=g).requires_grad_(True)
    y = module(x)
    c = y.shape[-1] // 2
    y[0, :, c, c].sum().backward()
    cols = (x.grad.abs().sum(dim=(0, 1, 2)) > 0).nonzero().flatten()
    return int(cols.max() - cols.min() + 1)


def multiplies(module: nn.Module, in_shape: tuple[int, ...]) -> int:
    """Multiply count of one forward pass (torch's FLOP counter counts a multiply-add as 2 FLOPs)."""
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        module(torch.zeros(1, *in_shape))
    return fc.get_total_flops() // 2


def conv2d_im2col(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, stride: int = 1,
                  padding: int = 0) -> torch.Tensor:
    """Convolution as im2col (unfold) followed by one matrix product."""
    n, _, h, wd = x.shape
    oc, _, kh, kw = w.shape
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)          # N, C*kh*kw, L
    out = w.reshape(oc, -1) @ cols                                          # N, OC, L
    oh, ow = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    out = out.reshape(n, oc, oh, ow)
    return out if b is None else out + b.view(1, -1, 1, 1)


def conv2d_fft(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None, padding: int = 0) -> torch.Tensor:
    """Stride-1 convolution (deep-learning cross-correlation) by pointwise products in the Fourier domain."""
    x = F.pad(x, (padding,) * 4)
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    fx = torch.fft.rfft2(x, s=(h, wd))                                      # N, C, H, W/2+1
    fw = torch.fft.rfft2(torch.flip(w, (-2, -1)), s=(h, wd))                # OC, C, H, W/2+1
    full = torch.fft.irfft2(torch.einsum("nchw,ochw->nohw", fx, fw), s=(h, wd))
    out = full[..., kh - 1:h, kw - 1:wd]                                    # the 'valid' part
    return out if b is None else out + b.view(1, -1, 1, 1)


def adjoint_gap(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, stride: int, padding: int) -> float:
    """Relative gap between <conv(x), y> and <x, conv_transpose(y)>: zero when transposed
    convolution ("deconvolution") is the adjoint of convolution."""
    lhs = (F.conv2d(x, w, stride=stride, padding=padding) * y).sum()
    out_pad = x.shape[-1] - ((y.shape[-1] - 1) * stride - 2 * padding + w.shape[-1])
    rhs = (x * F.conv_transpose2d(y, w, stride=stride, padding=padding, output_padding=out_pad)).sum()
    return float((lhs - rhs).abs() / lhs.abs().clamp_min(1e-30))


def backward_gap(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, stride: int, padding: int) -> float:
    """Max relative difference between conv_transpose(y) and the gradient of <conv(x), y> w.r.t. x:
    the forward pass of a deconvolution is the backward pass of a convolution."""
    x = x.clone().requires_grad_(True)
    (F.conv2d(x, w, stride=stride, padding=padding) * y).sum().backward()
    out_pad = x.shape[-1] - ((y.shape[-1] - 1) * stride - 2 * padding + w.shape[-1])
    t = F.conv_transpose2d(y, w, stride=stride, padding=padding, output_padding=out_pad)
    return float((t - x.grad).abs().max() / x.grad.abs().max())


# ----------------------------------------------------------------------------- ImageNet evaluation (full tier)
WEIGHT_FILES = {"vgg16": "vgg16-397923af.pth", "resnet50": "resnet50-0676ba61.pth", "googlenet": "googlenet-1378be20.pth"}


def load_data(root, batch_size: int = 64, workers: int = 8):
    """ImageNet val with torchvision's evaluation transform (resize 256, centre crop 224)."""
    from torchvision import transforms as T

    from datasets.imagenet import ImageFiles, val_samples

    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    return torch.utils.data.DataLoader(ImageFiles(val_samples(root), tf), batch_size=batch_size,
                                       num_workers=workers, pin_memory=torch.cuda.is_available())


@torch.inference_mode()
def evaluate(model: nn.Module, loader, device="cpu") -> tuple[float, float]:
    """Top-1 and top-5 accuracy in percent."""
    from tqdm.auto import tqdm

    from reference_impls.common import autocast
    device = torch.device(device)
    model.eval().to(device)
    hit1 = hit5 = n = 0
    for x, y in tqdm(loader, desc="imagenet val", leave=False):
        x, y = x.to(device), y.to(device)
        with autocast(device, enabled=False):
            top5 = model(x).topk(5, dim=1).indices
        hit1 += (top5[:, 0] == y).sum().item()
        hit5 += (top5 == y[:, None]).any(1).sum().item()
        n += len(y)
    return 100.0 * hit1 / n, 100.0 * hit5 / n


__all__ = ["load_data", "evaluate", "WEIGHT_FILES", "build_model", "count_params", "output_shape", "stack_3x3", "NaiveInception", "ReducedInception",
           "receptive_field", "multiplies", "conv2d_im2col", "conv2d_fft", "adjoint_gap", "backward_gap"]
