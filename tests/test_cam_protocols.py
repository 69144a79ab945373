"""The CAM paper's full-tier protocols on hand-made cases: the authors' heuristic boxes (dt_box +
bboxCombine), the ten-crop CAM merge, strict pretrained-weight loading, Grad-CAM on nets with and
without GAP, the centred Gaussian control."""
import numpy as np
import pytest
import torch

from reference_impls.cam import build_model
from reference_impls.cam.boxes import combine_guesses, dt_box_rects, dt_boxes, heatmap_gray, heuristic_predictions
from reference_impls.cam.imagenet import merge_ten_crop, ten_crop_offsets, ten_crops
from reference_impls.common import CheckpointError


# ----------------------------------------------------------------------------- heuristic boxes (dt_box.cpp)
def test_dt_box_two_blobs_ranked_and_merged():
    g = np.zeros((100, 120), np.uint8)
    g[10:30, 20:40] = 200          # A: 20x20, above all three thresholds (20, 100, 110)
    g[60:66, 80:86] = 60           # B: 6x6, above 20 only
    rects = dt_box_rects(g)
    # A at each of the three thresholds, B once; ranked by area: A A A B. mergeBBox removes the second
    # A (overlap > half) and, skipping the element that moved into its place, keeps the third.
    assert rects == [(20, 10, 20, 20), (20, 10, 20, 20), (80, 60, 6, 6)]
    assert dt_boxes(g.astype(float)) == [(20, 10, 40, 30), (20, 10, 40, 30)]   # [x, y, x + w, y + h]


def test_dt_box_drops_thin_parts_and_clamps_at_the_border():
    g = np.zeros((100, 100), np.uint8)
    g[20:80, 10:70] = 255          # 60x60 block: largest distance 30
    g[49, 70:80] = 255             # a one-pixel line sticking out to x = 79
    # distance 1 scales to round(255 / 30) = 9 <= 10: the line and the block's one-pixel rim drop out;
    # only (49, 69), whose nearest background is diagonal (1.41 -> 12 > 10), keeps column 69
    assert dt_box_rects(g)[0] == (11, 21, 59, 58)
    h = np.zeros((50, 50), np.uint8)
    h[10:20, 40:50] = 255          # touches the right border: width clamped to W - x - 5
    assert dt_box_rects(h)[0] == (40, 10, 5, 10)


def test_heatmap_gray_and_empty_map():
    m = np.array([[-1.0, 0.0], [0.5, 2.0]])
    assert heatmap_gray(m).tolist() == [[0, 0], [64, 255]]
    assert dt_boxes(np.zeros((8, 10))) == [(0, 0, 9, 7)] * 2          # no box: the whole image


def test_bbox_combine_order():
    classes, boxes = combine_guesses([7, 3, 5, 1, 2], [["a1", "a2"], ["b1", "b2"], ["c1", "c2"], ["d1"], ["e1"]])
    assert classes == [7, 7, 3, 3, 5] and boxes == ["a1", "a2", "b1", "b2", "c1"]
    maps = [np.pad(np.ones((10, 10)), 20) for _ in range(5)]
    c, b = heuristic_predictions([4, 2, 9, 0, 1], maps)
    assert c == [4, 4, 2, 2, 9] and b[0] == (20, 20, 30, 30)


# ----------------------------------------------------------------------------- ten-crop merge (mergeTenCrop.m)
def test_ten_crop_merge_puts_each_crop_back():
    full, crop = 12, 8
    m = torch.randn(1, 1, full, full)
    crops = ten_crops(m, crop)                            # (10, 1, 8, 8), mirrors flipped
    assert len(ten_crop_offsets(full, crop)) == 10
    merged = merge_ten_crop(crops[:, 0][None], full)[0]   # (12, 12)
    cover = torch.zeros(full, full)
    for t, left, _ in ten_crop_offsets(full, crop):
        cover[t:t + crop, left:left + crop] += 1
    assert torch.allclose(merged, m[0, 0].abs() * cover)
    # mirrored crops are flipped: crop 5 (mirrored top-left) equals crop 0 flipped
    assert torch.equal(crops[5], crops[0].flip(-1))


def test_evaluate_ilsvrc_ten_and_single_crop(tmp_path):
    from PIL import Image

    from reference_impls.cam.imagenet import evaluate_ilsvrc
    samples = []
    for i, (w, h) in enumerate([(300, 200), (180, 240)]):
        img = np.full((h, w, 3), 40, np.uint8)
        img[h // 4:h // 2, w // 4:w // 2] = 220
        Image.fromarray(img).save(tmp_path / f"im{i}.JPEG")
        samples.append({"id": f"im{i}", "path": tmp_path / f"im{i}.JPEG", "class": i, "size": (w, h),
                        "boxes": np.array([[w // 4, h // 4, w // 2 - 1, h // 2 - 1]], float)})
    torch.manual_seed(0)
    model = build_model("small_vgg", 6)
    for crops in ("ten", "single"):
        for box in ("plain", "heuristic"):
            r = evaluate_ilsvrc(model, samples, "cam", crops=crops, box=box)
            assert r["crops"] == crops and r["box"] == box and 0 <= r["top5_loc_error"] <= r["top1_loc_error"] <= 100
    with pytest.raises(ValueError):
        evaluate_ilsvrc(model, samples, box="dt")


# ----------------------------------------------------------------------------- strict pretrained weights
def test_googlenet_weights_load_strictly(tmp_path):
    import torchvision

    from reference_impls.cam.models import off_the_shelf
    good = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True).state_dict()
    torch.save(good, tmp_path / "googlenet.pth")
    m = build_model("googlenet", 10, backbone_weights=tmp_path / "googlenet.pth")   # aux1/aux2 may be left over
    assert torch.equal(m.features[1].conv.weight, good["conv1.conv.weight"])
    assert torch.equal(off_the_shelf("googlenet", tmp_path / "googlenet.pth").head[-1].weight, good["fc.weight"])
    torch.save({f"module.{k}": v for k, v in good.items()}, tmp_path / "prefixed.pth")
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "other.pth")
    for bad in ("prefixed.pth", "other.pth", "missing.pth"):
        with pytest.raises(CheckpointError, match=bad):
            build_model("googlenet", 10, backbone_weights=tmp_path / bad)
    with pytest.raises(CheckpointError, match="other.pth"):
        off_the_shelf("googlenet", tmp_path / "other.pth")


# ----------------------------------------------------------------------------- Grad-CAM, controls
def test_gradcam_before_relu_is_cam_over_z_on_a_gap_net():
    from reference_impls.cam.proxy import gradcam_matches_cam
    torch.manual_seed(0)
    m = build_model("small_vgg", 6).eval()
    r = gradcam_matches_cam(m, torch.randn(3, 3, 64, 64), torch.tensor([[0], [2], [5]]))
    assert r["scale_times_z"] == pytest.approx(1.0, abs=1e-5) and r["max_rel_deviation"] < 1e-5


def test_gradcam_runs_on_a_net_without_gap():
    from reference_impls.cam.maps import gradcam
    torch.manual_seed(0)
    m = build_model("small_vgg", 6, pool="fc").eval()
    x = torch.randn(2, 3, 64, 64)
    logits, f = m(x, return_features=True)
    assert logits.shape == (2, 6) and f.shape[-2:] == (16, 16) and not hasattr(m, "fc")
    assert m.head[2].in_features == 64 * 4 * 4          # FC layers on a 4x4 grid of the 64-wide maps
    _, maps, top = gradcam(m, x, k=2)
    assert maps.shape == (2, 2, 64, 64) and (maps >= 0).all()


def test_centre_gaussian_peaks_in_the_middle():
    from reference_impls.cam.proxy import centre_gaussian
    g = centre_gaussian(9, 7, 2.0)
    assert g.max() == 1.0 and g.min() == 0.0 and np.unravel_index(g.argmax(), g.shape) == (3, 4)


def test_contour_area_fast_paths_match_the_hole_filled_polygon():
    """`_contour_area` skips the hole filling of thin crops (at most 2 pixels high or wide: no hole
    possible); on random components it equals binary_fill_holes + the 2x2-cell count it replaces."""
    from scipy import ndimage
    from metrics import localization as L
    rng = np.random.default_rng(0)
    n = 0
    for _ in range(400):
        m = rng.random((rng.integers(1, 10), rng.integers(1, 10))) < rng.random()
        lab, _ = ndimage.label(m, structure=L._EIGHT)
        for i, sl in enumerate(ndimage.find_objects(lab)):
            c = lab[sl] == i + 1
            f = ndimage.binary_fill_holes(np.pad(c, 1), structure=L._FOUR)
            cells = f[:-1, :-1].astype(int) + f[1:, :-1] + f[:-1, 1:] + f[1:, 1:]
            assert L._contour_area(c) == float((cells == 4).sum() + 0.5 * (cells == 3).sum())
            n += 1
    ring = np.ones((3, 3), bool)
    ring[1, 1] = False                      # a one-pixel hole: filled, the 3x3 square's area 4
    assert L._contour_area(ring) == 4.0 and L._contour_area(np.ones((2, 7), bool)) == 6.0 and n > 500


def test_gt_only_evaluation_gives_the_gt_known_metrics():
    """`evaluate(..., gt_only=True)` (one GT-class map per image) gives the same GT-known metrics
    and top-1 classification error as the full evaluation (which also boxes the predicted class)."""
    from datasets.wsol_proxy import wsol_proxy
    from reference_impls.cam import evaluate
    torch.manual_seed(0)
    m = build_model("small_vgg", 6, pool="fc").eval()
    data = wsol_proxy(24, 0, "test")
    full = evaluate(m, data, "gradcam", k=1, batch_size=10, interval=0.1)
    gt = evaluate(m, data, "gradcam", gt_only=True, batch_size=10, interval=0.1, keep_maps=2)
    for key in ("top1_cls_error", "gt_known_loc", "max_box_acc", "max_box_acc_v2"):
        assert gt[key] == pytest.approx(full[key]), key
    assert "top1_loc_error" not in gt and len(gt["examples"]) == 2
