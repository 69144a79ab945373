"""The smoke-tier experiment shared by the suite's three claims: one two-part-object proxy
(`parts_proxy`), four tiny 64-px networks trained once each (cached by `trained()`), and every
evaluation the claims need, with their controls measured by the same code in the same run:

* NINNet      image labels; its class channels are the CAMs (claims 1 and 3, and 2's NIN arm)
* ACoLNet     image labels; classifiers A and B, B on features erased where A's map >= 0.6 (claim 1)
* FCHeadNet   image labels; flattened features into FC layers (claim 2's FC arm)
* SegNet      pixel labels; the fully supervised model of the same size (claim 3's upper bound)

The image-label nets (NIN, ACoL, FC) also train on `n_empty` object-free canvases with a uniform
target (`train.image_label_loss`): without them, with exactly one object of one of K classes on
every canvas, a softmax classifier may recognise one class by the absence of the others' evidence
(a "default class" whose CAM is high on the background; README).

Controls: every network at its seeded initialisation (`trained(..., untrained=True)`), a centre
Gaussian map, a map spread evenly over the object (the head's area share), the majority class, and
the fixed box fitted to the training boxes filled with the classifier's class (the box prior).

    python -m reference_impls.weak_supervision.smoke SEED [SEED ...]   # numbers without pytest
"""
from __future__ import annotations

import torch

from metrics import localization as L
from reference_impls.cam.maps import cam_from_features
from reference_impls.common import count_params, seed_everything, trained

from . import maps as M
from . import models, part_objects, segmentation as S
from . import train as T
from .models import ACoLNet, FCHeadNet, NINNet, SegNet, head_params

CONFIG = {"n_train": 1000, "n_test": 400, "epochs": 5, "width": 8, "fc_hidden": 64, "lr": 3e-3, "batch_size": 64,
          "n_empty": 200,                 # + object-free training canvases for the image-label nets (see README)
          "n_seg_test": 500,              # the segmentation claims' test canvases (the first 400 are the localization's)
          "seg_batch_size": 32,           # the pixel-supervised model: twice the steps per epoch
          "seg_epochs": 3,                # ... and its epochs: 94 steps (the classifiers: 95 at batch 64)
          "acol_threshold": 0.6,          # ACoL's erasing threshold (the authors' released scripts)
          "seed_threshold": 0.3,          # CAM -> mask: a fixed fraction of the map's range (see README)
          "gaussian_sigma": 16.0,         # centre prior: sigma = a quarter of the 64-px canvas
          "interval": 0.1}                # CAM threshold step of MaxBoxAcc / mask IoU sweeps (see README)
TRAIN_KEYS = ("n_train", "n_empty", "epochs", "width", "fc_hidden", "lr", "batch_size", "seg_batch_size", "seg_epochs",
              "acol_threshold")
ARMS = {"nin": NINNet, "acol": ACoLNet, "fc": FCHeadNet, "seg": SegNet}


_CANVASES: dict = {}


def _canvases(n: int, seed: int, split: str) -> dict:
    """parts_proxy, generated once per process (both halves of a one-process run use the same sets):
    a set is a prefix of a larger one of the same stream, so the localization's 400 test canvases
    are the segmentation's first 400 and only the rest is drawn (`parts_proxy(..., first=m)`)."""
    if (n, seed, split) not in _CANVASES:
        for key in [k for k in _CANVASES if k[1] != seed]:      # keep one seed's sets only
            del _CANVASES[key]
        have = max((k[0] for k in _CANVASES if k[2] == split), default=0)
        if have >= n:
            _CANVASES[n, seed, split] = {k: v[:n] for k, v in _CANVASES[have, seed, split].items()}
        elif have:
            rest = part_objects.parts_proxy(n - have, seed, split, first=have)
            _CANVASES[n, seed, split] = {k: torch.cat([v, rest[k]]) for k, v in _CANVASES[have, seed, split].items()}
        else:
            _CANVASES[n, seed, split] = part_objects.parts_proxy(n, seed, split)
    return _CANVASES[n, seed, split]


def _empty(n: int, seed: int) -> torch.Tensor:
    if (n, seed, "empty") not in _CANVASES:
        _CANVASES[n, seed, "empty"] = part_objects.empty_canvases(n, seed)
    return _CANVASES[n, seed, "empty"]


def load_data(seed: int, cfg: dict = CONFIG, n_test: int | None = None) -> dict:
    return {"train": _canvases(cfg["n_train"], seed, "train"),
            "test": _canvases(n_test or cfg["n_test"], seed, "test")}


def build(arm: str, seed: int, cfg: dict = CONFIG):
    seed_everything(seed)
    k = part_objects.n_classes()
    if arm == "fc":
        return FCHeadNet(k, cfg["width"], hidden=cfg["fc_hidden"])
    if arm == "acol":
        return ACoLNet(k, cfg["width"], threshold=cfg["acol_threshold"])
    return ARMS[arm](k, cfg["width"])


def trained_model(arm: str, train: dict, seed: int, cache_dir=None, device="cpu", cfg: dict = CONFIG,
                  untrained: bool = False):
    """The arm trained on the train split (image labels; SegNet: the masks), or its seeded init. The
    image-label nets also see `n_empty` object-free canvases (label -1: the uniform target of
    `train.image_label_loss`), so that no class can be recognised by the absence of the others."""
    if arm == "seg":
        images, targets = train["images"], train["semantic"]
    else:
        empty = _empty(cfg["n_empty"], seed)
        images = torch.cat([train["images"], empty])
        targets = torch.cat([train["labels"], torch.full((len(empty),), -1, dtype=train["labels"].dtype)])

    def fit_(model, resume):
        seed_everything(seed)
        T.train(model, images, targets, epochs=cfg["seg_epochs" if arm == "seg" else "epochs"], seed=seed, lr=cfg["lr"],
                batch_size=cfg["seg_batch_size" if arm == "seg" else "batch_size"], device=device, checkpoint=resume)
    return trained(f"weak_supervision_{arm}", lambda: build(arm, seed, cfg), fit_,
                   config={**{k: cfg[k] for k in TRAIN_KEYS}, "arm": arm}, seed=seed,
                   code=[models, part_objects, T], cache_dir=cache_dir, untrained=untrained).to(device)


@torch.no_grad()
def nin_outputs(model: NINNet, x: torch.Tensor, labels: torch.Tensor) -> dict:
    """Top-1 classes, the GT class's and the top-1 class's CAM (class channel) at image size, and the
    two numerical checks of "the class channels are CAMs": logits vs the channels' spatial mean,
    channels vs Zhou et al.'s weighted sum of the maps before the 1x1 conv (+ its bias)."""
    model.eval()
    labels = labels.to(x.device)
    logits, f = model(x, return_features=True)
    cm = model.head[-1](f)
    idx = torch.arange(len(x))
    top = logits.argmax(1)
    conv = model.head[-1]
    cams = cam_from_features(f, conv.weight[:, :, 0, 0], torch.arange(cm.shape[1]).expand(len(x), -1))
    cams = cams + conv.bias[None, :, None, None]
    scale = cm.abs().amax().clamp_min(1e-12)
    return {"top1": top.cpu(), "logits": logits.cpu(),     # scored on the host (maps too: M.upsample)
            "gt_map": M.upsample(cm[idx, labels], x.shape[-1]), "top1_map": M.upsample(cm[idx, top], x.shape[-1]),
            "logit_vs_gap": float((logits - cm.mean((2, 3))).abs().max() / scale),
            "channel_vs_cam": float((cm - cams).abs().max() / scale)}


def accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    return 100.0 * float((pred == labels).float().mean())


@torch.no_grad()
def acol_outputs(model: ACoLNet, x: torch.Tensor, labels: torch.Tensor | None, top1_map: bool = True) -> dict:
    """ACoL's GT-class maps (A, B, fused; none when `labels` is None), its top-1 classes (A's logits)
    and, with `top1_map`, their fused map (one pass: B's input erased with A's map of A's top-1 class)."""
    model.eval()
    size = x.shape[-1]
    gt = {} if labels is None else {k: M.upsample(v, size) for k, v in model.localization_maps(x, labels.to(x.device)).items()
                                    if k != "classes"}
    maps = model.localization_maps(x, None)
    out = {"gt_maps": gt, "top1": maps["classes"].cpu()}
    if top1_map:
        out["top1_map"] = M.upsample(maps["fused"], size)
    return out


def segment_scores(seg_model: SegNet, x, semantic, k: int) -> dict:
    with torch.no_grad():
        pred = seg_model.eval()(x).argmax(1).cpu()
    return S.miou(pred, semantic, k + 1)


def localization(seed: int, cache_dir=None, device="cpu", cfg: dict = CONFIG) -> dict:
    """Claims 1 and 2: NIN head vs FC head, CAM's part lock, ACoL vs CAM (nets: nin, acol, fc)."""
    data = load_data(seed, cfg)
    train, test = data["train"], data["test"]
    x, y = test["images"].to(device), test["labels"]      # labels stay on the host, where the scoring is
    size, iv = x.shape[-1], cfg["interval"]
    arms = ("nin", "acol", "fc")
    net = {arm: trained_model(arm, train, seed, cache_dir, device, cfg) for arm in arms}
    raw = {arm: trained_model(arm, train, seed, cache_dir, device, cfg, untrained=True) for arm in arms}
    out = {"data": data, "config": cfg}

    # claim 2: NIN head vs FC head -------------------------------------------------------------
    nin, nin_u = nin_outputs(net["nin"], x, y), nin_outputs(raw["nin"], x, y)
    with torch.no_grad():
        fc_pred = net["fc"].eval()(x).argmax(1).cpu()
    majority = int(torch.bincount(train["labels"]).argmax())
    out["classification"] = {"nin_acc": accuracy(nin["top1"], y), "fc_acc": accuracy(fc_pred, y),
                             "untrained_nin_acc": accuracy(nin_u["top1"], y),
                             "class_prior_acc": accuracy(torch.full_like(y, majority), y)}
    out["params"] = {"nin_head": head_params(net["nin"]), "fc_head": head_params(net["fc"]),
                     "nin_total": count_params(net["nin"]), "fc_total": count_params(net["fc"]),
                     "backbone": count_params(net["nin"].features)}
    out["cam_identity"] = {"logit_vs_gap": nin["logit_vs_gap"], "channel_vs_cam": nin["channel_vs_cam"]}

    # claim 1: CAM locks onto the head; ACoL covers more ------------------------------------------
    acol, acol_u = acol_outputs(net["acol"], x, y, top1_map=False), acol_outputs(raw["acol"], x, y, top1_map=False)
    loc = {"cam": M.localization_scores(nin["gt_map"], test, iv),
           "untrained_cam": {"head_share": M.head_share(nin_u["gt_map"], test["masks"])},
           "acol": M.localization_scores(acol["gt_maps"]["fused"], test, iv),
           "acol_a": {"head_share": M.head_share(acol["gt_maps"]["a"], test["masks"])},
           "acol_b": {"head_share": M.head_share(acol["gt_maps"]["b"], test["masks"])},
           "untrained_acol": M.localization_scores(acol_u["gt_maps"]["fused"], test, iv),
           "centre_gaussian": M.localization_scores(M.centre_gaussian(size, cfg["gaussian_sigma"]), test, iv)}
    loc["uniform_object"] = {"head_share": M.head_area_share(test["masks"])}
    out["localization"] = loc
    out["acol_top1_acc"] = accuracy(acol["top1"], y)
    out["examples"] = {"cam": nin["gt_map"][:6], "acol_a": acol["gt_maps"]["a"][:6],
                       "acol_b": acol["gt_maps"]["b"][:6], "acol": acol["gt_maps"]["fused"][:6]}
    return out


def segmentation(seed: int, cache_dir=None, device="cpu", cfg: dict = CONFIG) -> dict:
    """Claim 3: CAM-seeded masks vs the box prior vs full supervision (nets: seg, then nin and acol,
    which the localization half trains: under two xdist workers each half trains its own first)."""
    data = load_data(seed, cfg, n_test=cfg["n_seg_test"])
    train, test = data["train"], data["test"]
    x = test["images"].to(device)
    size, k = x.shape[-1], part_objects.n_classes()
    seg_net = trained_model("seg", train, seed, cache_dir, device, cfg)
    seg_raw = trained_model("seg", train, seed, cache_dir, device, cfg, untrained=True)
    y = test["labels"]       # only for the GT-class maps nin_outputs also returns; not used below
    nin = nin_outputs(trained_model("nin", train, seed, cache_dir, device, cfg), x, y)
    nin_u = nin_outputs(trained_model("nin", train, seed, cache_dir, device, cfg, untrained=True), x, y)
    acol = acol_outputs(trained_model("acol", train, seed, cache_dir, device, cfg), x, None)
    sem, tau = test["semantic"], cfg["seed_threshold"]
    fixed = L.best_fixed_box(train["boxes"].numpy(), size, size)
    cam = M.normalized(nin["top1_map"])          # normalised once: the seeds and the threshold sweep
    return {"cam_seeded": S.miou(S.cam_seed_masks(cam, nin["top1"], tau, is_normalized=True), sem, k + 1),
            "acol_seeded": S.miou(S.cam_seed_masks(acol["top1_map"], acol["top1"], tau), sem, k + 1),
            "untrained_cam_seeded": S.miou(S.cam_seed_masks(nin_u["top1_map"], nin_u["top1"], tau), sem, k + 1),
            "box_prior": {"box": fixed, **S.miou(S.box_prior_masks(fixed, nin["top1"], size), sem, k + 1)},
            "full_supervision": segment_scores(seg_net, x, sem, k),
            "untrained_full_supervision": segment_scores(seg_raw, x, sem, k),
            "cam_seeded_by_threshold": {t: round(S.miou(S.cam_seed_masks(cam, nin["top1"], t, is_normalized=True), sem,
                                                        k + 1)["miou"], 2) for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)}}


def experiment(seed: int, cache_dir=None, device="cpu", cfg: dict = CONFIG) -> dict:
    """Both halves in one process."""
    return {**localization(seed, cache_dir, device, cfg), "segmentation": segmentation(seed, cache_dir, device, cfg)}


def summary(r: dict) -> dict:
    """The headline numbers of one run (printed by __main__, logged by the suite)."""
    loc, seg = r["localization"], r["segmentation"]
    keys = ("max_box_acc", "max_box_acc_v2", "max_box_acc_v2_iou70", "max_mask_iou", "head_share", "body_coverage")
    return {"classification": r["classification"], "params": r["params"], "cam_identity": r["cam_identity"],
            "localization": {a: {m: round(v, 3) for m, v in s.items() if m in keys} for a, s in loc.items()},
            "segmentation": {a: (round(s["miou"], 2) if "miou" in s else s) for a, s in seg.items()}}


if __name__ == "__main__":
    import json
    import sys
    import time

    torch.set_num_threads(1)
    for s in map(int, sys.argv[1:]):
        t = time.process_time()
        res = experiment(s)
        print(f"seed {s} ({time.process_time() - t:.1f} s cpu):", json.dumps(summary(res), indent=1, default=str),
              flush=True)
