"""timm backbones that never touch the network.

`backbone("resnet18", weights=None)` builds a randomly initialised model;
`backbone("resnet18", weights="/path/resnet18.pth")` loads pretrained weights from that file
only (timm's `pretrained_cfg_overlay=dict(file=...)`); hub downloads are never attempted.

Loading is strict: the file must be a readable weights-only checkpoint holding a state_dict
(optionally under "state_dict"/"model"), and every tensor the model has must come from it
with its shape, except the classifier that timm drops when `num_classes` differs from the
pretrained one. Anything else -- random bytes, a truncated file, another model's weights --
raises CheckpointError naming the file.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import timm
import torch
from torch import nn

from .train import CheckpointError, safe_load

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@contextlib.contextmanager
def _recording_loads(calls: list):
    """Record what every `load_state_dict` inside the block left out (timm relaxes `strict` when it
    drops a classifier, which would also let through a file with none of the model's keys)."""
    original = nn.Module.load_state_dict

    def load(self, state_dict, strict=True, assign=False):
        result = original(self, state_dict, strict=False, assign=assign)
        calls.append((self, result))
        return result

    nn.Module.load_state_dict = load
    try:
        yield
    finally:
        nn.Module.load_state_dict = original


def backbone(name: str, *, weights: str | Path | None = None, **kwargs) -> nn.Module:
    if weights is None:
        return timm.create_model(name, pretrained=False, **kwargs)
    path = Path(weights)
    if not path.is_file():
        raise CheckpointError(f"pretrained weights for {name}: no such file {path} "
                              f"(weights come only from files you name; nothing is downloaded)")
    state = safe_load(path)          # random bytes, truncation, pickled code: CheckpointError naming the file
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"pretrained weights for {name}: {path} does not hold a state_dict "
                              f"(a dict of name -> tensor)")
    calls: list = []
    try:
        with _recording_loads(calls):
            model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs)
    except CheckpointError:
        raise
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError, IndexError) as e:
        msg = " ".join(str(e).split())
        raise CheckpointError(f"pretrained weights for {name}: {path} does not fit the model "
                              f"({type(e).__name__}: {msg[:300]})") from None
    if not calls:
        raise CheckpointError(f"pretrained weights for {name}: timm did not load {path}")
    module, result = calls[-1]
    cfg = getattr(module, "pretrained_cfg", None) or {}
    heads = cfg.get("classifier") or ()
    heads = (heads,) if isinstance(heads, str) else tuple(heads)
    allowed = {f"{h}.{p}" for h in heads for p in ("weight", "bias")}
    missing = [k for k in result.missing_keys if k not in allowed]
    if missing or result.unexpected_keys:
        raise CheckpointError(f"pretrained weights for {name}: {path} does not fit the model: "
                              f"{len(missing)} missing key(s) {missing[:3]}, {len(result.unexpected_keys)} "
                              f"unexpected key(s) {list(result.unexpected_keys)[:3]} (another model's weights?)")
    return model
