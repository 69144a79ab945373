"""CUB-200-2011 with its boxes (the WSOL benchmark of Choe et al. 2020; not used by Zhou et al.).

    <data-root>/CUB_200_2011/images.txt              "<image id> <class folder>/<file>.jpg"
    <data-root>/CUB_200_2011/image_class_labels.txt  "<image id> <class 1..200>"   (optional: else from the folder)
    <data-root>/CUB_200_2011/bounding_boxes.txt      "<image id> <x> <y> <width> <height>" (floats, pixels)
    <data-root>/CUB_200_2011/train_test_split.txt    "<image id> <1 = train, 0 = test>"
    <data-root>/CUB_200_2011/images/<class folder>/<file>.jpg

Boxes are converted to inclusive (x0, y0, x1, y1) = (x, y, x + w - 1, y + h - 1); classes are 0..199.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import DataError, finite, locate, read_text

LAYOUT = ("<data-root>/CUB_200_2011/{images.txt, bounding_boxes.txt, train_test_split.txt, "
          "image_class_labels.txt, images/<class>/<file>.jpg}")


def _table(path: Path, ncols: int) -> dict[int, list[str]]:
    if not path.is_file():
        raise DataError(f"{path}: missing (expected {LAYOUT})")
    out, line_of = {}, {}
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != ncols or not parts[0].isdigit():
            raise DataError(f"{path}:{n}: expected {ncols} fields '<image id> ...', got {line!r}")
        i = int(parts[0])
        if i in out:
            raise DataError(f"{path}:{n}: image id {i} listed twice (first on line {line_of[i]})")
        out[i], line_of[i] = parts[1:], n
    return out


def load_cub(root, split: str = "test") -> list[dict]:
    """[{"id", "path", "class", "boxes" (1, 4)}] for split "train" or "test"."""
    base = locate(root, "CUB_200_2011", LAYOUT)
    images = _table(base / "images.txt", 2)
    boxes = _table(base / "bounding_boxes.txt", 5)
    split_of = _table(base / "train_test_split.txt", 2)
    labels_path = base / "image_class_labels.txt"
    labels = _table(labels_path, 2) if labels_path.exists() else None
    for name, table in (("bounding_boxes.txt", boxes), ("train_test_split.txt", split_of),
                        ("image_class_labels.txt", labels or {})):
        unknown = sorted(set(table) - set(images))
        if unknown:
            raise DataError(f"{base / name}: image id(s) {unknown[:3]} not in {base / 'images.txt'}")
    want = {"train": "1", "test": "0"}[split]
    out = []
    for i, (rel,) in sorted(images.items()):
        if i not in boxes or i not in split_of:
            raise DataError(f"{base / ('bounding_boxes.txt' if i not in boxes else 'train_test_split.txt')}: "
                            f"no entry for image {i} ({rel})")
        if split_of[i][0] not in ("0", "1"):
            raise DataError(f"{base / 'train_test_split.txt'}: image {i}: split flag {split_of[i][0]!r}, expected 1 or 0")
        if split_of[i][0] != want:
            continue
        where = f"{base / 'bounding_boxes.txt'}: image {i}"
        x, y, w, h = (finite(v, f"{where}: box {boxes[i]}", text=True) for v in boxes[i])
        if w <= 0 or h <= 0 or x < 0 or y < 0:
            raise DataError(f"{where}: invalid box {boxes[i]} (x, y >= 0 and width, height > 0)")
        if labels is not None and i not in labels:
            raise DataError(f"{labels_path}: no class for image {i} ({rel})")
        raw_cls = labels[i][0] if labels is not None else rel.split(".", 1)[0]
        if not raw_cls.isdigit():
            raise DataError(f"{labels_path if labels is not None else base / 'images.txt'}: image {i}: "
                            f"class {raw_cls!r} is not a number 1..200")
        cls = int(raw_cls) - 1
        if not 0 <= cls < 200:
            raise DataError(f"{labels_path if labels is not None else base / 'images.txt'}: image {i}: class {cls + 1} outside 1..200")
        out.append({"id": i, "path": base / "images" / rel, "class": cls,
                    "boxes": np.array([[x, y, x + w - 1, y + h - 1]], dtype=np.float64)})
    return out
