"""Boundaries: the fully connected CRF on the paper's trimap (DeepLab v2, Fig. 14), the DeepLabv3+ decoder
(Chen et al., ECCV 2018) against DeepLabv3 of the same backbone, and the upsampling of score maps.

All three are about where a coarse score map goes wrong: near object boundaries. They are measured on
the synthetic scenes (64x64, 3 shape classes + background, exact masks, crisp boundaries), where a
quarter-width ResNet-18 at output stride 16 gets the objects mostly right and its errors are mostly
boundary errors; the trimap mIoU is the mIoU over the pixels within TRIMAP px of a label boundary
(metrics.segmentation.trimap_scores). Two networks are trained (cached): DeepLabv3 (ASPP, score map
bilinearly upsampled 16x) and DeepLabv3+ (the same encoder, decoder with stride-4 low-level features).
Controls, through the same evaluation: the same network untrained, and the per-position class prior.
"""
import pytest
import torch

from metrics.segmentation import trimap_scores
from reference_impls.common import count_params, memo
from reference_impls.deeplab import (PUBLISHED, crf_labels, grid_search, position_prior, predict_labels,
                                     predict_prior, predict_probs, predict_scores, trained_model)
from reference_impls.deeplab.crf import CRFParams
from reference_impls.deeplab.scenes import SCENES_SMOKE, scene_data
from reference_impls.deeplab.train import score
from reference_impls.deeplab.upsample import (bilinear_upsample, nearest_upsample, train_upsampler,
                                              transposed_bilinear, transposed_upsampler)

CFG = SCENES_SMOKE
N = CFG["num_classes"]
TRIMAP = 2                    # band half-width in pixels at 64x64 (about a quarter of the labelled pixels)
WIDTHS = (1, 2, 4, 8)         # the trimap curve (Fig. 14), recorded
CRF_VAL, CRF_TEST = 16, 80    # the CRF grid on the first CRF_VAL val scenes, the chosen CRF on the first CRF_TEST test
                              # scenes (about 8 ms each; the CRF's trimap gain, ~25 points, dwarfs the subset's noise)
# the CRF's bilateral kernel cross-validated on the val scenes, as in the paper; includes the published 4/67/3.
# w = 4 with xy 10/30 was dropped from the grid on 2026-11-26 (4th session): it was never chosen at the ten
# calibration seeds (w 10 always: xy 30 / rgb 5 on seven, xy 10 / rgb 20 on three), so it only cost time.
CRF_GRID = [PUBLISHED] + [CRFParams(bi_w=10, bi_xy=xy, bi_rgb=rgb) for xy in (10, 30) for rgb in (5, 20)]


def miou(pred, y) -> float:
    return 100 * score(pred, y, N)["miou"]


def trimap(pred, y, width=TRIMAP) -> float:
    return 100 * trimap_scores(pred, y, N, width)["miou"]


@pytest.fixture(scope="module")
def scenes():
    return scene_data(CFG)


@pytest.fixture(scope="module")
def v3(scenes, seed, cache_dir):
    return trained_model(CFG, scenes, seed, cache_dir)


@pytest.fixture(scope="module")
def v3plus(scenes, seed, cache_dir):
    return trained_model(dict(CFG, head="v3+"), scenes, seed, cache_dir)


@pytest.fixture(scope="module")
def untrained(scenes, seed):
    """Controls: both networks at their seeded initialisation."""
    return {h: trained_model(dict(CFG, head=h), scenes, seed, untrained=True) for h in ("v3", "v3+")}


@pytest.fixture(scope="module")
def prior_pred(scenes):
    return predict_prior(position_prior(scenes["train"]["y"], N), len(scenes["test"]["y"]))


@pytest.fixture(scope="module")
def preds(scenes, v3, v3plus, untrained):
    x = scenes["test"]["x"]
    return {"v3": predict_labels(v3, x, CFG["eval_size"]), "v3+": predict_labels(v3plus, x, CFG["eval_size"]),
            "untrained_v3": predict_labels(untrained["v3"], x, CFG["eval_size"]),
            "untrained_v3+": predict_labels(untrained["v3+"], x, CFG["eval_size"])}


# ----------------------------------------------------------------------------- DeepLabv3+ vs DeepLabv3
def test_v3plus_decoder_beats_v3(claim, scenes, v3, v3plus, preds, prior_pred):
    """DeepLabv3+ (ECCV 2018, section 4.1 / Fig. 5): adding the decoder (upsample the ASPP output 4x,
    concatenate stride-4 low-level features, two 3x3 convs) to DeepLabv3 raises mIoU, and raises the
    trimap mIoU along object boundaries by more (the paper: +4.8 trimap points at the narrowest band
    vs +1.6 mIoU for bilinear upsampling -> decoder)."""
    y = scenes["test"]["y"]
    m = {k: miou(p, y) for k, p in preds.items()}
    t = {k: trimap(p, y) for k, p in preds.items()}
    curve = {k: [round(trimap(preds[k], y, w), 2) for w in WIDTHS] for k in ("v3", "v3+")}
    claim("deeplabv3plus_beats_v3", m["v3+"], than=m["v3"],
          controls={"untrained": m["untrained_v3+"], "position_prior": miou(prior_pred, y)},
          params_v3=count_params(v3), params_v3plus=count_params(v3plus), test_scenes=len(y))
    claim("deeplabv3plus_beats_v3_trimap", t["v3+"], than=t["v3"],
          controls={"untrained": t["untrained_v3+"], "position_prior": trimap(prior_pred, y)},
          trimap_width=TRIMAP, trimap_widths=list(WIDTHS), trimap_curve_v3=curve["v3"], trimap_curve_v3plus=curve["v3+"],
          band_fraction=trimap_scores(preds["v3"], y, N, TRIMAP)["band_fraction"])
    claim("deeplabv3plus_gain_larger_on_boundaries", t["v3+"] - t["v3"], than=m["v3+"] - m["v3"],
          controls={"untrained": t["untrained_v3+"] - t["untrained_v3"]},
          miou_v3=m["v3"], miou_v3plus=m["v3+"], trimap_v3=t["v3"], trimap_v3plus=t["v3+"])


# ----------------------------------------------------------------------------- the CRF on the trimap
def test_dense_crf_sharpens_boundaries(claim, scenes, v3plus, untrained, preds, prior_pred, artifacts):
    """DeepLab v2 section 4.1 / Fig. 14: the fully connected CRF helps most along object boundaries
    (trimap mIoU). Applied to the mostly-right DeepLabv3+ (its errors are boundary errors: trimap mIoU
    well below its mIoU), bilateral w/xy/rgb cross-validated on the val scenes (the grid includes the
    published 4/67/3); the untrained network through the same CRF is the control."""
    xv, yv = scenes["val"]["x"][:CRF_VAL], scenes["val"]["y"][:CRF_VAL]
    best, tried = grid_search(xv, predict_probs(v3plus, xv, CFG["eval_size"]), yv, trimap, CRF_GRID)
    x, y = scenes["test"]["x"][:CRF_TEST], scenes["test"]["y"][:CRF_TEST]
    probs = predict_probs(v3plus, x, CFG["eval_size"])
    plain, crf = probs.argmax(1), crf_labels(x, probs, best)
    untrained_crf = crf_labels(x, predict_probs(untrained["v3+"], x, CFG["eval_size"]), best)
    claim("crf_improves_trimap_miou", trimap(crf, y), than=trimap(plain, y),
          controls={"untrained": trimap(untrained_crf, y), "position_prior": trimap(prior_pred[:CRF_TEST], y)},
          crf=best.as_dict(), test_scenes=len(y), val_scenes=len(yv), miou_without_crf=miou(plain, y), miou_with_crf=miou(crf, y),
          trimap_curve_without_crf=[round(trimap(plain, y, w), 2) for w in WIDTHS],
          trimap_curve_with_crf=[round(trimap(crf, y, w), 2) for w in WIDTHS],
          val_trimap_published_crf=dict(tried)[PUBLISHED])
    _figure(artifacts, x, y, plain, crf, preds["v3"][:CRF_TEST])


def _figure(artifacts, x, y, plain, crf, v3, n=4):
    """n scenes x 5 panels stitched into one image on one axes (a 4 x 5 grid of axes took 5x the CPU to draw)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from datasets.camvid import COLORS
    titles = ["scene", "ground truth", "DeepLabv3", "DeepLabv3+", "v3+ + dense CRF"]
    h, w, gap = x.shape[-2], x.shape[-1], 4
    grid = np.full((n * (h + gap) - gap, len(titles) * (w + gap) - gap, 3), 255, dtype=np.uint8)
    for r in range(n):
        panels = [x[r].permute(1, 2, 0).numpy()] + [COLORS[p[r].numpy()] for p in (y, v3, plain, crf)]
        for c, im in enumerate(panels):
            grid[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = im
    fig, ax = plt.subplots(figsize=(10, 2.1 * n))
    ax.imshow(grid, interpolation="nearest")
    ax.set_yticks([])
    ax.set_xticks([c * (w + gap) + w / 2 for c in range(len(titles))], titles)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    artifacts.save_figure(fig, "scenes_v3_v3plus_crf")


# ----------------------------------------------------------------------------- upsampling
def test_upsampling_exact(claim):
    ramp, nearest, tconv = _upsampling_errors()
    claim("bilinear_reproduces_linear_ramp", ramp, dtype="float32")
    claim("nearest_reproduces_piecewise_constant", nearest)
    claim("transposed_conv_bilinear_init_equals_bilinear", tconv, factor=4, kernel=8)


def _upsampling_errors():
    """The notes' upsampling: bilinear interpolation reproduces a linear ramp exactly (corner-aligned
    grid), nearest neighbour reproduces a piecewise-constant image (constant on f x f blocks), and a
    stride-f transposed convolution initialised to the bilinear kernel is bilinear upsampling."""
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(0)
    h, w, f = 5, 7, 4
    a, b, c = torch.randn(3, generator=g).tolist()
    ii, jj = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    ramp = (a * ii + b * jj + c)[None, None]
    H, W = (h - 1) * f + 1, (w - 1) * f + 1          # corner-aligned: fine sample k sits at coarse k / f
    fi, fj = torch.meshgrid(torch.arange(H) / f, torch.arange(W) / f, indexing="ij")
    up = F.interpolate(ramp, size=(H, W), mode="bilinear", align_corners=True)
    claim_err = float((up[0, 0] - (a * fi + b * fj + c)).abs().max())
    coarse = torch.randn(2, 3, h, w, generator=g)
    blocks = coarse.repeat_interleave(f, -2).repeat_interleave(f, -1)       # constant on f x f blocks
    nearest_err = float((nearest_upsample(coarse, f) - blocks).abs().max())
    conv = transposed_upsampler(3, f)
    with torch.inference_mode():
        tconv_err = float((transposed_bilinear(conv, coarse) - bilinear_upsample(coarse, f)).abs().max())
    return claim_err, nearest_err, tconv_err


def test_learned_transposed_conv_vs_bilinear(claim, scenes, v3, untrained, prior_pred, seed, cache_dir):
    """FCN-style learned upsampling: a stride-16 transposed convolution (class scores in, class scores out,
    initialised to bilinear) trained on the frozen DeepLabv3's train-set score maps, against the fixed
    bilinear upsampling of the same score maps, on the test scenes."""
    tr, te = scenes["train"], scenes["test"]
    key = dict(model="deeplabv3", cfg={k: v for k, v in CFG.items()}, seed=seed)
    s_train = memo("deeplab_scene_scores", dict(key, split="train"), lambda: predict_scores(v3, tr["x"]),
                   cache_dir=cache_dir)
    up = train_upsampler(s_train, tr["y"], 16, seed, cache_dir=cache_dir, key=key)
    with torch.inference_mode():
        s_test = predict_scores(v3, te["x"])
        learned, bilinear = up(s_test).max(1).indices, bilinear_upsample(s_test, 16).max(1).indices   # = argmax(1), faster
        s_untrained = predict_scores(untrained["v3"], te["x"])
        untrained_learned = train_upsampler(s_untrained, tr["y"], 16, seed, untrained=True)(s_untrained).max(1).indices
    y = te["y"]
    claim("learned_upsampling_beats_bilinear", miou(learned, y), than=miou(bilinear, y),
          controls={"untrained": miou(untrained_learned, y), "position_prior": miou(prior_pred, y)},
          trimap_learned=trimap(learned, y), trimap_bilinear=trimap(bilinear, y), upsampler_params=count_params(up))
