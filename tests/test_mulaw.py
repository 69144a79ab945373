"""mu-law companding against G.711's formula written out independently, and its error bound."""
import math

import numpy as np
import pytest
import torch

from datasets.audio import mu_law_decode, mu_law_encode, mu_law_error_bound


def _encode_ref(x, mu=255):
    # F(x) = sgn(x) ln(1 + mu|x|) / ln(1 + mu), quantized to mu + 1 levels on [-1, 1]
    out = []
    for v in x:
        v = min(1.0, max(-1.0, float(v)))
        f = math.copysign(math.log(1 + mu * abs(v)) / math.log(1 + mu), v)
        out.append(int(math.floor((f + 1) / 2 * mu + 0.5)))
    return out


def test_encode_matches_reference_formula():
    x = np.random.default_rng(0).uniform(-1, 1, 5000)
    x = np.concatenate([x, [-1, -0.5, 0, 1e-6, 0.5, 1, 2, -3]])
    assert mu_law_encode(x).tolist() == _encode_ref(x)


def test_endpoints_and_silence():
    assert mu_law_encode([-1.0, 0.0, 1.0]).tolist() == [0, 128, 255]
    assert mu_law_decode([0, 255]).tolist() == [-1.0, 1.0]
    assert abs(float(mu_law_decode([128]))) < 1e-4          # the code nearest silence decodes near 0
    assert len(set(mu_law_encode(np.linspace(-1, 1, 200001)).tolist())) == 256


def test_round_trip_within_bound_and_bound_is_tight():
    x = torch.linspace(-1, 1, 2_000_001, dtype=torch.float64)
    err = (mu_law_decode(mu_law_encode(x)).double() - x).abs()
    bound = mu_law_error_bound()
    assert float(err.max()) <= bound + 1e-6                   # float32 decode
    assert float(err.max()) > 0.99 * bound                    # the bound is attained near |x| = 1
    assert abs(bound - 0.021594) < 1e-5


def test_decode_rejects_out_of_range_codes():
    with pytest.raises(ValueError, match="codes must lie in"):
        mu_law_decode([0, 256])
    with pytest.raises(ValueError, match="codes must lie in"):
        mu_law_decode([-1])


def test_small_signals_are_finely_quantized():
    # the error scales with the local slope of the expansion: ln(1 + mu) (1 + mu|x|) / mu per code step
    x = torch.tensor([0.001, 0.01, -0.002, 0.1], dtype=torch.float64)
    err = (mu_law_decode(mu_law_encode(x)).double() - x).abs()
    slope_bound = (1 / 255) * math.log(256) * (1 + 255 * (x.abs() + 0.01)) / 255
    assert bool((err <= slope_bound).all())
    assert float(err[0]) < 1e-4 < float(err[3])
