"""reference_impls.detection: YOLO v1's output layout and loss, the Faster R-CNN wrapper."""
from __future__ import annotations

import torch

import reference_impls.detection as det
from reference_impls.detection.yolo import LAMBDA_COORD, LAMBDA_NOOBJ


def _tiny_yolo():
    torch.manual_seed(0)
    return det.build_model("yolo", det.SMOKE).eval()


def test_yolo_output_layout():
    m = _tiny_yolo()
    cfg = det.SMOKE
    out = m(torch.rand(2, 3, cfg.size, cfg.size))
    assert out.shape == (2, cfg.S, cfg.S, cfg.B * 5 + cfg.num_classes)


def test_yolo_loss_is_zero_for_the_perfect_prediction():
    """Hand-built output that matches the target exactly -> every term is 0; then the
    no-object term alone equals λnoobj * conf²."""
    m, cfg = _tiny_yolo(), det.SMOKE
    S, B, C, size = cfg.S, cfg.B, cfg.num_classes, cfg.size
    box = torch.tensor([[12.0, 20.0, 28.0, 44.0]])  # centre (20, 32) -> cell (row 4, col 2) of 8 px
    out = torch.zeros(1, S, S, B * 5 + C)
    i, j = 4, 2
    cx, cy, w, h = 20 / size * S - j, 32 / size * S - i, (16 / size) ** 0.5, (24 / size) ** 0.5
    out[0, i, j, 0:5] = torch.tensor([cx, cy, w, h, 1.0])  # box 0 is exact: IoU 1 = confidence target
    out[0, i, j, B * 5 + 1] = 1.0
    parts = m.loss(out, [{"boxes": box, "labels": torch.tensor([1])}], size)
    assert float(parts["loss"]) < 1e-10
    out[0, 0, 0, 4] = 0.4  # a confident empty cell
    parts = m.loss(out, [{"boxes": box, "labels": torch.tensor([1])}], size)
    assert float(parts["loss"]) == float(parts["conf_noobj"]) and abs(float(parts["loss"]) - LAMBDA_NOOBJ * 0.16) < 1e-6
    out[0, i, j, 0] += 0.1  # an x error costs λcoord * 0.01
    parts = m.loss(out, [{"boxes": box, "labels": torch.tensor([1])}], size)
    assert abs(float(parts["coord"]) - LAMBDA_COORD * 0.01) < 1e-5


def test_yolo_detect_decodes_the_box():
    m, cfg = _tiny_yolo(), det.SMOKE
    S, B, C = cfg.S, cfg.B, cfg.num_classes
    out = torch.zeros(1, S, S, B * 5 + C)
    out[0, 4, 2, 0:5] = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.9])
    out[0, 4, 2, B * 5 + 3] = 1.0
    m.forward = lambda x: out
    d = m.detect(torch.zeros(1, 3, cfg.size, cfg.size))[0]
    assert d["labels"][0] == 3 and abs(float(d["scores"][0]) - 0.9) < 1e-6
    assert torch.allclose(d["boxes"][0], torch.tensor([12.0, 28.0, 28.0, 44.0]))  # 16 px box centred (20, 36)


def test_faster_rcnn_box_regression_switch():
    torch.manual_seed(0)
    m = det.build_model("faster_rcnn", det.SMOKE).eval()
    x = [torch.rand(3, 64, 64)]
    with torch.inference_mode():
        feats = m.backbone(m.transform(x)[0].tensors)
        pred = m.roi_heads.box_predictor
        f = m.roi_heads.box_head(torch.rand(3, feats["0"].shape[1], 7, 7))
        assert pred(f)[1].abs().sum() > 0
        det.set_box_regression(m, False)
        assert pred(f)[1].abs().sum() == 0
        det.set_box_regression(m, True)
    assert m.trains_box_regression


def test_full_tier_voc_path_on_a_fake_layout(tmp_path):
    """The full tier's VOC loader -> detector -> devkit scoring path, end to end on two tiny images."""
    import numpy as np
    from PIL import Image
    from reference_impls.detection import full
    voc = tmp_path / "VOCdevkit" / "VOC2007"
    for d in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (voc / d).mkdir(parents=True)
    (voc / "ImageSets/Main/test.txt").write_text("000001\n000002\n")
    for i in ("000001", "000002"):
        Image.fromarray(np.full((80, 100, 3), 127, np.uint8)).save(voc / "JPEGImages" / f"{i}.jpg")
        (voc / "Annotations" / f"{i}.xml").write_text(
            "<annotation><size><width>100</width><height>80</height></size><object><name>dog</name>"
            "<difficult>0</difficult><bndbox><xmin>10</xmin><ymin>10</ymin><xmax>50</xmax><ymax>60</ymax></bndbox>"
            "</object></annotation>")
    ds = full.VOCImages(full.load_voc(tmp_path, "2007", "test"), short=600, train=True)
    x, t = ds[0]
    assert min(x.shape[-2:]) == 600 and t["boxes"].shape == (1, 4) and (t["boxes"][:, 2:] <= 750).all()
    torch.manual_seed(0)
    m = det.build_faster_rcnn(21, f"timm:{det.SMOKE.backbone}@2", min_size=64, max_size=80, anchor_sizes=(8, 16, 32),
                              representation=32, neck_channels=16)
    res = full.evaluate_voc(m, tmp_path, "cpu")
    assert 0.0 <= res["mAP"] <= 1.0 and len(res["AP"]) == 20
