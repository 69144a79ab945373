"""Grad-CAM and Backprop saliency from one shared forward/backward pass equal the two computed
apart (bit for bit), and the top-k classes come from that same forward pass."""
import torch

from reference_impls.cam import build_model, evaluate, evaluate_gt
from reference_impls.cam.maps import backprop_saliency, gradcam, gradcam_and_backprop, top_classes


def test_gradcam_and_backprop_in_one_pass_equal_the_separate_maps():
    torch.manual_seed(0)
    x = torch.randn(5, 3, 64, 64)
    for pool in ("fc", "gap"):
        m = build_model("small_vgg", 6, pool=pool).eval()
        for classes in (torch.tensor([[0], [2], [5], [1], [1]]), None):
            logits, g, b, top = gradcam_and_backprop(m, x, classes=classes, k=3)
            lg, g2, t2 = gradcam(m, x, classes=classes, k=3)
            lb, b2, t3 = backprop_saliency(m, x, classes=classes, k=3)
            assert torch.equal(g, g2) and torch.equal(b, b2) and torch.equal(logits, lg) and torch.equal(logits, lb)
            assert torch.equal(top, t2) and torch.equal(top, t3) and g.shape == b.shape == (5, top.shape[1], 64, 64)
            if classes is None:          # the classes are the forward pass's own top-k
                with torch.no_grad():
                    assert torch.equal(top, top_classes(m(x), 3))


def test_evaluate_gt_of_two_methods_equals_each_alone():
    from datasets.wsol_proxy import wsol_proxy
    torch.manual_seed(0)
    m = build_model("small_vgg", 6, pool="fc").eval()
    data = wsol_proxy(24, 0, "test")
    both = evaluate_gt(m, data, ("gradcam", "backprop"), batch_size=10, interval=0.1, keep_maps=2)
    for method in ("gradcam", "backprop"):
        alone = evaluate(m, data, method, gt_only=True, batch_size=10, interval=0.1, keep_maps=2)
        ex, ex2 = both[method].pop("examples"), alone.pop("examples")
        assert both[method] == alone, method
        assert all((a["map"] == b["map"]).all() and a["box"] == b["box"] for a, b in zip(ex, ex2))
