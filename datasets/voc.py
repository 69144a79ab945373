"""PASCAL VOC 2012 segmentation and the SBD-augmented training set ("SegmentationClassAug").

    <data-root>/VOCdevkit/VOC2012/
        JPEGImages/<id>.jpg
        SegmentationClass/<id>.png               # palette PNGs, indices 0..20, 255 = boundary/ignore
        SegmentationClassAug/<id>.png            # SBD + VOC labels as class-id PNGs (10,582 train_aug ids)
        ImageSets/Segmentation/{train,val,trainval,test}.txt
        ImageSets/Segmentation/train_aug.txt     # the 10,582 train_aug ids (VOC val ids excluded)

`VOCSegmentation(root, "val")[i]` -> (uint8 image (3, H, W), int64 label (H, W), id). The test
split (from the VOC2012 test tarball) has images and no labels; `save_prediction` writes the
evaluation server's format: palette PNGs in results/VOC2012/Segmentation/comp6_test_cls/.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import DataError, DataMissing, locate, read_rgb, read_text

NUM_CLASSES = 21
IGNORE = 255
LAYOUT = ("VOCdevkit/VOC2012/{JPEGImages/<id>.jpg, SegmentationClass/<id>.png (palette PNG), "
          "ImageSets/Segmentation/{train,val,test}.txt}; for training also "
          "VOCdevkit/VOC2012/SegmentationClassAug/<id>.png (SBD-augmented class-id PNGs) and "
          "VOCdevkit/VOC2012/ImageSets/Segmentation/train_aug.txt (10,582 ids)")


def voc_root(root) -> Path:
    return locate(root, "VOCdevkit/VOC2012", LAYOUT)


def read_ids(root, split: str) -> list[str]:
    base = voc_root(root)
    lst = base / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not lst.exists():
        raise DataMissing(f"missing {lst}; expected <data-root>/{LAYOUT}")
    ids = [line.split()[0] for line in read_text(lst).splitlines() if line.strip()]
    if not ids:
        raise DataError(f"{lst}: empty list")
    return ids


def read_label(path: Path, expect_palette: bool) -> np.ndarray:
    from PIL import Image
    from metrics.segmentation import voc_palette
    try:
        im = Image.open(path)
        im.load()
    except Exception as e:
        raise DataError(f"{path}: cannot read ({type(e).__name__}: {e})") from None
    if expect_palette:
        if im.mode != "P":
            raise DataError(f"{path}: expected a palette ('P') PNG as in SegmentationClass, got mode {im.mode!r}")
        pal = np.asarray(im.getpalette()[: 3 * NUM_CLASSES], dtype=np.uint8).reshape(-1, 3)
        if len(pal) < NUM_CLASSES or not np.array_equal(pal, voc_palette(NUM_CLASSES)):
            raise DataError(f"{path}: palette does not match the VOC colour map (first {NUM_CLASSES} entries)")
    elif im.mode not in ("L", "P"):
        raise DataError(f"{path}: expected a class-id PNG (mode 'L' or 'P'), got mode {im.mode!r}")
    lab = np.asarray(im, dtype=np.uint8)
    bad = (lab >= NUM_CLASSES) & (lab != IGNORE)
    if bad.any():
        raise DataError(f"{path}: unknown class id {int(lab[bad][0])} (VOC ids are 0..20, 255 = ignore)")
    return lab


class VOCSegmentation(torch.utils.data.Dataset):
    """split: train | val | trainval | test (VOC labels) or train_aug (SBD SegmentationClassAug labels)."""

    def __init__(self, root, split: str = "val", transform=None):
        self.base = voc_root(root)
        self.split, self.transform = split, transform
        self.ids = read_ids(root, split)
        self.list_file = self.base / "ImageSets" / "Segmentation" / f"{split}.txt"
        self.aug = split == "train_aug"
        self.has_labels = split != "test"
        self.label_dir = self.base / ("SegmentationClassAug" if self.aug else "SegmentationClass")
        if self.has_labels and not self.label_dir.is_dir():
            raise DataMissing(f"missing {self.label_dir}; expected <data-root>/{LAYOUT}")

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        iid = self.ids[i]
        ip = self.base / "JPEGImages" / f"{iid}.jpg"
        if not ip.exists():
            raise DataError(f"{ip}: listed in {self.split}.txt but missing ({self.list_file})")
        img = np.asarray(read_rgb(ip), dtype=np.uint8)
        if self.has_labels:
            lp = self.label_dir / f"{iid}.png"
            if not lp.exists():
                raise DataError(f"{lp}: listed in {self.split}.txt but missing ({self.list_file})")
            lab = read_label(lp, expect_palette=not self.aug)
            if lab.shape != img.shape[:2]:
                raise DataError(f"{lp}: label is {lab.shape[1]}x{lab.shape[0]} but {ip} is {img.shape[1]}x{img.shape[0]}")
        else:
            lab = np.full(img.shape[:2], IGNORE, np.uint8)
        x = torch.from_numpy(img.copy()).permute(2, 0, 1)
        y = torch.from_numpy(lab.astype(np.int64))
        if self.transform is not None:
            x, y = self.transform(x, y)
        return x, y, iid


def save_prediction(label: np.ndarray, out_dir: str | Path, image_id: str, comp: str = "comp6") -> Path:
    """Write one prediction in the evaluation server's layout and format (palette PNG)."""
    from PIL import Image
    from metrics.segmentation import voc_palette
    d = Path(out_dir) / "results" / "VOC2012" / "Segmentation" / f"{comp}_test_cls"
    d.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(np.asarray(label, dtype=np.uint8), mode="P")
    im.putpalette(voc_palette().ravel().tolist())
    path = d / f"{image_id}.png"
    tmp = path.with_suffix(".tmp.png")
    im.save(tmp)
    tmp.replace(path)
    return path
