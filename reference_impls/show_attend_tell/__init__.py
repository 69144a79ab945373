"""Show, Attend and Tell: soft attention over the CNN's feature grid, doubly stochastic
regularisation, attention maps scored against the scenes' object masks.

    data  = show_and_tell.load_data(show_and_tell.PROXY, seed, cache_dir)   # the same proxy data
    model = trained_proxy_model(PROXY, data, seed, cache_dir)               # CNN frozen, as in the paper
    caps, loglik = show_and_tell.decode(model, data["test_images"], data["vocab"], beam=3)
    att = attention_in_masks(model, data["test_images"], data["test_captions"], data["test_objects"],
                             data["test_masks"], data["vocab"])

Smoke tier: the CNN is Show and Tell's proxy CNN (pretrained on the scenes' attribute task, output
stride 8: a 4x4 grid of 128-d annotation vectors), its feature grid computed once and shared
with the Show and Tell suite (show_and_tell.proxy_features); the decoder is trained with the CNN
frozen (Xu et al. use VGG features without fine-tuning), with Show and Tell's stage-1 optimiser for
one epoch; Show and Tell's stage 1 on the same schedule (BASELINE) is the baseline of the same size
(same CNN, features, LSTM width, data and epochs). Full tier: VGG-19 conv5_4 (14x14x512 at 224x224) from an ImageNet checkpoint.
"""
from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F

import reference_impls.show_and_tell as st
from datasets.caption_proxy import canonical_word
from datasets.captions import caption_tokens
from datasets.synthetic.scenes import COLOR_NAMES, SHAPES
from reference_impls.common import trained

from . import model as model_mod
from .model import ShowAttendTell

__all__ = ["PROXY", "BASELINE", "FULL", "ShowAttendTell", "build_model", "sat_loss", "doubly_stochastic_penalty", "trained_full_model",
           "trained_proxy_model", "attention_in_masks", "object_word_steps", "centre_prior"]

# the shared proxy (data, CNN, LSTM width, stage-1 optimiser) plus the attention's own settings; every
# (image, caption) pair seen once (Show and Tell's own stage 1 sees each twice: the smoke budget)
PROXY = dict(st.PROXY, att=128, alpha_c=1.0, stage1_epochs=1)
# the baseline of the same size: Show and Tell's stage 1 on the same CNN, features and schedule
BASELINE = dict(st.PROXY, stage1_epochs=PROXY["stage1_epochs"])


def build_model(cfg: dict, vocab_size: int, encoder_weights=None) -> ShowAttendTell:
    return ShowAttendTell(vocab_size, encoder=cfg["encoder"], encoder_kwargs=cfg.get("encoder_kwargs"),
                          encoder_weights=encoder_weights, embed=cfg["embed"], hidden=cfg["hidden"], att=cfg["att"],
                          dropout=cfg["dropout"], normalize=cfg.get("normalize", "proxy"),
                          drop_final_pool=cfg.get("drop_final_pool", False))


# ----------------------------------------------------------------------------- training objective
def doubly_stochastic_penalty(alpha: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sum over captions and locations of (1 - sum_t alpha_ti)^2 (eq. 14), the sum over the steps
    that emit a real word or <end> (mask (B, T) true there; alpha (B, T, L))."""
    return ((1 - (alpha * mask[..., None]).sum(1)) ** 2).sum()


def sat_loss(model: ShowAttendTell, captions: torch.Tensor, feats=None, images=None, alpha_c: float = 1.0):
    """-log p(y | a) + alpha_c * sum_i (1 - sum_t alpha_ti)^2, summed over the batch's captions and
    divided by its number of words (the paper's per-caption objective, scaled per word)."""
    logits, alpha = model(captions, images=images, feats=feats, return_alpha=True)
    tgt = captions[:, 1:]
    mask = tgt != 0
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=0, reduction="sum")
    return (nll + alpha_c * doubly_stochastic_penalty(alpha, mask.to(alpha.dtype))) / mask.sum()


def trained_proxy_model(cfg: dict, data: dict, seed: int, cache_dir, device="cpu", untrained: bool = False):
    """Show and Tell's pretrained proxy CNN (shared, cached) -> soft-attention decoder trained on its
    frozen feature grid (cached by common.trained). untrained: the model at its seeded
    initialisation, CNN included (the "untrained" control; what the negative-control run sees)."""
    shared = {k: cfg[k] for k in st.PROXY}   # the proxy settings shared with Show and Tell
    pre = st.pretrained_cnn(shared, data, seed, cache_dir, device, untrained)
    V = len(data["vocab"])

    def build():
        torch.manual_seed(seed + 1)
        m = build_model(cfg, V)
        m.encoder.load_state_dict(pre.encoder.state_dict())
        return m

    def run(m, resume):
        # the grid first: computing it (when no cache has it yet) builds the CNN, which reseeds the
        # generator; seeded after it, the training is the same whichever suite computed the grid
        grid = st.proxy_features(shared, data, seed, cache_dir, device)["train"]
        torch.manual_seed(seed + 2)
        st.frozen_stage(m, grid.flatten(2).transpose(1, 2).contiguous(), data, cfg, seed, resume,
                        lambda m_, c, f: sat_loss(m_, c, feats=f, alpha_c=cfg["alpha_c"]), device,
                        desc="soft attention (CNN frozen)")

    return trained("show_attend_tell", build=build, train=run, config=cfg, seed=seed,
                   data_fingerprint=st._fingerprint(data), code=[model_mod, sys.modules[__name__], *st._code()],
                   cache_dir=cache_dir, untrained=untrained).to(device)


# ----------------------------------------------------------------------------- where the attention goes
def object_word_steps(caption: str, objects: list, max_len: int) -> list[tuple[int, int]]:
    """(t, object index) for every shape word of a caption that names one of the scene's objects
    by colour and shape ("red circle", "red disc"): t is the word's position in the caption, which
    is the decoding step that emits it (step 0 emits the first word). Phrases naming no object of
    the scene, or more than one (two objects alike), are skipped; so are words past max_len."""
    words = caption_tokens(caption)[:max_len]
    out = []
    for t in range(1, len(words)):
        colour, shape = words[t - 1], canonical_word(words[t])
        if colour in COLOR_NAMES and shape in SHAPES:
            hits = [j for j, o in enumerate(objects) if list(o) == [colour, shape]]
            if len(hits) == 1:
                out.append((t, hits[0]))
    return out


def centre_prior(size: int, sigma: float | None = None) -> torch.Tensor:
    """An isotropic Gaussian map centred in the image (sigma = size / 4), summing to 1: the
    centre-prior control."""
    sigma = size / 4 if sigma is None else sigma
    c = torch.arange(size, dtype=torch.float64) + 0.5 - size / 2
    g = torch.exp(-(c[:, None] ** 2 + c[None] ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).float()


@torch.inference_mode()
def attention_in_masks(model: ShowAttendTell, images: torch.Tensor, captions: list[list[str]], objects: list,
                       masks: torch.Tensor, vocab, max_len: int = 16, batch: int = 500) -> dict:
    """Teacher-forced on every reference caption: at each step that emits an object's shape word
    (object_word_steps), the attention map's mass inside that object's mask. A grid cell's weight
    is spread evenly over its pixels, so the mass is sum_cells alpha_cell * (fraction of the cell
    inside the mask). Returned as means over those steps (in %), beside the same measure for the
    controls: a uniform map (the object's area fraction), a centre prior (centre_prior), and
    for specificity the same step's mass inside the scene's other object (where there is one).
    The annotation grid is computed once an image and each caption teacher-forced once."""
    model.eval()
    S = masks.shape[-1]
    rows, caps, steps = [], [], []          # every reference naming an object: its image, words, steps
    for i, refs in enumerate(captions):
        for c in refs:
            if s := object_word_steps(c, objects[i], max_len):
                rows.append(i)
                caps.append(c)
                steps.append(s)
    feats = torch.cat([model.features(images[b:b + batch]) for b in range(0, len(images), batch)])   # once an image
    prior = centre_prior(S)
    att, uni, cen, other = [], [], [], []
    for b in range(0, len(rows), batch):
        img = torch.tensor(rows[b:b + batch])
        ids = st.encode_captions(caps[b:b + batch], vocab, max_len)
        _, alpha = model(ids, feats=feats[img], return_alpha=True)                  # (n, T, L): one pass a caption
        L = alpha.shape[-1]
        h = w = int(math.isqrt(L))
        r, t, j = (torch.tensor(v) for v in zip(*[(k, t, j) for k, s in enumerate(steps[b:b + batch]) for t, j in s]))
        a = alpha[r, t]                                                              # (n_steps, L)
        inst = masks[img[r]].long()
        obj = (inst == (j + 1)[:, None, None]).float()                              # (n_steps, S, S)
        cover = F.adaptive_avg_pool2d(obj[:, None], (h, w)).flatten(1)              # (n_steps, L)
        att.append((a * cover).sum(1))
        uni.append(obj.mean((1, 2)))
        cen.append((obj * prior).sum((1, 2)))
        n_obj = inst.flatten(1).max(1).values
        two = n_obj == 2
        oth = (inst == (2 - j)[:, None, None]).float()                              # the other of two objects
        oc = F.adaptive_avg_pool2d(oth[:, None], (h, w)).flatten(1)
        other.append(torch.where(two, (a * oc).sum(1), torch.full_like(a[:, 0], float("nan"))))
    cat = lambda xs: torch.cat(xs)
    o = cat(other)
    return {"attention": 100 * cat(att).mean().item(), "uniform": 100 * cat(uni).mean().item(),
            "centre_prior": 100 * cat(cen).mean().item(), "other_object": 100 * o[~o.isnan()].mean().item(),
            "steps": sum(map(len, steps))}


# ----------------------------------------------------------------------------- full tier (real data)
FULL = dict(encoder="vgg19", encoder_kwargs={}, drop_final_pool=True, normalize="imagenet", image_size=224,
            embed=512, hidden=1024, att=512, dropout=0.5,   # sizes: our choice alpha_c=1.0, min_count=5, max_len=20, batch=64,
            stage1_epochs=20, lr=1e-3, stage2_epochs=0, beam=3)
ENCODER_WEIGHTS = "pretrained/vgg19.tv_in1k.bin"
ENCODER_LAYOUT = ("<data-root>/pretrained/vgg19.tv_in1k.bin: timm's ImageNet weights for vgg19 "
                  "(the paper's Oxford VGGnet; nothing is downloaded)")


def trained_full_model(name: str, cfg: dict, data: dict, data_root, seed: int, cache_dir, data_fingerprint: str,
                       device="cuda", checkpoint=None) -> ShowAttendTell:
    """The paper's protocol: VGG-19 from an ImageNet checkpoint, frozen; the attention decoder
    trained on streamed images (show_and_tell.train_streaming: DataLoader workers, per-epoch
    shuffling, im2txt's distortions, ImageNet normalisation; stage 1 only). checkpoint: a named
    state_dict file to evaluate instead."""
    from datasets import locate
    from reference_impls.common import init_distributed
    _, _, device = init_distributed(device)
    weights = None if checkpoint else locate(data_root, ENCODER_WEIGHTS, ENCODER_LAYOUT)
    V = len(data["vocab"])

    def build():
        torch.manual_seed(seed)
        return build_model(cfg, V, encoder_weights=weights)

    loss = lambda m, c, x: sat_loss(m, c, images=x, alpha_c=cfg["alpha_c"])   # noqa: E731
    return trained(f"show_attend_tell_{name}", build=build,
                   train=lambda m, r: st.train_streaming(m, data, cfg, seed, r, device, loss=loss), config=cfg,
                   seed=seed, data_fingerprint=data_fingerprint, code=[model_mod, sys.modules[__name__], *st._code()],
                   cache_dir=cache_dir, checkpoint=checkpoint).to(device)
