"""Teacher-forced training of a speaker-conditioned WaveNet on real speech, and its evaluation.

    data = load_data(data_root)                    # FSDD: train streams per speaker, held-out takes
    model = train_model(cfg, data, seed=..., cache_dir=...)   # cached by common.trained
    nll = evaluate(model, data["test"])            # bits per sample, with the true speaker ids

Held-out split: takes 0..4 of every digit and speaker (300 recordings) are never trained on;
takes 5..49 are concatenated per speaker into one training stream, from which random crops
are drawn.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

import datasets
from datasets import audio
from metrics.audio import nll_bits_sum
from reference_impls.common import atomic_save, autocast, fit, safe_load, trained, untrained_mode, world
from reference_impls.common.cache import cache_key, default_cache_dir

from . import model as model_module
from . import sampling as sampling_module
from .model import WaveNetConfig, build_model, teacher_forced_loss

HELDOUT_TAKES = range(0, 5)


def codes_u8(x) -> torch.Tensor:
    """mu-law codes of audio, stored as uint8 (256 levels: 1 byte a sample instead of 8)."""
    return audio.mu_law_encode(x).to(torch.uint8)


def split(utts, speakers, heldout) -> dict:
    """mu-law codes (uint8) split into per-speaker training streams and held-out (codes, speaker id)
    pairs. `utts` may be a generator: each utterance's float audio is dropped once encoded."""
    sid = {s: i for i, s in enumerate(speakers)}
    train, test = [[] for _ in speakers], []
    for u in utts:
        codes = codes_u8(u.audio)
        if heldout(u):
            test.append((codes, sid[u.speaker]))
        else:
            train[sid[u.speaker]].append(codes)
    return {"train": [torch.cat(t) for t in train], "test": test, "speakers": tuple(speakers)}


def load_data(root, *, sr: int = 8000, speakers=audio.FSDD_SPEAKERS, heldout_takes=HELDOUT_TAKES) -> dict:
    """FSDD: {"train": [codes of speaker i, concatenated], "test": [(codes, speaker id)], "speakers", "sr", "fingerprint"}."""
    utts = audio.load_fsdd(root, sr=sr, speakers=speakers)
    fp = datasets.fingerprint(datasets.locate(root, audio.FSDD_REL, audio.FSDD_LAYOUT), extra=f"sr={sr}")
    return {**split(utts, speakers, lambda u: u.index in heldout_takes), "sr": sr, "fingerprint": fp}


def load_vctk_data(root, *, sr: int = 16000, heldout_per_speaker: int = 5, per_speaker: int | None = None) -> dict:
    """VCTK (full tier): every speaker's last `heldout_per_speaker` utterances are held out. Files
    are read and encoded one at a time, so memory holds uint8 codes (~2.5 GB for all of VCTK at
    16 kHz), never the float audio of the corpus."""
    files = audio.vctk_files(root)
    last = {spk: {f for f in fs[:per_speaker][-heldout_per_speaker:]} for spk, fs in files.items()}
    fp = datasets.fingerprint(*[f for fs in files.values() for f in fs[:per_speaker]], extra=f"sr={sr}")
    utts = (audio.Utterance(audio.read_audio(f, sr, resample_to_sr=True), sr, spk, f)
            for spk, fs in files.items() for f in fs[:per_speaker])
    return {**split(utts, tuple(files), lambda u: u.path in last[u.speaker]), "sr": sr, "fingerprint": fp}


class Crops:
    """n_batches of (codes (batch, length) int64, speaker (batch,)): a random speaker, then a random
    crop. Streamed: each batch is cut (and only it widened from the uint8 streams) when the training
    loop asks for it, so an epoch never holds more than one batch of int64 codes (VCTK: 20,000 x
    16 x 8,000 samples would be ~20 GB as a list)."""

    def __init__(self, streams: list[torch.Tensor], n_batches: int, batch: int, length: int, g: torch.Generator):
        self.streams, self.n_batches, self.batch, self.length, self.g = streams, n_batches, batch, length, g

    def __len__(self):
        return self.n_batches

    def __iter__(self):
        streams, length, g = self.streams, self.length, self.g
        for _ in range(self.n_batches):
            spk = torch.randint(len(streams), (self.batch,), generator=g)
            x = torch.stack([streams[s][o:o + length] for s, o in
                             ((int(s), int(torch.randint(len(streams[s]) - length, (1,), generator=g)))
                              for s in spk)]).long()
            yield x, spk


def crops(streams: list[torch.Tensor], n_batches: int, batch: int, length: int, g: torch.Generator) -> Crops:
    """The training batches of one epoch (see Crops): the same draws as a list would hold, in order."""
    return Crops(streams, n_batches, batch, length, g)


def train_model(cfg: WaveNetConfig, data: dict, *, seed: int, iters: int, batch: int, length: int, lr: float,
                epochs: int = 4, cache_dir=None, device="cpu", name: str = "wavenet_fsdd", untrained: bool = False):
    """(model, training loss per iteration in bits): a WaveNet trained with Adam and teacher
    forcing (speaker-conditioned when cfg.n_speakers > 0), cached by config, data and seed.
    `untrained=True` (the untrained control; also in the negative-control run): the same model at
    its seeded initialisation, with no history."""
    per_epoch = iters // epochs
    run_cfg = {"model": cfg.to_dict(), "iters": per_epoch * epochs, "batch": batch, "length": length, "lr": lr}

    def build():
        torch.manual_seed(seed)
        return build_model(cfg)

    def run(model, resume):
        opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)   # one kernel for all parameters

        def epoch_batches(epoch):
            rank, _ = world()                   # under torchrun every rank draws its own crops
            g = torch.Generator().manual_seed(seed * 1000 + epoch + 7919 * rank)
            return crops(data["train"], per_epoch, batch, length, g)

        def step(m, b):
            x, spk = b
            return teacher_forced_loss(m, x, spk if cfg.n_speakers else None)

        hist = fit(model, step, epoch_batches, epochs=epochs, optimizer=opt, device=device,
                   checkpoint=resume, clip_grad=1.0, desc="wavenet")
        atomic_save(torch.tensor(hist, dtype=torch.float64) / math.log(2), Path(resume).with_name("history.pt"))

    code = [model_module, sampling_module, sys.modules[__name__]]
    model = trained(name, build, run, config=run_cfg, seed=seed, data_fingerprint=data["fingerprint"],
                    code=code, cache_dir=cache_dir, untrained=untrained)
    if untrained or untrained_mode():
        return model, []
    entry = Path(cache_dir or default_cache_dir()) / name / cache_key(
        name, run_cfg, seed, data["fingerprint"], code)
    return model, (safe_load(entry / "history.pt").tolist() if (entry / "history.pt").exists() else [])


@torch.inference_mode()
def evaluate_each(model, test: list, *, speaker_map=None, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Per recording: (NLL in bits summed over its predicted samples, number of predicted samples),
    teacher forced. `speaker_map(i, true_speaker) -> speaker id` conditions utterance i on another speaker."""
    model.eval().to(device)
    bits, counts = [], []
    for i, (codes, spk) in enumerate(test):
        if model.speaker is not None:
            s = spk if speaker_map is None else speaker_map(i, spk)
            s = torch.tensor([s], device=device)
        else:
            s = None
        x = codes.to(device).long().unsqueeze(0)
        with autocast(torch.device(device)):
            logits = model(x[:, :-1], s)
        b, k = nll_bits_sum(logits.float(), x[:, 1:])
        bits.append(float(b)), counts.append(int(k))
    return torch.tensor(bits, dtype=torch.float64), torch.tensor(counts, dtype=torch.float64)


def pooled(bits: torch.Tensor, counts: torch.Tensor) -> float:
    """Bits per sample over a set of recordings (from evaluate_each)."""
    return float(bits.sum() / counts.sum())


def evaluate(model, test: list, *, speaker_map=None, device="cpu") -> float:
    """Held-out negative log-likelihood in bits per sample over whole recordings (teacher forced).
    `speaker_map(i, true_speaker) -> speaker id` conditions utterance i on another speaker."""
    return pooled(*evaluate_each(model, test, speaker_map=speaker_map, device=device))
