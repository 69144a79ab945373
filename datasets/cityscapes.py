"""Cityscapes fine annotations: gtFine labelIds mapped to the 19 train ids (others -> 255).

    <data-root>/cityscapes/leftImg8bit/{train,val,test}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    <data-root>/cityscapes/gtFine/{train,val,test}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import DataError, DataMissing, locate, read_rgb

NUM_CLASSES = 19
IGNORE = 255
LAYOUT = ("cityscapes/leftImg8bit/{train,val,test}/<city>/<name>_leftImg8bit.png and "
          "cityscapes/gtFine/{train,val,test}/<city>/<name>_gtFine_labelIds.png (cityscapesScripts layout)")
CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
           "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
# labelId -> trainId, from cityscapesScripts' labels.py (ids 0..33; -1 "license plate" is not stored)
_ID_TO_TRAIN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
                26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
LUT = np.full(256, IGNORE, dtype=np.uint8)
for _k, _v in _ID_TO_TRAIN.items():
    LUT[_k] = _v


def label_ids_to_train_ids(lab: np.ndarray, path: str | Path = "<array>") -> np.ndarray:
    lab = np.asarray(lab)
    if lab.size and lab.max() > 33:
        raise DataError(f"{path}: unknown Cityscapes labelId {int(lab.max())} (ids are 0..33)")
    return LUT[lab]


class Cityscapes(torch.utils.data.Dataset):
    def __init__(self, root, split: str = "val", transform=None):
        base = locate(root, "cityscapes", LAYOUT)
        self.img_dir = base / "leftImg8bit" / split
        self.gt_dir = base / "gtFine" / split
        if not self.img_dir.is_dir() or not self.gt_dir.is_dir():
            raise DataMissing(f"missing {self.img_dir} or {self.gt_dir}; expected <data-root>/{LAYOUT}")
        self.images = sorted(self.img_dir.glob("*/*_leftImg8bit.png"))
        if not self.images:
            raise DataError(f"{self.img_dir}: no *_leftImg8bit.png images")
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image
        ip = self.images[i]
        gp = self.gt_dir / ip.parent.name / ip.name.replace("_leftImg8bit.png", "_gtFine_labelIds.png")
        if not gp.exists():
            raise DataError(f"{gp}: no fine annotation for {ip}")
        img = np.asarray(read_rgb(ip), dtype=np.uint8)
        try:
            with Image.open(gp) as im:
                im.load()
                if im.mode not in ("L", "P"):
                    raise DataError(f"{gp}: expected a grey labelIds PNG (mode 'L'), got mode {im.mode!r}")
                lab = np.asarray(im, dtype=np.uint8)
        except (OSError, SyntaxError, EOFError) as e:
            raise DataError(f"{gp}: unreadable or truncated label PNG ({type(e).__name__}: {e})") from None
        if lab.shape != img.shape[:2]:
            raise DataError(f"{gp}: label is {lab.shape[1]}x{lab.shape[0]} but {ip} is {img.shape[1]}x{img.shape[0]}")
        x = torch.from_numpy(img.copy()).permute(2, 0, 1)
        y = torch.from_numpy(label_ids_to_train_ids(lab, gp).astype(np.int64))
        if self.transform is not None:
            x, y = self.transform(x, y)
        return x, y, ip.stem
