"""Loaders for the real on-disk dataset layouts, and generators for proxy data.

(This package shadows the Hugging Face `datasets` package on purpose; the project does not use it.)

Two exceptions matter everywhere:
- `DataMissing`: the data root lacks a dataset. The pytest plugin turns it into a skip whose
  reason names the expected layout.
- `DataError`: the data is there but malformed. The message names the file and what was wrong.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


class DataMissing(LookupError):
    """A dataset is not under the data root; the message says what layout was expected."""


class DataError(ValueError):
    """A dataset file is malformed; the message names the file and the problem."""


def read_rgb(path: str | Path):
    """An RGB PIL image, fully decoded: a missing file raises DataMissing, a truncated or corrupt
    one DataError naming the file (every image loader goes through here)."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except FileNotFoundError:
        raise DataMissing(f"image {path} not found") from None
    except (OSError, SyntaxError) as e:     # PIL.UnidentifiedImageError is an OSError
        raise DataError(f"{path}: unreadable or truncated image ({e})") from None


def data_root_from_env() -> Path | None:
    v = os.environ.get("REPRO_DATA_ROOT")
    return Path(v) if v else None


def locate(root: str | Path | None, rel: str, layout: str) -> Path:
    """`root/rel`, or raise DataMissing describing `layout` (a short tree of what is expected)."""
    if root is None:
        raise DataMissing(f"no data root given (--data-root or REPRO_DATA_ROOT); expected <root>/{rel} laid out as: {layout}")
    p = Path(root) / rel
    if not p.exists():
        raise DataMissing(f"missing {p}; expected <data-root>/{rel} laid out as: {layout}")
    return p


def fingerprint(*paths: str | Path, extra: str = "") -> str:
    """A cheap content key for a dataset: relative names, sizes and the first 64 KiB of each file."""
    h = hashlib.sha256(extra.encode())
    for p in paths:
        p = Path(p)
        files = sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]
        for f in files:
            h.update(str(f.relative_to(p.parent)).encode())
            h.update(str(f.stat().st_size).encode())
            with open(f, "rb") as fh:
                h.update(fh.read(1 << 16))
    return h.hexdigest()[:16]
