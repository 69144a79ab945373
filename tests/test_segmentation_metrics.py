"""metrics.segmentation against an independent computation (per-pixel loops / numpy set counts,
sklearn-free) and on degenerate inputs."""
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from datasets import DataError
from metrics import segmentation as seg


def naive_scores(pred, gt, n, ignore=255):
    """Per-class TP/FP/FN counted with numpy boolean masks, independently of the confusion matrix."""
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    keep = gt != ignore
    pred, gt = pred[keep], gt[keep]
    ious, accs, fw = [], [], 0.0
    for c in range(n):
        tp = np.sum((pred == c) & (gt == c))
        fp = np.sum((pred == c) & (gt != c))
        fn = np.sum((pred != c) & (gt == c))
        ious.append(tp / (tp + fp + fn) if tp + fp + fn else math.nan)
        accs.append(tp / (tp + fn) if tp + fn else math.nan)
        if tp + fn:
            fw += (tp + fn) / len(gt) * ious[-1]
    return dict(miou=np.nanmean(ious), pixel_acc=np.mean(pred == gt), mean_acc=np.nanmean(accs), fwiou=fw, iou=ious)


def test_against_independent_counts():
    rng = np.random.default_rng(0)
    n = 6
    gt = rng.integers(0, n, (4, 37, 41))
    gt[rng.random(gt.shape) < 0.1] = 255
    pred = np.where(rng.random(gt.shape) < 0.6, np.where(gt == 255, 0, gt), rng.integers(0, n, gt.shape))
    cm = seg.ConfusionMatrix(n)
    for p, g in zip(pred, gt):  # accumulated image by image == all at once
        cm.update(torch.from_numpy(p), torch.from_numpy(g))
    s, ref = cm.scores(), naive_scores(pred, gt, n)
    for k in ("miou", "pixel_acc", "mean_acc", "fwiou"):
        assert s[k] == pytest.approx(ref[k], abs=1e-12), k
    assert np.allclose(s["iou"], ref["iou"])
    assert cm.hist.sum() == np.sum(gt != 255)


def test_hand_computed_example():
    gt = torch.tensor([[0, 0, 1, 1]])
    pred = torch.tensor([[0, 1, 1, 1]])
    s = seg.ConfusionMatrix(2).update(pred, gt).scores()
    assert s["iou"] == pytest.approx([1 / 2, 2 / 3])
    assert s["miou"] == pytest.approx(7 / 12)
    assert s["pixel_acc"] == pytest.approx(3 / 4)
    assert s["mean_acc"] == pytest.approx((1 / 2 + 1) / 2)
    assert s["fwiou"] == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


def test_class_absent_from_both_is_left_out():
    gt = torch.tensor([0, 0, 2, 2])
    s = seg.ConfusionMatrix(3).update(gt, gt).scores()
    assert math.isnan(s["iou"][1]) and s["miou"] == 1.0 and s["mean_acc"] == 1.0


def test_class_only_predicted_counts_as_zero():
    gt = torch.tensor([0, 0, 0, 0])
    pred = torch.tensor([0, 0, 0, 1])
    s = seg.ConfusionMatrix(2).update(pred, gt).scores()
    assert s["iou"] == pytest.approx([3 / 4, 0.0]) and s["miou"] == pytest.approx(3 / 8)
    assert math.isnan(s["acc"][1])


def test_all_ignore_image_adds_nothing():
    cm = seg.ConfusionMatrix(3)
    cm.update(torch.zeros(5, 5, dtype=torch.long), torch.full((5, 5), 255))
    assert cm.hist.sum() == 0
    s = cm.scores()
    assert all(math.isnan(s[k]) for k in ("miou", "pixel_acc", "mean_acc", "fwiou"))
    cm.update(torch.tensor([1]), torch.tensor([1]))
    assert cm.scores()["miou"] == 1.0


def test_camvid_void_as_ignore():
    gt = torch.tensor([0, 11, 11, 1])
    pred = torch.tensor([0, 3, 4, 1])
    s = seg.ConfusionMatrix(11, ignore_index=11).update(pred, gt).scores()
    assert s["pixels"] == 2 and s["miou"] == 1.0


def test_unknown_label_and_shape_mismatch_raise():
    with pytest.raises(ValueError, match="outside"):
        seg.confusion_matrix(torch.tensor([0]), torch.tensor([7]), 3)
    with pytest.raises(ValueError, match="outside"):
        seg.confusion_matrix(torch.tensor([5]), torch.tensor([0]), 3)
    with pytest.raises(ValueError, match="pixels"):
        seg.confusion_matrix(torch.zeros(3), torch.zeros(4), 3)


def test_voc_palette_known_colours():
    pal = seg.voc_palette()
    assert tuple(pal[0]) == (0, 0, 0) and tuple(pal[1]) == (128, 0, 0) and tuple(pal[15]) == (192, 128, 128)
    assert tuple(pal[255]) == (224, 224, 192)


def _save_palette(path, lab):
    im = Image.fromarray(lab.astype(np.uint8), mode="P")
    im.putpalette(seg.voc_palette().ravel().tolist())
    im.save(path)


def test_folder_cli_palette_and_rgb(tmp_path, capsys):
    rng = np.random.default_rng(1)
    (tmp_path / "gt").mkdir(), (tmp_path / "pred").mkdir()
    gts, preds = [], []
    for i in range(3):
        g = rng.integers(0, 21, (20, 30))
        g[:2] = 255
        p = np.where(rng.random(g.shape) < 0.7, np.where(g == 255, 0, g), rng.integers(0, 21, g.shape))
        _save_palette(tmp_path / "gt" / f"{i}.png", g)
        if i == 0:  # an RGB (colour) prediction PNG is mapped back through the palette
            Image.fromarray(seg.voc_palette()[p]).save(tmp_path / "pred" / f"{i}.png")
        else:       # a class-id (grey) prediction PNG
            Image.fromarray(p.astype(np.uint8), mode="L").save(tmp_path / "pred" / f"{i}.png")
        gts.append(g), preds.append(p)
    ref = naive_scores(np.stack(preds), np.stack(gts), 21)
    assert seg.main([str(tmp_path / "pred"), str(tmp_path / "gt"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["miou"] == pytest.approx(ref["miou"]) and out["images"] == 3
    assert seg.main([str(tmp_path / "pred"), str(tmp_path / "gt")]) == 0
    table = capsys.readouterr().out
    assert "aeroplane" in table and "mIoU" in table and f"{100 * ref['miou']:6.2f}" in table


def test_folder_errors_name_the_file(tmp_path):
    (tmp_path / "gt").mkdir(), (tmp_path / "pred").mkdir()
    _save_palette(tmp_path / "gt" / "a.png", np.zeros((4, 4)))
    with pytest.raises(DataError, match="a.png"):          # missing prediction
        seg.score_folders(tmp_path / "pred", tmp_path / "gt")
    _save_palette(tmp_path / "pred" / "a.png", np.zeros((4, 5)))
    with pytest.raises(DataError, match="a.png.*5x4"):       # size mismatch
        seg.score_folders(tmp_path / "pred", tmp_path / "gt")
    Image.fromarray(np.full((4, 4, 3), 7, np.uint8)).save(tmp_path / "pred" / "a.png")
    with pytest.raises(DataError, match="not in the palette"):  # palette mismatch
        seg.score_folders(tmp_path / "pred", tmp_path / "gt")
    _save_palette(tmp_path / "pred" / "a.png", np.full((4, 4), 30))
    with pytest.raises(DataError, match="a.png"):            # unknown class id
        seg.score_folders(tmp_path / "pred", tmp_path / "gt")
    assert seg.main([str(tmp_path / "pred"), str(tmp_path / "gt")]) == 2
