"""WaveNet model, samplers and training plumbing: shapes, conditioning errors, determinism, caching."""
import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from datasets.audio import FSDD_REL
from reference_impls.wavenet.experiment import evaluate, load_data, load_vctk_data, train_model
from reference_impls.wavenet.model import WaveNetConfig, build_model, dilation_stack, receptive_field
from reference_impls.wavenet.sampling import draw_uniforms, generate_fast, generate_naive, sample_from_logits


def tiny(**kw):
    torch.manual_seed(0)
    return build_model(WaveNetConfig(residual_channels=4, dilation_channels=4, skip_channels=8,
                                     dilations=(1, 2, 4), **kw))


def test_shapes_and_receptive_field():
    assert dilation_stack(2, 8) == (1, 2, 4, 8, 1, 2, 4, 8)
    assert receptive_field(2, dilation_stack(1, 512)) == 1024
    assert receptive_field(2, dilation_stack(3, 512)) == 3070
    m = tiny()
    assert m(torch.randint(256, (3, 17))).shape == (3, 256, 17)
    assert m.receptive_field == 8
    m2 = build_model({"residual_channels": 4, "dilation_channels": 4, "skip_channels": 8, "dilations": [1, 2]})
    assert m2.cfg.dilations == (1, 2)


def test_matmul_conv_equals_dilated_conv1d():
    for k in (2, 3):
        torch.manual_seed(1)
        mk = build_model(WaveNetConfig(residual_channels=4, dilation_channels=4, skip_channels=8, kernel_size=k,
                                       dilations=(1, 4)))
        h = torch.randn(2, 4, 30)
        for layer in mk.layers:
            ref = layer.conv(F.pad(h, (layer.pad, 0)))
            assert torch.allclose(layer.causal_conv(h.transpose(1, 2)).transpose(1, 2), ref, atol=1e-6)


def test_conditioning_errors():
    g = tiny(n_speakers=3, speaker_dim=2)
    x = torch.randint(256, (2, 10))
    assert g(x, speaker=[0, 2]).shape == (2, 256, 10)
    with pytest.raises(ValueError, match="speaker id out of range.*3 speakers"):
        g(x, speaker=[0, 3])
    with pytest.raises(ValueError, match="speaker id out of range"):
        g(x, speaker=[-1, 0])
    with pytest.raises(ValueError, match="pass speaker="):
        g(x)
    with pytest.raises(ValueError, match="no global conditioning"):
        tiny()(x, speaker=[0, 0])
    loc = tiny(local_channels=2, hop=4)
    assert loc(x, local=torch.randn(2, 2, 3)).shape == (2, 256, 10)
    with pytest.raises(ValueError, match="cover 8 samples"):
        loc(x, local=torch.randn(2, 2, 2))
    with pytest.raises(ValueError, match="locally conditioned"):
        loc(x)
    with pytest.raises(ValueError, match="out of range"):
        generate_fast(g, 5, draw_uniforms(5, batch=1), speaker=[7])


def test_local_conditioning_changes_output_only_from_its_frame_on():
    m = tiny(local_channels=2, hop=4).double()
    x = torch.randint(256, (1, 16))
    a = torch.randn(1, 2, 4, dtype=torch.float64)
    b = a.clone()
    b[..., 2] += 1.0                           # frame 2 covers samples 8..11
    with torch.no_grad():
        d = (m(x, local=a) - m(x, local=b)).abs().amax(dim=1)[0]
    assert float(d[:8].max()) == 0.0 and float(d[8:].max()) > 0


def test_inverse_cdf_sampling():
    logits = torch.log(torch.tensor([[0.25, 0.25, 0.5]]))
    assert [int(sample_from_logits(logits, torch.tensor([u]))) for u in (0.1, 0.3, 0.6, 0.999999)] == [0, 1, 2, 2]


def test_samplers_agree_in_float32_and_validate_prompt():
    m = tiny(n_speakers=2, speaker_dim=2)
    u = draw_uniforms(40, batch=2, seed=3, dtype=torch.float32)
    a = generate_naive(m, 40, u, speaker=[0, 1])
    b = generate_fast(m, 40, u, speaker=[0, 1])
    assert a.shape == (2, 41) and torch.equal(a, b)
    assert torch.equal(a, generate_fast(m, 40, u, speaker=[0, 1]))      # deterministic
    with pytest.raises(ValueError, match="prompt must be"):
        generate_fast(m, 4, u, prompt=torch.zeros(3, 2), speaker=[0, 1])
    with pytest.raises(ValueError, match="uniforms"):
        generate_fast(m, 50, u, speaker=[0, 1])


def _fake_fsdd(root, n_takes=6):
    rng = np.random.default_rng(0)
    for spk, f0 in (("george", 150.0), ("theo", 300.0)):
        for take in range(n_takes):
            t = np.arange(1200) / 8000
            x = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(t.size)
            p = root / FSDD_REL / f"{take % 10}_{spk}_{take}.wav"
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(p), x.astype(np.float32), 8000, subtype="PCM_16")


def test_train_cache_and_evaluate_on_a_fake_fsdd(tmp_path):
    _fake_fsdd(tmp_path / "data")
    data = load_data(tmp_path / "data", speakers=("george", "theo"), heldout_takes=range(0, 2))
    assert len(data["test"]) == 4 and len(data["train"]) == 2 and len(data["train"][0]) == 4 * 1200
    assert data["train"][0].dtype == torch.uint8
    cfg = WaveNetConfig(residual_channels=8, dilation_channels=8, skip_channels=16, dilations=(1, 2, 4, 8),
                        n_speakers=2, speaker_dim=4)
    kw = dict(seed=0, iters=40, batch=4, length=256, lr=3e-3, cache_dir=tmp_path / "cache")
    m1, hist = train_model(cfg, data, **kw)
    assert len(hist) == 40 and hist[-1] < hist[0] - 1.0           # it learns (bits per sample)
    m2, hist2 = train_model(cfg, data, **kw)                       # from the cache
    assert hist2 == hist
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    nll = evaluate(m1, data["test"])
    assert 0 < nll < 8.0
    swapped = evaluate(m1, data["test"], speaker_map=lambda i, s: 1 - s)
    assert np.isfinite(swapped)
    # the untrained control: the same seeded initialisation, nothing trained, no history
    m0, hist0 = train_model(cfg, data, untrained=True, **kw)
    torch.manual_seed(0)
    init = build_model(cfg)
    assert hist0 == [] and all(torch.equal(a, b) for a, b in zip(m0.state_dict().values(), init.state_dict().values()))
    assert evaluate(m0, data["test"]) > nll + 1.0


def test_vctk_split(tmp_path):
    for spk in ("p225", "p226"):
        for i in range(1, 5):
            p = tmp_path / f"audio/VCTK-Corpus-0.92/wav48_silence_trimmed/{spk}/{spk}_00{i}_mic1.flac"
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(p), np.zeros(4800, np.float32) + 0.01 * i, 48000, format="FLAC")
    data = load_vctk_data(tmp_path, heldout_per_speaker=1)
    assert data["speakers"] == ("p225", "p226")
    assert len(data["test"]) == 2 and [len(t) for t in data["train"]] == [3 * 1600, 3 * 1600]
    assert data["train"][0].dtype == torch.uint8 and data["test"][0][0].dtype == torch.uint8   # 1 byte a code


def test_vctk_crops_are_streamed(tmp_path):
    """Full tier data path on a tiny fake VCTK layout: uint8 code streams, and training crops cut one
    batch at a time (the epoch is never materialised), the same draws as cutting them all at once."""
    from reference_impls.wavenet.experiment import Crops
    for spk in ("p225", "p226", "p227"):
        for i in range(1, 4):
            p = tmp_path / f"audio/VCTK-Corpus-0.92/wav48_silence_trimmed/{spk}/{spk}_00{i}_mic1.flac"
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(p), (0.3 * np.sin(np.arange(4800) * 0.01 * i)).astype(np.float32), 48000, format="FLAC")
    data = load_vctk_data(tmp_path, heldout_per_speaker=1)
    assert all(t.dtype == torch.uint8 for t in data["train"])
    g = torch.Generator().manual_seed(0)
    epoch = Crops(data["train"], 1000, 4, 256, g)
    assert len(epoch) == 1000
    it = iter(epoch)
    x, spk = next(it)
    assert x.dtype == torch.int64 and x.shape == (4, 256) and spk.shape == (4,)
    # only one batch's random draws have been taken from the generator
    ref = torch.Generator().manual_seed(0)
    s = torch.randint(3, (4,), generator=ref)
    offsets = [int(torch.randint(len(data["train"][int(k)]) - 256, (1,), generator=ref)) for k in s]
    assert torch.equal(g.get_state(), ref.get_state()) and torch.equal(spk, s)
    assert all(torch.equal(x[b], data["train"][int(s[b])][o:o + 256].long()) for b, o in enumerate(offsets))


def test_forward_equals_the_layers_one_by_one():
    """WaveNet.forward (stacked skip matmul, no residual after the last layer) gives the numbers
    of the plain layer-by-layer composition that the naive sampler runs."""
    m = tiny(n_speakers=3, speaker_dim=2, local_channels=3, hop=4).double()
    x = torch.randint(256, (2, 40))
    local = torch.randn(2, 3, 10, dtype=torch.float64)
    g, l = m.global_cond([0, 2]), m.local_cond(local, 40)
    h, skip = m.embed(x), 0
    for layer in m.layers:
        h, s = layer(h, g, l)
        skip = skip + s
    ref = m.head(skip).transpose(1, 2)
    assert torch.allclose(m(x, [0, 2], local), ref, atol=1e-12)
