"""WaveNet (van den Oord et al., 2016): a stack of dilated causal convolutions with gated
tanh x sigmoid units, residual and skip connections, and a 256-way softmax over mu-law codes.

    x (B, T) mu-law codes -> embedding (= 1x1 conv of the one-hot input)
      -> L residual layers: z = tanh(W_f * h + V_f c) . sigmoid(W_g * h + V_g c)
                            h <- h + 1x1(z);  skip += 1x1(z)
      -> relu -> 1x1 -> relu -> 1x1 -> logits (B, 256, T)

The parameters are those of the convolutions above (nn.Conv1d); the network computes with
channels last, (B, T, C), every convolution as a matmul (on CPU, several times faster than
the convolution kernels at these widths).

logits[:, :, t] is the distribution of x[t + 1] given x[<= t]; the receptive field is
(kernel - 1) * sum(dilations) + 1. Conditioning c: a speaker embedding (global, the same at
every step) and/or features at a lower frame rate upsampled by a transposed convolution (local).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


def dilation_stack(blocks: int = 1, top: int = 512) -> tuple[int, ...]:
    """1, 2, 4, ..., top, repeated `blocks` times (the paper's 1..512 blocks)."""
    one = []
    d = 1
    while d <= top:
        one.append(d)
        d *= 2
    return tuple(one * blocks)


def receptive_field(kernel_size: int, dilations) -> int:
    return (kernel_size - 1) * sum(dilations) + 1


@dataclass
class WaveNetConfig:
    n_classes: int = 256
    residual_channels: int = 32
    dilation_channels: int = 32
    skip_channels: int = 128
    kernel_size: int = 2
    dilations: tuple = field(default_factory=lambda: dilation_stack(1, 512))
    n_speakers: int = 0          # > 0: global conditioning on a speaker id
    speaker_dim: int = 16
    local_channels: int = 0      # > 0: local conditioning on features at 1/hop of the sample rate
    hop: int = 1                 # upsampling factor of the transposed convolution

    def to_dict(self):
        d = asdict(self)
        d["dilations"] = list(self.dilations)
        return d


class ResidualLayer(nn.Module):
    def __init__(self, cfg: WaveNetConfig, dilation: int):
        super().__init__()
        r, g, s, k = cfg.residual_channels, cfg.dilation_channels, cfg.skip_channels, cfg.kernel_size
        self.dilation, self.kernel_size = dilation, k
        self.conv = nn.Conv1d(r, 2 * g, k, dilation=dilation)          # filter and gate together
        self.cond_global = nn.Linear(cfg.speaker_dim, 2 * g, bias=False) if cfg.n_speakers else None
        self.cond_local = nn.Conv1d(cfg.local_channels, 2 * g, 1, bias=False) if cfg.local_channels else None
        self.res = nn.Conv1d(g, r, 1)
        self.skip = nn.Conv1d(g, s, 1)

    @property
    def pad(self) -> int:
        return (self.kernel_size - 1) * self.dilation

    def gate(self, a: torch.Tensor, g_cond, l_cond) -> torch.Tensor:
        """a: pre-activation (B, T, 2G) or (B, 2G), channels last; adds the conditioning (g_cond
        (B, D), l_cond (B, T, C) or (B, C)) and applies tanh x sigmoid."""
        if g_cond is not None:
            c = self.cond_global(g_cond)
            a = a + (c.unsqueeze(1) if a.dim() == 3 else c)
        if l_cond is not None:
            a = a + F.linear(l_cond, self.cond_local.weight[:, :, 0])
        return gated(a)

    def causal_conv(self, h: torch.Tensor) -> torch.Tensor:
        """The dilated convolution of h (B, T, R), channels last, padded on the left only: one
        matmul over the k shifted copies of the input (tap j sees x[t - (k-1-j) d]). The same
        numbers as self.conv on h.transpose(1, 2), but on CPU the convolution kernels (and their
        backward) are several times slower than a matmul with channels last."""
        T, d = h.shape[1], self.dilation
        padded = F.pad(h, (0, 0, self.pad, 0))
        taps = torch.cat([padded[:, j * d: j * d + T] for j in range(self.kernel_size)], dim=-1)
        w = self.conv.weight.permute(0, 2, 1).reshape(self.conv.out_channels, -1)
        return F.linear(taps, w, self.conv.bias)

    def forward(self, h, g_cond=None, l_cond=None):
        """h (B, T, R) channels last -> (h + res(z) (B, T, R), skip(z) (B, T, S))."""
        z = self.gate(self.causal_conv(h), g_cond, l_cond)
        return h + _pointwise(self.res, z), _pointwise(self.skip, z)


def gated(a: torch.Tensor) -> torch.Tensor:
    """The gated activation tanh(f) * sigmoid(g) for a = [f, g] on the last dimension (the
    residual layers and the fast sampler share it)."""
    f, g = a.chunk(2, dim=-1)
    return torch.tanh(f) * torch.sigmoid(g)


def _pointwise(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution applied to channels-last x (..., C_in) -> (..., C_out)."""
    return F.linear(x, conv.weight[:, :, 0], conv.bias)


class WaveNet(nn.Module):
    def __init__(self, cfg: WaveNetConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.n_classes, cfg.residual_channels)
        self.layers = nn.ModuleList(ResidualLayer(cfg, d) for d in cfg.dilations)
        self.out1 = nn.Conv1d(cfg.skip_channels, cfg.skip_channels, 1)
        self.out2 = nn.Conv1d(cfg.skip_channels, cfg.n_classes, 1)
        self.speaker = nn.Embedding(cfg.n_speakers, cfg.speaker_dim) if cfg.n_speakers else None
        self.upsample = (nn.ConvTranspose1d(cfg.local_channels, cfg.local_channels, cfg.hop, stride=cfg.hop)
                         if cfg.local_channels else None)

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.cfg.kernel_size, self.cfg.dilations)

    def global_cond(self, speaker):
        """Speaker embedding (B, D), or None for an unconditioned model; checks the ids."""
        if self.speaker is None:
            if speaker is not None:
                raise ValueError("this WaveNet has no global conditioning (n_speakers=0) but got speaker=")
            return None
        if speaker is None:
            raise ValueError("this WaveNet is speaker-conditioned: pass speaker=(B,) ids")
        speaker = torch.as_tensor(speaker, device=self.speaker.weight.device).long().reshape(-1)
        if speaker.numel() and (int(speaker.min()) < 0 or int(speaker.max()) >= self.cfg.n_speakers):
            raise ValueError(f"speaker id out of range: got {speaker.tolist()}, "
                             f"the model knows {self.cfg.n_speakers} speakers (0..{self.cfg.n_speakers - 1})")
        return self.speaker(speaker)

    def local_cond(self, local, T: int):
        """Local features (B, C, frames) upsampled by the transposed convolution to (B, T, C)
        (channels last, as the residual layers take them), or None."""
        if self.upsample is None:
            if local is not None:
                raise ValueError("this WaveNet has no local conditioning (local_channels=0) but got local=")
            return None
        if local is None:
            raise ValueError("this WaveNet is locally conditioned: pass local=(B, C, frames)")
        l = self.upsample(local)
        if l.shape[-1] < T:
            raise ValueError(f"local features cover {l.shape[-1]} samples (frames x hop {self.cfg.hop}), need {T}")
        return l[..., :T].transpose(1, 2)

    def head(self, skip: torch.Tensor) -> torch.Tensor:
        """Summed skips (..., S), channels last -> logits (..., n_classes)."""
        return _pointwise(self.out2, F.relu(_pointwise(self.out1, F.relu(skip))))

    def logits_last(self, x: torch.Tensor, speaker=None, local=None) -> torch.Tensor:
        """x (B, T) integer codes -> logits (B, T, n_classes), channels last (the layout the
        network computes in); logits[:, t] predicts x[t + 1].

        The same numbers as running the layers one by one (ResidualLayer.forward, summing the
        skips), computed with fewer, larger matmuls: the skip 1x1 convolutions of all layers
        run as one, sum_i W_i z_i = [W_1 ... W_L] [z_1; ...; z_L], and the last layer's
        residual output, which nothing reads, is not computed."""
        g, l = self.global_cond(speaker), self.local_cond(local, x.shape[-1])
        h = self.embed(x)
        zs = []
        for i, layer in enumerate(self.layers):
            z = layer.gate(layer.causal_conv(h), g, l)
            zs.append(z)
            if i < len(self.layers) - 1:
                h = h + _pointwise(layer.res, z)
        w = torch.cat([layer.skip.weight[:, :, 0] for layer in self.layers], dim=1)
        b = torch.stack([layer.skip.bias for layer in self.layers]).sum(0)
        return self.head(F.linear(torch.cat(zs, dim=-1), w, b))

    def forward(self, x: torch.Tensor, speaker=None, local=None) -> torch.Tensor:
        """x (B, T) integer codes -> logits (B, n_classes, T); logits[..., t] predicts x[t + 1]."""
        return self.logits_last(x, speaker, local).transpose(1, 2)


def build_model(cfg: WaveNetConfig | dict | None = None) -> WaveNet:
    if isinstance(cfg, dict):
        cfg = WaveNetConfig(**{**cfg, "dilations": tuple(cfg.get("dilations", dilation_stack()))})
    return WaveNet(cfg or WaveNetConfig())


def teacher_forced_loss(model: WaveNet, x: torch.Tensor, speaker=None, local=None) -> torch.Tensor:
    """Cross-entropy (nats) of x[1:] under the model given x[:-1]: training sees the true past."""
    logits = model.logits_last(x[:, :-1], speaker, local)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
