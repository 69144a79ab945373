"""Vanilla RNN vs LSTM (CS231n, RNN lecture): how much gradient reaches the first step of a long
sequence, gradient clipping, and a long-delay memory task."""
from __future__ import annotations

import torch
from torch import nn


def gradient_reaching_start(cell: str, steps: int = 50, hidden: int = 32, seed: int = 0,
                            weight_scale: float = 1.0) -> float:
    """|dL/dh_0| / |dL/dh_T| for a loss on the last state of a `steps`-long sequence, at
    PyTorch's default initialisation (LSTM forget-gate bias 1, as the notes recommend)."""
    torch.manual_seed(seed)
    net = (nn.RNN if cell == "rnn" else nn.LSTM)(hidden, hidden, batch_first=True)
    if cell == "lstm":
        with torch.no_grad():
            net.bias_hh_l0[hidden:2 * hidden] = 1.0     # forget gate
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.startswith("weight"):
                p.mul_(weight_scale)
    x = torch.randn(16, steps, hidden)
    h0 = torch.zeros(1, 16, hidden, requires_grad=True)
    state = (h0, torch.zeros(1, 16, hidden)) if cell == "lstm" else h0
    out, _ = net(x, state)
    out.retain_grad()
    out[:, -1].pow(2).sum().backward()
    return float(h0.grad.norm() / out.grad[:, -1].norm())


def clipped_norm(max_norm: float = 5.0, seed: int = 0) -> tuple[float, float]:
    """(gradient norm before, after clip_grad_norm_) of a vanilla RNN with weights scaled x3 (an
    exploding regime)."""
    torch.manual_seed(seed)
    net = nn.RNN(16, 16, batch_first=True, nonlinearity="relu")
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.startswith("weight"):
                p.mul_(3.0)
    out, _ = net(torch.randn(8, 40, 16))
    out[:, -1].sum().backward()
    before = float(nn.utils.clip_grad_norm_(net.parameters(), max_norm))
    after = float(torch.sqrt(sum(p.grad.pow(2).sum() for p in net.parameters())))
    return before, after


class DelayNet(nn.Module):
    """Reads a bit stream and must output, at the last step, the bit it saw `delay` steps earlier."""

    def __init__(self, cell: str, hidden: int = 32):
        super().__init__()
        self.rnn = (nn.RNN if cell == "rnn" else nn.LSTM)(1, hidden, batch_first=True)
        if cell == "lstm":
            with torch.no_grad():
                self.rnn.bias_hh_l0[hidden:2 * hidden] = 1.0     # forget-gate bias 1
        self.head = nn.Linear(hidden, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def delay_batch(g: torch.Generator, n: int, delay: int):
    bits = torch.randint(0, 2, (n, delay + 1), generator=g)
    return bits.float().unsqueeze(-1), bits[:, 0]


def delay_accuracy(net: nn.Module, delay: int, seed: int, n: int = 2000) -> float:
    g = torch.Generator().manual_seed(10_000 + seed)
    x, y = delay_batch(g, n, delay)
    with torch.inference_mode():
        return float((net.eval()(x).argmax(1) == y).float().mean())
