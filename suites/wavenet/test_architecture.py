"""WaveNet section 2: dilated causal convolutions, their receptive field, and the mu-law softmax.

Everything here is exact: the receptive field and causality are read off input gradients of
a randomly initialised network (a dependency on an input shows up as a nonzero gradient).
"""
import torch

from datasets.audio import mu_law_decode, mu_law_encode, mu_law_error_bound
from reference_impls.wavenet.model import WaveNetConfig, build_model, dilation_stack, receptive_field


def input_gradient(model, T: int, t: int, speaker=None, local=None) -> torch.Tensor:
    """|d sum(logits[..., t]) / d input embedding| summed over channels, per input position (T,)."""
    torch.manual_seed(0)
    x = torch.randint(256, (1, T))
    emb = model.embed(x).detach().requires_grad_(True)
    g, l = model.global_cond(speaker), model.local_cond(local, T)
    h, skip = emb, 0                        # the layers work channels last: (1, T, C)
    for layer in model.layers:
        h, s = layer(h, g, l)
        skip = skip + s
    model.head(skip)[0, t].sum().backward()
    return emb.grad[0].abs().sum(-1)


def measured_receptive_field(model, T: int) -> int:
    grad = input_gradient(model, T, T - 1)
    nz = torch.nonzero(grad).flatten()
    return int(T - nz.min())


def small(kernel, dilations, **kw):
    torch.manual_seed(0)
    cfg = WaveNetConfig(residual_channels=4, dilation_channels=4, skip_channels=8, kernel_size=kernel,
                        dilations=tuple(dilations), **kw)
    return build_model(cfg).double()


def test_receptive_field_of_one_block(claim):
    """Dilations 1, 2, ..., 512 with filter width 2: 1024 samples."""
    model = small(2, dilation_stack(1, 512))
    claim("receptive_field_1024", measured_receptive_field(model, 1500), formula=model.receptive_field)


def test_receptive_field_formula(claim):
    """(kernel - 1) * sum(dilations) + 1 for other widths, stacks and repeats."""
    configs = [(2, dilation_stack(2, 64)), (3, dilation_stack(1, 32)), (3, (1, 2, 4, 8) * 3), (4, (1, 3, 9))]
    worst = 0
    for k, dil in configs:
        model = small(k, dil)
        rf = receptive_field(k, dil)
        worst = max(worst, abs(measured_receptive_field(model, rf + 50) - rf))
    claim("receptive_field_formula", worst, configs=len(configs))


def test_causality_through_gradients(claim):
    """No output depends on a later input: with global and local conditioning too, the gradient
    of the output at t with respect to every input after t is exactly zero."""
    T = 200
    model = small(2, dilation_stack(1, 32), n_speakers=3, speaker_dim=4, local_channels=3, hop=8)
    local = torch.randn(1, 3, T // 8, dtype=torch.float64)
    worst_future, past_used = 0.0, 0.0
    for t in (0, 17, 99, 150, T - 2):
        grad = input_gradient(model, T, t, speaker=[1], local=local)
        worst_future = max(worst_future, float(grad[t + 1:].max()))
        past_used = max(past_used, float(grad[: t + 1].max()))
    assert past_used > 0                    # the gradient is alive: the output does depend on x[<= t]
    claim("causal", worst_future)


def test_mu_law_softmax(claim):
    """A 256-way softmax over 8-bit mu-law codes; decoding is within the analytic error bound."""
    model = small(2, (1, 2))
    logits = model(torch.randint(256, (1, 10)))
    x = torch.linspace(-1, 1, 1_000_001, dtype=torch.float64)
    codes = mu_law_encode(x)
    claim("mulaw_256_classes", min(logits.shape[1], len(torch.unique(codes))))
    err = (mu_law_decode(codes).double() - x).abs().max()
    claim("mulaw_roundtrip_error_bound", float(err), analytic_bound=mu_law_error_bound())
