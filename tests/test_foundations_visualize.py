"""reference_impls.foundations.visualize and .transfer on hand-made cases: map mass inside a mask,
rank correlation, guided ReLU, occlusion on a model that only looks at one pixel, cascading
randomisation, Gram matrices, augmentation, the few-shot draw and nearest neighbours."""
import pytest
import torch
from torch import nn

from reference_impls.foundations import transfer as tl
from reference_impls.foundations import visualize as vis


def test_mass_inside_counts_the_fraction_of_the_map_in_the_mask():
    maps = torch.tensor([[[1.0, 3.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]])
    masks = torch.tensor([[[False, True], [False, False]], [[True, False], [False, False]]])
    assert vis.mass_inside(maps, masks) == pytest.approx((0.75 + 0.25) / 2)
    assert vis.mass_inside(-maps, masks) == 0.0             # negative values carry no mass


def test_rank_correlation_of_monotone_and_reversed_maps():
    a = torch.arange(16.0).view(1, 4, 4)
    assert vis.rank_correlation(a, a ** 3) == pytest.approx(1.0)
    assert vis.rank_correlation(a, -a) == pytest.approx(-1.0)


def test_guided_relu_zeroes_negative_gradients_and_negative_inputs():
    x = torch.tensor([-1.0, 2.0, 3.0], requires_grad=True)
    y = vis.GuidedReLU.apply(x)
    y.backward(torch.tensor([5.0, -4.0, 2.0]))
    assert torch.equal(y.detach(), torch.tensor([0.0, 2.0, 3.0]))
    assert torch.equal(x.grad, torch.tensor([0.0, 0.0, 2.0]))


class OnePixel(nn.Module):
    """Class 0's logit is pixel (5, 5) of channel 0: only occluding it matters."""

    def forward(self, x):
        v = x[:, 0, 5, 5]
        return torch.stack([4 * v, torch.zeros_like(v)], 1)


def test_occlusion_map_lights_up_only_around_the_pixel_the_model_reads():
    x = torch.ones(1, 3, 16, 16)
    m = vis.occlusion_map(OnePixel(), x, torch.tensor([0]), patch=4, stride=4)
    drop = float(torch.sigmoid(torch.tensor(4.0))) - 0.5                  # p(class 0): sigmoid(4) -> 1/2
    assert torch.allclose(m[0, 4:8, 4:8], torch.full((4, 4), drop))
    assert m[0].sum() == pytest.approx(m[0, 4:8, 4:8].sum())


def test_cascade_redraws_the_top_layer_first_and_keeps_the_original():
    torch.manual_seed(0)
    net = vis.SceneCNN(6, 4)
    before = {n: p.clone() for n, p in net.state_dict().items()}
    stages = vis.cascade(net, seed=0)
    name, m = next(stages)
    assert name == "fc" and not torch.equal(m.fc.weight, net.fc.weight)
    assert torch.equal(m.conv4.weight, net.conv4.weight)
    name, m = next(stages)
    assert name == "conv4" and not torch.equal(m.conv4.weight, net.conv4.weight)
    assert all(torch.equal(p, before[n]) for n, p in net.state_dict().items())


def test_gram_matrix_and_style_distance_of_an_image_to_itself():
    f = torch.tensor([[[[1.0, 2.0]], [[0.0, 1.0]]]])             # (1, 2 channels, 1, 2)
    assert torch.allclose(vis.gram(f), torch.tensor([[[2.5, 1.0], [1.0, 0.5]]]))
    torch.manual_seed(0)
    net, x = vis.SceneCNN(6, 4), torch.randn(1, 3, 16, 16)
    assert vis.style_distance(net, x, x) == 0.0
    assert vis.relative_error(x, x) == 0.0


def test_augment_keeps_shape_and_content_up_to_a_flip_and_a_shift():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    out = vis.augment(x, torch.Generator().manual_seed(0), pad=0)       # no padding: flips only
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))
    assert vis.augment(x, torch.Generator().manual_seed(0)).shape == x.shape


def test_few_shot_draw_and_nearest_neighbour():
    y = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2])
    x = y.float()[:, None].repeat(1, 3)
    fx, fy = tl.few_shot(x, y, 2, seed=0)
    assert torch.equal(torch.bincount(fy), torch.tensor([2, 2, 2]))
    assert tl.nearest_neighbour_accuracy(fx, fy, x, y) == 1.0
    assert torch.equal(tl.split(x, y, [1])[1], torch.tensor([1, 1, 1]))
