"""Data parallelism under torchrun, in four helpers the suites adopt with one-line changes.

    train = loader(dataset, batch_size=64, seed=seed, shuffle=True, collate_fn=...)   # shards under torchrun
    fit(model, step, train, ...)                                                      # DDP inside fit
    preds = gather(predict_fn(shard(samples)))        # evaluation: each rank its share, every rank all results
    if is_main(): write_files(...)
    barrier()

Outside torchrun (one process) every helper is the identity, so the same code runs on a laptop.

`loader` uses a `DistributedSampler` also for one process: its permutation depends only on the
seed and the epoch, and rank r of N takes items r, r+N, r+2N, ... of it, so the union of the N
ranks' j-th batches (each `batch_size // N` items) is exactly the one-process j-th batch of
`batch_size` items. With DDP averaging the gradients of mean-reduced losses, N processes then
train the same model as one (up to float rounding), which tests/test_ddp.py checks.
"""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from .runtime import full_steps, rehearsal_batch, world


def barrier() -> None:
    """Wait for every rank (no-op outside torchrun)."""
    if world()[1] > 1:
        dist.barrier()


def broadcast(obj, src: int = 0):
    """`obj` as rank `src` has it, on every rank (any picklable object)."""
    if world()[1] == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def shard(items):
    """This rank's share of a sequence: items rank, rank+N, rank+2N, ... (all of it in one process)."""
    rank, size = world()
    return items[rank::size] if size > 1 else items


def gather(mine: list) -> list:
    """Inverse of `shard`: every rank passes the results for its share (in order) and gets the
    results for the whole sequence, in the original order, so a metric is computed once on all of it."""
    rank, size = world()
    if size == 1:
        return list(mine)
    parts = [None] * size
    dist.all_gather_object(parts, list(mine))
    n = sum(len(p) for p in parts)
    return [parts[i % size][i // size] for i in range(n)]


def split_batch(batch, rank: int | None = None, size: int | None = None):
    """This rank's slice (rows rank::N along dim 0) of a batch of tensors / lists / dicts."""
    if rank is None:
        rank, size = world()
    if size == 1:
        return batch
    if isinstance(batch, torch.Tensor):
        return batch[rank::size]
    if isinstance(batch, dict):
        return {k: split_batch(v, rank, size) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return tuple(split_batch(b, rank, size) for b in batch)
    if isinstance(batch, list):
        if batch and isinstance(batch[0], (torch.Tensor, dict, tuple, list)):
            return [split_batch(b, rank, size) for b in batch]
        return batch[rank::size]
    return batch


def rank_seed(seed: int) -> int:
    """A seed for this rank's own random stream (augmentation, crops): different per rank, fixed per seed."""
    return seed * 1000 + world()[0]


def _worker_init(worker_id: int) -> None:
    """Each DataLoader worker reseeds numpy/random from torch's per-worker seed (itself derived from
    the loader's generator, i.e. from the run's seed, the epoch and the rank), and calls the
    dataset transform's `reseed(seed)` where it has one."""
    import random
    info = torch.utils.data.get_worker_info()
    np.random.seed(info.seed % 2**32)
    random.seed(info.seed)
    transform = getattr(info.dataset, "transform", None)
    if hasattr(transform, "reseed"):
        transform.reseed(info.seed)


def default_workers(requested: int | None = None) -> int:
    """DataLoader workers per rank: $REPRO_LOADER_WORKERS (the user's word wins over a recipe's),
    else `requested`, else the cores per local rank (max 8), 0 on a small CPU."""
    env = os.environ.get("REPRO_LOADER_WORKERS")
    if env is not None:
        try:
            return max(0, int(env))
        except ValueError:
            raise ValueError(f"$REPRO_LOADER_WORKERS={env!r} is not a number of worker processes") from None
    if requested is not None:
        return requested
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) // local
    return 0 if cores <= 2 else min(8, cores - 1)


def loader(dataset, batch_size: int, *, seed: int, shuffle: bool = True, drop_last: bool = True,
           num_workers: int | None = None, collate_fn=None, pin_memory: bool | None = None,
           prefetch_factor: int | None = None, persistent_workers: bool | None = None) -> DataLoader:
    """A training DataLoader that shards under torchrun: `batch_size` is the global batch (each of
    N ranks loads `batch_size // N`), the order comes from (seed, epoch) only, decoding runs in
    `num_workers` worker processes (default: `default_workers()`), memory is pinned when CUDA is
    present, and every worker gets its own seed (per rank, per epoch). `fit` calls the sampler's
    `set_epoch` each epoch. $REPRO_LOADER_WORKERS overrides `num_workers`. In a rehearsal (`--full-steps`) each rank's batch is cut to
    `rehearsal_batch` so a miniature layout still yields steps."""
    rank, size = world()
    batch_size = rehearsal_batch(batch_size, len(dataset) if hasattr(dataset, "__len__") else None) * \
        (size if full_steps() is not None else 1)
    if batch_size % size:
        raise ValueError(f"global batch {batch_size} is not divisible by the {size} ranks")
    sampler = DistributedSampler(dataset, num_replicas=size, rank=rank, shuffle=shuffle, seed=seed,
                                 drop_last=drop_last)
    workers = default_workers(num_workers)
    extra = {}
    if workers > 0:
        extra["persistent_workers"] = True if persistent_workers is None else persistent_workers
        extra["prefetch_factor"] = prefetch_factor or 4
        extra["worker_init_fn"] = _worker_init
    return DataLoader(dataset, batch_size=batch_size // size, sampler=sampler, num_workers=workers,
                      collate_fn=collate_fn, drop_last=drop_last,
                      pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
                      generator=torch.Generator().manual_seed(rank_seed(seed)), **extra)


def is_sharded(batches) -> bool:
    """Whether an iterable of batches already gives each rank its own share (a DataLoader with a
    DistributedSampler, e.g. from `loader`)."""
    sampler = getattr(batches, "sampler", None)
    batch_sampler = getattr(batches, "batch_sampler", None)
    return isinstance(sampler, DistributedSampler) or isinstance(getattr(batch_sampler, "sampler", None),
                                                                 DistributedSampler)
