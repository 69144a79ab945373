"""reference_impls.detection.priors: the image-blind box priors used as controls, on hand-made boxes."""
from __future__ import annotations

import numpy as np
import torch

from reference_impls.detection.priors import box_iou, centre_box_prior, fixed_box_prior


def _train(boxes_per_image, labels_per_image, size=64, classes=("a", "b")):
    return {"images": torch.zeros(len(boxes_per_image), 3, size, size),
            "targets": [{"boxes": torch.tensor(b, dtype=torch.float32).reshape(-1, 4),
                         "labels": torch.tensor(l, dtype=torch.int64)}
                        for b, l in zip(boxes_per_image, labels_per_image)],
            "class_names": classes}


def test_box_iou_by_hand():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 50 / 150, 0.0]])


def test_centre_box_is_the_class_mean_box_at_the_centre_with_class_frequency():
    train = _train([[[0, 0, 10, 20]], [[30, 30, 50, 40], [5, 5, 15, 25]]], [[0], [1, 0]])
    out = centre_box_prior(train, n_images=3)
    assert len(out) == 3 and all(np.array_equal(o["boxes"], out[0]["boxes"]) for o in out)
    p = out[0]
    assert list(p["labels"]) == [0, 1]
    np.testing.assert_allclose(p["boxes"][0], [27, 22, 37, 42])     # class a: 10 x 20 at (32, 32)
    np.testing.assert_allclose(p["boxes"][1], [22, 27, 42, 37])     # class b: 20 x 10
    np.testing.assert_allclose(p["scores"], [2 / 3, 1 / 3], rtol=1e-6)


def test_fixed_boxes_cover_the_most_training_boxes_first():
    """Class a: the same box in 3 images, another box in 1 image; class b: one box. The prior
    takes the frequent box first (confidence 3/4 images), then the rare one (1/4)."""
    frequent, rare = [0, 0, 10, 10], [40, 40, 60, 60]
    train = _train([[frequent], [frequent], [frequent, [10, 40, 20, 50]], [rare]], [[0], [0], [0, 1], [0]])
    p = fixed_box_prior(train, n_images=2, k=5)[0]
    a = p["labels"] == 0
    np.testing.assert_allclose(p["boxes"][a], [frequent, rare])
    np.testing.assert_allclose(p["scores"][a], [3 / 4, 1 / 4])
    np.testing.assert_allclose(p["boxes"][~a], [[10, 40, 20, 50]])
    assert len(fixed_box_prior(train, n_images=1, k=1)[0]["boxes"]) == 2   # k per class
