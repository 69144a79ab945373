"""The one training loop every reference implementation uses.

    history = fit(model, step, data, epochs=3, optimizer=opt, checkpoint=ckpt_path)

`step(model, batch) -> loss tensor` (or a dict with a "loss" key) is the only per-paper code;
`data` is any re-iterable of batches (a DataLoader, a list, or a callable epoch -> iterable).
The loop handles device moves, AMP on GPU, gradient clipping, an LR schedule stepped per
iteration, a tqdm bar, DDP under torchrun, and a checkpoint written atomically at the end of
each epoch, from which an interrupted run resumes.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from .distributed import split_batch
from .runtime import autocast, full_steps, is_main, untrained_mode, world


def to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    return batch


def atomic_save(obj, path: str | Path):
    """torch.save to a temp file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class CheckpointError(RuntimeError):
    pass


def safe_load(path: str | Path, map_location="cpu"):
    """torch.load(weights_only=True) with a one-line error naming the file when it is missing,
    empty, truncated, corrupt or holds anything but tensors and plain containers."""
    if not Path(path).is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    if Path(path).stat().st_size == 0:
        raise CheckpointError(f"corrupt or unreadable checkpoint {path}: empty file (0 bytes). Delete it to retrain.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle/zip errors come in many types
        first = (str(e).strip().splitlines() or [""])[0]
        raise CheckpointError(f"corrupt or unreadable checkpoint {path}: {type(e).__name__}: {first}. "
                              f"Delete it to retrain.") from None


def load_state(model: nn.Module, state, path: str | Path, what: str = "checkpoint") -> nn.Module:
    """`model.load_state_dict(state)` (strict): a state that is not a dict of tensors, or whose keys
    or shapes do not fit the model, raises CheckpointError naming `path`."""
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state) or \
            not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{what} {path} does not hold a state_dict (a dict of name -> tensor) "
                              f"for {type(model).__name__}")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, KeyError, ValueError) as e:
        msg = " ".join(str(e).split())
        raise CheckpointError(f"{what} {path} does not fit {type(model).__name__}: "
                              f"{msg[:300]}{'...' if len(msg) > 300 else ''}") from None
    return model


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def log_every_default(device: torch.device) -> int:
    """How often fit() reads the loss back: every 10 steps on CPU (a read per step cost 1.5-2 % of a
    2 ms step), every 50 steps on a GPU (each read waits for the device to finish). The history and
    the non-finite check are the same either way; only the check comes up to N-1 steps later.
    $REPRO_LOG_EVERY overrides."""
    env = os.environ.get("REPRO_LOG_EVERY")
    if env:
        return max(1, int(env))
    return 10 if device.type == "cpu" else 50


def fit(model: nn.Module, step: Callable, data, *, epochs: int, optimizer: torch.optim.Optimizer,
        scheduler=None, device: torch.device | str = "cpu", checkpoint: str | Path | None = None,
        clip_grad: float | None = None, amp: bool = True, desc: str = "train", progress: bool | None = None,
        on_epoch_end: Callable[[int, nn.Module], None] | None = None, log_every: int | None = None,
        split_batches: bool = False, max_steps: int | None = None) -> list[float]:
    """Train `model` for `epochs` passes over `data`; return the per-iteration loss history
    (including the iterations before a resume). In the negative-control run (`untrained_mode()`)
    it trains nothing and returns an empty history.

    The loss stays on the device: it is read back (one synchronisation) every `log_every` steps
    (default `log_every_default`) and at the end of each epoch, which is also when a non-finite
    loss is detected and the progress bar updated. Under torchrun the model is wrapped in DDP;
    `data` must then give each rank its share (`common.loader` does), or pass
    `split_batches=True` to have each global batch split across the ranks (`split_batch`).
    `max_steps` caps the iterations of each epoch. In a rehearsal ($REPRO_FULL_STEPS=N, set by
    `pytest --full-steps N`) every epoch stops after N iterations and training after two epochs, so
    a full-tier schedule exercises loading, training, the epoch checkpoint and the resume path in seconds."""
    device = torch.device(device)
    if untrained_mode():
        return []
    model.to(device)
    rank, world_size = world()
    if max_steps is None and full_steps() is not None:   # a rehearsal: two short epochs (checkpoint, resume)
        max_steps, epochs = full_steps(), min(epochs, 2)
    log_every = log_every or log_every_default(device)
    start_epoch, history = 0, []
    if checkpoint is not None and Path(checkpoint).exists():
        state = safe_load(checkpoint)
        keys = ("model", "optimizer", "rng", "epoch", "history")
        if not isinstance(state, dict) or any(k not in state for k in keys):
            raise CheckpointError(f"resume checkpoint {checkpoint} lacks {[k for k in keys if not isinstance(state, dict) or k not in state]} "
                                  f"(not written by fit()); delete it to retrain")
        load_state(model, state["model"], checkpoint, "resume checkpoint")
        try:
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None and state.get("scheduler") is not None:
                scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["rng"])
            start_epoch, history = int(state["epoch"]), [float(v) for v in state["history"]]
        except (RuntimeError, TypeError, KeyError, ValueError) as e:
            raise CheckpointError(f"resume checkpoint {checkpoint} does not fit this run's optimizer/scheduler: "
                                  f"{' '.join(str(e).split())[:300]}; delete it to retrain") from None
    train_model = model
    if world_size > 1 and not isinstance(model, nn.parallel.DistributedDataParallel):
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if progress is None:
        progress = is_main() and os.environ.get("REPRO_PROGRESS", "1") != "0"
    pending: list[torch.Tensor] = []

    def drain(epoch: int, bar) -> None:
        """Read the pending losses back in one transfer; stop on the first non-finite one."""
        if not pending:
            return
        values = torch.stack(pending).float().cpu().tolist()
        pending.clear()
        for v in values:
            history.append(v)
            if not math.isfinite(v):
                raise FloatingPointError(f"{desc}: loss became {v} at epoch {epoch + 1}, iteration {len(history)}")
        if bar is not None:
            bar.set_postfix(loss=f"{history[-1]:.4f}", refresh=False)

    for epoch in range(start_epoch, epochs):
        batches = data(epoch) if callable(data) else data
        sampler = getattr(batches, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        train_model.train()
        total = len(batches) if hasattr(batches, "__len__") else None
        if max_steps is not None and total is not None:
            total = min(total, max_steps)
        bar = tqdm(total=total, desc=f"{desc} {epoch + 1}/{epochs}", disable=not progress, leave=False,
                   dynamic_ncols=True, mininterval=1.0) if progress else None
        for i, batch in enumerate(batches):
            if max_steps is not None and i >= max_steps:
                break
            if split_batches:
                batch = split_batch(batch, rank, world_size)
            batch = to_device(batch, device)
            with autocast(device, amp):
                out = step(train_model, batch)
            loss = out["loss"] if isinstance(out, dict) else out
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            pending.append(loss.detach())
            if len(pending) >= log_every:
                drain(epoch, bar)
            if bar is not None:
                bar.update(1)
        drain(epoch, bar)
        if bar is not None:
            bar.close()
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)
        if checkpoint is not None and rank == 0:
            atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict() if scheduler is not None else None,
                         "rng": torch.get_rng_state(), "epoch": epoch + 1, "history": history}, checkpoint)
    log = os.environ.get("REPRO_REHEARSAL_LOG")
    if log and rank == 0:    # what each training loop did in a rehearsal (tests/test_full_tier_fake.py reads it)
        import json
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"desc": desc, "steps": len(history), "epochs": epochs,
                                 "finite": all(math.isfinite(v) for v in history)}) + "\n")
    return history


def poly_lr(optimizer, total_iters: int, power: float = 0.9):
    """DeepLab's "poly" policy: lr * (1 - iter/total)^power, stepped per iteration."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: max(0.0, 1 - i / total_iters) ** power)


@torch.inference_mode()
def predict(model: nn.Module, batches: Iterable, fn: Callable | None = None, device="cpu") -> list:
    """Run `fn(model, batch)` (default: model(batch)) over batches in eval mode; returns the list of outputs."""
    model.eval()
    fn = fn or (lambda m, b: m(b))
    return [fn(model, to_device(b, device)) for b in batches]


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def cosine_warmup(optimizer, total_iters: int, warmup: int = 0):
    def f(i):
        if i < warmup:
            return (i + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (i - warmup) / max(1, total_iters - warmup))))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, f)
