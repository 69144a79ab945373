"""ImageNet (ILSVRC2012) validation set for classification, in either published layout:

    <data-root>/ILSVRC2012_img_val/ILSVRC2012_val_00000001.JPEG ...     (the official flat tar)
    <data-root>/imagenet-loc/metadata/ILSVRC/test/class_labels.txt      (wsolevaluation labels:
                                                                         val/<file>,<class index>)
or
    <data-root>/imagenet/val/<wnid>/*.JPEG                               (ImageFolder; sorted wnids = class index)

Class indices are the standard sorted-WordNet-id order that torchvision's weights use.
"""
from __future__ import annotations

from pathlib import Path

import torch

from . import DataError, DataMissing, locate, read_rgb, read_text

FLAT = "ILSVRC2012_img_val"
LABELS = "imagenet-loc/metadata/ILSVRC/test/class_labels.txt"
LAYOUT = (f"either {FLAT}/ILSVRC2012_val_XXXXXXXX.JPEG (50,000 files) plus {LABELS} "
          "(lines 'val/ILSVRC2012_val_XXXXXXXX.JPEG,<class index>'), or imagenet/val/<wnid>/*.JPEG")


def read_class_labels(path: Path) -> dict[str, int]:
    out = {}
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            name, label = line.rsplit(",", 1)
            label = int(label)
        except ValueError:
            raise DataError(f"{path}:{n}: expected '<image path>,<class index>', got {line!r}") from None
        if not 0 <= label < 1000:
            raise DataError(f"{path}:{n}: class index {label} outside 0..999")
        out[Path(name).name] = label
    return out


def val_samples(root) -> list[tuple[Path, int]]:
    """(image path, class index) for the ILSVRC2012 validation images found under the data root."""
    if root is None:
        raise DataMissing(f"no data root given; expected ImageNet val as {LAYOUT}")
    root = Path(root)
    if (root / "imagenet" / "val").is_dir():
        wnids = sorted(d.name for d in (root / "imagenet" / "val").iterdir() if d.is_dir())
        if len(wnids) != 1000:
            raise DataError(f"{root / 'imagenet/val'}: expected 1000 class folders, found {len(wnids)}")
        return [(p, i) for i, w in enumerate(wnids) for p in sorted((root / "imagenet/val" / w).glob("*.JPEG"))]
    images = locate(root, FLAT, LAYOUT)
    labels = read_class_labels(locate(root, LABELS, LAYOUT))
    samples = []
    for p in sorted(images.glob("*.JPEG")):
        if p.name not in labels:
            raise DataError(f"{p}: no class label for this image in {root / LABELS}")
        samples.append((p, labels[p.name]))
    if not samples:
        raise DataMissing(f"{images} holds no JPEGs; expected {LAYOUT}")
    return samples


class ImageFiles(torch.utils.data.Dataset):
    """(transformed image, label) from a list of (path, label); a broken file names itself."""

    def __init__(self, samples, transform):
        self.samples, self.transform = samples, transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, label = self.samples[i]
        return self.transform(read_rgb(path)), label
