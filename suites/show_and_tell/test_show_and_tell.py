"""Show and Tell (Vinyals et al., CVPR 2015), section 4: experiments.

Smoke tier: a CNN (pretrained on a classification task, as GoogLeNet was on ImageNet) feeds its
image embedding to an LSTM; stage 1 trains the LSTM with the CNN frozen, stage 2 fine-tunes
both. Captions of synthetic scenes (five references each) are scored with the coco-caption
protocol; every test scene shows a pair of objects never seen together in training, so that
retrieval must miss one and the model's generalisation can show. Every quality claim is measured
against the nearest-neighbour caption, the most frequent caption and the untrained captioner.
Full tier: the same code on COCO / Flickr30k / Pascal / SBU with an ImageNet CNN.
"""

import os

import pytest
import torch

from datasets import fingerprint, locate
from datasets.captions import KARPATHY, load_coco_paper_split, load_karpathy, load_pascal_sentences, load_sbu
from metrics import captioning as C
from reference_impls import show_and_tell as st
from reference_impls.common import full_steps, num_threads, rehearsal_items

BEAM = 20           # the paper's beam size (section 4.3.1)
BEAM_RELEASED = 3   # the released im2txt model's beam size: timed for the speed claim


# ----------------------------------------------------------------------------- smoke: shared runs
@pytest.fixture(scope="module")
def proxy(seed, cache_dir):
    torch.manual_seed(seed)
    with num_threads(1):   # small CNN/LSTM on 32x32 images: a second thread buys little and spins on a shared CPU
        data = st.load_data(st.PROXY, seed, cache_dir)
        model = st.trained_proxy_model(st.PROXY, data, seed, cache_dir)
    return data, model


def _scored(data, captions, loglik=None, **timing):
    return {"captions": captions, "loglik": loglik, "scores": st.evaluate(captions, data["test_captions"]),
            "both_named": st.both_objects_named(captions, data["test_objects"]), **timing}


@pytest.fixture(scope="module")
def decoded(proxy):
    data, model = proxy
    out = {}
    with num_threads(1):   # one thread, as the speed test measures
        for name, beam in (("greedy", 1), ("beam", BEAM), ("beam3", BEAM_RELEASED)):
            caps, loglik = st.decode(model, data["test_images"], data["vocab"], beam=beam)
            out[name] = _scored(data, caps, loglik)
    return out


@pytest.fixture(scope="module")
def controls(proxy, seed, cache_dir):
    """The controls of every quality claim, scored like the model: the nearest-neighbour caption
    (the caption of the most similar training image under the pretrained CNN's features, the
    "ImageNet" features of the proxy: Table 1's baseline), the most frequent training caption for
    every image, and the captioner at its seeded initialisation (beam search, like the model)."""
    data, _ = proxy
    with num_threads(1):
        cnn = st.trained_proxy_model(st.PROXY, data, seed, cache_dir, pretrained_only=True)
        nn = st.nearest_neighbour_captions(cnn, data["train_images"], data["train_captions"], data["test_images"])
        untrained = st.trained_proxy_model(st.PROXY, data, seed, cache_dir, untrained=True)
        unt_caps, _ = st.decode(untrained, data["test_images"], data["vocab"], beam=BEAM)
    frequent = st.most_frequent_caption(data["train_captions"])
    return {"nearest_neighbour": _scored(data, nn), "most_frequent": _scored(data, [frequent] * len(nn)),
            "untrained": _scored(data, unt_caps)}


def _metric(run, key):
    return run["both_named"] if key == "both_named" else 100 * run["scores"][key]


def _controls(controls, key, names=("untrained", "nearest_neighbour", "most_frequent")):
    return {n: _metric(controls[n], key) for n in names}


def test_beam_search_beats_greedy(claim, decoded, controls):
    """Section 4.3: beam search (k=20) over greedy decoding. log p(S|I) is the decoder's own
    objective (a sanity check of the search, tests/test_captions.py checks it against exhaustive
    search); BLEU-4 and CIDEr-D say whether likelier captions are better ones."""
    g, b = decoded["greedy"], decoded["beam"]
    claim("beam_loglik_beats_greedy", b["loglik"].mean().item(), than=g["loglik"].mean().item(),
          beam3=round(decoded["beam3"]["loglik"].mean().item(), 4))
    for cid, key in (("beam_bleu4_beats_greedy", "Bleu_4"), ("beam_cider_beats_greedy", "CIDEr")):
        claim(cid, _metric(b, key), than=_metric(g, key), controls=_controls(controls, key),
              beam3=round(_metric(decoded["beam3"], key), 2))


def test_model_beats_nearest_neighbour(claim, proxy, decoded, controls):
    """Table 1: NIC against a nearest-neighbour caption, on test scenes that each show a pair of
    objects never seen together in training (datasets.caption_proxy): retrieval must miss one."""
    ours = decoded["beam"]
    nn = controls["nearest_neighbour"]
    for cid, key in (("model_bleu4_beats_nearest_neighbour", "Bleu_4"), ("model_cider_beats_nearest_neighbour", "CIDEr")):
        claim(cid, _metric(ours, key), than=_metric(nn, key),
              controls=_controls(controls, key, ("untrained", "most_frequent")),
              greedy=round(_metric(decoded["greedy"], key), 2))


def test_proxy_scores(claim, proxy, decoded, controls, artifacts):
    """BLEU-4 and CIDEr-D of the beam-20 captions against the five references, and how often a
    caption names both objects of the unseen pair; figure of examples."""
    data, _ = proxy
    s = decoded["beam"]["scores"]
    claim("proxy_bleu4", 100 * s["Bleu_4"], controls=_controls(controls, "Bleu_4"),
          **{k: round(v, 4) for k, v in s.items()})
    claim("proxy_cider", 100 * s["CIDEr"], controls=_controls(controls, "CIDEr"))
    claim("novel_pair_named", decoded["beam"]["both_named"], controls=_controls(controls, "both_named"),
          greedy=round(decoded["greedy"]["both_named"], 2))
    _figure(artifacts, data, decoded, controls)


def test_decoding_speed(claim, speed, proxy):
    """Beam 3 vs greedy decoding, CPU time per caption in interleaved rounds (one thread, batch 250);
    captions per CPU-second recorded beside the ratio."""
    data, model = proxy
    n = len(data["test_images"])
    with num_threads(1):
        t = speed.compare({b: (lambda beam=beam: st.decode(model, data["test_images"], data["vocab"], beam=beam))
                           for b, beam in (("greedy", 1), ("beam3", BEAM_RELEASED))}, rounds=3, warmup=0, per_call=n)
    claim("beam3_cost_over_greedy", t.ratio("beam3", "greedy"), greedy_captions_per_cpu_s=1 / t.median("greedy"),
          beam3_captions_per_cpu_s=1 / t.median("beam3"), **t.extra())


def test_metric_speed_vs_pycocoevalcap(claim, speed, decoded, proxy):
    """Our BLEU + ROUGE-L + CIDEr-D against pycocoevalcap's scorers on the same tokenized corpus, in one run."""
    pytest.importorskip("pycocoevalcap", reason="pip install pycocoevalcap (the reference scorers) for this comparison")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    data, _ = proxy
    refs = C.tokenize_all({i: r for i, r in enumerate(data["test_captions"])})
    hyps = {i: C.ptb_tokenize(c) for i, c in enumerate(decoded["beam"]["captions"])}
    # a corpus of 500 images: the proxy test set, twice under fresh ids (each scorer runs ~0.1-1 s a round)
    refs = {(r, k): v for r in range(2) for k, v in refs.items()}
    hyps = {(r, k): v for r in range(2) for k, v in hyps.items()}
    hyps_l = {k: [v] for k, v in hyps.items()}
    mine = lambda: (C.bleu(refs, hyps)[0], C.rouge_l(refs, hyps)[0], C.cider_d(refs, hyps)[0])
    ref = lambda: (Bleu(4).compute_score(refs, hyps_l, verbose=0)[0], Rouge().compute_score(refs, hyps_l)[0],
                   Cider().compute_score(refs, hyps_l)[0])
    a, b = mine(), ref()
    assert a[0] == b[0] and abs(a[1] - b[1]) < 1e-12 and abs(a[2] - b[2]) < 1e-12
    t = speed.compare({"ours": mine, "pycocoevalcap": ref}, rounds=3, warmup=0)
    claim("metric_speedup_vs_pycocoevalcap", t.ratio("pycocoevalcap", "ours"), **t.extra())


def _figure(artifacts, data, decoded, controls, n: int = 4):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.6))
    for i, ax in enumerate(axes):
        ax.imshow(data["test_images"][i].permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.axis("off")
        ax.set_title(f"greedy: {decoded['greedy']['captions'][i]}\nbeam {BEAM}: {decoded['beam']['captions'][i]}\n"
                     f"NN: {controls['nearest_neighbour']['captions'][i]}\n"
                     f"ref: {data['test_captions'][i][0]}", fontsize=6.5, loc="left", wrap=True)
    fig.suptitle("Show and Tell on the proxy (unseen object pairs): generated, nearest-neighbour and reference captions",
                 fontsize=9)
    artifacts.save_figure(fig, "show_and_tell_captions")


# ----------------------------------------------------------------------------- full tier: the paper's protocol
def _full_run(name, train_items, test_items, data_root, seed, cache_dir, device, split_file):
    """Train (images streamed by DataLoader workers, im2txt's distortions, ImageNet normalisation) or
    load the cached model -- or the checkpoint named by REPRO_SHOW_AND_TELL_<NAME>_CHECKPOINT (a
    state_dict file), e.g. REPRO_SHOW_AND_TELL_COCO_CHECKPOINT=/ckpt/nic_coco.pt -- then decode the
    test images with beam 20 and score them with coco-caption."""
    cfg = st.FULL
    data = st.load_full_data(cfg, train_items, test_items)
    ckpt = os.environ.get(f"REPRO_SHOW_AND_TELL_{name.upper()}_CHECKPOINT") or None
    model = st.trained_full_model(name, cfg, data, data_root, seed, cache_dir, fingerprint(split_file), device,
                                  checkpoint=ckpt)
    device = next(model.parameters()).device       # this rank's device under torchrun
    caps, _ = st.decode(model, data["test_images"], data["vocab"], beam=cfg["beam"], batch=100, device=device)
    refs = {i: r for i, r in enumerate(data["test_captions"])}
    hyps = {i: c for i, c in enumerate(caps)}
    return C.evaluate(refs, hyps, meteor=C.java_available())


def _karpathy(data_root, name):
    return load_karpathy(data_root, name, "train"), load_karpathy(data_root, name, "test"), \
        locate(data_root, f"{KARPATHY[name][0]}/{KARPATHY[name][1]}", KARPATHY[name][2])


def _coco_paper_split(data_root):
    n_test = {} if full_steps() is None else {"n_test": 2}   # a rehearsal (--full-steps): 2 held-out images
    return load_coco_paper_split(data_root, "train", **n_test), load_coco_paper_split(data_root, "test", **n_test)


@pytest.mark.full
def test_coco_bleu4_meteor_cider(claim, data_root, seed, cache_dir, device):
    """Table 1 on the paper's split (section 4.1): 4,000 held-out val2014 images for test, the rest of
    train2014 + val2014 for training (datasets.captions.load_coco_paper_split: our deterministic
    choice of the 4,000, the authors' ids being unpublished)."""
    _, _, split = _karpathy(data_root, "coco")
    train, test = _coco_paper_split(data_root)
    s = _full_run("coco", train, test, data_root, seed, cache_dir, device, split)
    claim("bleu4_coco", 100 * s["Bleu_4"])
    claim("cider_coco", 100 * s["CIDEr"])
    claim("meteor_coco", 100 * s["METEOR"] if "METEOR" in s else float("nan"))


@pytest.mark.full
def test_flickr30k_bleu1(claim, data_root, seed, cache_dir, device):
    train, test, split = _karpathy(data_root, "flickr30k")
    test = rehearsal_items(test, 2)                          # a rehearsal (--full-steps): 2 test images
    claim("bleu1_flickr30k", 100 * _full_run("flickr30k", train, test, data_root, seed, cache_dir, device, split)["Bleu_1"])


@pytest.mark.full
def test_pascal_bleu1(claim, data_root, seed, cache_dir, device):
    """Pascal has no training set: the model trained on COCO (the paper's split) captions all 1,000 images."""
    pascal = rehearsal_items(load_pascal_sentences(data_root), 2)   # a rehearsal (--full-steps): 2 images
    _, _, split = _karpathy(data_root, "coco")
    train, _ = _coco_paper_split(data_root)                  # the COCO test's training set: its cached model
    claim("bleu1_pascal", 100 * _full_run("coco", train, pascal, data_root, seed, cache_dir, device, split)["Bleu_1"])


@pytest.mark.full
def test_sbu_bleu1(claim, data_root, seed, cache_dir, device):
    train, test = load_sbu(data_root, **({} if full_steps() is None else {"n_test": 2}))   # a rehearsal: 2 test images
    split = locate(data_root, "sbu/SBU_captioned_photo_dataset_captions.txt", "see datasets/captions.py")
    claim("bleu1_sbu", 100 * _full_run("sbu", train, test, data_root, seed, cache_dir, device, split)["Bleu_1"])
