"""Lookup in a big memory: exact search (matmul + top-k) against faiss IVF, on keys from the
trained Omniglot encoder.

The memory is filled with `slots` keys: the trained model's keys (normalized, projected) of
every training image, repeated with small Gaussian jitter until the slots are full, each with
its class as value — a stand-in for a memory that has seen many more drawings. Queries are
keys of held-out characters in batches of 16 (the training batch size).
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from datasets.omniglot import EpisodeSampler

from .backends import ExactSearch, recall_at_k
from .model import MemoryNet, embed, evaluate_episodes


@torch.inference_mode()
def big_memory(net: MemoryNet, train_images: torch.Tensor, slots: int, seed: int, jitter: float = 0.05,
               device="cpu", feats: torch.Tensor | None = None) -> MemoryNet:
    """A `slots`-slot copy of `net` whose memory holds the keys of `train_images` [C, D, H, W]
    (`feats`: their encoder outputs, if already computed) with jitter, values 1 + class."""
    cfg = dict(key_dim=net.memory.key_dim, ch1=net.encoder.ch1, ch2=net.encoder.ch2, norm=net.encoder.norm,
               image_size=train_images.shape[-1],
               memory_size=slots, choose_k=net.memory.choose_k, alpha=net.memory.alpha,
               age_noise=net.memory.age_noise, keep_prob=1.0)
    big = MemoryNet(cfg).to(device)
    big.encoder.load_state_dict(net.encoder.state_dict())
    big.memory.query_proj.copy_(net.memory.query_proj)
    feats = embed(net.encoder, train_images, device) if feats is None else feats   # [C, D, d]
    C, D, d = feats.shape
    base = big.memory.normalize_query(feats.reshape(-1, d).to(device))
    labels = torch.arange(C, device=device).repeat_interleave(D) + 1
    g = torch.Generator().manual_seed(seed)
    for start in range(0, slots, 1 << 16):                           # fill in chunks: bounded peak memory
        i = torch.arange(start, min(slots, start + (1 << 16)))
        noise = torch.randn(len(i), d, generator=g).to(device) * (jitter / d ** 0.5)
        big.memory.keys[i] = F.normalize(base[i % len(base)] + noise, dim=1)
        big.memory.vals[i] = labels[i % len(base)]
    big.memory.age.copy_(torch.randperm(slots, generator=g).float().to(device))   # distinct ages
    big.memory.backend.build(big.memory.keys)
    return big.eval()


@torch.inference_mode()
def lookup_benchmark(net: MemoryNet, train_chars, test_chars, *, slots: int, seed: int, compare, device="cpu",
                     nlist: int = 1024, nprobe: int = 64, episodes: int = 60, batches: int = 8,
                     threads: int = 1, train_feats: torch.Tensor | None = None,
                     test_feats: torch.Tensor | None = None) -> dict:
    """Exact vs IVF nearest-key search in a `slots`-slot memory. `compare` times named functions in
    interleaved rounds (the suites pass `speed.compare`, pytest-benchmark statistics); the
    speed-up is the ratio of the median times per query batch. `train_feats` / `test_feats`:
    the encoder outputs of the two sets, if the caller already has them."""
    big = big_memory(net, train_chars.images, slots, seed, device=device, feats=train_feats)
    mem = big.memory
    test_feats = embed(net.encoder, test_chars.images, device) if test_feats is None else test_feats
    q_all = mem.normalize_query(test_feats.reshape(-1, test_feats.shape[-1]).to(device))
    g = torch.Generator().manual_seed(seed + 1)
    qs = [q_all[torch.randperm(len(q_all), generator=g)[:16]] for _ in range(batches)]
    k = mem.choose_k

    exact = ExactSearch()
    exact.build(mem.keys)
    truth = [exact.search(q, k) for q in qs]
    t = time.process_time()
    mem.use_backend("ivf", nlist=nlist, nprobe=nprobe, seed=seed, threads=threads)
    build_s = time.process_time() - t
    ivf = mem.backend
    timings = compare({"exact": lambda: [exact.search(q, k) for q in qs],
                       "ivf": lambda: [ivf.search(q, k) for q in qs]}, rounds=5, warmup=1, per_call=batches)
    exact_ms, approx_ms = 1000 * timings.median("exact"), 1000 * timings.median("ivf")
    recall = sum(recall_at_k(ivf.search(q, k), e) for q, e in zip(qs, truth)) / len(qs)

    # one-shot accuracy in the big memory (life-long: no reset), exact vs approximate search
    eps = EpisodeSampler(5, 1, 1).episodes(len(test_chars), test_chars.images.shape[1], episodes, seed=seed + 2)
    torch.manual_seed(seed)
    approx_acc = 100 * sum(evaluate_episodes(big, test_chars, eps, reset=False, feats=test_feats,
                                             device=device)) / episodes
    mem.use_backend("exact")
    torch.manual_seed(seed)
    exact_acc = 100 * sum(evaluate_episodes(big, test_chars, eps, reset=False, feats=test_feats,
                                            device=device)) / episodes
    return dict(exact_ms=exact_ms, approx_ms=approx_ms, speedup=timings.ratio("exact", "ivf"), recall=recall,
                build_s=build_s, exact_acc=exact_acc, approx_acc=approx_acc, slots=slots, nlist=nlist, nprobe=nprobe)
