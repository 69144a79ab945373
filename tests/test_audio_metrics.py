"""Bits-per-sample NLL, unigram entropy and SNR against independent computations and degenerate inputs."""
import math

import numpy as np
import pytest
import torch

from metrics.audio import nll_bits, nll_bits_sum, snr_db, unigram_entropy_bits


def test_nll_bits_against_explicit_log_softmax():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 256, 50, generator=g)
    y = torch.randint(256, (2, 50), generator=g)
    p = torch.softmax(logits.double(), dim=1)
    ref = -sum(math.log2(float(p[b, y[b, t], t])) for b in range(2) for t in range(50)) / 100
    assert nll_bits(logits, y) == pytest.approx(ref, rel=1e-9)
    total, n = nll_bits_sum(logits, y)
    assert n == 100 and total == pytest.approx(ref * 100, rel=1e-9)


def test_nll_bits_degenerate():
    uniform = torch.zeros(1, 256, 10)
    assert nll_bits(uniform, torch.zeros(1, 10, dtype=torch.long)) == pytest.approx(8.0)
    sure = torch.full((1, 256, 4), -1e4)
    sure[0, 7] = 1e4
    assert nll_bits(sure, torch.full((1, 4), 7)) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError):
        nll_bits(uniform, torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError):
        nll_bits(torch.zeros(1, 256, 0), torch.zeros(1, 0, dtype=torch.long))


def test_unigram_entropy():
    assert unigram_entropy_bits([5, 5, 5]) == 0.0
    assert unigram_entropy_bits(list(range(256))) == pytest.approx(8.0)
    assert unigram_entropy_bits([0, 0, 1, 2]) == pytest.approx(1.5)
    codes = np.random.default_rng(0).integers(0, 256, 10000)
    p = np.bincount(codes, minlength=256) / codes.size
    from scipy.stats import entropy
    assert unigram_entropy_bits(codes) == pytest.approx(entropy(p, base=2), rel=1e-12)
    with pytest.raises(ValueError):
        unigram_entropy_bits([256])
    with pytest.raises(ValueError):
        unigram_entropy_bits([])


def test_snr():
    x = np.sin(np.linspace(0, 20, 1000))
    assert snr_db(x, x) == math.inf
    assert snr_db(x, 0.9 * x) == pytest.approx(20.0)        # noise = 0.1 x -> 10 log10(100)
    assert snr_db(x, np.zeros_like(x)) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        snr_db(np.zeros(10), np.ones(10))
    with pytest.raises(ValueError):
        snr_db(x, x[:-1])
