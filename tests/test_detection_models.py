"""reference_impls.detection: YOLO v1's output layout and loss, the Faster R-CNN wrapper."""
from __future__ import annotations

import torch

import reference_impls.detection as det
from reference_impls.detection.yolo import LAMBDA_COORD, LAMBDA_NOOBJ


# the hand-made geometry below: 64 px images, an 8 x 8 grid of 8 px cells
GRID8 = det.replace(det.SMOKE, size=64, S=8)


def _tiny_yolo(cfg=GRID8):
    torch.manual_seed(0)
    return det.build_model("yolo", cfg).eval()


def test_yolo_output_layout():
    for cfg in (GRID8, det.SMOKE):
        m = _tiny_yolo(cfg)
        out = m(torch.rand(2, 3, cfg.size, cfg.size))
        assert out.shape == (2, cfg.S, cfg.S, cfg.B * 5 + cfg.num_classes)


def test_smoke_yolo_grid_fits_the_proxy_objects():
    """The smoke YOLO's grid as its design needs: 16 px cells at 96 px (S = 6), so the proxy's objects
    (radius 9-30 % of the side, boxes 18-60 %) span about one to four cells, and both detectors read
    the same input size; the smoke Faster R-CNN pools RoIs with the paper's RoIPool."""
    from datasets.detection_proxy import PROXY
    from reference_impls.detection.faster_rcnn import RoIPool
    cfg = det.SMOKE
    assert (cfg.size, cfg.S, cfg.size // cfg.S) == (96, 6, 16)
    lo, hi = 2 * PROXY.scale[0] * cfg.S, 2 * PROXY.scale[1] * cfg.S
    assert 1.0 <= lo <= 1.2 and 3.5 <= hi <= 4.0
    data = det.load_data(0, 8, 2, cfg.size)
    assert data["train"]["images"].shape[-2:] == (96, 96) and data["test"]["images"].shape == (2, 3, 96, 96)
    m = det.build_model("faster_rcnn", cfg)
    assert isinstance(m.roi_heads.box_roi_pool, RoIPool) and m.transform.min_size == (96,)


def test_yolo_loss_is_zero_for_the_perfect_prediction():
    """Hand-built output that matches the target exactly -> every term is 0; then the
    no-object term alone equals λnoobj * conf²."""
    m, cfg = _tiny_yolo(), GRID8
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
    m, cfg = _tiny_yolo(), GRID8
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


def test_vgg16_faster_rcnn_loads_fc6_fc7_from_the_classifier(tmp_path):
    """The full-tier VGG-16 Faster R-CNN starts fc6/fc7 (and the conv layers) from an ImageNet VGG-16
    classifier state_dict, pools RoIs with RoIPool (the paper's) and samples 128 RoIs per image."""
    from torchvision.models import vgg16
    from reference_impls.detection.faster_rcnn import RoIPool, VGG16Head
    torch.manual_seed(0)
    src = vgg16(weights=None)
    with torch.no_grad():
        src.classifier[0].bias.fill_(0.25)
        src.classifier[3].bias.fill_(-0.5)
    torch.save(src.state_dict(), tmp_path / "vgg16.pth")
    m = det.build_faster_rcnn(21, "vgg16", min_size=64, max_size=64, box_batch_size_per_image=128,
                              backbone_weights=str(tmp_path / "vgg16.pth"))
    head = m.roi_heads.box_head
    assert isinstance(head, VGG16Head) and isinstance(m.roi_heads.box_roi_pool, RoIPool)
    assert torch.equal(head.fc6.weight, src.classifier[0].weight) and torch.equal(head.fc7.weight, src.classifier[3].weight)
    assert (head.fc6.bias == 0.25).all() and (head.fc7.bias == -0.5).all()
    assert torch.equal(m.backbone.body[0].weight, src.features[0].weight)
    assert m.roi_heads.fg_bg_sampler.batch_size_per_image == 128
    m.eval()
    with torch.inference_mode():
        out = m([torch.rand(3, 64, 64)])
    assert set(out[0]) == {"boxes", "scores", "labels"}


def test_yolo_scale_translate_moves_a_hand_made_box():
    """A white 30 x 40 box on black, zoomed 1.2x about the centre and shifted (+10, -5): the box
    (x -> (x - 50) * 1.2 + 50 + 10) and the white pixels land in the same place; a box pushed out of
    the image is dropped."""
    import numpy as np
    from reference_impls.detection.full import scale_translate
    x = torch.zeros(3, 100, 100)
    x[:, 30:70, 20:50] = 1.0
    out, b, kept = scale_translate(x, np.array([[20, 30, 50, 70], [0, 0, 5, 5]], np.float32), 1.2, 10.0, -5.0)
    np.testing.assert_allclose(b[0], [24, 21, 60, 69], atol=1e-4)
    assert kept.tolist() == [True, False]   # the corner box moved above the image (y: -15..-9): dropped
    ys, xs = torch.nonzero(out[0] > 0.5, as_tuple=True)
    assert abs(int(xs.min()) - 24) <= 1 and abs(int(xs.max()) + 1 - 60) <= 1
    assert abs(int(ys.min()) - 21) <= 1 and abs(int(ys.max()) + 1 - 69) <= 1
    _, b2, kept2 = scale_translate(x, np.array([[20, 30, 50, 70]], np.float32), 1.0, 90.0, 0.0)
    assert kept2.tolist() == [False] and b2[0, 0] == 100


def test_yolo_hsv_jitter_scales_saturation_and_exposure():
    import colorsys
    from reference_impls.detection.full import hsv_jitter, yolo_augment
    px = torch.tensor([[[1.0]], [[0.5]], [[0.25]]])
    h, s, v = colorsys.rgb_to_hsv(1.0, 0.5, 0.25)
    want = colorsys.hsv_to_rgb(h, s * 0.5, v * 0.8)
    torch.testing.assert_close(hsv_jitter(px, 0.5, 0.8).flatten(), torch.tensor(want, dtype=torch.float32))
    grey = torch.full((3, 1, 1), 0.4)
    torch.testing.assert_close(hsv_jitter(grey, 1.5, 1.0), grey)   # no saturation to scale
    import numpy as np
    g = torch.Generator().manual_seed(0)
    img, boxes, kept = yolo_augment(torch.rand(3, 32, 32), np.array([[8, 8, 24, 24]], np.float32), g)
    assert img.shape == (3, 32, 32) and 0 <= float(img.min()) and float(img.max()) <= 1 and boxes.shape == (1, 4)


def test_yolo_imagenet_normalisation_only_when_asked():
    torch.manual_seed(0)
    plain = det.build_yolo(det.SMOKE.backbone, 2, 4, input_size=64, S=8, hidden=16, head_channels=8)
    torch.manual_seed(0)
    normed = det.build_yolo(det.SMOKE.backbone, 2, 4, input_size=64, S=8, hidden=16, head_channels=8,
                            imagenet_norm=True)
    assert "mean" not in plain.state_dict() and "mean" in normed.state_dict()
    plain.eval(), normed.eval()
    x = torch.rand(1, 3, 64, 64)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(normed(x), plain((x - mean) / std))


def test_raccoon_flip_and_mapping_back_to_the_xml_frame():
    """Boxes mirror as x -> W - x; predictions in the resized frame map back to the image's own
    1-based inclusive pixels (as the XML), clipped to the image."""
    import numpy as np
    from reference_impls.detection.raccoon import hflip, to_original
    imgs = torch.zeros(1, 3, 64, 64)
    imgs[0, :, 20:40, 10:30] = 1
    t = [{"boxes": torch.tensor([[10.0, 20.0, 30.0, 40.0]]), "labels": torch.tensor([0])}]
    fi, ft = hflip(imgs, t, torch.tensor([True]))
    assert ft[0]["boxes"].tolist() == [[34.0, 20.0, 54.0, 40.0]] and fi[0, 0, 20:40, 34:54].min() == 1
    same_i, same_t = hflip(imgs, t, torch.tensor([False]))
    assert torch.equal(same_i, imgs) and same_t[0]["boxes"].tolist() == [[10.0, 20.0, 30.0, 40.0]]
    data = {"records": [{"id": "r1", "width": 200, "height": 100}], "scales": np.array([[0.32, 0.64, 0.32, 0.64]])}
    pred = [{"boxes": np.array([[0.0, 0.0, 32.0, 32.0], [60.0, 60.0, 70.0, 70.0]]), "scores": np.array([0.9, 0.1]),
             "labels": np.array([0, 0])}]
    out = to_original(pred, data)["r1"]["boxes"]
    np.testing.assert_allclose(out, [[1, 1, 100, 50], [188.5, 94.75, 200, 100]])
