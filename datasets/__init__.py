"""Loaders for the real on-disk dataset layouts, and generators for proxy data.

(This package shadows the Hugging Face `datasets` package on purpose; the project does not use it.)

Two exceptions matter everywhere:
- `DataMissing`: the data root lacks a dataset. The pytest plugin turns it into a skip whose
  reason names the expected layout.
- `DataError`: the data is there but malformed. The message names the file and what was wrong.

Shared readers that keep that promise: `read_rgb` (images, fully decoded), `read_text` (UTF-8
text), `read_json` (UTF-8 JSON without NaN/Infinity literals), `finite` (a finite number).
tests/test_corruption.py derives corrupted copies of the real datasets and checks every loader.
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


def read_text(path: str | Path) -> str:
    """A text file's content as UTF-8: an unreadable file or one that is not UTF-8 raises
    DataError naming the file (and the offending byte offset)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: missing") from None
    except OSError as e:
        raise DataError(f"{path}: not readable ({e.strerror or e})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 1]!r})") from None


def read_json(path: str | Path):
    """Parse a UTF-8 JSON file; unreadable, non-UTF-8 or invalid JSON (and the non-standard
    NaN/Infinity literals) raise DataError naming the file, with line and column."""
    import json

    def no_constants(name):
        raise ValueError(f"non-standard JSON constant {name}")
    text = read_text(path)
    try:
        return json.loads(text, parse_constant=no_constants)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: invalid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except (ValueError, RecursionError) as e:
        raise DataError(f"{path}: invalid JSON ({e})") from None


def finite(value, what: str, *, text: bool = False) -> float:
    """`value` as a finite float, else DataError whose message starts with `what` (name the file
    there). Numbers only (never bool); `text=True` also parses strings (XML, CSV fields)."""
    import math
    if isinstance(value, str) and text:
        try:
            v = float(value.strip())
        except ValueError:
            raise DataError(f"{what}: not a number: {value!r}") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        v = float(value)
    else:
        raise DataError(f"{what}: not a number: {type(value).__name__} {value!r}")
    if not math.isfinite(v):
        raise DataError(f"{what}: not a finite number: {value!r}")
    return v


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
