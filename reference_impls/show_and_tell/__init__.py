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
from reference_impls.common import fit, init_distributed, memo, rehearsal_batch, trained, world

from . import decode as decode_mod
from . import model as model_mod
from .decode import beam_search, greedy, sequence_logprob
from .model import Ensemble, ShowAndTell

__all__ = ["PROXY", "load_data", "build_model", "train", "pretrain_encoder", "decode", "evaluate",
           "nearest_neighbour_captions", "ShowAndTell", "Ensemble", "greedy", "beam_search", "sequence_logprob",
           "trained_proxy_model", "most_frequent_caption", "both_objects_named"]

PROXY = dict(scene={}, compositional=True, n_train=3000, n_test=250, encoder="resnet10t",
             # output stride 8: a 4x4 grid of 128-d features on 32x32 scenes, pooled here into one vector,
             # read location by location by Show, Attend and Tell (which shares this CNN and its features)
             encoder_kwargs=dict(channels=(16, 32, 64, 128), stem_width=16, output_stride=8),
             embed=128, hidden=256, dropout=0.3, min_count=2, max_len=16, batch=64,
             pretrain_epochs=3, pretrain_lr=2e-3,
             stage1_epochs=2, lr=3e-3,                      # stage 1: CNN frozen, LSTM + embeddings
             stage2_epochs=1, finetune_lr=1e-3, encoder_lr=5e-4)   # stage 2: everything, CNN at a lower rate


# ----------------------------------------------------------------------------- data
def load_data(cfg: dict, seed: int, cache_dir=None) -> dict:
    """Proxy train/test scenes (train scenes from `seed`, test scenes from a disjoint stream) and the
    vocabulary. cfg["compositional"]: the test scenes show (colour, shape) pairs that no training
    scene shows (datasets.caption_proxy.held_out_pair). test_masks: the test scenes' instance maps
    (datasets.caption_proxy), for Show, Attend and Tell's attention measure."""
    scenes = dataclasses.replace(PROXY_SCENES, **cfg.get("scene", {}))

    def make(n, s, combos):
        return memo("caption_proxy", {"n": n, "seed": s, "scenes": repr(scenes), "combos": combos},
                    lambda: caption_proxy(n, s, scenes, combos=combos), cache_dir=cache_dir, code=[proxy_module])
    comp = cfg.get("compositional", False)
    tr, te = make(cfg["n_train"], seed, "train" if comp else None), make(cfg["n_test"], seed + 100_003, "test" if comp else None)
    vocab = Vocab.build([caption_tokens(c) for caps in tr["captions"] for c in caps], min_count=cfg["min_count"])
    return {"train_images": tr["images"], "train_captions": tr["captions"], "train_attributes": tr["attributes"],
            "test_images": te["images"], "test_captions": te["captions"], "test_objects": te["objects"], "test_masks": te["masks"], "vocab": vocab}


def encode_captions(captions: list[str], vocab: Vocab, max_len: int) -> torch.Tensor:
    ids = [vocab.encode(caption_tokens(c), max_len) for c in captions]
    out = torch.zeros(len(ids), max(map(len, ids)), dtype=torch.long)
    for i, s in enumerate(ids):
        out[i, :len(s)] = torch.tensor(s)
    return out


# ----------------------------------------------------------------------------- model
def build_model(cfg: dict, vocab_size: int, encoder_weights=None) -> ShowAndTell:
    return ShowAndTell(vocab_size, encoder=cfg["encoder"], encoder_kwargs=cfg.get("encoder_kwargs"),
                       encoder_weights=encoder_weights, embed=cfg["embed"], hidden=cfg["hidden"], dropout=cfg["dropout"],
                       normalize=cfg.get("normalize", "proxy"))


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
    batch = cfg.get("pretrain_batch", cfg["batch"])
    fit(net, lambda m, b: F.binary_cross_entropy_with_logits(m(b[0]), b[1]),
        lambda e: [(images[i], attrs[i]) for i in _batches(len(images), batch, e, seed)],
        epochs=cfg["pretrain_epochs"], optimizer=opt, device=device, checkpoint=resume, desc="pretrain CNN")
    return net


def caption_loss(model, captions, images=None, feats=None):
    logits = model(captions, images=images, feats=feats)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), captions[:, 1:].reshape(-1), ignore_index=0)


def trim(captions: torch.Tensor) -> torch.Tensor:
    """Drop the padding columns a batch does not use (a batch costs its longest caption, not the data set's)."""
    return captions[:, :int((captions != 0).sum(1).max())]


def caption_pairs(data: dict, cfg: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every (image, caption) pair of the training set: (image index (P,), caption ids (P, T)),
    and the per-image caption tensor (N, k, T) (padding rows for images with fewer captions)."""
    caps = [encode_captions(c, data["vocab"], cfg["max_len"]) for c in data["train_captions"]]   # per image: (k, T)
    k = max(c.shape[0] for c in caps)
    T = max(c.shape[1] for c in caps)
    caps = torch.stack([F.pad(c, (0, T - c.shape[1], 0, k - c.shape[0])) for c in caps])      # (N, k, T)
    pairs_img = torch.arange(len(caps)).repeat_interleave(k)
    pairs_cap = caps.reshape(-1, T)
    keep = pairs_cap[:, 0] != 0                      # drop padding rows (images with fewer captions)
    return pairs_img[keep], pairs_cap[keep], caps


def frozen_stage(model, feats: torch.Tensor, data: dict, cfg: dict, seed: int, resume: Path, loss, device="cpu",
                 desc: str = "stage 1 (CNN frozen)") -> list[float]:
    """Train everything but the CNN on every (image, caption) pair for cfg["stage1_epochs"] epochs,
    from precomputed CNN features `feats` (indexed by training image), Adam with a cosine schedule.
    `loss(model, captions, feats)`. Shared by Show and Tell (pooled features) and Show, Attend and
    Tell (the feature grid)."""
    pairs_img, pairs_cap, _ = caption_pairs(data, cfg)
    model.to(device)
    model.set_encoder_trainable(False)

    def batches(e):
        return [(feats[pairs_img[i]], trim(pairs_cap[i])) for i in _batches(len(pairs_img), cfg["batch"], e, seed)]

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg["lr"])
    total = cfg["stage1_epochs"] * math.ceil(len(pairs_img) / cfg["batch"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(1.0, i / total))))
    hist = fit(model, lambda m, b: loss(m, b[1], b[0]), batches, epochs=cfg["stage1_epochs"], optimizer=opt,
               scheduler=sched, device=device, clip_grad=5.0, checkpoint=resume, desc=desc)
    model.eval()
    return hist


def finetune_stage(model: ShowAndTell, data: dict, cfg: dict, seed: int, resume: Path, device="cpu") -> list[float]:
    """Stage 2: everything fine-tuned, one random caption per image per epoch, the CNN at a lower rate."""
    images = data["train_images"]
    _, _, caps = caption_pairs(data, cfg)
    model.to(device)
    model.set_encoder_trainable(True)

    def batches(e):
        g = torch.Generator().manual_seed(seed * 7919 + e)
        out = []
        for i in _batches(len(images), cfg["batch"], e + 10_000, seed):
            n_caps = (caps[i, :, 0] != 0).sum(1)
            j = (torch.rand(len(i), generator=g) * n_caps).long()
            out.append((images[i], trim(caps[i, j])))
        return out

    enc = list(model.encoder.parameters())
    rest = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    opt = torch.optim.Adam([{"params": enc, "lr": cfg["encoder_lr"]}, {"params": rest, "lr": cfg["finetune_lr"]}])
    hist = fit(model, lambda m, b: caption_loss(m, b[1], images=b[0]), batches, epochs=cfg["stage2_epochs"],
               optimizer=opt, device=device, clip_grad=5.0, checkpoint=resume, desc="stage 2 (fine-tune)")
    model.eval()
    return hist


@torch.inference_mode()
def cnn_features(model, images, batch: int = 500, device="cpu", grid: bool = False) -> torch.Tensor:
    """The frozen CNN's features of `images`: pooled (N, D), or with grid=True the feature grid (N, D, h, w)."""
    model.eval()
    out = []
    for i in range(0, len(images), batch):
        g = model.grid(images[i:i + batch].to(device))
        out.append((g if grid else g.mean((2, 3))).cpu())
    return torch.cat(out)


def train(model: ShowAndTell, data: dict, cfg: dict, seed: int, resume: Path, device="cpu") -> dict:
    """The paper's two stages in one call (the full tier). Stage 1: CNN frozen (its features
    computed once), LSTM, word and image embeddings trained on every (image, caption) pair.
    Stage 2: everything fine-tuned (finetune_stage). Returns loss histories."""
    resume = Path(resume)
    model.to(device)
    model.set_encoder_trainable(False)
    feats = torch.cat([model.features(data["train_images"][i:i + 256].to(device)).detach().cpu()
                       for i in range(0, len(data["train_images"]), 256)])
    hist = {"stage1": frozen_stage(model, feats, data, cfg, seed, resume.with_name("stage1.pt"),
                                   lambda m, c, f: caption_loss(m, c, feats=f), device)}
    if cfg["stage2_epochs"]:
        hist["stage2"] = finetune_stage(model, data, cfg, seed, resume.with_name("stage2.pt"), device)
    return hist


def _code():
    return [model_mod, decode_mod, proxy_module, sys.modules[__name__]]


def _fingerprint(data: dict) -> str:
    return f"vocab={len(data['vocab'])}|n={len(data['train_images'])}"


# the captioning stages' schedule: it does not touch the pretrained CNN or its features
CAPTIONING_SCHEDULE = ("stage1_epochs", "lr", "stage2_epochs", "finetune_lr", "encoder_lr")


def cnn_config(cfg: dict) -> dict:
    """The settings the pretrained CNN and its feature grid depend on: cfg without the captioning
    schedule, so that captioners trained on other schedules share one CNN and one grid."""
    return {k: v for k, v in cfg.items() if k not in CAPTIONING_SCHEDULE}


def pretrained_cnn(cfg: dict, data: dict, seed: int, cache_dir, device="cpu", untrained: bool = False) -> ShowAndTell:
    """The captioner's CNN after its pretraining (the proxy's "ImageNet" stage; no captioning yet),
    inside a ShowAndTell shell (cached by common.trained, keyed by cnn_config(cfg))."""
    cfg = cnn_config(cfg)
    V = len(data["vocab"])

    def pretrain(m, resume):
        torch.manual_seed(seed)
        pretrain_encoder(m, data, cfg, seed, resume, device)

    def build():
        torch.manual_seed(seed)
        return build_model(cfg, V)

    return trained("show_and_tell_cnn", build=build, train=pretrain, config={**cfg, "stage": "pretrain"},
                   seed=seed, data_fingerprint=_fingerprint(data), code=_code(), cache_dir=cache_dir,
                   untrained=untrained).to(device)


def proxy_features(cfg: dict, data: dict, seed: int, cache_dir, device="cpu") -> dict:
    """The pretrained CNN's feature grids of the training and test scenes, {"train": (N, D, h, w),
    "test": ...}, computed once (common.memo) for Show and Tell (pooled) and Show, Attend and Tell
    (the grid), which train on them with the CNN frozen. In the negative-control run memo()
    recomputes them from the untrained CNN, as trained() returns it there."""
    cfg = cnn_config(cfg)

    def compute():
        cnn = pretrained_cnn(cfg, data, seed, cache_dir, device)
        return {"train": cnn_features(cnn, data["train_images"], device=device, grid=True),
                "test": cnn_features(cnn, data["test_images"], device=device, grid=True)}
    return memo("caption_proxy_grid", {"cfg": cfg, "seed": seed, "data": _fingerprint(data)}, compute,
                cache_dir=cache_dir, code=_code())


def trained_proxy_model(cfg: dict, data: dict, seed: int, cache_dir, device="cpu", pretrained_only: bool = False,
                        untrained: bool = False, stage: int = 2) -> ShowAndTell:
    """Pretrained CNN -> stage 1 -> stage 2, each cached (common.trained) by code, config, data and seed.
    pretrained_only: the model after CNN pretraining only (its CNN is the "ImageNet" one; no captioning yet).
    stage=1: the captioner after stage 1 (CNN frozen): Show, Attend and Tell's baseline of the same size.
    untrained: the captioner at its seeded initialisation, CNN included (the "untrained" control: the
    very model the negative-control run, `./repro reproduce --untrained`, decodes)."""
    pre = pretrained_cnn(cfg, data, seed, cache_dir, device, untrained)
    if pretrained_only:
        return pre
    V = len(data["vocab"])

    def build_captioner():
        torch.manual_seed(seed + 1)
        m = build_model(cfg, V)
        m.encoder.load_state_dict(pre.encoder.state_dict())
        return m

    def run_stage1(m, resume):
        # the features first: computing them (when no cache has them yet) builds the CNN, which reseeds the
        # generator; seeded after the fetch, the training is the same whatever was computed or cached before
        feats = proxy_features(cfg, data, seed, cache_dir, device)["train"].mean((2, 3))
        torch.manual_seed(seed + 2)
        frozen_stage(m, feats, data, cfg, seed, resume, lambda m_, c, f: caption_loss(m_, c, feats=f), device)

    s1 = trained("show_and_tell_stage1", build=build_captioner, train=run_stage1, config=cfg, seed=seed,
                 data_fingerprint=_fingerprint(data), code=_code(), cache_dir=cache_dir, untrained=untrained)
    if stage == 1 or not cfg["stage2_epochs"]:
        return s1.to(device)

    def build_stage2():
        m = build_captioner()
        m.load_state_dict(s1.state_dict())
        return m

    def run_stage2(m, resume):
        torch.manual_seed(seed + 3)
        finetune_stage(m, data, cfg, seed, resume, device)

    return trained("show_and_tell", build=build_stage2, train=run_stage2, config=cfg, seed=seed,
                   data_fingerprint=_fingerprint(data), code=_code(), cache_dir=cache_dir,
                   untrained=untrained).to(device)


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
FULL = dict(encoder="inception_v3", encoder_kwargs={}, normalize="imagenet", image_size=299, resize=346,
            embed=512, hidden=512, dropout=0.3, min_count=5, max_len=20, batch=32, workers=8,
            stage1_epochs=20, lr=2e-3,                           # CNN frozen (im2txt: ~1M steps of 32)
            stage2_epochs=10, finetune_lr=2e-4, encoder_lr=2e-5,  # then fine-tuned at a lower rate
            beam=20)                                             # the paper's beam size (section 4.3.1)
ENCODER_WEIGHTS = "pretrained/inception_v3.tv_in1k.bin"
ENCODER_LAYOUT = ("<data-root>/pretrained/inception_v3.tv_in1k.bin: timm's ImageNet weights for inception_v3 "
                  "(the paper's GoogLeNet role; nothing is downloaded)")


def load_full_data(cfg: dict, train_items, test_items) -> dict:
    """Real captions: the training items (streamed by `train_streaming`), the test images read
    lazily (resize then central crop, as training crops), the vocabulary from the training captions."""
    from datasets.captions import ImageFiles
    vocab = Vocab.build([caption_tokens(c) for it in train_items for c in it.captions], min_count=cfg["min_count"])
    return {"train_items": list(train_items), "train_captions": [it.captions for it in train_items],
            "test_images": ImageFiles([it.image for it in test_items], cfg["image_size"], resize=cfg.get("resize")),
            "test_captions": [it.captions for it in test_items], "vocab": vocab}


def train_streaming(model, data: dict, cfg: dict, seed: int, resume: Path, device="cuda", loss=None) -> dict:
    """The full tier's two stages, images streamed from disk by a DataLoader with workers
    (datasets.captions.caption_loader): decoded and distorted (im2txt's training distortions) by the
    workers as the batches are consumed, shuffled per epoch, each rank reading its share under
    torchrun. Stage 1: CNN frozen (eval mode), every (image, caption) pair once an epoch; stage 2
    (cfg["stage2_epochs"] > 0): everything fine-tuned, one random caption per image an epoch, the
    CNN at a lower rate. `loss(model, captions, images)` (default: Show and Tell's cross-entropy)."""
    from datasets.captions import CaptionPairs, caption_loader
    loss = loss or (lambda m, c, x: caption_loss(m, c, images=x))
    rank, size = world()
    resume = Path(resume)
    pin = torch.device(device).type == "cuda"

    def loader(every_caption, s):
        ds = CaptionPairs(data["train_items"], data["vocab"], size=cfg["image_size"], resize=cfg.get("resize"),
                          max_len=cfg["max_len"], every_caption=every_caption, train=True)
        return caption_loader(ds, rehearsal_batch(cfg["batch"], len(ds)), seed=s, workers=cfg.get("workers", 4),
                              rank=rank, world=size, pin_memory=pin)

    hist = {}
    model.to(device)
    model.set_encoder_trainable(False)
    stage1 = loader(True, seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg["lr"])
    total = cfg["stage1_epochs"] * len(stage1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(1.0, i / total))))
    hist["stage1"] = fit(model, lambda m, b: loss(m, b[1], b[0]), stage1, epochs=cfg["stage1_epochs"], optimizer=opt,
                         scheduler=sched, device=device, clip_grad=5.0, checkpoint=resume.with_name("stage1.pt"),
                         desc="stage 1 (CNN frozen)")
    if cfg["stage2_epochs"]:
        model.set_encoder_trainable(True)
        enc = list(model.encoder.parameters())
        rest = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
        opt2 = torch.optim.Adam([{"params": enc, "lr": cfg["encoder_lr"]}, {"params": rest, "lr": cfg["finetune_lr"]}])
        hist["stage2"] = fit(model, lambda m, b: loss(m, b[1], b[0]), loader(False, seed + 1), epochs=cfg["stage2_epochs"],
                             optimizer=opt2, device=device, clip_grad=5.0, checkpoint=resume.with_name("stage2.pt"),
                             desc="stage 2 (fine-tune)")
    model.eval()
    return hist


def trained_full_model(name: str, cfg: dict, data: dict, data_root, seed: int, cache_dir, data_fingerprint: str,
                       device="cuda", checkpoint=None) -> ShowAndTell:
    """The paper's protocol: ImageNet CNN -> stage 1 (frozen) -> stage 2 (fine-tuned), streamed
    (train_streaming). Under torchrun, common.fit wraps the model in DDP; rank 0 writes the
    checkpoints. checkpoint: a named state_dict file to evaluate instead of training or the cache."""
    from datasets import locate
    _, _, device = init_distributed(device)        # joins the process group under torchrun; no-op otherwise
    weights = None if checkpoint else locate(data_root, ENCODER_WEIGHTS, ENCODER_LAYOUT)
    V = len(data["vocab"])

    def build():
        torch.manual_seed(seed)
        return build_model(cfg, V, encoder_weights=weights)

    return trained(f"show_and_tell_{name}", build=build,
                   train=lambda m, r: train_streaming(m, data, cfg, seed, r, device), config=cfg, seed=seed,
                   data_fingerprint=data_fingerprint, code=[model_mod, decode_mod, sys.modules[__name__]],
                   cache_dir=cache_dir, checkpoint=checkpoint).to(device)
