"""WaveNet on real speech (smoke scale): a small speaker-conditioned WaveNet trained with
teacher forcing on the Free Spoken Digit Dataset (8 kHz, six speakers), evaluated on held-out
recordings (takes 0..4 of every digit, never trained on).

Controls, measured here on the same held-out samples: the same WaveNet untrained (its seeded
initialisation); count models over the same mu-law codes fitted on the training files (unigram,
bigram, trigram with interpolated Kneser-Ney smoothing: the strongest trivial baselines of
next-sample prediction); a WaveNet with a receptive field shorter than a pitch period (32 samples,
4 ms), trained the same way (the paper's point is the long receptive field); and, for the speaker
claim, per-speaker count models (FSDD's speakers differ in microphone, noise floor and level).

Paper, section 3.1: "a single WaveNet was able to model speech from any of the speakers by
conditioning it on a one-hot encoding of a speaker". The smoke check of that: the held-out
likelihood is better under the right speaker's embedding than under a wrong one's, by more than
per-speaker count models separate the speakers.
"""
import dataclasses

import numpy as np
import pytest
import torch

from datasets.audio import load_librispeech_clips, mu_law_decode, mu_law_encode, mu_law_error_bound
from metrics.audio import snr_db, unigram_entropy_bits
from reference_impls.wavenet.experiment import evaluate, load_data, train_model
from reference_impls.wavenet.model import WaveNetConfig, dilation_stack
from reference_impls.wavenet.ngram import NGram, fit_per_speaker, score_per_speaker
from reference_impls.wavenet.sampling import draw_uniforms, generate_fast

# one block of dilations 1..512 (receptive field 1024 samples = 128 ms at 8 kHz)
CFG = WaveNetConfig(residual_channels=32, dilation_channels=32, skip_channels=64,
                    dilations=dilation_stack(1, 512), n_speakers=6, speaker_dim=16)
# the short-receptive-field control: dilations 1..16, receptive field 32 samples (4 ms, below one
# pitch period of these male voices), otherwise the same model and training
SHORT_CFG = dataclasses.replace(CFG, dilations=dilation_stack(1, 16))
TRAIN = dict(iters=280, batch=4, length=2048, lr=3e-3)
EVAL_EVERY = 4          # every fourth held-out recording (75 of 300, 262k samples): see README (subset check)


@pytest.fixture(scope="module")
def fsdd(data_root):
    return load_data(data_root)


@pytest.fixture(scope="module")
def wavenet(fsdd, seed, cache_dir, device):
    return train_model(CFG, fsdd, seed=seed, cache_dir=cache_dir, device=device, **TRAIN)


@pytest.fixture(scope="module")
def scores(fsdd, wavenet, seed, cache_dir, device):
    test = fsdd["test"][::EVAL_EVERY]
    n_spk = len(fsdd["speakers"])
    # every wrong speaker in turn: recording i is conditioned on speaker (true + 1 + i mod 5) mod 6
    wrong = lambda i, s: (s + 1 + i % (n_spk - 1)) % n_spk  # noqa: E731
    untrained, _ = train_model(CFG, fsdd, seed=seed, cache_dir=cache_dir, device=device, untrained=True, **TRAIN)
    short, _ = train_model(SHORT_CFG, fsdd, seed=seed, cache_dir=cache_dir, device=device, **TRAIN)
    recordings = [c for c, _ in test]
    out = {
        "right": evaluate(wavenet[0], test, device=device),
        "wrong": evaluate(wavenet[0], test, speaker_map=wrong, device=device),
        "untrained_right": evaluate(untrained, test, device=device),
        "untrained_wrong": evaluate(untrained, test, speaker_map=wrong, device=device),
        "short_receptive_field": evaluate(short, test, device=device),
        "heldout_histogram": unigram_entropy_bits(torch.cat(recordings)),
        "samples": sum(len(c) - 1 for c in recordings),
    }
    # the count models are controls, not the method: fitted in the negative-control run too
    for n, name in ((1, "unigram"), (2, "bigram"), (3, "trigram")):
        out[name] = NGram(n).fit(fsdd["train"]).score(recordings)
    for n, name in ((1, "speaker_histogram"), (2, "speaker_bigram"), (3, "speaker_trigram")):
        models = fit_per_speaker(n, fsdd["train"])
        out[name] = score_per_speaker(models, test, speaker_map=wrong) - score_per_speaker(models, test)
    return out


def test_heldout_nll_below_count_models(claim, scores, wavenet, artifacts):
    """The autoregressive model predicts held-out speech better than the mu-law histogram of that
    very held-out audio (the best any context-free model can do on it), and better than count
    models of the previous one or two codes fitted on the training files."""
    s = scores
    claim("heldout_nll_below_unigram", s["right"], than=s["heldout_histogram"], samples=s["samples"],
          controls={"untrained": s["untrained_right"], "unigram": s["unigram"], "bigram": s["bigram"],
                    "trigram": s["trigram"]})
    _, history = wavenet
    if history:
        artifacts.save_curve("train_nll_bits", history, xlabel="iteration", ylabel="bits / sample")


def test_long_receptive_field_beats_short(claim, scores):
    """Section 2.1: the dilated stack's long receptive field (1024 samples) against the same
    WaveNet with 32 samples (shorter than a pitch period), both trained the same way."""
    s = scores
    claim("long_receptive_field_lower_nll", s["right"], than=s["short_receptive_field"],
          controls={"untrained": s["untrained_right"], "trigram": s["trigram"]})


def test_right_speaker_beats_wrong_speaker(claim, scores):
    """Held-out NLL with a wrong speaker's embedding minus NLL with the right one, against the same
    separation by per-speaker count models (each fitted on one speaker's training files) and by
    the untrained WaveNet."""
    s = scores
    claim("right_speaker_lower_nll", s["wrong"] - s["right"], right=s["right"], wrong=s["wrong"],
          controls={"untrained": s["untrained_wrong"] - s["untrained_right"],
                    "speaker_histogram": s["speaker_histogram"], "speaker_bigram": s["speaker_bigram"],
                    "speaker_trigram": s["speaker_trigram"]})


def test_mu_law_on_librispeech(claim, data_root):
    """Section 2.2: mu-law companding reconstructs speech better than linear quantization with
    the same 256 levels (LibriSpeech, 16 kHz); every sample stays within the analytic bound."""
    clips = load_librispeech_clips(data_root, sr=16000)
    x = np.concatenate([c.audio for c in clips])
    y = mu_law_decode(mu_law_encode(x)).numpy()
    assert np.abs(y - x).max() <= mu_law_error_bound() + 1e-6
    linear = np.round((x + 1) / 2 * 255) / 255 * 2 - 1          # 256 uniform levels on [-1, 1]
    claim("mulaw_beats_linear_snr", snr_db(x, y), than=snr_db(x, linear), clips=len(clips),
          seconds=x.size / 16000)


def test_generated_vs_real_figure(fsdd, wavenet, artifacts, seed):
    """Report figure: 0.25 s generated by the fast sampler after a 0.05 s real prompt, next to the real take."""
    model, history = wavenet
    codes, spk = fsdd["test"][0]
    sr, P, n = fsdd["sr"], 400, 2000
    out = generate_fast(model.cpu(), n, draw_uniforms(n, seed=seed), prompt=codes[:P].unsqueeze(0), speaker=[spk])
    gen = mu_law_decode(out[0]).numpy()
    real = mu_law_decode(codes[: P + n]).numpy()
    assert np.isfinite(gen).all() and gen[P:].std() > 0
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(3, 2, figsize=(9, 6))
    for col, (name, wav) in enumerate((("real", real), ("generated", gen))):
        t = np.arange(len(wav)) / sr
        axes[0, col].plot(t, wav, lw=0.5)
        axes[0, col].axvline(P / sr, color="r", lw=0.8)
        axes[0, col].set_title(f"{name} ({fsdd['speakers'][spk]}; prompt left of red line)")
        axes[1, col].specgram(wav, NFFT=256, Fs=sr, noverlap=192)
        axes[1, col].set_ylabel("Hz")
    axes[2, 0].plot(history or [np.nan])
    axes[2, 0].set_title("training NLL (bits/sample)"), axes[2, 0].set_xlabel("iteration")
    axes[2, 1].axis("off")
    fig.tight_layout()
    artifacts.save_figure(fig, "generated_vs_real")

