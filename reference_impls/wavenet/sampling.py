"""Autoregressive generation, naive and fast (Paine et al., 2016).

Both samplers draw x[t + 1] from softmax(logits[t] / temperature) by inverse-CDF sampling
with the uniform numbers `u[t]`, so the same draws give the same samples when the logits agree.

- naive: at every step run the whole network on the last `receptive_field` samples and keep
  the last output: cost per sample ~ layers x receptive field.
- fast: every layer keeps a queue of its past inputs ((kernel - 1) x dilation of them); a new
  sample only needs one column of each convolution: cost per sample ~ layers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .model import WaveNet, gated


def draw_uniforms(n: int, batch: int = 1, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, n, generator=g, dtype=dtype)


def sample_from_logits(logits: torch.Tensor, u: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Inverse-CDF sample per row of logits (B, C) with uniforms u (B,)."""
    p = torch.softmax(logits.double() / temperature, dim=-1)
    cdf = p.cumsum(-1)
    idx = torch.searchsorted(cdf, u.double().reshape(-1, 1).contiguous().to(cdf.device)).reshape(-1)
    return idx.clamp_(max=logits.shape[-1] - 1)


def _start(model: WaveNet, n: int, u: torch.Tensor, prompt) -> tuple[torch.Tensor, int]:
    """The output buffer (B, P + n) holding the prompt (default: one silence code), and P."""
    dev = next(model.parameters()).device
    if prompt is None:
        prompt = torch.full((u.shape[0], 1), model.cfg.n_classes // 2, dtype=torch.long)
    prompt = torch.as_tensor(prompt).long().to(dev)
    if prompt.dim() != 2 or prompt.shape[0] != u.shape[0] or prompt.shape[1] < 1:
        raise ValueError(f"prompt must be (B, P >= 1) codes with B = {u.shape[0]}; got {tuple(prompt.shape)}")
    if u.shape[1] < n:
        raise ValueError(f"need {n} uniforms per row, got {u.shape[1]}")
    P = prompt.shape[1]
    x = torch.empty((u.shape[0], P + n), dtype=torch.long, device=dev)
    x[:, :P] = prompt
    return x, P


@torch.inference_mode()
def generate_naive(model: WaveNet, n: int, u: torch.Tensor, *, prompt=None, speaker=None, local=None,
                   temperature: float = 1.0) -> torch.Tensor:
    """n new samples after `prompt` (B, P) codes (default: one silence code, n_classes // 2),
    drawn with uniforms u (B, >= n). Local features must cover P + n samples.
    Returns (B, P + n) codes including the prompt."""
    model.eval()
    x, P = _start(model, n, u, prompt)
    rf = model.receptive_field
    g = model.global_cond(speaker)
    l_all = model.local_cond(local, P + n)
    for t in range(P - 1, P + n - 1):                      # the output at t predicts x[t + 1]
        lo = max(0, t + 1 - rf)
        h = model.embed(x[:, lo:t + 1])                    # (B, T, C): the layers work channels last
        l = None if l_all is None else l_all[:, lo:t + 1]
        skip = 0
        for layer in model.layers:
            h, s = layer(h, g, l)
            skip = skip + s
        logits = model.head(skip[:, -1])
        x[:, t + 1] = sample_from_logits(logits, u[:, t + 1 - P], temperature)
    return x


class _Queue:
    """The last (kernel - 1) * dilation inputs of one layer, in a circular buffer."""

    def __init__(self, B: int, C: int, kernel: int, dilation: int, like: torch.Tensor):
        self.k, self.d = kernel, dilation
        self.n = (kernel - 1) * dilation
        self.buf = torch.zeros(self.n, B, C, dtype=like.dtype, device=like.device)  # zeros = the causal padding
        self.t = 0

    def taps(self, h: torch.Tensor) -> torch.Tensor:
        """[x[t - (k-1)d], ..., x[t - d], x[t]] concatenated on channels; then remember x[t]."""
        past = [self.buf[(self.t - m * self.d) % self.n] for m in range(self.k - 1, 0, -1)]
        out = torch.cat(past + [h], dim=1)
        self.buf[self.t % self.n] = h
        self.t += 1
        return out


@torch.inference_mode()
def generate_fast(model: WaveNet, n: int, u: torch.Tensor, *, prompt=None, speaker=None, local=None,
                  temperature: float = 1.0) -> torch.Tensor:
    """Same interface and, for the same `u`, the same samples as generate_naive; O(layers) per sample.
    The prompt is pushed through the queues first (teacher-forced, no output layers)."""
    model.eval()
    x, P = _start(model, n, u, prompt)
    g = model.global_cond(speaker)
    l_all = model.local_cond(local, P + n)
    layers = []
    for layer in model.layers:
        w = layer.conv.weight                                   # (2G, R, k): tap j multiplies x[t - (k-1-j) d]
        w_flat = w.permute(0, 2, 1).reshape(w.shape[0], -1)     # (2G, k*R), matching _Queue.taps order
        a_const = layer.conv.bias
        if g is not None:
            a_const = a_const + layer.cond_global(g)            # the global term is the same every step
        w_loc = layer.cond_local.weight[:, :, 0] if layer.cond_local is not None else None
        layers.append((w_flat, a_const, w_loc, layer.res.weight[:, :, 0], layer.res.bias,
                       layer.skip.weight[:, :, 0], layer.skip.bias))
    w1, b1 = model.out1.weight[:, :, 0], model.out1.bias
    w2, b2 = model.out2.weight[:, :, 0], model.out2.bias
    queues = None
    for t in range(P + n - 1):
        h = model.embed(x[:, t])
        if queues is None:
            queues = [_Queue(x.shape[0], h.shape[1], lyr.kernel_size, lyr.dilation, h) for lyr in model.layers]
        l_t = None if l_all is None else l_all[:, t]
        skip = 0
        for (w_flat, a_const, w_loc, wr, br, ws, bs), q in zip(layers, queues):
            a = F.linear(q.taps(h), w_flat) + a_const
            if l_t is not None:
                a = a + F.linear(l_t, w_loc)
            z = gated(a)
            h = h + F.linear(z, wr, br)
            skip = skip + F.linear(z, ws, bs)
        if t + 1 < P:
            continue                                            # still reading the prompt
        logits = F.linear(F.relu(F.linear(F.relu(skip), w1, b1)), w2, b2)
        x[:, t + 1] = sample_from_logits(logits, u[:, t + 1 - P], temperature)
    return x
