"""Seeding and determinism, device and AMP selection, and torchrun/DDP set-up."""
from __future__ import annotations

import contextlib
import importlib
import os
import random
import time

import numpy as np
import torch
import torch.distributed as dist


class DependencyMissing(ImportError):
    """An optional package that a test needs is not installed (an extra of pyproject.toml, e.g. the
    CRF); the harness turns it into a skip whose reason says what to install, as it does for data."""


def require(module: str, install: str):
    """Import an optional dependency, or raise DependencyMissing naming how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise DependencyMissing(f"{module} is not installed ({e}); {install}") from None


def seed_everything(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed python, numpy and torch; on request make kernels deterministic. Returns a CPU
    generator seeded with `seed`, for code that wants its own stream."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    g = torch.Generator()
    g.manual_seed(seed)
    return g


# ----------------------------------------------------------------------------- negative control
def untrained_mode() -> bool:
    """True in the negative-control run (`./repro reproduce --untrained`, env REPRO_UNTRAINED=1):
    every model keeps its seeded initialisation. `trained()` then builds without training or
    caching, `memo()` computes without caching, and `fit()` returns at once. A training path
    that bypasses those three must check this itself."""
    return os.environ.get("REPRO_UNTRAINED", "0") not in ("", "0")


def set_untrained_mode(on: bool) -> None:
    os.environ["REPRO_UNTRAINED"] = "1" if on else "0"


# ----------------------------------------------------------------------------- rehearsal override
def full_steps() -> int | None:
    """The documented iteration override of a rehearsal (`pytest --tier full --full-steps N`, env
    REPRO_FULL_STEPS=N): every full-tier training loop stops each epoch after N steps and every
    full-tier evaluation may cut its set to a few items, so the whole path (load, train, checkpoint,
    resume, evaluate, write results) runs in seconds; the claims are then recorded as a rehearsal,
    their verdicts meaningless. None (the default): the paper's schedule."""
    v = os.environ.get("REPRO_FULL_STEPS", "")
    return int(v) if v not in ("", "0") else None


def rehearsal_batch(batch_size: int, n_items: int | None = None) -> int:
    """The paper's batch size, or in a rehearsal (`full_steps()` set) at most 2 (and at most the
    miniature dataset's size), so a drop_last loader over a few images still yields a step."""
    if full_steps() is None:
        return batch_size
    return max(1, min(batch_size, 2, n_items or batch_size))


def rehearsal_items(items, n: int = 4):
    """`items` cut to its first `n` in a rehearsal (`full_steps()` set), else all of them: for
    full-tier evaluation sets."""
    return items[:n] if full_steps() is not None else items


def pick_device(name: str | torch.device = "auto") -> torch.device:
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{name}' requested but CUDA is not available")
    return torch.device(name)


def autocast(device: torch.device, enabled: bool = True):
    """Mixed precision where it pays: bf16 autocast on CUDA; a no-op on CPU (fp32 is faster here)."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def num_threads(n: int = 1):
    """Run a block with `n` intra-op threads, then restore the previous setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cpu_seconds(fn, repeats: int, warmup: bool = False) -> float:
    """Minimum CPU (process) time of `repeats` calls: the compute cost, insensitive to other
    processes sharing the cores (wall time under load is not). Use inside `num_threads(1)`."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return min(times)


# ----------------------------------------------------------------------------- distributed
def world() -> tuple[int, int]:
    """(rank, world_size); (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device: torch.device | None = None) -> tuple[int, int, torch.device]:
    """Under `torchrun --nproc_per_node=N`, join the process group (nccl on GPU, gloo on CPU)
    and pick this rank's device. Outside torchrun, return (0, 1, device) and do nothing."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return 0, 1, pick_device(device or "auto")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available() and (device is None or str(device) != "cpu"):
        torch.cuda.set_device(local)
        dev, backend = torch.device("cuda", local), "nccl"
    else:
        dev, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size(), dev


def is_main() -> bool:
    return world()[0] == 0
