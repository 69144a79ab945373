"""Upsampling (bilinear kernel, transposed conv = bilinear), the DeepLab-v2 ResNet ASPP head, frozen BN."""
import pytest
import torch

from reference_impls.common import count_params
from reference_impls.deeplab import DeepLab
from reference_impls.deeplab.upsample import (LearnedUpsample, bilinear_kernel, bilinear_upsample, train_upsampler,
                                              transposed_as_conv, transposed_bilinear, transposed_upsampler)


def test_bilinear_kernel_factor_2():
    # FCN's upsample_filt(4): taps 1 - |i - 1.5| / 2 = 0.25, 0.75, 0.75, 0.25 per axis
    k = bilinear_kernel(2)
    assert k[0].tolist() == pytest.approx([0.0625, 0.1875, 0.1875, 0.0625])
    assert k.sum() == pytest.approx(4.0)           # a stride-2 transposed conv spreads each input over 4 outputs
    with pytest.raises(ValueError, match="even"):
        bilinear_kernel(3)


@pytest.mark.parametrize("factor", [2, 4, 16])
def test_transposed_conv_with_bilinear_weights_is_bilinear_upsampling(factor):
    x = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        out = transposed_bilinear(transposed_upsampler(3, factor), x)
    assert out.shape == (2, 3, 4 * factor, 5 * factor)
    assert torch.allclose(out, bilinear_upsample(x, factor), atol=1e-5)
    assert torch.allclose(LearnedUpsample(3, factor)(x), out, atol=1e-6)


@pytest.mark.parametrize("factor", [2, 4, 16])
def test_sub_pixel_form_equals_the_transposed_conv_for_any_weights(factor):
    """LearnedUpsample's forward (a 3x3 conv to f*f phases + pixel shuffle) is the transposed conv's map,
    for arbitrary (trained) weights mixing the classes, and gradients reach the same weights."""
    g = torch.Generator().manual_seed(1)
    conv = transposed_upsampler(3, factor, bilinear_init=False)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
        conv.bias.copy_(torch.randn(3, generator=g))
    x = torch.randn(2, 3, 4, 5, generator=g)
    ref, fast = transposed_bilinear(conv, x), transposed_as_conv(conv, x)
    assert fast.shape == ref.shape == (2, 3, 4 * factor, 5 * factor)
    assert torch.allclose(fast, ref, atol=1e-4 * float(ref.abs().max()))
    gw_ref = torch.autograd.grad(ref.square().sum(), conv.weight)[0]
    gw_fast = torch.autograd.grad(transposed_as_conv(conv, x).square().sum(), conv.weight)[0]
    assert torch.allclose(gw_fast, gw_ref, rtol=1e-4, atol=1e-4 * float(gw_ref.abs().max()))
    with pytest.raises(ValueError, match="geometry"):
        transposed_as_conv(torch.nn.ConvTranspose2d(3, 3, 3, stride=factor), x)


def test_train_upsampler_learns_and_untrained_is_bilinear(tmp_path):
    torch.manual_seed(0)
    labels = torch.zeros(16, 8, 8, dtype=torch.long)
    labels[:, :, 3:] = 1                           # a sharp edge the bilinear map of the 2x2 scores blurs
    scores = torch.zeros(16, 2, 2, 2)
    scores[:, 1, :, 1] = 1.0
    scores[:, 0, :, 0] = 1.0
    up0 = train_upsampler(scores, labels, 4, seed=0, untrained=True)
    assert torch.allclose(up0(scores), bilinear_upsample(scores, 4), atol=1e-5)
    up = train_upsampler(scores, labels, 4, seed=0, epochs=20, lr=0.05, cache_dir=tmp_path)
    with torch.inference_mode():
        acc = (up(scores).argmax(1) == labels).float().mean()
        acc0 = (bilinear_upsample(scores, 4).argmax(1) == labels).float().mean()
    assert acc0 < 1.0 and acc == 1.0


def test_deeplab_v2_resnet101_aspp_head_has_the_published_parameter_count():
    """The released DeepLab-v2 ResNet-101 (deeplab-v2 prototxt fc1_voc12_c0..c3): per rate a 3x3 conv
    2048 -> 21 with bias: 4 x (2048 x 21 x 9 + 21) = 1,548,372 parameters."""
    with torch.device("meta"):
        net = DeepLab(21, backbone="resnet101", head="aspp_v2", output_stride=8)
    assert count_params(net.head) == 4 * (2048 * 21 * 9 + 21) == 1_548_372
    assert [c.dilation[0] for c in net.head.branches] == [6, 12, 18, 24]


def test_frozen_batch_norm_and_head_learning_rates():
    torch.manual_seed(0)
    net = DeepLab(3, backbone="resnet18", head="aspp_v2", output_stride=16, rates=(1, 2), freeze_bn=True)
    bn = net.backbone.bn1
    before = bn.running_mean.clone()
    net.train()
    assert not bn.training and net.head.training and not bn.weight.requires_grad
    net(torch.randn(2, 3, 32, 32) * 5 + 3)
    assert torch.equal(bn.running_mean, before)
    groups = net.param_groups(1e-3)
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-2, 2e-2])
    assert sum(len(g["params"]) for g in groups) == sum(p.requires_grad for p in net.parameters())
    assert not any(p is bn.weight for g in groups for p in g["params"])
