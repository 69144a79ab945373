"""Hand-made cases for reference_impls.weak_supervision (the suite's proxy, ACoL erasing, map and
segmentation metrics, the NIN identity)."""
import numpy as np
import pytest
import torch

from reference_impls.weak_supervision import (ACoLNet, NINNet, SegNet, box_prior_masks, cam_seed_masks, centre_gaussian,
                                              head_area_share, head_share, max_mask_iou, miou, normalize_maps,
                                              parts_proxy)
from reference_impls.weak_supervision.part_objects import BODY, HEAD
from reference_impls.weak_supervision.smoke import nin_outputs
from reference_impls.weak_supervision.train import median_frequency_weights


def test_parts_proxy_deterministic_with_consistent_boxes_and_masks():
    a, b = parts_proxy(12, 3, "train"), parts_proxy(12, 3, "train")
    assert torch.equal(a["images"], b["images"]) and torch.equal(a["masks"], b["masks"])
    assert not torch.equal(a["images"], parts_proxy(12, 3, "test")["images"])
    for m, box, sem, y in zip(a["masks"], a["boxes"], a["semantic"], a["labels"]):
        assert (m == HEAD).any() and (m == BODY).any()
        ys, xs = torch.nonzero(m > 0, as_tuple=True)
        assert box.tolist() == [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]
        assert set(sem.unique().tolist()) == {0, int(y) + 1}
        assert torch.equal(sem > 0, m > 0)
    # the body is the larger part: a head-only box cannot reach IoU 0.5 with the object's box
    assert head_area_share(a["masks"]) < 0.4


def test_normalize_maps_and_acol_erasing():
    maps = torch.tensor([[[0.0, 1.0], [2.0, 4.0]]])
    assert torch.allclose(normalize_maps(maps), torch.tensor([[[0.0, 0.25], [0.5, 1.0]]]))
    net = ACoLNet(2, width=2, threshold=0.6)
    f = torch.ones(1, 3, 2, 2)
    map_a = torch.zeros(1, 2, 2, 2)
    map_a[0, 1] = torch.tensor([[0.0, 1.0], [2.0, 4.0]])       # class 1: normalised 0, .25, .5, 1
    erased = net.erase(f, map_a, torch.tensor([1]))
    assert erased[0, :, 1, 1].eq(0).all() and erased[0, :, 0, 0].eq(1).all() and erased[0, :, 1, 0].eq(1).all()
    # class 0's map is constant: normalised to 0 everywhere, nothing erased
    assert net.erase(f, map_a, torch.tensor([0])).eq(1).all()


def test_head_share_and_mask_iou_on_hand_made_maps():
    parts = np.zeros((1, 4, 4), np.int64)
    parts[0, 0, :2] = HEAD
    parts[0, 1:, :2] = BODY                               # head 2 px, body 6 px
    uniform = np.ones((1, 4, 4))
    uniform[0, :, 2:] = 0                                 # map = the object's footprint
    assert head_share(uniform, parts) == pytest.approx(2 / 8)
    assert head_area_share(parts) == pytest.approx(2 / 8)
    head_only = (parts == HEAD).astype(float)
    assert head_share(head_only, parts) == pytest.approx(1.0)
    r = max_mask_iou(uniform, parts > 0)
    assert r["max_mask_iou"] == pytest.approx(100.0)
    # threshold 0 takes the whole 4x4 canvas (IoU 8/16), any higher one the head alone (2/8): the best is 50
    assert max_mask_iou(head_only, parts > 0)["max_mask_iou"] == pytest.approx(50.0)


def test_centre_gaussian_peaks_at_the_centre():
    g = centre_gaussian(8, 2.0)
    assert g.shape == (8, 8) and g[3, 3] == g[4, 4] == g.max() and g[0, 0] < g[3, 3]


def test_seed_and_box_prior_masks_and_miou():
    maps = np.array([[[0.0, 0.2], [0.5, 1.0]]])
    seeds = cam_seed_masks(maps, [2], threshold=0.4)
    assert seeds.tolist() == [[[0, 0], [3, 3]]]
    box = box_prior_masks((1, 0, 1, 1), [0], size=2)
    assert box.tolist() == [[[0, 1], [0, 1]]]
    target = np.array([[[0, 0], [3, 3]]])
    r = miou(seeds, target, 4)
    assert r["miou"] == pytest.approx(100.0)            # classes 1 and 2 absent from both: nan, left out
    r = miou(box, target, 4)                             # bg IoU 1/3, class 1 IoU 0, class 3 IoU 0
    assert r["miou"] == pytest.approx(100 * (1 / 3) / 3)


def test_median_frequency_weights():
    masks = torch.tensor([[[0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 2, 0]]])   # freq 9/12, 2/12, 1/12
    w = median_frequency_weights(masks, 4)
    assert w.tolist() == pytest.approx([2 / 9, 1.0, 2.0, 0.0])


def test_nin_class_channels_are_cams_for_any_weights():
    torch.manual_seed(0)
    net = NINNet(3, width=2).eval()
    x, y = torch.randn(5, 3, 64, 64), torch.tensor([0, 1, 2, 0, 1])
    out = nin_outputs(net, x, y)
    assert out["logit_vs_gap"] < 1e-6 and out["channel_vs_cam"] < 1e-5
    assert out["gt_map"].shape == (5, 64, 64)


def test_segnet_output_size():
    assert SegNet(4, width=2)(torch.randn(2, 3, 64, 64)).shape == (2, 5, 64, 64)


def test_full_tier_evaluation_runs_on_fake_images(tmp_path):
    """evaluate_acol on two generated JPEGs with a tiny ACoLNet: the whole full-tier path (224 px
    inputs, per-class fused maps, boxes rescaled to the image) gives ILSVRC errors in [0, 100]."""
    from PIL import Image

    from reference_impls.weak_supervision.imagenet import evaluate_acol
    samples = []
    for i, size in enumerate(((120, 90), (64, 100))):
        path = tmp_path / f"img{i}.jpg"
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        samples.append({"path": path, "class": i, "boxes": np.array([[5.0, 5.0, 40.0, 50.0]])})
    torch.manual_seed(0)
    r = evaluate_acol(ACoLNet(3, width=2), samples, k=2, batch_size=1)
    assert r["n"] == 2 and all(0 <= r[k] <= 100 for k in ("top1_loc_error", "top5_loc_error", "top1_cls_error"))


def test_shared_map_scores_equal_its_per_image_copies():
    """A fixed prior (one 2-D map) is swept once; every metric equals the per-image stack's."""
    from reference_impls.weak_supervision.maps import localization_scores
    data = parts_proxy(6, 1, "test")
    g = centre_gaussian(64, 16.0)
    assert localization_scores(g, data) == localization_scores(np.stack([g] * 6), data)


def test_parts_proxy_parts_concatenate_and_empty_canvases():
    """A set is the concatenation of its parts (the suite draws only the canvases it lacks); the
    object-free canvases have their own stream and no object."""
    from reference_impls.weak_supervision.part_objects import empty_canvases
    whole, head, tail = parts_proxy(5, 2, "test"), parts_proxy(2, 2, "test"), parts_proxy(3, 2, "test", first=2)
    for k, v in whole.items():
        assert torch.equal(v, torch.cat([head[k], tail[k]])), k
    e = empty_canvases(3, 2)
    assert e.shape == (3, 3, 64, 64) and torch.equal(e, empty_canvases(3, 2))
    assert empty_canvases(0, 2).shape == (0, 3, 64, 64)
    # same background, clutter and distractor as the object canvas of the same generator, minus the object
    from reference_impls.weak_supervision.part_objects import make_parts_object
    img, cls, parts = make_parts_object(np.random.default_rng([2, 12, 0]))
    bare, none, no_parts = make_parts_object(np.random.default_rng([2, 12, 0]), empty=True)
    assert none == -1 and not no_parts.any() and cls >= 0 and parts.any()
    assert (img[parts == 0] == bare[parts == 0]).all() and (img[parts > 0] != bare[parts > 0]).any()


def test_image_label_loss_uniform_target_on_object_free_canvases():
    from reference_impls.weak_supervision.train import image_label_loss
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5], [3.0, 0.0, 0.0]])
    y = torch.tensor([0, -1, -1])
    logp = torch.log_softmax(logits, 1)
    want = -(logp[0, 0] + logp[1].mean() + logp[2].mean()) / 3
    assert float(image_label_loss(logits, y)) == pytest.approx(float(want), rel=1e-6)
    # equal logits are the optimum on an object-free canvas: log K
    assert float(image_label_loss(logits[1:2], y[1:2])) == pytest.approx(float(np.log(3)), rel=1e-6)
    # labels only: plain cross-entropy
    assert float(image_label_loss(logits, torch.tensor([0, 1, 2]))) == pytest.approx(
        float(torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2]))))
    # sigmoid: all-zero target on an object-free canvas
    bce = image_label_loss(logits, y, "sigmoid")
    target = torch.tensor([[1.0, 0, 0], [0, 0, 0], [0, 0, 0]])
    assert float(bce) == pytest.approx(float(torch.nn.functional.binary_cross_entropy_with_logits(logits, target)))
    with pytest.raises(ValueError):
        image_label_loss(logits, y, "hinge")


def test_acol_top1_maps_in_one_pass_and_erasing_of_object_free_canvases():
    torch.manual_seed(0)
    net = ACoLNet(3, width=2).eval()
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        top = net(x)[0].argmax(1)
        one = net.localization_maps(x, None)
        two = net.localization_maps(x, top)
        assert torch.equal(one["classes"], top) and torch.equal(one["fused"], two["fused"])
        # label -1 (an object-free training canvas): B's input is erased with A's top-1 class's map
        la, lb = net(x, torch.full((4,), -1))
        assert torch.equal(lb, net(x, top)[1])


def test_cam_seed_masks_of_normalised_maps():
    from reference_impls.weak_supervision.maps import normalized
    maps = np.array([[[1.0, 2.0], [3.0, 5.0]]])
    assert cam_seed_masks(normalized(maps), [1], 0.5, is_normalized=True).tolist() == \
        cam_seed_masks(maps, [1], 0.5).tolist() == [[[0, 0], [2, 2]]]


def test_suite_canvas_sets_are_drawn_once_as_prefixes():
    """The localization's test set is the segmentation's first canvases: a larger set reuses the
    smaller one and draws the rest; a smaller one is a slice; both equal parts_proxy's."""
    from reference_impls.weak_supervision import smoke
    smoke._CANVASES.clear()
    small, big = smoke._canvases(2, 5, "test"), smoke._canvases(4, 5, "test")
    again = smoke._canvases(3, 5, "test")
    ref = parts_proxy(4, 5, "test")
    for k in ref:
        assert torch.equal(big[k], ref[k]) and torch.equal(small[k], ref[k][:2]) and torch.equal(again[k], ref[k][:3])
    smoke._CANVASES.clear()
