"""metrics.detection: the VOC devkit rule against an independent implementation, degenerate inputs,
and COCO conformance with cocoapi's official fake-results output."""
from __future__ import annotations

import json

import numpy as np
import pytest

from metrics.detection import (COCO_STAT_NAMES, DetectionError, GroundTruth, coco_evaluate, iou_matrix, main,
                               matlab_colon, to_coco, voc_ap, voc_evaluate)


# ----------------------------------------------------------------------------- an independent VOC rule
def _iou(a, b, e):
    iw = min(a[2], b[2]) - max(a[0], b[0]) + e
    ih = min(a[3], b[3]) - max(a[1], b[1]) + e
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0] + e) * (a[3] - a[1] + e) + (b[2] - b[0] + e) * (b[3] - b[1] + e) - inter)


# the 11 recall levels of VOCevaldet.m's `for t=0:0.1:1`, as MATLAB's colon computes them (first
# half a + k*d, second half b - (n-k)*d), typed out: 0.30000000000000004 = 3*0.1, but 1 - 4*0.1 = 0.6
DEVKIT_RECALLS = [0.0, 0.1, 0.2, 0.30000000000000004, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def reference_voc(preds, gts, num_classes, use_07, inclusive=True, rule="devkit"):
    """Written from the devkit's description, pure python: greedy matching by descending score
    (ties in input order, as MATLAB's stable sort), a hit at IoU >= 0.5 (devkit) or > 0.5
    (py-faster-rcnn); AP_07 = mean over the 11 recall levels of max precision at recall >= t;
    AP_area = sum over true positives of (1 / npos) * (max precision at or after that detection)."""
    e = 1.0 if inclusive else 0.0
    aps = []
    for c in range(num_classes):
        dets = sorted(((s, img, list(b)) for img, p in preds.items()
                       for b, s, l in zip(p["boxes"], p["scores"], p["labels"]) if l == c), key=lambda t: -t[0])
        gt = {img: [(list(b), bool(d)) for b, l, d in zip(g.boxes, g.labels, g.difficult) if l == c] for img, g in gts.items()}
        npos = sum(not d for v in gt.values() for _, d in v)
        if npos == 0:
            continue
        taken = {img: [False] * len(v) for img, v in gt.items()}
        flags = []  # True = TP, False = FP (ignored detections are not listed)
        for _s, img, b in dets:
            best, bj = -1.0, -1
            for j, (g, _) in enumerate(gt[img]):
                o = _iou(b, g, e)
                if o > best:
                    best, bj = o, j
            if best >= 0.5 if rule == "devkit" else best > 0.5:
                if gt[img][bj][1]:
                    continue
                flags.append(not taken[img][bj])
                taken[img][bj] = True
            else:
                flags.append(False)
        tp = np.cumsum(flags) if flags else np.zeros(0)
        prec = [tp[k] / (k + 1) for k in range(len(flags))]
        rec = [tp[k] / npos for k in range(len(flags))]
        if use_07:
            ap = sum(max([p for p, r in zip(prec, rec) if r >= t], default=0.0) for t in DEVKIT_RECALLS) / 11
        else:
            ap = sum(max(prec[k:]) / npos for k in range(len(flags)) if flags[k])
        aps.append(ap)
    return float(np.mean(aps)) if aps else float("nan")


def random_case(rng, n_img=12, num_classes=3):
    gts, preds = {}, {}
    for i in range(n_img):
        k = rng.integers(0, 5)
        xy = rng.uniform(0, 80, (k, 2))
        wh = rng.uniform(5, 40, (k, 2))
        boxes = np.round(np.concatenate([xy, xy + wh], 1))
        labels = rng.integers(0, num_classes, k)
        gts[f"im{i}"] = GroundTruth(boxes, labels, rng.random(k) < 0.15)
        # detections: jittered copies (some duplicated), plus random false positives
        db, dl = [], []
        for b, l in zip(boxes, labels):
            for _ in range(rng.integers(0, 3)):
                db.append(b + rng.normal(0, 4, 4)), dl.append(l if rng.random() < 0.85 else rng.integers(num_classes))
        for _ in range(rng.integers(0, 4)):
            xy, wh = rng.uniform(0, 80, 2), rng.uniform(5, 40, 2)
            db.append(np.concatenate([xy, xy + wh])), dl.append(rng.integers(num_classes))
        db = np.array(db).reshape(-1, 4)
        db[:, 2:] = np.maximum(db[:, 2:], db[:, :2])
        preds[f"im{i}"] = {"boxes": db, "scores": rng.random(len(db)), "labels": np.array(dl, np.int64)}
    return preds, gts


@pytest.mark.parametrize("use_07", [True, False])
@pytest.mark.parametrize("inclusive", [True, False])
@pytest.mark.parametrize("rule", ["devkit", "py-faster-rcnn"])
def test_voc_matches_independent_rule(use_07, inclusive, rule):
    rng = np.random.default_rng(123)
    for _ in range(40):
        preds, gts = random_case(rng)
        got = voc_evaluate(preds, gts, 3, use_07=use_07, inclusive=inclusive, rule=rule)["mAP"]
        want = reference_voc(preds, gts, 3, use_07, inclusive, rule)
        assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want, abs=1e-12)


def test_matlab_colon_recall_levels():
    assert matlab_colon(0.0, 0.1, 1.0).tolist() == DEVKIT_RECALLS
    assert np.arange(0.0, 1.1, 0.1)[6] == 0.6000000000000001 != matlab_colon(0.0, 0.1, 1.0)[6]


def _dog(*boxes):
    return GroundTruth(np.array(boxes, float).reshape(-1, 4), np.zeros(len(boxes), int))


def test_devkit_breaks_score_ties_in_file_order(tmp_path, capsys):
    """Two images, one dog each at [10 10 50 50]; the file lists 000001 0.9 (hit), 000002 0.5 (hit),
    000001 0.5 (miss). The devkit's stable sort keeps file order among the 0.5s: AP 1.0. Regrouping
    by image (the old reader) put the miss before the second hit: 0.848 (07) / 0.833 (area)."""
    lines = "000001 0.9 10 10 50 50\n000002 0.5 10 10 50 50\n000001 0.5 100 100 140 140\n"
    voc = tmp_path / "VOC2007"
    (voc / "Annotations").mkdir(parents=True), (voc / "ImageSets" / "Main").mkdir(parents=True)
    (voc / "ImageSets" / "Main" / "test.txt").write_text("000001\n000002\n")
    for img in ("000001", "000002"):
        (voc / "Annotations" / f"{img}.xml").write_text(
            "<annotation><size><width>200</width><height>200</height></size><object><name>dog</name>"
            "<difficult>0</difficult><bndbox><xmin>10</xmin><ymin>10</ymin><xmax>50</xmax><ymax>50</ymax>"
            "</bndbox></object></annotation>")
    dets = tmp_path / "dets"
    dets.mkdir()
    (dets / "comp4_det_test_dog.txt").write_text(lines)
    for flag in ("--use-07", "--area"):
        assert main(["voc", str(voc), str(dets), "--json", flag]) == 0
        assert json.loads(capsys.readouterr().out)["AP"]["dog"] == pytest.approx(1.0)
    # in memory, ties keep the order of the predictions: the same detections listed image by image
    gts = {"000001": _dog([10, 10, 50, 50]), "000002": _dog([10, 10, 50, 50])}
    in_order = {"000002": {"boxes": np.array([[10, 10, 50, 50]]), "scores": np.array([0.5]), "labels": np.array([0])},
                "000001": {"boxes": np.array([[10, 10, 50, 50], [100, 100, 140, 140]]),
                           "scores": np.array([0.9, 0.5]), "labels": np.array([0, 0])}}
    assert voc_evaluate(in_order, gts, 1)["mAP"] == pytest.approx(1.0)


def test_devkit_counts_overlap_exactly_at_the_threshold():
    """ground truth [0 0 9 9] (100 px), detection [0 0 19 9] (200 px): IoU exactly 0.5."""
    gts = {"a": _dog([0, 0, 9, 9])}
    det = {"a": {"boxes": np.array([[0, 0, 19, 9]]), "scores": np.array([1.0]), "labels": np.array([0])}}
    assert voc_evaluate(det, gts, 1)["mAP"] == pytest.approx(1.0)                       # devkit: ovmax >= 0.5
    assert voc_evaluate(det, gts, 1, rule="py-faster-rcnn")["mAP"] == 0.0               # voc_eval.py: > 0.5
    with pytest.raises(ValueError, match="rule must be one of"):
        voc_evaluate(det, gts, 1, rule="nope")


def test_devkit_eleven_point_levels_include_recall_0_6():
    """Five positives, three exact hits (recall 0.6 at precision 1): the devkit's levels 0..0.6 are
    seven of eleven -> 7/11 = 0.636; np.arange's 0.6000000000000001 misses one -> 6/11 = 0.545."""
    gts = {f"i{k}": _dog([0, 0, 9, 9]) for k in range(5)}
    dets = {f"i{k}": {"boxes": np.array([[0, 0, 9, 9]]), "scores": np.array([1.0]), "labels": np.array([0])}
            for k in range(3)}
    assert voc_evaluate(dets, gts, 1, use_07=True)["mAP"] == pytest.approx(7 / 11)


def test_both_ap_rules_from_one_call():
    preds, gts = random_case(np.random.default_rng(5))
    r = voc_evaluate(preds, gts, 3, use_07=True)
    assert r["mAP_07"] == r["mAP"] == pytest.approx(reference_voc(preds, gts, 3, True))
    assert r["mAP_area"] == pytest.approx(reference_voc(preds, gts, 3, False))


def test_voc_ap_known_values():
    # one TP at full recall: AP 1; precision 0.5 throughout: 11-point = 0.5, area = 0.5
    assert voc_ap(np.array([1.0]), np.array([1.0]), True) == pytest.approx(1.0)
    assert voc_ap(np.array([0.5, 1.0]), np.array([0.5, 0.5]), False) == pytest.approx(0.5)
    assert voc_ap(np.array([0.5, 1.0]), np.array([0.5, 0.5]), True) == pytest.approx(0.5)
    # recall 0.5 at precision 1, never more: 11-point counts t = 0..0.5 (6 of 11)
    assert voc_ap(np.array([0.5]), np.array([1.0]), True) == pytest.approx(6 / 11)
    assert voc_ap(np.array([0.5]), np.array([1.0]), False) == pytest.approx(0.5)


def _one():
    return {"a": GroundTruth(np.array([[10, 10, 50, 50]]), np.array([0]), np.array([False]))}


def test_degenerate_cases():
    gts = _one()
    perfect = {"a": {"boxes": np.array([[10, 10, 50, 50]]), "scores": np.array([0.9]), "labels": np.array([0])}}
    assert voc_evaluate(perfect, gts, 1)["mAP"] == pytest.approx(1.0)
    # empty detection list: AP 0 where there are positives
    assert voc_evaluate({}, gts, 1)["mAP"] == 0.0
    assert voc_evaluate({"a": {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0)}}, gts, 1)["mAP"] == 0.0
    # a class with no positives is nan and left out of the mean
    r = voc_evaluate(perfect, gts, 2)
    assert np.isnan(r["AP"][1]) and r["mAP"] == pytest.approx(1.0)
    # a duplicate is a false positive
    dup = {"a": {"boxes": np.array([[10, 10, 50, 50]] * 2), "scores": np.array([0.9, 0.8]), "labels": np.array([0, 0])}}
    assert voc_evaluate(dup, gts, 1)["mAP"] == pytest.approx(1.0)  # the FP comes after full recall
    dup["a"]["scores"] = np.array([0.8, 0.9])
    assert voc_evaluate(dup, gts, 1, use_07=False)["mAP"] == pytest.approx(1.0)
    # a detection on a difficult object is ignored; the difficult object is not a positive
    gd = {"a": GroundTruth(np.array([[10, 10, 50, 50], [60, 60, 90, 90]]), np.array([0, 0]), np.array([False, True]))}
    det = {"a": {"boxes": np.array([[60, 60, 90, 90], [10, 10, 50, 50]]), "scores": np.array([0.9, 0.8]),
                 "labels": np.array([0, 0])}}
    assert voc_evaluate(det, gd, 1)["mAP"] == pytest.approx(1.0)
    # nothing but difficult ground truth: nan, not a crash
    only = {"a": GroundTruth(np.array([[0, 0, 5, 5]]), np.array([0]), np.array([True]))}
    assert np.isnan(voc_evaluate({}, only, 1)["mAP"])


@pytest.mark.parametrize("box,score,msg", [([np.nan, 0, 5, 5], 0.5, "non-finite"), ([10, 0, 5, 5], 0.5, "negative width"),
                                           ([0, 0, 5, 5], np.nan, "non-finite score")])
def test_malformed_detections_raise(box, score, msg):
    det = {"a": {"boxes": np.array([box]), "scores": np.array([score]), "labels": np.array([0])}}
    with pytest.raises(DetectionError, match=msg):
        voc_evaluate(det, _one(), 1)


def test_unknown_image_and_label_raise():
    with pytest.raises(DetectionError, match="unknown image"):
        voc_evaluate({"zz": {"boxes": np.array([[0, 0, 1, 1]]), "scores": np.array([1.0]), "labels": np.array([0])}}, _one(), 1)
    with pytest.raises(DetectionError, match="label 3"):
        voc_evaluate({"a": {"boxes": np.array([[0, 0, 1, 1]]), "scores": np.array([1.0]), "labels": np.array([3])}}, _one(), 1)


def test_iou_inclusive_convention():
    a = np.array([[0, 0, 9, 9]])
    assert iou_matrix(a, a, True)[0, 0] == 1.0
    assert iou_matrix(a, np.array([[0, 0, 4, 9]]), True)[0, 0] == pytest.approx(0.5)   # 5 of 10 columns
    assert iou_matrix(a, np.array([[0, 0, 4.5, 9]]), False)[0, 0] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- COCO
def test_coco_official_fake_results(data_root):
    from datasets.coco_detection import load_conformance
    c = load_conformance(data_root)
    stats = coco_evaluate(c["annotations"], c["results"])
    assert [round(stats[k], 3) for k in COCO_STAT_NAMES] == c["expected"]
    assert c["expected"][:3] == [0.505, 0.697, 0.573]


def test_coco_from_memory_and_degenerate():
    gts = {1: GroundTruth(np.array([[10, 10, 50, 50], [60, 5, 90, 40]]), np.array([0, 1])),
           2: GroundTruth(np.array([[0, 0, 30, 30]]), np.array([1]))}
    preds = {i: {"boxes": g.boxes, "scores": np.ones(len(g.labels)), "labels": g.labels} for i, g in gts.items()}
    gt, res = to_coco(preds, gts, 2, image_sizes={1: (100, 100), 2: (100, 100)})
    s = coco_evaluate(gt, res)
    assert s["AP"] == pytest.approx(1.0) and s["AP50"] == pytest.approx(1.0)
    empty = coco_evaluate(gt, [])
    assert empty["AP"] == 0.0 and set(empty) == set(COCO_STAT_NAMES)
    with pytest.raises(DetectionError, match="negative width"):
        coco_evaluate(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, -3, 4], "score": 0.5}])
    with pytest.raises(DetectionError, match="not finite"):
        coco_evaluate(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, float("nan"), 4], "score": 0.5}])


def test_difficult_objects_are_ignored_under_coco_too():
    """A normal box [10 10 50 50] and a difficult one [60 60 90 90], one detection on the first:
    the difficult object must not count as a missed positive (AP 1.0, not 0.505)."""
    gts = {1: GroundTruth(np.array([[10, 10, 50, 50], [60, 60, 90, 90]]), np.array([0, 0]), np.array([False, True]))}
    preds = {1: {"boxes": np.array([[10, 10, 50, 50]]), "scores": np.array([0.9]), "labels": np.array([0])}}
    gt, res = to_coco(preds, gts, 1, image_sizes={1: (100, 100)})
    before = json.dumps([gt, res], sort_keys=True)
    s = coco_evaluate(gt, res)
    assert s["AP"] == pytest.approx(1.0) and s["AP50"] == pytest.approx(1.0)
    assert json.dumps([gt, res], sort_keys=True) == before          # the caller's dicts are left alone
    assert voc_evaluate(preds, gts, 1)["mAP"] == pytest.approx(1.0)  # the VOC rule agrees


def test_cli_coco_json(data_root, capsys):
    from datasets.coco_detection import load_conformance
    c = load_conformance(data_root)
    assert main(["coco", str(c["annotations"]), str(c["results"]), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert round(out["AP50"], 3) == 0.697


def test_cli_voc_files(tmp_path, capsys):
    voc = tmp_path / "VOC2007"
    (voc / "Annotations").mkdir(parents=True), (voc / "ImageSets" / "Main").mkdir(parents=True)
    (voc / "ImageSets" / "Main" / "test.txt").write_text("000001\n")
    (voc / "Annotations" / "000001.xml").write_text(
        "<annotation><size><width>100</width><height>80</height></size>"
        "<object><name>dog</name><difficult>0</difficult><bndbox><xmin>10</xmin><ymin>10</ymin><xmax>50</xmax><ymax>60</ymax></bndbox></object>"
        "</annotation>")
    dets = tmp_path / "dets"
    dets.mkdir()
    (dets / "comp4_det_test_dog.txt").write_text("000001 0.9 11 10 50 60\n000001 0.3 60 10 90 60\n")
    assert main(["voc", str(voc), str(dets), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mAP"] == pytest.approx(1.0) and out["AP"]["dog"] == pytest.approx(1.0)
    assert np.isnan(out["AP"]["cat"])  # no cat in the ground truth: nan, left out of the mean
    (dets / "comp4_det_test_cat.txt").write_text("000001 0.9 11 10\n")
    assert main(["voc", str(voc), str(dets)]) == 2
    assert "expected 'image_id score" in capsys.readouterr().err
    for bad, msg in (("000001 nan 11 10 50 60", "non-finite"), ("000001 0.9 50 10 11 60", "negative width")):
        (dets / "comp4_det_test_cat.txt").write_text(bad + "\n")
        assert main(["voc", str(voc), str(dets)]) == 2
        err = capsys.readouterr().err
        assert "comp4_det_test_cat.txt:1" in err and msg in err
