"""Kaiser et al., "Learning to Remember Rare Events" (ICLR 2017), section 4.2: one-shot Omniglot.

Smoke tier, on real Omniglot: the memory module and its encoder are trained with the official
episode procedure (memory never reset) on the two small background sets only (8 alphabets,
every fifth character held out, rotations as extra classes), then evaluated

  * on Lake et al.'s 20 official within-alphabet 20-way one-shot runs (evaluation alphabets),
  * on 5-way K-shot episodes from the held-out background characters,

against a pixel nearest-neighbour baseline and the same encoder trained without memory;
then life-long use (no resets; recall after thousands of steps) and approximate lookup.
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
# 5-wide 30-long episodes, Adam eps 1e-4, clip 5) with a 4x narrower encoder, no dropout, lr 3e-4
# and 600 Adam steps (20 batches of episodes), so it fits the CPU budget (accuracy on held-out
# characters plateaus after ~300 steps at this width).
SMOKE = dict(rare.PAPER, ch1=16, ch2=32, keep_prob=1.0, lr=3e-4, episode_length=30, episodes_per_epoch=10,
             epochs=2)
EPISODES = 300            # evaluation episodes per setting
STREAM_STEPS = 2000       # life-long: steps of the training stream between writing and recalling
HELD_OUT_EVERY = 5        # characters 0, 5, 10, ... (sorted by alphabet/name) are never trained on


@pytest.fixture(scope="module")
def omniglot(data_root):
    chars = load_background_small(data_root)
    held = [i for i in range(len(chars)) if i % HELD_OUT_EVERY == 0]
    train = [i for i in range(len(chars)) if i % HELD_OUT_EVERY]
    return dict(train=with_rotations(chars.subset(train)), test=chars.subset(held), runs=load_runs(data_root),
                fingerprint=background_small_fingerprint(data_root))


@pytest.fixture(scope="module")
def memnet(omniglot, seed, cache_dir, device):

    def run(m, resume):
        seed_everything(seed)
        rare.train(m, omniglot["train"], SMOKE, seed=seed, device=device, checkpoint=resume)

    seed_everything(seed)
    return trained("rare_events_memory", build=lambda: rare.build_model(SMOKE), train=run, config=SMOKE, seed=seed,
                   data_fingerprint=omniglot["fingerprint"], code=[memory, model, backends],
                   cache_dir=cache_dir).to(device)


@pytest.fixture(scope="module")
def softmax_net(omniglot, seed, cache_dir, device):
    classes = len(omniglot["train"])
    steps = SMOKE["epochs"] * SMOKE["episodes_per_epoch"] * SMOKE["episode_length"]

    def run(m, resume):
        seed_everything(seed)
        rare.train_softmax(m, omniglot["train"], SMOKE, seed=seed, steps=steps, device=device, checkpoint=resume)

    seed_everything(seed)
    return trained("rare_events_softmax", build=lambda: rare.SoftmaxNet(SMOKE, classes), train=run,
                   config=dict(SMOKE, classes=classes, steps=steps), seed=seed,
                   data_fingerprint=omniglot["fingerprint"], code=[model], cache_dir=cache_dir).to(device)


def episodes(omniglot, k_shot, seed, n_way=5):
    test = omniglot["test"]
    return EpisodeSampler(n_way, k_shot, n_query=1).episodes(len(test), test.images.shape[1], EPISODES,
                                                            seed=10_000 + 97 * seed + k_shot)


def test_official_20way_runs(claim, omniglot, memnet, seed, device):
    """Lake et al.'s 20 runs: 20-way one-shot within an evaluation alphabet, official scoring."""
    seed_everything(seed)   # the age noise draws from the global RNG: same numbers cached or cold
    acc = runs_accuracy(rare.evaluate_runs(memnet, omniglot["runs"], device=device))
    pixel = runs_accuracy(rare.pixel_runs(omniglot["runs"]))
    claim("runs_20way_1shot_smoke", acc, pixel_nn=pixel)
    claim("memory_beats_pixel_nn_runs", acc, than=pixel)


def test_heldout_5way_and_baselines(claim, omniglot, memnet, softmax_net, seed, device, artifacts):
    """5-way K-shot episodes on held-out characters: memory vs pixel NN vs the encoder without memory."""
    seed_everything(seed)   # the age noise draws from the global RNG: same numbers cached or cold
    test = omniglot["test"]
    mem_feats = rare.embed(memnet.encoder, test.images, device)
    soft_feats = rare.embed(softmax_net.encoder, test.images, device)
    pixels = test.images.flatten(2)
    shots, curves = [1, 2, 3, 5], {"memory module": [], "encoder without memory": [], "pixel NN": []}
    for k in shots:
        eps = episodes(omniglot, k, seed)
        curves["memory module"].append(accuracy_ci95(rare.evaluate_episodes(memnet, test, eps, feats=mem_feats,
                                                                              device=device)))
        curves["encoder without memory"].append(accuracy_ci95(rare.nn_episodes(soft_feats, eps, "cosine")))
        curves["pixel NN"].append(accuracy_ci95(rare.nn_episodes(pixels, eps, "l2")))
    (acc, ci), (soft, _), (pix, _) = (curves[n][0] for n in curves)
    claim("heldout_5way_1shot_smoke", acc, ci95=ci, episodes=EPISODES)
    claim("memory_beats_pixel_nn_5way", acc, than=pix)
    claim("memory_beats_encoder_without_memory_5way", acc, than=soft)

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for name, vals in curves.items():
        ax.errorbar(shots, [v[0] for v in vals], yerr=[v[1] for v in vals], marker="o", capsize=3, label=name)
    ax.axhline(20, color="gray", ls=":", label="chance")
    ax.set_xlabel("shots (K)"), ax.set_ylabel("5-way accuracy (%)"), ax.set_xticks(shots)
    ax.set_title(f"held-out Omniglot characters, {EPISODES} episodes, seed {seed}", fontsize=8)
    ax.legend(fontsize=7)
    artifacts.save_figure(fig, "rare_events_accuracy_vs_shots")


def test_lifelong_without_resets(claim, omniglot, memnet, seed, device):
    """The trained memory is never cleared: one-shot episodes run on top of its 8,192 training
    memories (fresh labels), and a rare example written once is asked for again after 2,000
    further steps of the training stream."""
    test, trainset = omniglot["test"], omniglot["train"]
    seed_everything(seed)   # the age noise draws from the global RNG: same numbers cached or cold
    feats = rare.embed(memnet.encoder, test.images, device)
    eps = episodes(omniglot, 1, seed)
    cleared, _ = accuracy_ci95(rare.evaluate_episodes(memnet, test, eps, feats=feats, device=device))
    kept, _ = accuracy_ci95(rare.evaluate_episodes(memnet, test, eps, feats=feats, reset=False, device=device))
    claim("lifelong_no_reset_5way_1shot", kept, cleared_memory=cleared)

    stream = rare.embed(memnet.encoder, trainset.images, device)
    g = torch.Generator().manual_seed(seed)
    seed_everything(seed)
    out = rare.recall_after_stream(memnet, feats[:, 0], feats[:, 1:], stream, steps=STREAM_STEPS,
                                   batch=SMOKE["batch"], generator=g, device=device)
    claim("recall_example_after_2000_steps", 100 * out["recall_same"], rare_slots_held=out["rare_slots_held"],
          rare_examples=len(test), stream_acc=100 * out["stream_acc"])
    claim("recall_other_drawings_after_2000_steps", 100 * out["recall_other"])


def test_approximate_lookup(claim, omniglot, memnet, seed, device):
    """Nearest-neighbour lookup in a big memory: faiss IVF vs exact matmul + top-k."""
    seed_everything(seed)
    res = rare.lookup_benchmark(memnet, omniglot["train"], omniglot["test"], slots=1 << 17, seed=seed, device=device)
    claim("ann_speedup_131k", res["speedup"], exact_ms=res["exact_ms"], approx_ms=res["approx_ms"],
          build_s=res["build_s"])
    claim("ann_recall_at_256_131k", res["recall"])
    claim("ann_no_accuracy_loss_131k", res["exact_acc"] - res["approx_acc"], exact_acc=res["exact_acc"],
          approx_acc=res["approx_acc"])
    claim("lookup_latency_ms_131k", res["approx_ms"], exact_ms=res["exact_ms"])


@pytest.mark.full
def test_approximate_lookup_1m(claim, omniglot, memnet, seed, device):
    """The same benchmark at the issue's scale: 1,000,000 slots (about 1 GB of keys and index;
    ~1-2 minutes on 2 CPU cores, so it is kept out of the smoke tier)."""
    res = rare.lookup_benchmark(memnet, omniglot["train"], omniglot["test"], slots=1_000_000, seed=seed,
                                device=device)
    claim("ann_speedup_1m", res["speedup"], exact_ms=res["exact_ms"], approx_ms=res["approx_ms"],
          build_s=res["build_s"])
    claim("ann_recall_at_256_1m", res["recall"])
    claim("ann_no_accuracy_loss_1m", res["exact_acc"] - res["approx_acc"], exact_acc=res["exact_acc"],
          approx_acc=res["approx_acc"])
    claim("lookup_latency_ms_1m", res["approx_ms"], exact_ms=res["exact_ms"])
