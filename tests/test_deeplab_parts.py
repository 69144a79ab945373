"""DeepLab building blocks, the dense CRF wrapper, and the VOC / Cityscapes loaders on tiny fakes."""
import numpy as np
import pytest
import torch
from PIL import Image

from datasets import DataError, DataMissing, cityscapes, voc
from metrics.segmentation import voc_palette
from reference_impls.deeplab import ASPP_L, DeepLab, crf_labels, dense_crf, field_of_view, impulse_extent, msc_loss


@pytest.mark.parametrize("head", ["largefov", "aspp", "v3+"])
def test_heads_output_input_resolution(head):
    torch.manual_seed(0)
    net = DeepLab(5, backbone="resnet18", head=head, output_stride=16, width=32).eval()
    with torch.inference_mode():
        assert net(torch.randn(2, 3, 50, 70)).shape == (2, 5, 50, 70)
        assert net.scores(torch.randn(1, 3, 64, 64)).shape[-1] == (16 if head == "v3+" else 4)


def test_aspp_rates_and_msc_max_fusion():
    torch.manual_seed(0)
    net = DeepLab(3, backbone="resnet18", head="aspp", output_stride=8, width=16, msc=True)
    rates = [b.body[0].dilation[0] for b in net.head.branches]
    assert tuple(rates) == ASPP_L
    x, y = torch.randn(1, 3, 48, 48), torch.randint(0, 3, (1, 48, 48))
    net.train()
    fused, outs = net(x)
    assert len(outs) == 3 and torch.equal(fused, torch.stack(outs).max(0).values)
    assert msc_loss((fused, outs), y).ndim == 0
    net.eval()
    with torch.inference_mode():
        assert net(x).shape == (1, 3, 48, 48)


def test_field_of_view_formula_matches_measurement():
    for r in (1, 2, 6, 12, 24):
        conv = torch.nn.Conv2d(1, 1, 3, padding=r, dilation=r)
        assert impulse_extent(conv, size=2 * field_of_view(r) + 1) == field_of_view(r) == 3 + 2 * (r - 1)


def test_dense_crf_cleans_noisy_unary():
    """Two flat colour regions with noisy unaries: the CRF must recover the regions."""
    h, w = 24, 32
    img = np.zeros((h, w, 3), np.uint8)
    img[:, w // 2:] = 255
    truth = np.zeros((h, w), np.int64)
    truth[:, w // 2:] = 1
    rng = np.random.default_rng(0)
    p = np.where(rng.random((h, w)) < 0.7, truth, 1 - truth)
    probs = np.stack([np.where(p == 0, 0.6, 0.4), np.where(p == 1, 0.6, 0.4)]).astype(np.float32)
    q = dense_crf(img, probs)
    assert q.shape == (2, h, w) and np.allclose(q.sum(0), 1, atol=1e-4)
    assert (q.argmax(0) == truth).mean() > (probs.argmax(0) == truth).mean()
    out = crf_labels(torch.from_numpy(img).permute(2, 0, 1)[None], torch.from_numpy(probs)[None])
    assert out.shape == (1, h, w)
    with pytest.raises(ValueError, match="probabilities"):
        dense_crf(img[:10], probs)


def _fake_voc(tmp_path, label=None, palette=True, size=(8, 10)):
    base = tmp_path / "VOCdevkit" / "VOC2012"
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / d).mkdir(parents=True)
    Image.fromarray(np.zeros((*size, 3), np.uint8)).save(base / "JPEGImages" / "a.jpg")
    lab = np.zeros(size, np.uint8) if label is None else label
    im = Image.fromarray(lab, mode="P" if palette else "L")
    if palette:
        im.putpalette(voc_palette().ravel().tolist())
    im.save(base / "SegmentationClass" / "a.png")
    (base / "ImageSets/Segmentation/val.txt").write_text("a\n")
    return base


def test_voc_loader_ok_and_missing(tmp_path):
    with pytest.raises(DataMissing, match="VOCdevkit/VOC2012.*SegmentationClassAug"):
        voc.VOCSegmentation(tmp_path, "val")
    lab = np.zeros((8, 10), np.uint8)
    lab[0] = 255
    lab[1] = 15
    _fake_voc(tmp_path, lab)
    x, y, iid = voc.VOCSegmentation(tmp_path, "val")[0]
    assert x.shape == (3, 8, 10) and iid == "a" and int(y[0, 0]) == 255 and int(y[1, 0]) == 15
    with pytest.raises(DataMissing, match="train_aug.txt"):
        voc.read_ids(tmp_path, "train_aug")


def test_voc_malformed(tmp_path):
    base = _fake_voc(tmp_path / "1", np.full((8, 10), 40, np.uint8))
    with pytest.raises(DataError, match="a.png: unknown class id 40"):
        voc.VOCSegmentation(tmp_path / "1", "val")[0]
    _fake_voc(tmp_path / "2", palette=False)
    with pytest.raises(DataError, match="a.png: expected a palette"):
        voc.VOCSegmentation(tmp_path / "2", "val")[0]
    base = _fake_voc(tmp_path / "3")
    im = Image.fromarray(np.zeros((8, 10), np.uint8), mode="P")
    im.putpalette([7] * 768)
    im.save(base / "SegmentationClass" / "a.png")
    with pytest.raises(DataError, match="palette does not match"):
        voc.VOCSegmentation(tmp_path / "3", "val")[0]
    _fake_voc(tmp_path / "4", np.zeros((5, 5), np.uint8))
    with pytest.raises(DataError, match="a.png: label is 5x5 but .*a.jpg is 10x8"):
        voc.VOCSegmentation(tmp_path / "4", "val")[0]
    base = _fake_voc(tmp_path / "5")
    (base / "ImageSets/Segmentation/val.txt").write_text("a\nb\n")
    with pytest.raises(DataError, match="b.jpg: listed in val.txt but missing"):
        voc.VOCSegmentation(tmp_path / "5", "val")[1]


def test_voc_save_prediction_server_format(tmp_path):
    lab = np.arange(21, dtype=np.uint8).repeat(2).reshape(6, 7)
    p = voc.save_prediction(lab, tmp_path, "2008_000001")
    assert p == tmp_path / "results/VOC2012/Segmentation/comp6_test_cls/2008_000001.png"
    im = Image.open(p)
    assert im.mode == "P" and np.array_equal(np.asarray(im), lab)


def test_cityscapes_train_ids(tmp_path):
    lab = np.array([[0, 7, 8, 26], [33, 34 - 1, 6, 24]], np.uint8)
    assert cityscapes.label_ids_to_train_ids(lab).tolist() == [[255, 0, 1, 13], [18, 18, 255, 11]]
    with pytest.raises(DataError, match="x.png: unknown Cityscapes labelId 40"):
        cityscapes.label_ids_to_train_ids(np.array([40], np.uint8), "x.png")
    with pytest.raises(DataMissing, match="leftImg8bit.*gtFine_labelIds"):
        cityscapes.Cityscapes(tmp_path, "val")
    d = tmp_path / "cityscapes"
    (d / "leftImg8bit/val/aachen").mkdir(parents=True), (d / "gtFine/val/aachen").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(d / "leftImg8bit/val/aachen/aachen_000000_000019_leftImg8bit.png")
    Image.fromarray(np.full((4, 6), 26, np.uint8)).save(d / "gtFine/val/aachen/aachen_000000_000019_gtFine_labelIds.png")
    x, y, _ = cityscapes.Cityscapes(tmp_path, "val")[0]
    assert x.shape == (3, 4, 6) and (y == 13).all()


def test_cityscapes_full_tier_path_on_a_fake_layout(tmp_path):
    """evaluate_cityscapes: val scored with the 19 train ids, test written as server labelId PNGs."""
    from PIL import Image

    from datasets import cityscapes
    from reference_impls.deeplab import DeepLab
    from reference_impls.deeplab.voc import evaluate_cityscapes
    rng = np.random.default_rng(0)
    for split in ("val", "test"):
        for kind in ("leftImg8bit", "gtFine"):
            (tmp_path / "cityscapes" / kind / split / "aachen").mkdir(parents=True)
        stem = "aachen_000000_000019"
        Image.fromarray(rng.integers(0, 255, (32, 64, 3), dtype=np.uint8)).save(
            tmp_path / "cityscapes" / "leftImg8bit" / split / "aachen" / f"{stem}_leftImg8bit.png")
        Image.fromarray(np.full((32, 64), 7, np.uint8)).save(           # labelId 7 = road = train id 0
            tmp_path / "cityscapes" / "gtFine" / split / "aachen" / f"{stem}_gtFine_labelIds.png")
    torch.manual_seed(0)
    net = DeepLab(cityscapes.NUM_CLASSES, backbone="resnet18", head="v3+", output_stride=16).eval()
    s = evaluate_cityscapes(net, tmp_path, "val", "cpu")
    assert 0.0 <= s["miou"] <= 1.0 and len(s["iou"]) == cityscapes.NUM_CLASSES
    evaluate_cityscapes(net, tmp_path, "test", "cpu", save_dir=tmp_path / "out")
    pred = np.asarray(Image.open(tmp_path / "out" / "aachen" / "aachen_000000_000019_pred_labelIds.png"))
    assert pred.shape == (32, 64) and set(np.unique(pred)) <= set(cityscapes._ID_TO_TRAIN)


def test_taps_inside_counts_the_taps_that_miss_the_padding():
    from reference_impls.deeplab import taps_inside
    # a 3-long axis, rate 1: offsets -1/0/+1 land inside 2 + 3 + 2 = 7 of 9 times
    assert taps_inside(1, (3, 1)) == pytest.approx(7 / 9 * 1 / 3)
    assert taps_inside(1, (3, 3)) == pytest.approx((7 / 9) ** 2)
    # a rate at least the map's size leaves only the centre tap: the 3x3 conv acts as a 1x1 conv
    assert taps_inside(6, (5, 6)) == taps_inside(24, (5, 6)) == pytest.approx(1 / 9)
    assert taps_inside(12, (41, 41)) == pytest.approx(((41 + 2 * 29) / 123) ** 2)


def test_rate_beyond_the_map_equals_a_centre_only_filter():
    """What taps_inside predicts: with rate >= the map size, zeroing the off-centre weights changes nothing."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(2, 2, 3, padding=6, dilation=6)
    x = torch.randn(1, 2, 5, 6)
    centre = torch.nn.Conv2d(2, 2, 3, padding=6, dilation=6)
    centre.load_state_dict(conv.state_dict())
    with torch.no_grad():
        mask = torch.zeros(3, 3)
        mask[1, 1] = 1
        centre.weight.mul_(mask)
        assert torch.allclose(conv(x), centre(x))


def test_flops_counts_a_conv_on_meta_tensors():
    from reference_impls.deeplab import flops
    with torch.device("meta"):
        conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
        n = flops(conv, (1, 3, 10, 12))
    assert n == 2 * 3 * 8 * 9 * 10 * 12


def test_slim_backbone_widths():
    net = DeepLab(4, backbone="resnet18", head="aspp", output_stride=16, width=8, rates=(1, 2),
                  backbone_channels=(16, 32, 64, 128))
    assert net.backbone.feature_info.channels() == [16, 128]
    assert [b.body[0].dilation[0] for b in net.head.branches] == [1, 2]
    with torch.inference_mode():
        assert net.eval().scores(torch.zeros(1, 3, 72, 96)).shape[-2:] == (5, 6)


def test_slim_backbone_narrows_the_stem():
    """timm keeps a plain ResNet stem 64 wide whatever its stages' widths: with backbone_channels the
    7x7 stem is narrowed to the first stage's width and layer1's first block loses its 1x1 projection
    (identity shortcut, as in ResNet-18); without them the published ResNet-18 is untouched."""
    from reference_impls.common import count_params
    from reference_impls.deeplab.model import slim_stem
    slim = DeepLab(4, backbone="resnet18", head="aspp", output_stride=16, width=8, rates=(1,),
                   backbone_channels=(16, 32, 64, 128)).backbone
    assert (slim.conv1.in_channels, slim.conv1.out_channels, slim.conv1.kernel_size) == (3, 16, (7, 7))
    assert slim.bn1.num_features == 16 and slim.layer1[0].conv1.in_channels == 16
    assert slim.layer1[0].downsample is None
    full = DeepLab(4, backbone="resnet18", head="aspp", output_stride=16, width=8, rates=(1,)).backbone
    assert full.conv1.out_channels == 64 and full.layer1[0].downsample is None      # published: untouched
    # 64-wide stem -> 16: conv1 3*64*49 -> 3*16*49, bn1 128 -> 32, layer1[0].conv1 64*16*9 -> 16*16*9, and
    # the projection (64*16 conv + 32 bn) dropped
    import timm
    wide = timm.create_model("resnet18", features_only=True, output_stride=16, out_indices=(1, 4),
                             channels=(16, 32, 64, 128))
    saved = 3 * 48 * 49 + 96 + 48 * 16 * 9 + (64 * 16 + 32)
    assert count_params(wide) - count_params(slim) == saved
    assert slim_stem(wide, 16) is wide and count_params(wide) == count_params(slim)
    with torch.inference_mode():
        low, high = slim.eval()(torch.zeros(2, 3, 64, 64))
    assert low.shape == (2, 16, 16, 16) and high.shape == (2, 128, 4, 4)


class _SameImage(torch.utils.data.Dataset):
    """Four copies of one image whose pixels encode their position: a crop's pixels say where it was cut."""

    def __init__(self, transform):
        self.transform = transform
        self.x = (torch.arange(40 * 40) % 251).reshape(1, 40, 40).expand(3, 40, 40).to(torch.uint8)

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return self.transform(self.x, torch.zeros(40, 40, dtype=torch.long))[0]


def _epochs(seed, n_epochs=2, **loader_args):
    from reference_impls.deeplab.voc import RandomScaleCrop
    ds = _SameImage(RandomScaleCrop(24, (0.7, 1.3), seed=0))
    loader = torch.utils.data.DataLoader(ds, batch_size=1, shuffle=False, num_workers=2, **loader_args)
    return [[b[0] for b in loader] for _ in range(n_epochs)]


def test_random_scale_crop_draws_differ_per_worker_and_epoch():
    """Items 0/2 go to worker 0 and 1/3 to worker 1: with one generator copied into both workers the
    two workers cut the same crops and every epoch replays the first; seeded per worker, they differ."""
    from reference_impls.deeplab.voc import seeded_loader_args
    naive = _epochs(0)
    assert torch.equal(naive[0][0], naive[0][1]) and torch.equal(naive[0][0], naive[1][0])   # the bug
    e = _epochs(0, **seeded_loader_args(0))
    crops = [c for epoch in e for c in epoch]
    assert all(not torch.equal(a, b) for i, a in enumerate(crops) for b in crops[i + 1:])
    again = _epochs(0, **seeded_loader_args(0))                                              # reproducible
    assert all(torch.equal(a, b) for ea, eb in zip(e, again) for a, b in zip(ea, eb))
