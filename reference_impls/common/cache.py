"""The checkpoint cache: train once, load afterwards.

    model = trained("cam", build=lambda: CAMNet(cfg), train=run_training, config=cfg, seed=seed,
                    data_fingerprint=fp, code=[cam_module], cache_dir=cache_dir)

A model's weights come from, in order: a checkpoint the user names (`checkpoint=`), the cache
entry keyed by a content hash of (the implementation's source code, config, data fingerprint,
seed, torch version), or training. `train(model, resume_path)` should hand `resume_path` to
`fit(checkpoint=...)`, so an interrupted training run resumes from its last finished epoch.
Everything is written atomically and read with `torch.load(weights_only=True)`.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Callable

import torch
from torch import nn

from . import train as _train_module
from .distributed import barrier, broadcast
from .runtime import full_steps, untrained_mode, world
from .train import CheckpointError, atomic_save, load_state, safe_load  # noqa: F401 (CheckpointError re-exported)


def _source(obj) -> str:
    if isinstance(obj, (str, bytes)):
        return obj if isinstance(obj, str) else obj.decode()
    if isinstance(obj, ModuleType) and getattr(obj, "__file__", None):
        return Path(obj.__file__).read_text(encoding="utf-8")
    return inspect.getsource(obj)


def cache_key(name: str, config: dict, seed: int, data_fingerprint: str = "", code=()) -> str:
    h = hashlib.sha256()
    h.update(name.encode())
    h.update(json.dumps(config, sort_keys=True, default=str).encode())
    h.update(f"seed={seed}|data={data_fingerprint}|torch={torch.__version__.split('+')[0]}".encode())
    for obj in [_train_module, *code]:
        h.update(_source(obj).encode())
    if full_steps() is not None:          # a rehearsal's few-step models never answer for the paper's run
        h.update(f"|rehearsal full_steps={full_steps()}".encode())
    return h.hexdigest()[:20]


def default_cache_dir() -> Path:
    return Path(os.environ.get("REPRO_CACHE_DIR", Path.cwd() / ".cache" / "repro"))


def load_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a user-named checkpoint: a state_dict, or a dict holding one under 'model'/'state_dict'."""
    state = safe_load(path)
    if isinstance(state, dict):
        for k in ("model", "state_dict"):
            if k in state and isinstance(state[k], dict):
                state = state[k]
                break
    return load_state(model, state, path)


def trained(name: str, build: Callable[[], nn.Module], train: Callable[[nn.Module, Path], object], *,
            config: dict, seed: int, data_fingerprint: str = "", code=(), cache_dir: str | Path | None = None,
            checkpoint: str | Path | None = None, untrained: bool = False) -> nn.Module:
    """A trained model: from `checkpoint`, else from the cache, else trained (and cached).

    `untrained=True` (the "untrained" control of a claim), or the negative-control run
    (`untrained_mode()`), returns `build()` as it is, at its seeded initialisation: nothing is
    trained, loaded or written. `build` must therefore seed itself (or be called at a seeded
    point), so that the control and the negative-control run see the same weights."""
    model = build()
    if untrained or untrained_mode():
        return model.eval()
    if checkpoint is not None:
        return load_weights(model, checkpoint).eval()
    entry = Path(cache_dir or default_cache_dir()) / name / cache_key(name, config, seed, data_fingerprint, code)
    final = entry / "model.pt"
    if world()[1] > 1:
        return _trained_distributed(model, train, entry, final, name, config, seed, data_fingerprint)
    with _locked(entry):  # parallel workers wanting the same model: one trains, the others wait and load
        if final.exists():   # a corrupt entry or one that does not fit: CheckpointError naming the file
            return load_state(model, safe_load(final), final, "cached checkpoint").eval()
        _write_config(entry, name, config, seed, data_fingerprint)
        train(model, entry / "resume.pt")
        atomic_save(model.state_dict(), final)
        (entry / "resume.pt").unlink(missing_ok=True)
    return model.eval()


def _write_config(entry: Path, name, config, seed, data_fingerprint) -> None:
    (entry / "config.json").write_text(json.dumps({"name": name, "config": config, "seed": seed,
                                                    "data": data_fingerprint}, indent=1, default=str))


def _trained_distributed(model, train, entry: Path, final: Path, name, config, seed, data_fingerprint):
    """Under torchrun every rank trains together (DDP inside fit), so no rank may wait on the file
    lock while another trains: rank 0 decides (cached or not) and tells the others; if not, all
    ranks train, rank 0 alone writes the cache (holding the lock, against other jobs), and every
    rank waits at a barrier until the entry is complete; a cached entry is read by all ranks."""
    rank = world()[0]
    entry.mkdir(parents=True, exist_ok=True)
    cached = broadcast(final.exists())
    if not cached:
        lock = _locked(entry) if rank == 0 else contextlib.nullcontext()
        with lock:
            if rank == 0:
                _write_config(entry, name, config, seed, data_fingerprint)
            barrier()     # rank 0 holds the lock before anyone trains
            train(model, entry / "resume.pt")
            if rank == 0:
                atomic_save(model.state_dict(), final)
                (entry / "resume.pt").unlink(missing_ok=True)
            barrier()
        return model.eval()
    return load_state(model, safe_load(final), final, "cached checkpoint").eval()


@contextlib.contextmanager
def _locked(entry: Path):
    entry.mkdir(parents=True, exist_ok=True)
    with open(entry / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def memo(name: str, parts: dict, compute: Callable[[], object], cache_dir: str | Path | None = None, code=()):
    """Cache an expensive computation (features, decoded data) whose result torch.save can store
    and weights_only loading can read (tensors, lists, dicts, numbers, strings). In the
    negative-control run nothing is cached: features of untrained models must never be read
    back by a trained run."""
    if untrained_mode():
        return compute()
    key = cache_key(name, parts, seed=parts.get("seed", 0), code=code)
    path = Path(cache_dir or default_cache_dir()) / "memo" / name / f"{key}.pt"
    if world()[1] > 1:   # all ranks compute (the computation may itself be sharded); rank 0 writes
        if broadcast(path.exists()):
            return safe_load(path)
        value = compute()
        if world()[0] == 0:
            with _locked(path.parent):
                atomic_save(value, path)
        barrier()
        return value
    with _locked(path.parent):
        if path.exists():
            return safe_load(path)
        value = compute()
        atomic_save(value, path)
    return value
