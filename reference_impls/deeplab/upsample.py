"""Upsampling of score maps (the notes' nearest / bilinear / transposed convolution).

    up = bilinear_upsample(x, 4)                 # F.interpolate(bilinear, align_corners=False)
    t = transposed_upsampler(c, 4)               # ConvTranspose2d initialised to the bilinear kernel
    torch.equal-ish(transposed_bilinear(t, x), bilinear_upsample(x, 4))   # same numbers (borders replicated)

A stride-f transposed convolution with the (separable, per-channel) bilinear kernel of FCN
(Long et al. 2015: kernel 2f, taps 1 - |i - c| / f) *is* bilinear upsampling with half-pixel
centres; F.interpolate clamps at the border, so the input is padded by one replicated pixel first
and the output cropped. `LearnedUpsample` is that layer made trainable (FCN's "learnable deconvolution"),
here trained on the frozen score maps of a trained network; it computes the layer's map as a sub-pixel
convolution (`transposed_as_conv`: a 3x3 conv to f*f phases per channel + pixel shuffle, the same weights),
which is about twice as fast on CPU as ConvTranspose2d's 2f x 2f kernel over the zero-stuffed input.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def bilinear_kernel(factor: int) -> torch.Tensor:
    """(2f, 2f) bilinear interpolation kernel for an even upsampling factor f (FCN's `upsample_filt`)."""
    if factor < 2 or factor % 2:
        raise ValueError(f"the bilinear transposed-conv kernel here needs an even factor >= 2, got {factor}")
    k = 2 * factor
    centre = factor - 0.5
    t = 1 - (torch.arange(k, dtype=torch.float64) - centre).abs() / factor
    return (t[:, None] * t[None, :]).float()


def bilinear_upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


def nearest_upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="nearest")


def transposed_upsampler(channels: int, factor: int, bilinear_init: bool = True) -> nn.ConvTranspose2d:
    """ConvTranspose2d(channels, channels, 2f, stride f, padding f/2 + f): applied to an input padded by
    one replicated pixel it returns f x the unpadded size. With `bilinear_init` the weights are the
    bilinear kernel on the diagonal (channel c -> c) and 0 across channels, bias 0."""
    conv = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor, padding=factor // 2 + factor)
    if bilinear_init:
        with torch.no_grad():
            conv.weight.zero_()
            k = bilinear_kernel(factor)
            for c in range(channels):
                conv.weight[c, c] = k
            conv.bias.zero_()
    return conv


def transposed_bilinear(conv: nn.ConvTranspose2d, x: torch.Tensor) -> torch.Tensor:
    """Apply a transposed-conv upsampler the way bilinear interpolation treats borders (replicate)."""
    return conv(F.pad(x, (1, 1, 1, 1), mode="replicate"))


def _phase_taps(factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For `transposed_upsampler`'s geometry (kernel 2f, stride f, padding 3f/2, input padded by one
    pixel): output pixel a*f + r takes input pixels a + j (j = 0, 1, 2) of the padded input through
    kernel tap k[j, r] = (3f/2 + r, f/2 + r, r - f/2)[j], where that tap exists (mask[j, r])."""
    r = torch.arange(factor)
    k = torch.stack([r + 3 * factor // 2, r + factor // 2, r - factor // 2])
    mask = (k >= 0) & (k < 2 * factor)
    return k.clamp(0, 2 * factor - 1), mask


def transposed_as_conv(conv: nn.ConvTranspose2d, x: torch.Tensor) -> torch.Tensor:
    """`transposed_bilinear(conv, x)` computed as a 3x3 convolution to f*f phases per class and a pixel
    shuffle (sub-pixel convolution): the same linear map from the same weights, several times faster
    on CPU than ConvTranspose2d's 2f x 2f kernel (which spends most of its taps on zeros of the strided
    input); equal to float rounding (tests/test_deeplab_upsample.py)."""
    f = conv.stride[0]
    if conv.kernel_size != (2 * f, 2 * f) or conv.padding != (f // 2 + f,) * 2 or f % 2:
        raise ValueError("transposed_as_conv needs transposed_upsampler's geometry (kernel 2f, stride f, padding 3f/2)")
    k, mask = _phase_taps(f)
    w = conv.weight[:, :, k[:, :, None, None], k[None, None, :, :]]          # (in, out, 3, f, 3, f): [jy, ry, jx, rx]
    w = w * (mask[:, :, None, None] & mask[None, None, :, :]).to(w.dtype)
    cin, cout = w.shape[:2]
    w = w.permute(1, 3, 5, 0, 2, 4).reshape(cout * f * f, cin, 3, 3)          # out channel = class * f*f + ry * f + rx
    out = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), w, conv.bias.repeat_interleave(f * f))
    return F.pixel_shuffle(out, f)


class LearnedUpsample(nn.Module):
    """A trainable stride-f transposed convolution over class scores (all channels mixed), initialised
    to bilinear upsampling. Its parameters are the ConvTranspose2d's; the forward pass computes the same
    map as a sub-pixel convolution (`transposed_as_conv`), which is faster on CPU."""

    def __init__(self, channels: int, factor: int):
        super().__init__()
        self.factor = factor
        self.conv = transposed_upsampler(channels, factor, bilinear_init=True)

    def forward(self, x):
        return transposed_as_conv(self.conv, x)


def train_upsampler(scores: torch.Tensor, labels: torch.Tensor, factor: int, seed: int, epochs: int = 8,
                    batch_size: int = 16, lr: float = 1e-3, ignore_index: int = 255, cache_dir=None,
                    key: dict | None = None, untrained: bool = False) -> LearnedUpsample:
    """A `LearnedUpsample` trained (Adam, cross-entropy) to map frozen score maps (N, C, h, w) to the
    labels (N, f*h, f*w); cached by `common.trained` under `key` (what identifies the score maps).
    `untrained=True`: the layer at its initialisation (bilinear)."""
    from reference_impls.common import fit, seed_everything, trained

    def build():
        seed_everything(seed)
        return LearnedUpsample(scores.shape[1], factor)

    def batches(epoch: int):
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        order = torch.randperm(len(scores), generator=g)
        return [(scores[order[i:i + batch_size]], labels[order[i:i + batch_size]])
                for i in range(0, len(scores), batch_size)]

    def train(model, resume):
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        return fit(model, lambda m, b: F.cross_entropy(m(b[0]), b[1], ignore_index=ignore_index), batches,
                   epochs=epochs, optimizer=opt, checkpoint=resume, desc="transposed-conv upsampler", amp=False)

    import sys
    cfg = dict(factor=factor, epochs=epochs, batch_size=batch_size, lr=lr, scores=key or {})
    return trained("deeplab_upsampler", build, train, config=cfg, seed=seed, code=[sys.modules[__name__]],
                   cache_dir=cache_dir, untrained=untrained)
