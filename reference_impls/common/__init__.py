"""Shared training machinery: seeding, devices/AMP, DDP, the training loop, the checkpoint cache."""
from .cache import load_weights, memo, trained
from .distributed import barrier, broadcast, gather, loader, rank_seed, shard, split_batch
from .runtime import (DependencyMissing, autocast, cpu_seconds, full_steps, init_distributed, is_main, num_threads, pick_device,
                      rehearsal_batch, rehearsal_items, require, seed_everything, set_untrained_mode, untrained_mode, world)
from .train import CheckpointError, atomic_save, count_params, fit, poly_lr, predict, safe_load

__all__ = ["trained", "memo", "load_weights", "seed_everything", "untrained_mode", "set_untrained_mode", "pick_device", "autocast",
           "init_distributed", "world", "num_threads", "cpu_seconds", "fit", "poly_lr", "predict", "count_params", "atomic_save",
           "safe_load", "CheckpointError", "barrier", "broadcast", "gather", "loader", "rank_seed", "shard",
           "split_batch", "full_steps", "rehearsal_batch", "rehearsal_items", "is_main", "require",
           "DependencyMissing"]
