"""Segmentation on the synthetic scenes (datasets/synthetic): crisp object boundaries and exact masks,
where a coarse (output stride 16) network is mostly right and its errors are boundary errors -- the
condition under which the paper's CRF (and the v3+ decoder) are meant to help.

    data = scene_data(SCENES_SMOKE)                      # {"train"/"val"/"test": {"x", "y", "x_eval", "y_eval"}}
    net = trained_model(dict(SCENES_SMOKE, head="v3+"), data, seed, cache_dir)   # train.trained_model

The scenes are the same for every seed (fixed data seeds per split); the seed only varies the model.
Labels: 0 background, 1..K the object classes.
"""
from __future__ import annotations

import numpy as np
import torch

from datasets.synthetic import SceneConfig, SceneDataset

# 64x64 scenes of 5 shape classes; a quarter-width ResNet-18 at output stride 16 (4x4 score map), DeepLabv3
# ASPP 64 wide with rates 1/2/3 (the paper's 6/12/18 on its 33x33 map scaled to the 4x4 one), v3+ low-level
# features 12 wide (published 48 for a 256-wide decoder, the same ratio). Trained like the CamVid model.
SCENES_SMOKE = dict(dataset="scenes", size=(64, 64), eval_size=(64, 64), num_classes=4, n_train=320, n_val=32,
                    n_test=320, scene=dict(size=64, n_classes=3, max_objects=3, scale=(0.14, 0.3)),
                    backbone="resnet18", backbone_channels=(16, 32, 64, 128), head="v3", output_stride=16,
                    rates=(1, 2, 3), v3_width=64, low_width=12, msc=False,
                    epochs=5, batch_size=8, lr=0.02, momentum=0.9, weight_decay=5e-4, poly_power=0.9)
DATA_SEEDS = {"train": 1000, "val": 1001, "test": 1002}


def scene_split(cfg: dict, split: str) -> dict:
    n = cfg[f"n_{split}"]
    arr = SceneDataset(n, seed=DATA_SEEDS[split], cfg=SceneConfig(**cfg["scene"])).arrays()
    x = torch.from_numpy(arr["images"]).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(arr["semantic"].astype(np.int64))
    return {"x": x, "y": y, "x_eval": x, "y_eval": y}


def scene_data(cfg: dict) -> dict:
    out = {split: scene_split(cfg, split) for split in DATA_SEEDS}
    out["fingerprint"] = f"scenes:{sorted(cfg['scene'].items())}:{[cfg[f'n_{s}'] for s in DATA_SEEDS]}"
    return out
