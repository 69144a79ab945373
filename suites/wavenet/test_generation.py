"""Fast generation (Paine et al., 2016): per-layer queues of past activations turn the
O(layers x receptive field) cost of naive autoregressive sampling into O(layers) per sample,
without changing a single sample.
"""
import torch

from reference_impls.common import num_threads
from reference_impls.wavenet.model import WaveNetConfig, build_model, dilation_stack
from reference_impls.wavenet.sampling import draw_uniforms, generate_fast, generate_naive


def test_fast_sampling_equals_naive(claim, seed):
    """Same uniform draws -> the same samples, for filter width 2 and 3, with global and local
    conditioning: the 1..512 block generates 160 samples after a 960-code prompt (the queues have
    wrapped around and the naive window spans the whole receptive field), the width-3 model 150
    samples from a 20-code prompt (its window grows to its receptive field, 61, and past it).
    float64 so that the two summation orders cannot flip an inverse-CDF draw."""
    torch.manual_seed(seed)
    runs = [
        (WaveNetConfig(residual_channels=8, dilation_channels=8, skip_channels=16,
                       dilations=dilation_stack(1, 512)), 160, {"prompt": torch.randint(256, (1, 960))}),
        (WaveNetConfig(residual_channels=8, dilation_channels=8, skip_channels=16, kernel_size=3,
                       dilations=(1, 2, 4, 8) * 2, n_speakers=3, speaker_dim=4, local_channels=5, hop=4), 150,
         {"speaker": [0, 2], "local": torch.randn(2, 5, 45, dtype=torch.float64),
          "prompt": torch.randint(256, (2, 20))}),
    ]
    mismatches, total = 0, 0
    for cfg, n, kw in runs:
        model = build_model(cfg).double()
        u = draw_uniforms(n, batch=kw.get("speaker") and 2 or 1, seed=seed)
        P = kw["prompt"].shape[1]
        a = generate_naive(model, n, u, **kw)[:, P:]     # the generated samples, after the prompt
        b = generate_fast(model, n, u, **kw)[:, P:]
        assert len(torch.unique(a)) > 20        # a real random walk, not a constant
        mismatches += int((a != b).sum())
        total += a.numel()
    claim("fast_equals_naive", mismatches, samples=total)


def generation_fns(layers: int, n_fast: int = 200, n_naive: int = 12) -> tuple[dict, dict]:
    """The fast and naive samplers for one block of `layers` dilated layers (1..2^(layers-1)), at
    steady state (naive starts after a prompt as long as the receptive field), and their samples
    per call."""
    torch.manual_seed(0)
    model = build_model(WaveNetConfig(residual_channels=64, dilation_channels=64, skip_channels=256,
                                     dilations=dilation_stack(1, 2 ** (layers - 1))))
    u = draw_uniforms(n_fast, seed=0, dtype=torch.float32)
    prompt = torch.randint(256, (1, model.receptive_field))
    return ({f"fast{layers}": lambda: generate_fast(model, n_fast, u),
             f"naive{layers}": lambda: generate_naive(model, n_naive, u, prompt=prompt)},
            {f"fast{layers}": n_fast, f"naive{layers}": n_naive})


def test_fast_generation_speed(claim, speed, artifacts):
    """Single-stream generation on one CPU thread (residual 64, skip 256, filter width 2): CPU seconds
    per sample, the four samplers timed in interleaved rounds (pytest-benchmark statistics)."""
    fns, per = {}, {}
    for layers in (5, 10):
        f, n = generation_fns(layers)
        fns.update(f), per.update(n)
    with num_threads(1):
        t = speed.compare(fns, rounds=3, warmup=1, per_call=per)
    fast5, naive5, fast10, naive10 = (t.median(k) for k in ("fast5", "naive5", "fast10", "naive10"))
    claim("fast_speedup_rf1024", t.ratio("naive10", "fast10"), fast_ms=fast10 * 1e3, naive_ms=naive10 * 1e3,
          **t.extra())
    # 5 -> 10 layers: receptive field 32 -> 1024. Cost linear in layers doubles; the naive
    # sampler's work (layers x receptive field) grows 64-fold.
    claim("fast_cost_linear_in_layers", t.ratio("fast10", "fast5"), fast5_ms=fast5 * 1e3, fast10_ms=fast10 * 1e3)
    claim("naive_cost_grows_with_receptive_field", t.ratio("naive10", "naive5"), naive5_ms=naive5 * 1e3,
          naive10_ms=naive10 * 1e3)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(["fast L5", "fast L10", "naive L5", "naive L10"], [fast5 * 1e3, fast10 * 1e3, naive5 * 1e3, naive10 * 1e3])
    ax.set_yscale("log"), ax.set_ylabel("ms per sample"), ax.set_title("generation cost (1 thread)")
    artifacts.save_figure(fig, "generation_cost")
