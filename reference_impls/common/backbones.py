"""timm backbones that never touch the network.

`backbone("resnet18", weights=None)` builds a randomly initialised model;
`backbone("resnet18", weights="/path/resnet18.pth")` loads pretrained weights from that file
only (timm's `pretrained_cfg_overlay=dict(file=...)`); hub downloads are never attempted.
"""
from __future__ import annotations

import os
from pathlib import Path

import timm
from torch import nn

from .train import CheckpointError

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def backbone(name: str, *, weights: str | Path | None = None, **kwargs) -> nn.Module:
    if weights is None:
        return timm.create_model(name, pretrained=False, **kwargs)
    path = Path(weights)
    if not path.is_file():
        raise CheckpointError(f"pretrained weights for {name}: no such file {path} "
                              f"(weights come only from files you name; nothing is downloaded)")
    return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs)
