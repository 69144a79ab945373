"""reference_impls.foundations on hand-made cases: the gradient checker, activation statistics,
FGSM on a linear model whose answer is known, the optimizers' measurements."""
import math

import pytest
import torch
from torch import nn

from reference_impls.foundations import adversarial as adv
from reference_impls.foundations import gradcheck, init, optim, rnn


def test_relative_error_ignores_entries_that_are_both_zero():
    a = torch.tensor([1.0, 0.0, -2.0])
    assert gradcheck.relative_error(a, a) == 0.0
    assert gradcheck.relative_error(a, torch.tensor([1.1, 0.0, -2.0])) == pytest.approx(0.1 / 1.1)


def test_gradcheck_passes_a_correct_function_and_catches_a_wrong_one():
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    assert gradcheck.check(lambda t: (t ** 3).sum(1), x) < 1e-7
    assert gradcheck.check(gradcheck.BuggyTanh.apply, x) > 0.1


def test_variance_ratio_of_a_known_sequence():
    acts = [torch.full((10,), 2.0 ** (-k / 2)) for k in range(5)]   # second moment halves per layer
    assert init.variance_ratio_per_layer(acts) == pytest.approx(0.5)
    assert init.std_ratio([torch.tensor([1.0, -1.0]), torch.tensor([0.1, -0.1])]) == pytest.approx(0.1)


def test_fgsm_on_a_linear_model_moves_each_logit_by_eps_l1():
    """For logits Wx, FGSM's step eps*sign(grad) changes the loss by first order eps*|grad|_1."""
    model = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]]))
    x, y = torch.tensor([[0.3, 0.0, 0.0]]), torch.tensor([0])
    x_adv = adv.fgsm(model, x, y, 0.2)
    assert torch.allclose(x_adv - x, torch.tensor([[-0.2, 0.2, -0.2]]))     # against the true class
    assert (model(x_adv)[0, 0] - model(x)[0, 0]).item() == pytest.approx(-0.2 * 3.5)
    assert adv.flip_rate(model, x, x_adv) == 1.0                            # logit 0.3 -> -0.4: class 0 -> 1


def test_optimizer_measurements_are_deterministic():
    a = optim.run(optim.OPTIMIZERS["momentum"], 500, threshold=1e-3)[2]
    assert a == optim.run(optim.OPTIMIZERS["momentum"], 500, threshold=1e-3)[2] and a is not None
    e = optim.effective_step("adagrad", 50)
    assert all(e[i + 1] <= e[i] + 1e-15 for i in range(len(e) - 1))        # AdaGrad's step never grows


def test_gradient_ratio_and_clipping():
    assert math.log10(rnn.gradient_reaching_start("lstm", steps=20)) > math.log10(
        rnn.gradient_reaching_start("rnn", steps=20))
    before, after = rnn.clipped_norm(1.0)
    assert before > 1.0 and after == pytest.approx(1.0, rel=1e-4)
