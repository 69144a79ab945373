"""Show, Attend and Tell (Xu et al., ICML 2015), sections 4-5: experiments.

Smoke tier: the decoder looks at the CNN's feature grid (4x4 annotation vectors of the proxy
scenes) through soft attention, a distribution over locations at every step, trained end to end
with the doubly stochastic penalty; the CNN is frozen, as the paper's VGG was. It is compared
with Show and Tell of the same size (same frozen CNN, features, LSTM width, data and schedule:
Show and Tell after its stage 1) on the compositional caption proxy (every test scene shows a pair
of objects never seen together in training), and its attention maps are scored against the
scenes' object masks (the paper's figures show where the model looks when it emits a word).
Full tier: COCO with Karpathy's split, VGG-19 conv5_4 annotations.
"""

import pytest
import torch

from datasets import fingerprint
from metrics import captioning as C
from reference_impls import show_and_tell as st
from reference_impls import show_attend_tell as sat
from reference_impls.common import num_threads

BEAM = 3   # the same beam for both models (the paper's text gives no size; the released im2txt model's)


# ----------------------------------------------------------------------------- smoke: shared runs
@pytest.fixture(scope="module")
def runs(seed, cache_dir):
    torch.manual_seed(seed)
    with num_threads(1):   # small LSTMs on 4x4 grids: a second thread buys little and spins on a shared CPU
        data = st.load_data(st.PROXY, seed, cache_dir)                      # the data Show and Tell's suite uses
        # each training seeds itself after fetching the shared feature grid: the same models whichever
        # suite trains them, whatever was computed or cached before (tests/test_show_and_tell_determinism.py)
        baseline = st.trained_proxy_model(sat.BASELINE, data, seed, cache_dir, stage=1)   # same CNN, grid, schedule
        models = {"soft_attention": sat.trained_proxy_model(sat.PROXY, data, seed, cache_dir),
                  "show_and_tell": baseline,
                  "untrained": sat.trained_proxy_model(sat.PROXY, data, seed, cache_dir, untrained=True)}
        out = {}
        for name, m in models.items():
            caps, _ = st.decode(m, data["test_images"], data["vocab"], beam=BEAM)
            out[name] = _scored(data, caps)
        cnn = st.trained_proxy_model(st.PROXY, data, seed, cache_dir, pretrained_only=True)
        nn = st.nearest_neighbour_captions(cnn, data["train_images"], data["train_captions"], data["test_images"])
        out["nearest_neighbour"] = _scored(data, nn)
        out["most_frequent"] = _scored(data, [st.most_frequent_caption(data["train_captions"])] * len(nn))
        att = {k: sat.attention_in_masks(models[k], data["test_images"], data["test_captions"], data["test_objects"],
                                         data["test_masks"], data["vocab"], max_len=st.PROXY["max_len"])
               for k in ("soft_attention", "untrained")}
    return data, models, out, att


def _scored(data, captions):
    return {"captions": captions, "scores": st.evaluate(captions, data["test_captions"]),
            "both_named": st.both_objects_named(captions, data["test_objects"])}


def _metric(run, key):
    return run["both_named"] if key == "both_named" else 100 * run["scores"][key]


def test_soft_attention_beats_show_and_tell(claim, runs):
    """Table 1: the attention models against Google NIC. Here against Show and Tell of the same size
    (same frozen CNN and features, LSTM width, data and epochs), beam 3 for both, on test scenes
    whose pair of objects never occurs together in training; the controls are the nearest-neighbour
    caption, the most frequent caption and the attention model untrained."""
    _, _, out, _ = runs
    for cid, key in (("sat_bleu4_beats_show_and_tell", "Bleu_4"), ("sat_cider_beats_show_and_tell", "CIDEr"),
                     ("sat_novel_pair_named_beats_show_and_tell", "both_named")):
        claim(cid, _metric(out["soft_attention"], key), than=_metric(out["show_and_tell"], key),
              controls={n: _metric(out[n], key) for n in ("untrained", "nearest_neighbour", "most_frequent")})


def test_attention_lands_on_the_named_object(claim, runs, artifacts):
    """Section 5.4 / figures 1, 3, 5: when the model emits an object's word it looks at the object.
    Teacher-forced on the five references, at every step emitting the shape word of a phrase naming
    one of the scene's objects: the attention map's mass inside that object's mask, against a uniform
    map, a centre prior and the untrained model's attention; figure of maps over scenes."""
    data, models, _, att = runs
    a = att["soft_attention"]
    claim("attention_mass_in_object_mask", a["attention"],
          controls={"uniform": a["uniform"], "centre_prior": a["centre_prior"], "untrained": att["untrained"]["attention"]},
          other_object=round(a["other_object"], 2), steps=a["steps"])
    _figure(artifacts, data, models["soft_attention"])


def _figure(artifacts, data, model, n: int = 4, words: int = 6):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch.nn.functional as F
    x = data["test_images"][:n]
    with torch.inference_mode():
        ids, _ = st.greedy(model, x, start=data["vocab"].start, end=data["vocab"].end, max_len=words)
        caps = torch.zeros(n, words + 2, dtype=torch.long)
        for i, r in enumerate(ids):
            caps[i, :len(r) + 1] = torch.tensor([data["vocab"].start] + r)
        _, alpha = model(caps, images=x, return_alpha=True)
    S, L = x.shape[-1], alpha.shape[-1]
    h = int(L ** 0.5)
    fig, axes = plt.subplots(n, words + 1, figsize=(1.6 * (words + 1), 1.7 * n))
    for i in range(n):
        axes[i, 0].imshow(x[i].permute(1, 2, 0).numpy(), interpolation="nearest")
        axes[i, 0].set_title("scene", fontsize=7)
        img = x[i].permute(1, 2, 0).float() / 255
        for t in range(words):
            ax = axes[i, t + 1]
            if t < len(ids[i]):   # the scene lit by the attention map (bilinearly upsampled), as the paper's figures
                m = F.interpolate(alpha[i, t].view(1, 1, h, h), size=(S, S), mode="bilinear", align_corners=False)[0, 0]
                ax.imshow((img * (0.15 + 0.85 * m / m.max())[..., None]).numpy(), interpolation="nearest")
                ax.set_title(data["vocab"].itos[ids[i][t]], fontsize=7)
        for ax in axes[i]:
            ax.axis("off")
    fig.suptitle("Show, Attend and Tell on the proxy: the attention map at each word (greedy caption)", fontsize=9)
    artifacts.save_figure(fig, "show_attend_tell_attention")


# ----------------------------------------------------------------------------- full tier: the paper's protocol
@pytest.mark.full
def test_coco_bleu4_meteor(claim, data_root, seed, cache_dir, device):
    """Table 1, COCO, soft attention: Karpathy's split (train + restval for training, the 5,000 test
    images), VGG-19 conv5_4 annotations from an ImageNet checkpoint, CNN frozen. A trained model can be
    named for evaluation: REPRO_SHOW_ATTEND_TELL_COCO_CHECKPOINT=/path/state_dict.pt."""
    import os
    from datasets import locate
    from datasets.captions import KARPATHY, load_karpathy
    train, test = load_karpathy(data_root, "coco", "train"), load_karpathy(data_root, "coco", "test")
    split = locate(data_root, f"{KARPATHY['coco'][0]}/{KARPATHY['coco'][1]}", KARPATHY["coco"][2])
    cfg = sat.FULL
    data = st.load_full_data(cfg, train, test)
    model = sat.trained_full_model("coco", cfg, data, data_root, seed, cache_dir, fingerprint(split), device,
                                   checkpoint=os.environ.get("REPRO_SHOW_ATTEND_TELL_COCO_CHECKPOINT") or None)
    device = next(model.parameters()).device
    caps, _ = st.decode(model, data["test_images"], data["vocab"], beam=cfg["beam"], batch=100, device=device)
    s = C.evaluate({i: r for i, r in enumerate(data["test_captions"])}, {i: c for i, c in enumerate(caps)},
                   meteor=C.java_available())
    claim("sat_bleu4_coco", 100 * s["Bleu_4"])
    claim("sat_meteor_coco", 100 * s["METEOR"] if "METEOR" in s else float("nan"))
