"""metrics.localization: ILSVRC loc error, GT-known loc, MaxBoxAcc / MaxBoxAccV2 (wsolevaluation)."""
import json

import numpy as np
import pytest

from metrics import localization as L


# ----------------------------------------------------------------------------- IoU, box conventions
def test_iou_inclusive_pixels():
    # columns 0..9 and 5..14: 5 shared of 15 -> 1/3 with the +1 convention (not 5/15 of exclusive 0..10)
    assert L.iou([0, 0, 9, 0], [5, 0, 14, 0])[0, 0] == pytest.approx(5 / 15)
    assert L.iou([3, 3, 3, 3], [3, 3, 3, 3])[0, 0] == 1.0          # a single pixel is a box of area 1
    assert L.iou([0, 0, 1, 1], [2, 2, 3, 3])[0, 0] == 0.0          # touching corners, no shared pixel
    assert L.iou([0, 0, 1, 1], [1, 1, 2, 2])[0, 0] == pytest.approx(1 / 7)


def test_iou_matches_brute_force_pixel_count():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = [np.sort(rng.integers(0, 12, (2, 2)), axis=0).T.reshape(-1)[[0, 2, 1, 3]] for _ in range(2)]
        pa, pb = np.zeros((12, 12), bool), np.zeros((12, 12), bool)
        pa[a[1]:a[3] + 1, a[0]:a[2] + 1] = True
        pb[b[1]:b[3] + 1, b[0]:b[2] + 1] = True
        assert L.iou(a, b)[0, 0] == pytest.approx((pa & pb).sum() / (pa | pb).sum())


@pytest.mark.parametrize("bad", [[5, 0, 4, 3], [-1, 0, 3, 3], [0, 0, np.nan, 3], [0, 0, 3]])
def test_malformed_boxes_raise(bad):
    with pytest.raises(ValueError):
        L.iou(bad, [0, 0, 3, 3])


def test_resize_box_truncates_like_wsolevaluation():
    assert L.resize_box((111, 108, 441, 193), (500, 375), (224, 224)) == (49, 64, 197, 115)


def test_center_and_full_box():
    assert L.full_box(64, 48) == (0, 0, 63, 47)
    assert L.center_box(64, 64) == (16, 16, 47, 47)


# ----------------------------------------------------------------------------- ILSVRC loc / cls error
def test_loc_error_needs_right_class_and_iou():
    gt_cls, gt_boxes = [3, 3, 3], [np.array([[10, 10, 29, 29]])] * 3
    good, bad = (10, 10, 29, 29), (40, 40, 50, 50)
    classes = [[3, 1, 2, 4, 5], [1, 3, 2, 4, 5], [3, 1, 2, 4, 5]]
    boxes = [[good] * 5, [bad, good, bad, bad, bad], [bad, good, good, good, good]]
    # image 0: top-1 right; image 1: right class + box at rank 2; image 2: right class, wrong box
    assert L.loc_error(classes, boxes, gt_cls, gt_boxes, k=1) == pytest.approx(200 / 3)
    assert L.loc_error(classes, boxes, gt_cls, gt_boxes, k=5) == pytest.approx(100 / 3)
    assert L.cls_error(classes, gt_cls, k=1) == pytest.approx(100 / 3)
    assert L.cls_error(classes, gt_cls, k=5) == 0.0


def test_loc_error_any_gt_box_counts_and_iou_boundary():
    gt = [np.array([[0, 0, 9, 9], [20, 20, 29, 29]])]
    assert L.loc_error([[0]], [[(20, 20, 29, 29)]], [0], gt, k=1) == 0.0
    # IoU exactly 0.5 counts as correct (>=): 10x10 gt vs 10x20 box containing it
    assert L.iou([0, 0, 9, 19], [0, 0, 9, 9])[0, 0] == 0.5
    assert L.loc_error([[0]], [[(0, 0, 9, 19)]], [0], gt[:1] and [np.array([[0, 0, 9, 9]])], k=1) == 0.0
    assert L.loc_error([[0]], [[(0, 0, 9, 20)]], [0], [np.array([[0, 0, 9, 9]])], k=1) == 100.0


def test_gt_known_loc():
    assert L.gt_known_loc([(0, 0, 9, 9), (0, 0, 1, 1)], [np.array([[0, 0, 9, 9]])] * 2) == 50.0


# ----------------------------------------------------------------------------- score maps -> boxes
def test_normalize_constant_nan():
    assert (L.normalize_scoremap(np.full((4, 4), 3.0)) == 0).all()
    with pytest.raises(ValueError, match="NaN"):
        L.normalize_scoremap(np.array([[0.0, np.nan], [1, 2]]))
    assert (L.normalize_scoremap(np.array([[0.0, np.nan], [1, 2]]), on_nan="zero") == 0).all()
    s = L.normalize_scoremap(np.array([[-2.0, 0], [2, 6]]))
    assert s.min() == 0 and s.max() == 1 and s[0, 1] == 0.25


def test_cam_box_paper_heuristic():
    m = np.zeros((20, 30))
    m[2:5, 3:9] = 1.0            # small blob (18 px)
    m[10:18, 12:25] = 0.5        # larger blob (104 px), lower peak but above 20% of the max
    m[0, 29] = 0.1               # below 20% of the max: dropped
    assert L.cam_box(m) == (12, 10, 24, 17)
    assert L.cam_box(np.full((5, 7), 2.0)) == (0, 0, 6, 4)                 # constant map -> whole image
    assert L.cam_box(-np.ones((5, 7))) == (0, 0, 6, 4)                     # nothing positive -> whole image
    with pytest.raises(ValueError, match="NaN"):
        L.cam_box(np.array([[0.0, np.nan], [1, 2]]))


def test_multimodal_map_boxes():
    m = np.zeros((32, 32))
    m[2:6, 2:6] = 1.0              # 4x4 peak
    m[15:30, 10:28] = 0.8          # wide plateau
    s = L.normalize_scoremap(m)
    largest = L.scoremap_boxes(s, [0.5], "largest")[0]
    assert largest == [(10, 15, 28, 30)]       # cv2.boundingRect x + w = last column + 1
    every = sorted(L.scoremap_boxes(s, [0.5], "all")[0])
    assert every == [(2, 2, 6, 6), (10, 15, 28, 30)]
    assert L.scoremap_boxes(s, [0.9], "largest")[0] == [(2, 2, 6, 6)]


def test_empty_threshold_and_zero_map_give_origin_box():
    z = np.zeros((8, 8))
    assert L.scoremap_boxes(z, [0.0, 0.5], "largest") == [[(0, 0, 0, 0)], [(0, 0, 0, 0)]]
    with pytest.raises(ValueError):
        L.scoremap_boxes(np.full((4, 4), 2.0), [0.5])
    with pytest.raises(ValueError, match="NaN"):
        L.scoremap_boxes(np.full((4, 4), np.nan), [0.5])


def test_hole_contour_box():
    b = np.ones((10, 10), bool)
    b[3:6, 3:6] = False
    assert sorted(L.contour_boxes(b, "all")) == [(0, 0, 9, 9), (2, 2, 7, 7)]


def test_max_box_acc_best_threshold_and_v2():
    gt = [np.array([[10, 10, 21, 21]])]
    m = np.zeros((32, 32))
    m[10:22, 10:22] = 0.6
    m[14:18, 14:18] = 1.0          # a peak inside the object: high thresholds give a too-small box
    s = [L.normalize_scoremap(m)]
    assert L.max_box_acc(s, gt) == 100.0
    ious = L.scoremap_best_ious(s, gt, [0.3, 0.7], "largest")
    assert ious[0, 0] > 0.8 and ious[0, 1] < 0.3
    v2 = L.max_box_acc_v2(s, gt)
    assert v2["iou30"] == v2["iou50"] == v2["iou70"] == v2["mean"] == 100.0
    assert L.max_box_acc([np.zeros((32, 32))], gt) == 0.0


# ----------------------------------------------------------------------------- batched sweeps, fixed-box baselines
def _random_maps(n, seed=0):
    from scipy import ndimage
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        s = ndimage.gaussian_filter(rng.random((rng.integers(6, 30), rng.integers(6, 30))), rng.uniform(0.5, 3))
        if i % 5 == 0:
            s = np.round(s * 4) / 4                    # plateaus: ties in contour area, holes
        out.append(L.normalize_scoremap(s))
    return out


def test_threshold_sweep_equals_contour_boxes_plane_by_plane():
    th = L.cam_thresholds(0.05)
    maps = _random_maps(120)
    for shape in {m.shape for m in maps}:              # stacked maps share a shape
        same = [m for m in maps if m.shape == shape]
        for m, sw in zip(same, L.threshold_sweep(same, th, chunk=3)):
            assert sw["largest"] == [b[0] for b in L.scoremap_boxes(m, th, "largest")]
            assert [sorted(b) for b in sw["all"]] == [sorted(b) for b in L.scoremap_boxes(m, th, "all")]
    ring = np.ones((10, 10))
    ring[3:6, 3:6] = 0.0                               # a hole: its box grown by one pixel, as cv2 gives it
    assert sorted(L.threshold_sweep([ring], [0.5])[0]["all"][0]) == [(0, 0, 9, 9), (2, 2, 7, 7)]


def test_box_accuracies_equal_max_box_acc_and_v2():
    rng = np.random.default_rng(1)
    maps = [m for m in _random_maps(80, 1) if m.shape[0] >= 10 and m.shape[1] >= 10]
    gts = [np.array([[rng.integers(0, 4), rng.integers(0, 4), rng.integers(5, m.shape[1]), rng.integers(5, m.shape[0])]])
           for m in maps]
    got = L.box_accuracies(maps, gts, interval=0.05)
    assert got["max_box_acc"] == L.max_box_acc(maps, gts, interval=0.05)
    v2 = L.max_box_acc_v2(maps, gts, interval=0.05)
    assert got["max_box_acc_v2"] == v2["mean"]
    assert [got[f"max_box_acc_v2_iou{t}"] for t in (30, 50, 70)] == [v2["iou30"], v2["iou50"], v2["iou70"]]
    assert L.box_accuracies(maps, gts, interval=0.05, v2=False) == {
        k: got[k] for k in ("max_box_acc", "max_box_acc_threshold")}
    with pytest.raises(ValueError):
        L.box_accuracies(maps[:2], gts[:3])


def test_fixed_box_scored_as_a_map_is_its_hit_rate():
    box = (4, 4, 11, 11)
    m = L.box_map(box, 16, 16)
    assert m.sum() == 64 and m[4, 4] == m[11, 11] == 1.0 and m[3, 4] == m[4, 12] == 0.0
    gts = [np.array([[4, 4, 11, 11]]), np.array([[5, 5, 12, 12]]), np.array([[0, 0, 3, 3]]), np.array([[4, 4, 15, 15]])]
    # scored like every map (wsolevaluation: cv2.boundingRect's x + w), the box is (4, 4, 12, 12):
    # IoU 64/81, 64/81, 0, 81/144 -> hits at 0.5: 3 of 4; at 0.3: 3; at 0.7: 2
    shared = L.box_accuracies(m, gts, interval=0.1)
    assert shared == L.box_accuracies([m] * 4, gts, interval=0.1)      # one shared map == the same map per image
    assert shared["max_box_acc"] == 75.0
    assert shared["max_box_acc_v2"] == pytest.approx((75 + 75 + 50) / 3)


def test_best_fixed_box_on_hand_made_boxes():
    # three boxes near the top-left, one far away: the best fixed box covers the three
    gts = np.array([[2, 2, 9, 9], [3, 3, 10, 10], [2, 3, 9, 10], [20, 20, 27, 27]])
    b = L.best_fixed_box(gts, 32, 32, stride=1)
    assert (L.iou(b, gts)[0] >= 0.5).tolist() == [True, True, True, False]
    # the centred box of the mean size comes first and keeps ties (several grid boxes hit both too)
    near_centre = np.array([[12, 12, 19, 19], [13, 13, 20, 20]])
    assert L.best_fixed_box(near_centre, 32, 32, stride=1) == (12, 12, 19, 19)
    # boxes in the four corners: any one corner box (1 hit) beats the centred box (0 hits)
    corners = np.array([[0, 0, 7, 7], [24, 0, 31, 7], [0, 24, 7, 31], [24, 24, 31, 31]])
    assert (L.iou(L.best_fixed_box(corners, 32, 32, stride=8), corners)[0] >= 0.5).sum() == 1
    # several IoU thresholds: hits summed over them (MaxBoxAccV2's criterion)
    one = np.array([[8, 8, 15, 15]])
    assert L.iou(L.best_fixed_box(one, 32, 32, iou_threshold=(0.3, 0.5, 0.7), stride=1), one)[0, 0] >= 0.7
    with pytest.raises(ValueError):
        L.best_fixed_box(np.array([[0, 0, 40, 3]]), 32, 32)


def test_cam_boxes_equal_cam_box():
    from scipy import ndimage
    rng = np.random.default_rng(2)
    maps = []
    for i in range(120):
        m = ndimage.gaussian_filter(rng.standard_normal((12, 15)), 1.2)
        if i % 7 == 0:
            m = np.zeros((12, 15))                     # constant: the whole image
        if i % 11 == 0:
            m = -np.abs(m)                             # no positive value: the whole image
        if i % 13 == 0:
            m = (m > 0).astype(float)                  # equal-size components: the first in raster order
        maps.append(m)
    assert L.cam_boxes(np.stack(maps), 0.2) == [L.cam_box(m, 0.2) for m in maps]
    assert L.cam_boxes(np.zeros((0, 4, 4))) == []
    with pytest.raises(ValueError):
        L.cam_boxes(np.zeros((4, 4)))


# ----------------------------------------------------------------------------- conformance with OpenCV
def _wsolevaluation_boxes(scoremap, thresholds, multi_contour_eval):
    """wsolevaluation's compute_bboxes_from_scoremaps (evaluation.py), verbatim logic."""
    cv2 = pytest.importorskip("cv2", reason="opencv-python-headless is needed for the conformance check")
    height, width = scoremap.shape
    scoremap_image = np.expand_dims((scoremap * 255).astype(np.uint8), 2)
    out = []
    for threshold in thresholds:
        _, thr = cv2.threshold(src=scoremap_image, thresh=int(threshold * np.max(scoremap_image)),
                               maxval=255, type=cv2.THRESH_BINARY)
        contours = cv2.findContours(image=thr, mode=cv2.RETR_TREE, method=cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            out.append([(0, 0, 0, 0)])
            continue
        if not multi_contour_eval:
            contours = [max(contours, key=cv2.contourArea)]
        boxes = []
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            boxes.append((x, y, min(x + w, width - 1), min(y + h, height - 1)))
        out.append(boxes)
    return out


@pytest.mark.parametrize("mode,multi", [("largest", False), ("all", True)])
def test_boxes_match_opencv(mode, multi):
    from scipy import ndimage
    pytest.importorskip("cv2", reason="opencv-python-headless is needed for the conformance check")
    rng = np.random.default_rng(0)
    thresholds = L.cam_thresholds(0.05)
    for i in range(150):
        s = ndimage.gaussian_filter(rng.random((rng.integers(6, 40), rng.integers(6, 40))), rng.uniform(0.5, 3))
        if i % 5 == 0:
            s = np.round(s * 4) / 4                    # plateaus: ties in contour area
        s = L.normalize_scoremap(s)
        ours = L.scoremap_boxes(s, thresholds, mode)
        ref = _wsolevaluation_boxes(s, thresholds, multi)
        for a, b in zip(ours, ref):
            assert sorted(a) == sorted(b), (i, a, b)


# ----------------------------------------------------------------------------- the command line
def test_cli_scores_predictions(tmp_path, capsys):
    gt = tmp_path / "gt"
    gt.mkdir()
    (gt / "class_labels.txt").write_text("val/a.JPEG,1\nval/b.JPEG,2\n")
    (gt / "image_sizes.txt").write_text("val/a.JPEG,50,40\nval/b.JPEG,50,40\n")
    (gt / "localization.txt").write_text("val/a.JPEG,10,10,29,29\nval/b.JPEG,0,0,9,9\nval/b.JPEG,30,20,49,39\n")
    pred = tmp_path / "pred.csv"
    pred.write_text("image_id,class,score,x0,y0,x1,y1,cam_threshold\n"
                    "a,1,0.9,10,10,29,29,\n"          # a: top-1 right
                    "b,7,0.8,0,0,9,9,\n"              # b: top-1 wrong class, right class at rank 2
                    "b,2,0.1,30,20,49,39,\n"
                    "a,1,,10,10,29,29,0.2\n"          # GT-class boxes at a cam threshold
                    "b,2,,0,0,1,1,0.2\n"
                    "b,2,,0,0,9,9,0.4\n")
    assert L.main([str(pred), str(gt), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["top1_loc_error"] == 50.0 and r["top5_loc_error"] == 0.0
    assert r["top1_cls_error"] == 50.0 and r["gt_known_loc"] == 100.0
    assert r["max_box_acc"] == 50.0            # no single threshold gets both images right
    assert L.main([str(pred), str(gt)]) == 0
    assert "top5_loc_error" in capsys.readouterr().out
    (tmp_path / "bad.csv").write_text("image_id,class,score,x0,y0,x1,y1\na,1,0.9,10,10,5,29\n")
    assert L.main([str(tmp_path / "bad.csv"), str(gt)]) == 2
    assert "bad.csv:2" in capsys.readouterr().err
