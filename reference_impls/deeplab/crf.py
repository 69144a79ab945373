"""Fully connected CRF post-processing (Krähenbühl & Koltun 2011) through pydensecrf2.

The published DeepLab settings (and kazuto1011/deeplab-pytorch): 10 mean-field iterations,
a Gaussian (smoothness) kernel with w=3, xy=1, and a bilateral (appearance) kernel with w=4,
xy=67, rgb=3. The paper cross-validates w/xy/rgb on a val subset; `grid_search` does the same.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class CRFParams:
    iters: int = 10
    pos_w: float = 3.0
    pos_xy: float = 1.0
    bi_w: float = 4.0
    bi_xy: float = 67.0
    bi_rgb: float = 3.0

    def as_dict(self):
        return asdict(self)


PUBLISHED = CRFParams()


def dense_crf(image: np.ndarray, probs: np.ndarray, p: CRFParams = PUBLISHED) -> np.ndarray:
    """image: (H, W, 3) uint8; probs: (C, H, W) softmax probabilities. Returns (C, H, W) marginals."""
    from reference_impls.common import require
    dcrf = require("pydensecrf.densecrf", "pip install -e '.[crf]' (pydensecrf2, builds from source in ~30 s)")
    unary_from_softmax = require("pydensecrf.utils", "pip install -e '.[crf]'").unary_from_softmax
    c, h, w = probs.shape
    if image.shape[:2] != (h, w):
        raise ValueError(f"image is {image.shape[1]}x{image.shape[0]}, probabilities are {w}x{h}")
    d = dcrf.DenseCRF2D(w, h, c)
    d.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs.astype(np.float32))))
    d.addPairwiseGaussian(sxy=p.pos_xy, compat=p.pos_w)
    d.addPairwiseBilateral(sxy=p.bi_xy, srgb=p.bi_rgb, rgbim=np.ascontiguousarray(image, dtype=np.uint8), compat=p.bi_w)
    q = d.inference(p.iters)
    return np.asarray(q, dtype=np.float32).reshape(c, h, w)


def crf_labels(images: torch.Tensor, probs: torch.Tensor, p: CRFParams = PUBLISHED) -> torch.Tensor:
    """Batch version: images (N, 3, H, W) uint8, probs (N, C, H, W) -> labels (N, H, W) int64."""
    out = []
    for img, pr in zip(images, probs):
        q = dense_crf(img.permute(1, 2, 0).cpu().numpy(), pr.float().cpu().numpy(), p)
        out.append(torch.from_numpy(q.argmax(0)))
    return torch.stack(out).long()


def search_grid(bi_w=(3, 4, 5), bi_xy=(10, 20, 40, 67), bi_rgb=(3,)) -> list[CRFParams]:
    """The paper's cross-validation grid over the bilateral kernel (w, xy, rgb), the Gaussian
    kernel fixed at w=3, xy=1; the default includes the published VOC setting (4, 67, 3)."""
    return [CRFParams(bi_w=w, bi_xy=xy, bi_rgb=rgb) for w in bi_w for xy in bi_xy for rgb in bi_rgb]


def grid_search(images, probs, labels, score, grid: list[CRFParams]) -> tuple[CRFParams, list[tuple[CRFParams, float]]]:
    """Pick the CRF parameters with the best `score(pred, labels)` on held-out data (the paper's
    cross-validation of w, xy and rgb on a val subset)."""
    results = [(p, score(crf_labels(images, probs, p), labels)) for p in grid]
    return max(results, key=lambda r: r[1])[0], results
