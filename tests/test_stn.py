"""Spatial transformer parts on hand-made cases: the sampler against torch and by hand, its
gradients, the distorted-MNIST generator's recorded distortion, the alignment measure."""
import math

import pytest
import torch
import torch.nn.functional as F

from reference_impls.stn import experiment as stn
from reference_impls.stn.data import CANVAS, compose_to_canonical, distorted_mnist
from reference_impls.stn.model import STNClassifier
from reference_impls.stn.sampler import affine_grid, bilinear_sample, finite_difference_check, identity, transform


def test_sampler_equals_torch_grid_sample():
    g = torch.Generator().manual_seed(1)
    U = torch.randn(3, 2, 8, 11, generator=g, dtype=torch.float64)
    theta = identity(3, torch.float64) + 0.4 * torch.randn(3, 2, 3, generator=g, dtype=torch.float64)
    ours = transform(U, theta, (6, 9))
    ref = F.grid_sample(U, F.affine_grid(theta, (3, 2, 6, 9), align_corners=False), mode="bilinear",
                        padding_mode="zeros", align_corners=False)
    assert torch.allclose(ours, ref, atol=1e-12)
    assert torch.allclose(affine_grid(theta, 6, 9), F.affine_grid(theta, (3, 2, 6, 9), align_corners=False))


def test_sampler_by_hand():
    U = torch.arange(12.0).reshape(1, 1, 3, 4)
    # a point halfway between pixel (row 1, col 1) and (row 1, col 2): normalised x = (2*1.5+1)/4-1, y = 0
    grid = torch.tensor([[[[0.0, 0.0], [5.0, 0.0]]]])          # the second point lies outside: zero
    v = bilinear_sample(U, grid)
    assert v[0, 0, 0].tolist() == [5.5, 0.0]
    # identity at half resolution = 2x2 average pooling
    x = torch.rand(2, 1, 42, 42)
    assert torch.allclose(transform(x, identity(2), (21, 21)), F.avg_pool2d(x, 2), atol=1e-6)


def test_sampler_gradients_match_finite_differences():
    g = torch.Generator().manual_seed(2)
    U = torch.randn(1, 1, 5, 6, generator=g, dtype=torch.float64)
    theta = identity(1, torch.float64) + 0.2 * torch.randn(1, 2, 3, generator=g, dtype=torch.float64)
    r = finite_difference_check(U, theta, size=(4, 4))
    assert r["max_err_theta"] < 1e-6 * r["max_grad_theta"] and r["max_err_U"] < 1e-6 * r["max_grad_U"]
    assert r["max_grad_theta"] > 0


def test_distortion_is_recorded_and_invertible():
    """Undoing the recorded map M on the distorted canvas (no clutter from a blank donor) gives back
    the centred digit where the digit stayed on the canvas."""
    img = torch.zeros(3, 28, 28, dtype=torch.uint8)
    img[:, 8:20, 12:16] = 255
    blank = torch.zeros(5, 28, 28, dtype=torch.uint8)
    d = distorted_mnist(img, torch.tensor([1, 2, 3]), seed=0, clutter_from=blank)
    assert d.x.shape == (3, 1, CANVAS, CANVAS) and d.canonical.shape == (3, 1, CANVAS, CANVAS)
    assert torch.allclose(d.x.sum((1, 2, 3)) / d.canonical.sum((1, 2, 3)),
                          torch.linalg.det(d.M[:, :2, :2]), rtol=0.08)      # ink scales with s^2
    back = transform(d.x, d.M[:, :2], (CANVAS, CANVAS))            # canonical coords -> distorted: M
    assert float(stn.correlation(back, d.canonical).min()) > 0.9
    # a transformer that outputs exactly M gives C = M^-1 M = I for every image
    C = compose_to_canonical(d.M[:, :2].double(), d.M)
    assert torch.allclose(C, torch.eye(3, dtype=torch.float64).expand(3, 3, 3), atol=1e-6)
    angle = torch.rad2deg(torch.atan2(d.M[:, 1, 0], d.M[:, 0, 0]))
    assert float(angle.abs().max()) <= 45 + 1e-4
    again = distorted_mnist(img, torch.tensor([1, 2, 3]), seed=0, clutter_from=blank)
    assert torch.equal(again.x, d.x)                                  # seeded


def test_alignment_rewards_undoing_the_distortion():
    """A 'transformer' that applies the inverse distortion scores higher than the identity view."""
    g = torch.Generator().manual_seed(0)
    img = torch.zeros(20, 28, 28, dtype=torch.uint8)
    img[:, 8:20, 9:19] = ((torch.rand(20, 12, 10, generator=g) > 0.5) * 255).to(torch.uint8)
    d = distorted_mnist(img, torch.zeros(20, dtype=torch.long), seed=3, clutter_from=torch.zeros(2, 28, 28, dtype=torch.uint8))
    out = 21
    undo = d.M[:, :2]                    # output coords (canonical frame) -> distorted input
    ideal = stn.alignment(undo, d, undo, transform(d.x, undo, (out, out)), d)
    th, views = stn.identity_views(d.x, out)
    plain = stn.alignment(th, d, th, views, d)
    assert ideal["corr"] > 0.9 > plain["corr"]
    assert ideal["angle_sd"] < 1e-3 < plain["angle_sd"]
    assert math.isclose(plain["angle_sd"], float(torch.rad2deg(torch.atan2(d.M[:, 1, 0], d.M[:, 0, 0])).std()),
                        rel_tol=1e-4)


def test_untrained_transformer_is_the_plain_cnn():
    """The localisation net starts at the identity, and both arms start with the same classifier."""
    torch.manual_seed(0)
    net = STNClassifier(True)
    x = torch.rand(4, 1, CANVAS, CANVAS)
    v, theta = net.warp(x)
    assert torch.equal(theta, identity(4)) and torch.allclose(v, F.avg_pool2d(x, 2), atol=1e-6)


@pytest.mark.parametrize("transformer", [True, False])
def test_train_model_untrained_control_is_seeded(tmp_path, transformer):
    g = torch.Generator().manual_seed(0)
    img = (torch.rand(40, 28, 28, generator=g) * 255).to(torch.uint8)
    d = distorted_mnist(img, torch.arange(40) % 10, seed=0)
    data = {"train": d, "test": d, "fingerprint": "fake"}
    kw = dict(seed=0, epochs=1, batch=20, lr=1e-3, loc_lr=1e-4, cache_dir=tmp_path)
    a = stn.train_model(transformer, data, untrained=True, **kw)
    b = stn.train_model(transformer, data, untrained=True, **kw)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    t = stn.train_model(transformer, data, **kw)
    assert any(not torch.equal(p, q) for p, q in zip(a.state_dict().values(), t.state_dict().values()))
    plain, stn_net = (stn.train_model(f, data, untrained=True, **kw) for f in (False, True))
    assert all(torch.equal(p, q) for p, q in zip(plain.cnn.state_dict().values(), stn_net.cnn.state_dict().values()))


def test_clutter_pieces_overlay_by_max_as_a_loop_would():
    """The vectorised clutter equals pasting each 6x6 piece in turn with a pixel-wise max (the
    generator's draws replayed by hand)."""
    from reference_impls.stn import data as D
    g = torch.Generator().manual_seed(5)
    img = (torch.rand(6, 28, 28, generator=g) * 255).to(torch.uint8)
    donors = (torch.rand(4, 28, 28, generator=g) * 255).to(torch.uint8)
    d = distorted_mnist(img, torch.arange(6), seed=9, clutter_from=donors)
    n, k, c = 6, D.CLUTTER_PIECES, D.CLUTTER_SIZE
    g = torch.Generator().manual_seed(9)
    M = D.distortions(n, g)
    assert torch.equal(M, d.M)
    x = transform(D.centred(img), torch.linalg.inv(M)[:, :2], (CANVAS, CANVAS))
    src = donors.float() / 255
    donor = torch.randint(len(src), (n, k), generator=g)
    donor = torch.where(donor == torch.arange(n)[:, None] % len(src), (donor + 1) % len(src), donor)
    sy, sx = torch.randint(4, 28 - c - 4, (2, n, k), generator=g)
    ty, tx = torch.randint(0, CANVAS - c + 1, (2, n, k), generator=g)
    for i in range(n):
        for j in range(k):
            region = x[i, 0, ty[i, j]:ty[i, j] + c, tx[i, j]:tx[i, j] + c]
            torch.maximum(region, src[donor[i, j], sy[i, j]:sy[i, j] + c, sx[i, j]:sx[i, j] + c], out=region)
    assert torch.equal(d.x, x.clamp(0, 1))
    assert float((d.x - transform(D.centred(img), torch.linalg.inv(M)[:, :2], (CANVAS, CANVAS)).clamp(0, 1)).max()) > 0.5
