"""Show and Tell (Vinyals et al., CVPR 2015), section 4: experiments.

Smoke tier: a CNN (pretrained on a classification task, as GoogLeNet was on ImageNet) feeds its
image embedding to an LSTM; stage 1 trains the LSTM with the CNN frozen, stage 2 fine-tunes
both. Captions of synthetic scenes (five references each) are scored with the coco-caption
protocol. Full tier: the same code on COCO / Flickr30k / Pascal / SBU with an ImageNet CNN.
"""
import time

import pytest
import torch

from datasets import fingerprint, locate
from datasets.captions import KARPATHY, load_karpathy, load_pascal_sentences, load_sbu
from metrics import captioning as C
from reference_impls import show_and_tell as st
from reference_impls.common import num_threads

BEAM = 3   # the released im2txt model's beam size (the paper: 20)


# ----------------------------------------------------------------------------- smoke: shared runs
@pytest.fixture(scope="module")
def proxy(seed, cache_dir):
    torch.manual_seed(seed)
    with num_threads(1):   # small CNN/LSTM on 32x32 images: a second thread buys little and spins on a shared CPU
        data = st.load_data(st.PROXY, seed, cache_dir)
        model = st.trained_proxy_model(st.PROXY, data, seed, cache_dir)
    return data, model


@pytest.fixture(scope="module")
def decoded(proxy):
    data, model = proxy
    out = {}
    with num_threads(1):   # speed is measured in captions per CPU-second of one thread: robust to a busy machine
        for name, beam in (("greedy", 1), ("beam", BEAM)):
            t, c = time.perf_counter(), time.process_time()
            caps, loglik = st.decode(model, data["test_images"], data["vocab"], beam=beam)
            out[name] = {"captions": caps, "loglik": loglik, "seconds": time.perf_counter() - t,
                         "cpu_seconds": time.process_time() - c}
    for o in out.values():
        o["scores"] = st.evaluate(o["captions"], data["test_captions"])
    return out


def test_beam_search_beats_greedy(claim, decoded):
    """Section 4.3: beam search (k=3) over greedy decoding: higher p(S|I), and better captions."""
    g, b = decoded["greedy"], decoded["beam"]
    claim("beam_loglik_beats_greedy", b["loglik"].mean().item(), than=g["loglik"].mean().item())
    claim("beam_bleu4_beats_greedy", 100 * b["scores"]["Bleu_4"], than=100 * g["scores"]["Bleu_4"])
    claim("beam_cider_beats_greedy", 100 * b["scores"]["CIDEr"], than=100 * g["scores"]["CIDEr"])


def test_model_beats_nearest_neighbour(claim, proxy, decoded, seed, cache_dir):
    """Table 1: NIC against a nearest-neighbour caption (the caption of the most similar training
    image under the pretrained CNN's features, the "ImageNet" features of the proxy)."""
    data, model = proxy
    cnn = st.trained_proxy_model(st.PROXY, data, seed, cache_dir, pretrained_only=True)
    nn = st.evaluate(st.nearest_neighbour_captions(cnn, data["train_images"], data["train_captions"], data["test_images"]),
                     data["test_captions"])
    # for the record: the same baseline with the captioner's fine-tuned CNN (it has seen the captions)
    nn_ft = st.evaluate(st.nearest_neighbour_captions(model, data["train_images"], data["train_captions"], data["test_images"]),
                        data["test_captions"])
    ours = decoded["beam"]["scores"]
    claim("model_bleu4_beats_nearest_neighbour", 100 * ours["Bleu_4"], than=100 * nn["Bleu_4"],
          nn_finetuned_cnn=round(100 * nn_ft["Bleu_4"], 2))
    claim("model_cider_beats_nearest_neighbour", 100 * ours["CIDEr"], than=100 * nn["CIDEr"],
          nn_finetuned_cnn=round(100 * nn_ft["CIDEr"], 2))


def test_proxy_scores(claim, proxy, decoded, artifacts):
    """BLEU-4 and CIDEr-D of the beam-3 captions against the five references; figure of examples."""
    data, _ = proxy
    s = decoded["beam"]["scores"]
    claim("proxy_bleu4", 100 * s["Bleu_4"], **{k: round(v, 4) for k, v in s.items()})
    claim("proxy_cider", 100 * s["CIDEr"])
    _figure(artifacts, data, decoded)


def test_decoding_speed(claim, decoded):
    """Captions per CPU-second (one thread, batch 250); wall-clock rates recorded alongside."""
    n = len(decoded["greedy"]["captions"])
    for cid, name in (("greedy_captions_per_second", "greedy"), ("beam3_captions_per_second", "beam")):
        claim(cid, n / decoded[name]["cpu_seconds"], wall_captions_per_s=round(n / decoded[name]["seconds"], 1))


def test_metric_speed_vs_pycocoevalcap(claim, decoded, proxy):
    """Our BLEU + ROUGE-L + CIDEr-D against pycocoevalcap's scorers on the same tokenized corpus, in one run."""
    pytest.importorskip("pycocoevalcap", reason="pip install pycocoevalcap (the reference scorers) for this comparison")
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    data, _ = proxy
    refs = C.tokenize_all({i: r for i, r in enumerate(data["test_captions"])})
    hyps = {i: C.ptb_tokenize(c) for i, c in enumerate(decoded["beam"]["captions"])}
    # a corpus of 1,000 images: the proxy test set, repeated under fresh ids
    refs = {(r, k): v for r in range(4) for k, v in refs.items()}
    hyps = {(r, k): v for r in range(4) for k, v in hyps.items()}
    hyps_l = {k: [v] for k, v in hyps.items()}
    ours, theirs = [], []
    for _ in range(3):   # interleaved, best of three: robust to other load on the machine
        t = time.perf_counter()
        mine = (C.bleu(refs, hyps)[0], C.rouge_l(refs, hyps)[0], C.cider_d(refs, hyps)[0])
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        ref = (Bleu(4).compute_score(refs, hyps_l, verbose=0)[0], Rouge().compute_score(refs, hyps_l)[0],
               Cider().compute_score(refs, hyps_l)[0])
        theirs.append(time.perf_counter() - t)
    assert mine[0] == ref[0] and abs(mine[1] - ref[1]) < 1e-12 and abs(mine[2] - ref[2]) < 1e-12
    claim("metric_speedup_vs_pycocoevalcap", min(theirs) / min(ours), ours_s=min(ours), pycocoevalcap_s=min(theirs))


def _figure(artifacts, data, decoded, n: int = 4):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.6))
    for i, ax in enumerate(axes):
        ax.imshow(data["test_images"][i].permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.axis("off")
        ax.set_title(f"greedy: {decoded['greedy']['captions'][i]}\nbeam {BEAM}: {decoded['beam']['captions'][i]}\n"
                     f"ref: {data['test_captions'][i][0]}", fontsize=6.5, loc="left", wrap=True)
    fig.suptitle("Show and Tell on the proxy: generated vs reference captions", fontsize=9)
    artifacts.save_figure(fig, "show_and_tell_captions")


# ----------------------------------------------------------------------------- full tier: the paper's protocol
def _full_run(name, train_items, test_items, data_root, seed, cache_dir, device, split_file):
    cfg = st.FULL
    data = st.load_full_data(cfg, train_items, test_items)
    model = st.trained_full_model(name, cfg, data, data_root, seed, cache_dir, fingerprint(split_file), device)
    device = next(model.parameters()).device       # this rank's device under torchrun
    caps, _ = st.decode(model, data["test_images"], data["vocab"], beam=cfg["beam"], batch=100, device=device)
    refs = {i: r for i, r in enumerate(data["test_captions"])}
    hyps = {i: c for i, c in enumerate(caps)}
    return C.evaluate(refs, hyps, meteor=C.java_available())


def _karpathy(data_root, name):
    return load_karpathy(data_root, name, "train"), load_karpathy(data_root, name, "test"), \
        locate(data_root, f"{KARPATHY[name][0]}/{KARPATHY[name][1]}", KARPATHY[name][2])


@pytest.mark.full
def test_coco_bleu4_meteor_cider(claim, data_root, seed, cache_dir, device):
    train, test, split = _karpathy(data_root, "coco")
    s = _full_run("coco", train, test, data_root, seed, cache_dir, device, split)
    claim("bleu4_coco", 100 * s["Bleu_4"])
    claim("cider_coco", 100 * s["CIDEr"])
    claim("meteor_coco", 100 * s["METEOR"] if "METEOR" in s else float("nan"))


@pytest.mark.full
def test_flickr30k_bleu1(claim, data_root, seed, cache_dir, device):
    train, test, split = _karpathy(data_root, "flickr30k")
    claim("bleu1_flickr30k", 100 * _full_run("flickr30k", train, test, data_root, seed, cache_dir, device, split)["Bleu_1"])


@pytest.mark.full
def test_pascal_bleu1(claim, data_root, seed, cache_dir, device):
    """Pascal has no training set: the model trained on COCO captions all 1,000 images."""
    pascal = load_pascal_sentences(data_root)
    train, _, split = _karpathy(data_root, "coco")
    claim("bleu1_pascal", 100 * _full_run("coco", train, pascal, data_root, seed, cache_dir, device, split)["Bleu_1"])


@pytest.mark.full
def test_sbu_bleu1(claim, data_root, seed, cache_dir, device):
    train, test = load_sbu(data_root)
    split = locate(data_root, "sbu/SBU_captioned_photo_dataset_captions.txt", "see datasets/captions.py")
    claim("bleu1_sbu", 100 * _full_run("sbu", train, test, data_root, seed, cache_dir, device, split)["Bleu_1"])
