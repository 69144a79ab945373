"""Audio model metrics: negative log-likelihood in bits per sample, the unigram (histogram)
entropy baseline, and signal-to-noise ratio of a reconstruction.

    nll_bits(logits, targets)        mean -log2 p(x_t | x_<t) over the predicted samples
    unigram_entropy_bits(codes)      entropy of the codes' own histogram: the best any model
                                     that ignores context can do on those codes
    snr_db(reference, estimate)      10 log10(sum ref^2 / sum (ref - est)^2)
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

LN2 = math.log(2.0)


def nll_bits_sum(logits: torch.Tensor, targets: torch.Tensor) -> tuple[float, int]:
    """(sum of -log2 p over all targets, number of targets). logits (B, C, T), targets (B, T)."""
    if logits.dim() != 3 or targets.shape != (logits.shape[0], logits.shape[2]):
        raise ValueError(f"logits must be (B, C, T) and targets (B, T); got {tuple(logits.shape)} and {tuple(targets.shape)}")
    nats = F.cross_entropy(logits.double(), targets.long(), reduction="sum")
    return float(nats) / LN2, targets.numel()


def nll_bits(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean negative log-likelihood in bits per sample."""
    total, n = nll_bits_sum(logits, targets)
    if n == 0:
        raise ValueError("nll_bits: no targets")
    return total / n


def unigram_entropy_bits(codes, n_classes: int = 256) -> float:
    """Entropy (bits) of the empirical distribution of integer codes in [0, n_classes)."""
    codes = np.asarray(torch.as_tensor(codes).reshape(-1))
    if codes.size == 0:
        raise ValueError("unigram_entropy_bits: no codes")
    if codes.min() < 0 or codes.max() >= n_classes:
        raise ValueError(f"codes must lie in [0, {n_classes})")
    p = np.bincount(codes, minlength=n_classes) / codes.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def snr_db(reference, estimate) -> float:
    """Signal-to-noise ratio in dB of `estimate` against `reference` (inf for a perfect copy)."""
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    est = np.asarray(estimate, dtype=np.float64).reshape(-1)
    if ref.shape != est.shape:
        raise ValueError(f"snr_db: shapes differ {ref.shape} vs {est.shape}")
    signal, noise = float((ref ** 2).sum()), float(((ref - est) ** 2).sum())
    if signal == 0:
        raise ValueError("snr_db: the reference is silent")
    if noise == 0:
        return math.inf
    return 10 * math.log10(signal / noise)
