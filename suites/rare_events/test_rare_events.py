"""Kaiser et al., "Learning to Remember Rare Events" (ICLR 2017), section 4.2: one-shot Omniglot.

Smoke tier, on real Omniglot: the memory module and its encoder are trained with the authors'
episode procedure (train.py: the memory cleared before every batch of 16 episodes) on the two
small background sets only (8 alphabets, every fifth character held out, rotations as extra
classes), then evaluated

  * on Lake et al.'s 20 official within-alphabet 20-way one-shot runs (evaluation alphabets),
  * on 5-way K-shot episodes from the held-out background characters,

against two controls measured by the same code in the same run -- the same model UNTRAINED
(its seeded initialisation, read out through the same memory) and PIXEL nearest neighbour --
and against the same encoder trained without memory; then life-long use (a memory that is never
reset: one-shot episodes on top of a stream of training drawings, recall after thousands of
steps) and approximate lookup in a big memory.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

from datasets.omniglot import (EpisodeSampler, background_small_fingerprint, load_background_small, load_runs,
                               with_rotations)
from metrics.fewshot import accuracy_ci95, runs_accuracy
from reference_impls import rare_events as rare
from reference_impls.common import seed_everything, trained
from reference_impls.rare_events import backends, memory, model

# Smoke config: the official settings (key 128, k=256, alpha 0.1, memory 8192, batch 16,
# 5-wide 30-long episodes, Adam eps 1e-4, clip 5, memory cleared per batch of episodes) with a 4x
# narrower encoder, no dropout (keep_prob 1), lr 3e-4 and 600 Adam steps (20 batches of episodes),
# so it fits the CPU budget.
SMOKE = dict(rare.PAPER, ch1=16, ch2=32, keep_prob=1.0, lr=3e-4, episode_length=30, episodes_per_epoch=10,
             epochs=2)
EPISODES = 300            # evaluation episodes per setting (1-shot: every claim)
CURVE_EPISODES = 100      # episodes per point of the K > 1 curve (the figure only)
SHOTS = (1, 2, 5)
WARMUP_STEPS = 1000       # life-long: stream steps (x 16 drawings) that fill the memory before use
STREAM_STEPS = 2000       # life-long: steps of the training stream between writing and recalling
HELD_OUT_EVERY = 5        # characters 0, 5, 10, ... (sorted by alphabet/name) are never trained on


@pytest.fixture(scope="module")
def omniglot(data_root):
    chars = load_background_small(data_root)
    held = [i for i in range(len(chars)) if i % HELD_OUT_EVERY == 0]
    train = [i for i in range(len(chars)) if i % HELD_OUT_EVERY]
    return dict(train=with_rotations(chars.subset(train)), test=chars.subset(held), runs=load_runs(data_root),
                fingerprint=background_small_fingerprint(data_root))


def _memnet(omniglot, seed, cache_dir, device, untrained=False):
    def build():
        seed_everything(seed)   # the untrained control is exactly the trained model's starting point
        return rare.build_model(SMOKE)

    def run(m, resume):
        seed_everything(seed)
        rare.train(m, omniglot["train"], SMOKE, seed=seed, device=device, checkpoint=resume)

    return trained("rare_events_memory", build=build, train=run, config=SMOKE, seed=seed,
                   data_fingerprint=omniglot["fingerprint"], code=[memory, model, backends],
                   cache_dir=cache_dir, untrained=untrained).to(device)


@pytest.fixture(scope="module")
def memnet(omniglot, seed, cache_dir, device):
    return _memnet(omniglot, seed, cache_dir, device)


@pytest.fixture(scope="module")
def untrained_memnet(omniglot, seed, cache_dir, device):
    """Control: the same model at its seeded initialisation, read out through the same memory."""
    return _memnet(omniglot, seed, cache_dir, device, untrained=True)


@pytest.fixture(scope="module")
def softmax_net(omniglot, seed, cache_dir, device):
    classes = len(omniglot["train"])
    steps = SMOKE["epochs"] * SMOKE["episodes_per_epoch"] * SMOKE["episode_length"]

    def run(m, resume):
        seed_everything(seed)
        rare.train_softmax(m, omniglot["train"], SMOKE, seed=seed, steps=steps, device=device, checkpoint=resume)

    def build():
        seed_everything(seed)
        return rare.SoftmaxNet(SMOKE, classes)

    return trained("rare_events_softmax", build=build, train=run,
                   config=dict(SMOKE, classes=classes, steps=steps), seed=seed,
                   data_fingerprint=omniglot["fingerprint"], code=[model], cache_dir=cache_dir).to(device)


def episodes(omniglot, k_shot, seed, n_way=5, count=EPISODES):
    test = omniglot["test"]
    return EpisodeSampler(n_way, k_shot, n_query=1).episodes(len(test), test.images.shape[1], count,
                                                            seed=10_000 + 97 * seed + k_shot)


def test_official_20way_runs(claim, omniglot, memnet, untrained_memnet, seed, device):
    """Lake's 20 runs: 20-way one-shot within an evaluation alphabet, official scoring."""
    def runs(net):
        seed_everything(seed)   # the age noise draws from the global RNG: same numbers cached or cold
        return runs_accuracy(rare.evaluate_runs(net, omniglot["runs"], device=device))

    acc, untrained = runs(memnet), runs(untrained_memnet)
    pixel = runs_accuracy(rare.pixel_runs(omniglot["runs"]))
    claim("runs_20way_1shot_smoke", acc, controls={"untrained": untrained, "pixel_nn": pixel})
    claim("memory_beats_pixel_nn_runs", acc, than=pixel, controls={"untrained": untrained})


@pytest.fixture(scope="module")
def heldout(omniglot, memnet, untrained_memnet, softmax_net, seed, device):
    """5-way K-shot accuracy (mean, ci95) on held-out characters for the trained memory, the
    untrained model (same memory read-out), pixel NN and the encoder trained without memory (cosine
    NN); 300 episodes at K = 1 (the claims), 100 at K = 2, 5 (the figure)."""
    test = omniglot["test"]
    feats = {"memory module": rare.embed(memnet.encoder, test.images, device),
             "untrained model": rare.embed(untrained_memnet.encoder, test.images, device)}
    nets = {"memory module": memnet, "untrained model": untrained_memnet}
    soft_feats = rare.embed(softmax_net.encoder, test.images, device)
    pixels = test.images.flatten(2)
    curves = {"memory module": [], "untrained model": [], "encoder without memory": [], "pixel NN": []}
    for k in SHOTS:
        eps = episodes(omniglot, k, seed, count=EPISODES if k == 1 else CURVE_EPISODES)
        for name, net in nets.items():
            seed_everything(seed)   # the age noise draws from the global RNG: same numbers cached or cold
            curves[name].append(accuracy_ci95(rare.evaluate_episodes(net, test, eps, feats=feats[name],
                                                                     device=device)))
        curves["encoder without memory"].append(accuracy_ci95(rare.nn_episodes(soft_feats, eps, "cosine")))
        curves["pixel NN"].append(accuracy_ci95(rare.nn_episodes(pixels, eps, "l2")))
    cos = {n: rare.mean_key_cosine(nets[n], feats[n]) for n in nets}
    return {"curves": curves, "feats": feats, "key_cosine": cos}


def test_heldout_5way_and_baselines(claim, heldout, seed, artifacts):
    """5-way K-shot episodes on held-out characters: the trained memory vs the untrained model
    (same memory read-out), pixel NN and the encoder trained without memory (cosine NN)."""
    curves, cos = heldout["curves"], heldout["key_cosine"]
    (acc, ci), (untrained, _), (soft, _), (pix, _) = (curves[n][0] for n in curves)
    claim("heldout_5way_1shot_smoke", acc, controls={"untrained": untrained, "pixel_nn": pix}, ci95=ci,
          episodes=EPISODES, key_cosine=cos["memory module"], untrained_key_cosine=cos["untrained model"])
    claim("memory_beats_pixel_nn_5way", acc, than=pix, controls={"untrained": untrained})
    claim("memory_beats_encoder_without_memory_5way", acc, than=soft, controls={"untrained": untrained})

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for name, vals in curves.items():
        ax.errorbar(SHOTS, [v[0] for v in vals], yerr=[v[1] for v in vals], marker="o", capsize=3, label=name)
    ax.axhline(20, color="gray", ls=":", label="chance")
    ax.set_xlabel("shots (K)"), ax.set_ylabel("5-way accuracy (%)"), ax.set_xticks(SHOTS)
    ax.set_title(f"held-out Omniglot characters, {EPISODES} episodes (K=1), {CURVE_EPISODES} (K>1), seed {seed}",
                 fontsize=7)
    ax.legend(fontsize=7)
    artifacts.save_figure(fig, "rare_events_accuracy_vs_shots")


@pytest.fixture(scope="module")
def stream_feats(omniglot, memnet, device):
    """The trained encoder's outputs for every training drawing: the life-long stream and the big
    memory of the lookup benchmark."""
    return rare.embed(memnet.encoder, omniglot["train"].images, device)


def test_lifelong_without_resets(claim, omniglot, memnet, untrained_memnet, heldout, stream_feats, seed, device):
    """Life-long use of the trained module, the memory never reset: it first lives through a
    stream of 1,000 x 16 training drawings (their class labels), then one-shot episodes run on
    top of those memories (fresh labels, the episodes' writes staying); and a rare example
    written once is asked for again after 2,000 further steps of the stream."""
    test, trainset = omniglot["test"], omniglot["train"]
    eps = episodes(omniglot, 1, seed)
    pix, _ = accuracy_ci95(rare.nn_episodes(test.images.flatten(2), eps, "l2"))
    kept, slots = {}, {}
    for name, net in (("memory", memnet), ("untrained", untrained_memnet)):
        feats = heldout["feats"]["memory module" if net is memnet else "untrained model"]
        stream = stream_feats if net is memnet else rare.embed(net.encoder, trainset.images, device)
        seed_everything(seed)   # the age noise draws from the global RNG: same numbers cached or cold
        g = torch.Generator().manual_seed(seed)
        lived = rare.lived_memory(net, stream, WARMUP_STEPS, SMOKE["batch"], g, device=device)
        slots[name] = int((lived["vals"] > 0).sum())
        kept[name], _ = accuracy_ci95(rare.lifelong_episodes(net, test, eps, lived, device=device, feats=feats))
        if net is memnet:
            out = rare.recall_after_stream(net, feats[:, 0], feats[:, 1:], stream, steps=STREAM_STEPS,
                                           batch=SMOKE["batch"], generator=g, start=lived, device=device)
    claim("lifelong_no_reset_5way_1shot", kept["memory"], controls={"untrained": kept["untrained"], "pixel_nn": pix},
          cleared_memory=heldout["curves"]["memory module"][0][0], lived_slots=slots["memory"])
    claim("recall_example_after_2000_steps", 100 * out["recall_same"], rare_slots_held=out["rare_slots_held"],
          rare_examples=len(test), stream_acc=100 * out["stream_acc"])
    claim("recall_other_drawings_after_2000_steps", 100 * out["recall_other"])


def test_approximate_lookup(claim, speed, omniglot, memnet, heldout, stream_feats, seed, device):
    """Nearest-neighbour lookup in a big memory: faiss IVF vs exact matmul + top-k."""
    seed_everything(seed)
    res = rare.lookup_benchmark(memnet, omniglot["train"], omniglot["test"], slots=1 << 17, seed=seed, device=device,
                                compare=speed.compare, train_feats=stream_feats,
                                test_feats=heldout["feats"]["memory module"])
    claim("ann_speedup_131k", res["speedup"], exact_ms=res["exact_ms"], approx_ms=res["approx_ms"],
          build_s=res["build_s"], recall=res["recall"], nlist=res["nlist"], nprobe=res["nprobe"])
    claim("ann_recall_at_256_131k", res["recall"])
    claim("ann_no_accuracy_loss_131k", res["exact_acc"] - res["approx_acc"], exact_acc=res["exact_acc"],
          approx_acc=res["approx_acc"])


@pytest.mark.full
def test_approximate_lookup_1m(claim, speed, omniglot, memnet, seed, device):
    """The same benchmark at the issue's scale: 1,000,000 slots (about 1 GB of keys and index;
    ~1-2 minutes on 2 CPU cores, so it is kept out of the smoke tier)."""
    res = rare.lookup_benchmark(memnet, omniglot["train"], omniglot["test"], slots=1_000_000, seed=seed,
                                device=device, compare=speed.compare)
    claim("ann_speedup_1m", res["speedup"], exact_ms=res["exact_ms"], approx_ms=res["approx_ms"],
          build_s=res["build_s"], recall=res["recall"], nlist=res["nlist"], nprobe=res["nprobe"])
    claim("ann_recall_at_256_1m", res["recall"])
    claim("ann_no_accuracy_loss_1m", res["exact_acc"] - res["approx_acc"], exact_acc=res["exact_acc"],
          approx_acc=res["approx_acc"])
