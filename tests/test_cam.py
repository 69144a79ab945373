"""reference_impls.cam: CAMs, Grad-CAM, Backprop saliency, GAP/GMP models."""
import pytest
import torch

from reference_impls.cam import build_model, cam_overhead
from reference_impls.cam.maps import backprop_saliency, cam, cam_from_features, gradcam, upsample


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("small_vgg", 6, pool="gap").eval()


def test_cam_is_class_weighted_sum_of_maps(model):
    x = torch.randn(2, 3, 64, 64)
    logits, f = model(x, return_features=True)
    manual = (model.fc.weight[3][None, :, None, None] * f).sum(1)
    got = cam_from_features(f, model.fc.weight, torch.tensor([[3], [3]]))[:, 0]
    assert torch.allclose(got, manual, atol=1e-5)
    # GAP: the class score is the spatial mean of its CAM plus the bias (the paper's eq. for S_c)
    assert torch.allclose(got.mean((1, 2)) + model.fc.bias[3], logits[:, 3], atol=1e-4)
    _, maps, top = cam(model, x, k=5)
    assert maps.shape == (2, 5, 64, 64) and torch.equal(top, logits.topk(5).indices)


def test_gradcam_on_gap_net_is_relu_cam(model):
    x = torch.randn(2, 3, 64, 64)
    cls = torch.tensor([[1], [4]])
    _, g, _ = gradcam(model, x, classes=cls)
    f = model(x, return_features=True)[1]
    c = cam_from_features(f, model.fc.weight, cls)
    h, w = f.shape[-2:]
    # alpha_k = w_k^c / (h w) for a GAP net, so Grad-CAM = ReLU(CAM) / (h w) before upsampling
    assert torch.allclose(g, upsample(torch.relu(c) / (h * w), x.shape[-2:]), atol=1e-6)


def test_backprop_saliency_matches_autograd(model):
    x = torch.randn(1, 3, 64, 64)
    _, s, _ = backprop_saliency(model, x, classes=torch.tensor([[2]]))
    xr = x.clone().requires_grad_(True)
    model(xr)[0, 2].backward()
    assert torch.allclose(s[0, 0], xr.grad.abs().amax(1)[0])


def test_gmp_and_bad_pool():
    m = build_model("small_vgg", 3, pool="gmp").eval()
    x = torch.randn(1, 3, 64, 64)
    logits, f = m(x, return_features=True)
    assert torch.allclose(m.fc(f.amax((2, 3))), logits)
    with pytest.raises(ValueError):
        build_model("small_vgg", 3, pool="avgmax")
    with pytest.raises(ValueError):
        build_model("alexnet", 3)


@pytest.mark.parametrize("arch,stride", [("vgg16", 16), ("googlenet", 16), ("resnet50", 16)])
def test_paper_backbones_keep_14x14(arch, stride):
    m = build_model(arch, 10).eval()
    with torch.inference_mode():
        logits, f = m(torch.randn(1, 3, 224, 224), return_features=True)
    assert logits.shape == (1, 10) and f.shape[-2:] == (224 // stride, 224 // stride) and f.shape[1] == 1024


def test_cam_overhead_reports_ratio(model):
    from harness.speed import SpeedMeter
    entries = []
    r = cam_overhead(model, torch.randn(4, 3, 64, 64), SpeedMeter("t", entries).compare, repeats=2)
    assert r["ratio"] > 0 and r["images_per_s"] > 0 and r["forward_cam_s"] > 0
    assert {e["fullname"] for e in entries} == {"t::forward", "t::forward_cam"}   # pytest-benchmark entries


def test_class_prior_error_is_the_majority_class_error():
    from reference_impls.cam.proxy import class_prior_error
    train = torch.tensor([0, 2, 2, 1, 2])                 # majority class 2
    assert class_prior_error(train, torch.tensor([2, 2, 0, 1])) == 50.0
    assert class_prior_error(train, torch.tensor([2])) == 0.0


def test_evaluate_cam_single_pass_matches_the_map_function(model):
    """evaluate's one-pass CAM path gives the same boxes as cam() called per class set."""
    from metrics import localization as L
    from reference_impls.cam import evaluate
    torch.manual_seed(1)
    x = torch.randn(6, 3, 64, 64)
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    data = {"images": x, "labels": y, "boxes": torch.tensor([[8, 8, 40, 40]] * 6)}
    r = evaluate(model, data, "cam", k=2, interval=0.1, keep_maps=6)
    _, maps, top = cam(model, x, k=2)
    _, gmaps, _ = cam(model, x, classes=y[:, None])
    for b, e in enumerate(r["examples"]):
        assert e["top1"] == int(top[b, 0])
        assert e["top1_box"] == L.cam_box(maps[b, 0].numpy(), 0.2)
        assert e["box"] == L.cam_box(gmaps[b, 0].numpy(), 0.2)
    assert "top5_loc_error" not in r and 0 <= r["max_box_acc_v2"] <= 100
