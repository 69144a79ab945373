"""Show and Tell: training (pretrained CNN; stage 1 frozen, stage 2 fine-tuned), decoding, scoring.

    data  = load_data(PROXY, seed, cache_dir)              # smoke proxy: synthetic scenes, 5 captions each
    model = build_model(PROXY, len(data["vocab"]))
    model = trained("show_and_tell", build=..., train=lambda m, r: train(m, data, PROXY, seed, r), ...)
    caps, loglik = decode(model, data["test_images"], data["vocab"], beam=3)
    scores = evaluate(caps, data["test_captions"])          # coco-caption table

The CNN is "pretrained" before captioning, as the paper's GoogLeNet was on ImageNet: on the proxy,
by a classification task (which shapes and colours are present, saying nothing of layout or
wording) on the training images; in the full tier, from an ImageNet checkpoint file.
"""
from __future__ import annotations

import dataclasses
import math
from collections import Counter
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import datasets.caption_proxy as proxy_module
from datasets.caption_proxy import PROXY_SCENES, caption_proxy, named_objects
from datasets.captions import Vocab, caption_tokens
from metrics.captioning import evaluate as coco_evaluate
from metrics.captioning import rouge_l
from reference_impls.common import fit, init_distributed, memo, trained, world

from . import decode as decode_mod
from . import model as model_mod
from .decode import beam_search, greedy, sequence_logprob
from .model import Ensemble, ShowAndTell

__all__ = ["PROXY", "load_data", "build_model", "train", "pretrain_encoder", "decode", "evaluate",
           "nearest_neighbour_captions", "ShowAndTell", "Ensemble", "greedy", "beam_search", "sequence_logprob",
           "trained_proxy_model", "most_frequent_caption", "both_objects_named"]

PROXY = dict(scene={}, compositional=True, n_train=3000, n_test=250, encoder="resnet10t", encoder_kwargs=dict(channels=(16, 32, 64, 128), stem_width=16),
             embed=128, hidden=256, dropout=0.3, min_count=2, max_len=16, batch=64,
             pretrain_epochs=3, pretrain_lr=2e-3,
             stage1_epochs=10, lr=3e-3,                     # stage 1: CNN frozen, LSTM + embeddings
             stage2_epochs=4, finetune_lr=1e-3, encoder_lr=5e-4)   # stage 2: everything, CNN at a lower rate


# ----------------------------------------------------------------------------- data
def load_data(cfg: dict, seed: int, cache_dir=None) -> dict:
    """Proxy train/test scenes (train scenes from `seed`, test scenes from a disjoint stream) and the
    vocabulary. cfg["compositional"]: the test scenes show (colour, shape) pairs that no training
    scene shows (datasets.caption_proxy.HELD_OUT)."""
    scenes = dataclasses.replace(PROXY_SCENES, **cfg.get("scene", {}))

    def make(n, s, combos):
        return memo("caption_proxy", {"n": n, "seed": s, "scenes": repr(scenes), "combos": combos},
                    lambda: caption_proxy(n, s, scenes, combos=combos), cache_dir=cache_dir, code=[proxy_module])
    comp = cfg.get("compositional", False)
    tr, te = make(cfg["n_train"], seed, "train" if comp else None), make(cfg["n_test"], seed + 100_003, "test" if comp else None)
    vocab = Vocab.build([caption_tokens(c) for caps in tr["captions"] for c in caps], min_count=cfg["min_count"])
    return {"train_images": tr["images"], "train_captions": tr["captions"], "train_attributes": tr["attributes"],
            "test_images": te["images"], "test_captions": te["captions"], "test_objects": te["objects"], "vocab": vocab}


def encode_captions(captions: list[str], vocab: Vocab, max_len: int) -> torch.Tensor:
    ids = [vocab.encode(caption_tokens(c), max_len) for c in captions]
    out = torch.zeros(len(ids), max(map(len, ids)), dtype=torch.long)
    for i, s in enumerate(ids):
        out[i, :len(s)] = torch.tensor(s)
    return out


# ----------------------------------------------------------------------------- model
def build_model(cfg: dict, vocab_size: int, encoder_weights=None) -> ShowAndTell:
    return ShowAndTell(vocab_size, encoder=cfg["encoder"], encoder_kwargs=cfg.get("encoder_kwargs"),
                       encoder_weights=encoder_weights, embed=cfg["embed"], hidden=cfg["hidden"], dropout=cfg["dropout"])


class AttributeNet(nn.Module):
    """The encoder's pretraining task on the proxy: multi-label shapes + colours."""

    def __init__(self, captioner: ShowAndTell, n_out: int):
        super().__init__()
        self.captioner = captioner
        self.head = nn.Linear(captioner.encoder.num_features, n_out)

    def forward(self, images):
        return self.head(self.captioner.features(images))


def _batches(n: int, batch: int, epoch: int, seed: int):
    """Shuffled index batches for one epoch; under torchrun each rank takes its share (equal counts, for DDP)."""
    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    perm = torch.randperm(n, generator=g)
    out = [perm[i:i + batch] for i in range(0, n, batch)]
    rank, size = world()
    return out[:len(out) // size * size][rank::size] if size > 1 else out


def pretrain_encoder(model: ShowAndTell, data: dict, cfg: dict, seed: int, resume: Path | None, device="cpu"):
    net = AttributeNet(model, data["train_attributes"].shape[1])
    images, attrs = data["train_images"], data["train_attributes"]
    opt = torch.optim.AdamW(net.parameters(), lr=cfg["pretrain_lr"], weight_decay=1e-4)
    fit(net, lambda m, b: F.binary_cross_entropy_with_logits(m(b[0]), b[1]),
        lambda e: [(images[i], attrs[i]) for i in _batches(len(images), cfg["batch"], e, seed)],
        epochs=cfg["pretrain_epochs"], optimizer=opt, device=device, checkpoint=resume, desc="pretrain CNN")
    return net


def caption_loss(model, captions, images=None, feats=None):
    logits = model(captions, images=images, feats=feats)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), captions[:, 1:].reshape(-1), ignore_index=0)


def train(model: ShowAndTell, data: dict, cfg: dict, seed: int, resume: Path, device="cpu") -> dict:
    """The paper's two stages. Stage 1: CNN frozen (its features computed once), LSTM, word and
    image embeddings trained on every (image, caption) pair. Stage 2: everything fine-tuned, one
    random caption per image per epoch, the CNN at a lower learning rate. Returns loss histories."""
    vocab = data["vocab"]
    images = data["train_images"]
    caps = [encode_captions(c, vocab, cfg["max_len"]) for c in data["train_captions"]]   # per image: (5, T)
    k = max(c.shape[0] for c in caps)
    T = max(c.shape[1] for c in caps)
    caps = torch.stack([F.pad(c, (0, T - c.shape[1], 0, k - c.shape[0])) for c in caps])      # (N, k, T)
    resume = Path(resume)
    hist = {}

    # stage 1: frozen CNN
    model.to(device)
    model.set_encoder_trainable(False)
    model.encoder.eval()
    with torch.inference_mode():
        feats = torch.cat([model.features(images[i:i + 256].to(device)).cpu() for i in range(0, len(images), 256)])
    pairs_img = torch.arange(len(images)).repeat_interleave(k)
    pairs_cap = caps.reshape(-1, T)
    keep = pairs_cap[:, 0] != 0                      # drop padding rows (images with fewer captions)
    pairs_img, pairs_cap = pairs_img[keep], pairs_cap[keep]

    def stage1_data(e):
        return [(feats[pairs_img[i]], pairs_cap[i]) for i in _batches(len(pairs_img), cfg["batch"], e, seed)]

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg["lr"])
    total = cfg["stage1_epochs"] * math.ceil(len(pairs_img) / cfg["batch"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(1.0, i / total))))
    hist["stage1"] = fit(model, lambda m, b: caption_loss(m, b[1], feats=b[0]), stage1_data,
                         epochs=cfg["stage1_epochs"], optimizer=opt, scheduler=sched, device=device, clip_grad=5.0,
                         checkpoint=resume.with_name("stage1.pt"), desc="stage 1 (CNN frozen)")

    # stage 2: fine-tune everything
    if cfg["stage2_epochs"]:
        model.set_encoder_trainable(True)

        def stage2_data(e):
            g = torch.Generator().manual_seed(seed * 7919 + e)
            out = []
            for i in _batches(len(images), cfg["batch"], e + 10_000, seed):
                n_caps = (caps[i, :, 0] != 0).sum(1)
                j = (torch.rand(len(i), generator=g) * n_caps).long()
                out.append((images[i], caps[i, j]))
            return out

        enc = list(model.encoder.parameters())
        rest = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
        opt2 = torch.optim.Adam([{"params": enc, "lr": cfg["encoder_lr"]}, {"params": rest, "lr": cfg["finetune_lr"]}])
        hist["stage2"] = fit(model, lambda m, b: caption_loss(m, b[1], images=b[0]), stage2_data,
                             epochs=cfg["stage2_epochs"], optimizer=opt2, device=device, clip_grad=5.0,
                             checkpoint=resume.with_name("stage2.pt"), desc="stage 2 (fine-tune)")
    model.eval()
    return hist


def trained_proxy_model(cfg: dict, data: dict, seed: int, cache_dir, device="cpu", pretrained_only: bool = False,
                        untrained: bool = False) -> ShowAndTell:
    """Pretrained CNN -> stage 1 -> stage 2, each cached (common.trained) by code, config, data and seed.
    pretrained_only: the model after CNN pretraining only (its CNN is the "ImageNet" one; no captioning yet).
    untrained: the captioner at its seeded initialisation, CNN included (the "untrained" control: the
    very model the negative-control run, `./repro reproduce --untrained`, decodes)."""
    code = [model_mod, decode_mod, proxy_module, sys.modules[__name__]]
    V = len(data["vocab"])
    fp = f"vocab={len(data['vocab'])}|n={len(data['train_images'])}"

    def pretrain(m, resume):
        torch.manual_seed(seed)
        pretrain_encoder(m, data, cfg, seed, resume, device)

    def build():
        torch.manual_seed(seed)
        return build_model(cfg, V)

    pre = trained("show_and_tell_cnn", build=build, train=pretrain, config={**cfg, "stage": "pretrain"},
                  seed=seed, data_fingerprint=fp, code=code, cache_dir=cache_dir, untrained=untrained)
    if pretrained_only:
        return pre.to(device)

    def build_captioner():
        torch.manual_seed(seed + 1)
        m = build_model(cfg, V)
        m.encoder.load_state_dict(pre.encoder.state_dict())
        return m

    def run(m, resume):
        torch.manual_seed(seed + 2)
        train(m, data, cfg, seed, resume, device)
        for stage in ("stage1.pt", "stage2.pt"):           # per-stage resume points; the cache keeps model.pt
            Path(resume).with_name(stage).unlink(missing_ok=True)

    return trained("show_and_tell", build=build_captioner, train=run, config=cfg, seed=seed,
                   data_fingerprint=fp, code=code, cache_dir=cache_dir, untrained=untrained).to(device)


# ----------------------------------------------------------------------------- inference and scoring
@torch.inference_mode()
def decode(model, images: torch.Tensor, vocab: Vocab, *, beam: int = 1, max_len: int = 20, batch: int = 250,
           device="cpu") -> tuple[list[str], torch.Tensor]:
    """Captions for images: greedy when beam == 1, else beam search. Returns (captions, log-likelihoods)."""
    model.eval()
    caps, scores = [], []
    for i in range(0, len(images), batch):
        x = images[i:i + batch].to(device)
        if beam == 1:
            ids, s = greedy(model, x, start=vocab.start, end=vocab.end, max_len=max_len)
        else:
            ids, s = beam_search(model, x, beam=beam, start=vocab.start, end=vocab.end, max_len=max_len)
        caps += [vocab.decode(r) for r in ids]
        scores.append(s.cpu())
    return caps, torch.cat(scores)


def evaluate(captions: list[str], references: list[list[str]]) -> dict:
    """coco-caption scores (Bleu_1..4, ROUGE_L, CIDEr) of one caption per image."""
    refs = {i: r for i, r in enumerate(references)}
    hyps = {i: c for i, c in enumerate(captions)}
    out = coco_evaluate(refs, hyps)
    out.pop("_totals")
    return out


@torch.inference_mode()
def nearest_neighbour_captions(model: ShowAndTell, train_images, train_captions, test_images, batch: int = 256,
                               device="cpu") -> list[str]:
    """Baseline: the caption of the most similar training image, by cosine similarity of `model`'s
    CNN features (the pretrained CNN is the usual choice, as fc7 of an ImageNet net in Devlin et
    al. 2015). Of that image's references we return the consensus one (highest ROUGE-L against
    its siblings), the stronger variant of this baseline."""
    model.eval()

    def feats(x):
        return F.normalize(torch.cat([model.features(x[i:i + batch].to(device)).cpu() for i in range(0, len(x), batch)]), dim=1)

    nn_idx = (feats(test_images) @ feats(train_images).T).argmax(1).tolist()
    out = []
    for j in nn_idx:
        caps = [" ".join(caption_tokens(c)) for c in train_captions[j]]
        if len(caps) == 1:
            out.append(caps[0])
            continue
        cons = [rouge_l({0: caps[:i] + caps[i + 1:]}, {0: c})[0] for i, c in enumerate(caps)]
        out.append(caps[max(range(len(caps)), key=lambda i: cons[i])])
    return out


def most_frequent_caption(train_captions: list[list[str]]) -> str:
    """Baseline: the most frequent training caption (tokenized; ties to the alphabetically first),
    given to every test image."""
    counts = Counter(" ".join(caption_tokens(c)) for caps in train_captions for c in caps)
    return min(counts, key=lambda c: (-counts[c], c))


def both_objects_named(captions: list[str], objects: list[list]) -> float:
    """Percent of images whose caption names every one of the image's objects by colour and shape
    (datasets.caption_proxy.named_objects). On the compositional test set every image shows a pair of
    objects never seen together in training: a retrieved training caption cannot name both."""
    hits = [set(map(tuple, objs)) <= named_objects(c) for c, objs in zip(captions, objects)]
    return 100.0 * sum(hits) / max(1, len(hits))


# ----------------------------------------------------------------------------- full tier (real data)
FULL = dict(encoder="inception_v3", encoder_kwargs={}, image_size=299, embed=512, hidden=512, dropout=0.3,
            min_count=5, max_len=20, batch=32,
            stage1_epochs=20, lr=2e-3,                           # CNN frozen (im2txt: ~1M steps of 32)
            stage2_epochs=10, finetune_lr=2e-4, encoder_lr=2e-5,  # then fine-tuned at a lower rate
            beam=3)
ENCODER_WEIGHTS = "pretrained/inception_v3.tv_in1k.bin"
ENCODER_LAYOUT = ("<data-root>/pretrained/inception_v3.tv_in1k.bin: timm's ImageNet weights for inception_v3 "
                  "(the paper's GoogLeNet role; nothing is downloaded)")


def load_full_data(cfg: dict, train_items, test_items) -> dict:
    """Real captions: images read lazily from disk, the vocabulary from the training captions."""
    from datasets.captions import ImageFiles
    vocab = Vocab.build([caption_tokens(c) for it in train_items for c in it.captions], min_count=cfg["min_count"])
    return {"train_images": ImageFiles([it.image for it in train_items], cfg["image_size"]),
            "train_captions": [it.captions for it in train_items],
            "test_images": ImageFiles([it.image for it in test_items], cfg["image_size"]),
            "test_captions": [it.captions for it in test_items], "vocab": vocab}


def trained_full_model(name: str, cfg: dict, data: dict, data_root, seed: int, cache_dir, data_fingerprint: str,
                       device="cuda") -> ShowAndTell:
    """The paper's protocol: ImageNet CNN -> stage 1 (frozen) -> stage 2 (fine-tuned). Under torchrun,
    common.fit wraps the model in DDP; rank 0 writes the checkpoints."""
    from datasets import locate
    weights = locate(data_root, ENCODER_WEIGHTS, ENCODER_LAYOUT)
    _, _, device = init_distributed(device)        # joins the process group under torchrun; no-op otherwise
    V = len(data["vocab"])

    def build():
        torch.manual_seed(seed)
        return build_model(cfg, V, encoder_weights=weights)

    return trained(f"show_and_tell_{name}", build=build,
                   train=lambda m, r: train(m, data, cfg, seed, r, device), config=cfg, seed=seed,
                   data_fingerprint=data_fingerprint, code=[model_mod, decode_mod, sys.modules[__name__]],
                   cache_dir=cache_dir).to(device)
