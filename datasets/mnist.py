"""MNIST in its published IDX layout (LeCun, Cortes & Burges).

    images, labels = load_mnist(data_root, "train")   # uint8 (60000, 28, 28), int64 (60000,)
    x, y = binary_subset(images, labels, 1, 7)         # the 1-vs-7 task; y = +1 for `pos`, -1 for `neg`
    flip = flip_labels(labels, 0.1, num_classes=10, seed=0)   # flip.labels, flip.flipped, flip.seed

Expected layout: <data-root>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
The *decompressed* bytes are checked against the canonical sha256 (gzip headers vary between
copies, so the .gz files themselves are not compared).
"""
from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import DataError, fingerprint, locate

LAYOUT = ("mnist/{train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
          "t10k-labels-idx1-ubyte}[.gz] (the IDX files from yann.lecun.com/exdb/mnist)")

FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

# sha256 of the decompressed IDX files as originally published
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode one IDX file (magic: two zero bytes, a dtype byte, the number of dimensions;
    then one big-endian uint32 per dimension; then the data). Raises DataError naming `name`."""
    if len(data) < 4:
        raise DataError(f"{name}: {len(data)} bytes, too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise DataError(f"{name}: bad IDX magic {data[:4].hex()} (the first two bytes must be zero)")
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        raise DataError(f"{name}: unknown IDX data type 0x{code:02x}")
    if ndim == 0 or len(data) < 4 + 4 * ndim:
        raise DataError(f"{name}: IDX header declares {ndim} dimensions but the file ends inside the header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[code])
    need = int(np.prod(shape)) * dtype.itemsize
    body = data[4 + 4 * ndim:]
    if len(body) != need:
        raise DataError(f"{name}: IDX header says shape {shape} ({need} data bytes) but the file holds {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def _read(folder: Path, stem: str, verify: bool) -> np.ndarray:
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.exists():
            break
    else:
        raise DataError(f"{folder}: neither {stem} nor {stem}.gz is there; expected layout {LAYOUT}")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: not readable ({e.strerror or e})") from None
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:     # bad header / truncated / corrupt deflate block
            raise DataError(f"{path}: not a valid gzip file ({e})") from None
    if verify:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != SHA256[stem]:
            raise DataError(f"{path}: decompressed sha256 is {digest}, expected {SHA256[stem]} "
                            f"(a corrupt or different copy of MNIST; pass verify=False to load it anyway)")
    return parse_idx(raw, str(path)), path


def mnist_dir(root) -> Path:
    return locate(root, "mnist", LAYOUT)


def load_mnist(root, split: str = "train", *, verify: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of split 'train' (60k) or 'test' (10k)."""
    if split not in FILES:
        raise ValueError(f"split must be one of {sorted(FILES)}, got {split!r}")
    folder = mnist_dir(root)
    img_stem, lab_stem = FILES[split]
    (images, img_path), (labels, lab_path) = _read(folder, img_stem, verify), _read(folder, lab_stem, verify)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DataError(f"{img_path}: expected uint8 images of shape (N, 28, 28), got "
                        f"{images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(f"{lab_path}: expected a 1-d uint8 label array, got {labels.dtype} {labels.shape}")
    if len(labels) != len(images):
        raise DataError(f"{lab_path}: {len(labels)} labels but {img_path} holds {len(images)} images")
    if labels.size and labels.max() > 9:
        raise DataError(f"{lab_path}: label {int(labels.max())} outside 0..9")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def mnist_fingerprint(root) -> str:
    return fingerprint(mnist_dir(root))


def binary_subset(images: torch.Tensor, labels: torch.Tensor, pos: int = 1, neg: int = 7):
    """The `pos`-vs-`neg` task (the paper's MNIST 1 vs 7): images of the two digits, in
    their original order, with y = +1 for `pos` and -1 for `neg`."""
    keep = (labels == pos) | (labels == neg)
    y = torch.where(labels[keep] == pos, 1, -1).to(torch.int64)
    return images[keep], y


@dataclass(frozen=True)
class Flip:
    labels: torch.Tensor     # the corrupted labels
    flipped: torch.Tensor    # indices of the flipped points (sorted)
    seed: int                # the seed that chose them, recorded for the report
    fraction: float


def flip_labels(labels: torch.Tensor, fraction: float, *, num_classes: int | None = None,
                seed: int) -> Flip:
    """Flip round(fraction * N) labels chosen uniformly with `seed`. Binary ±1 labels are
    negated; class labels 0..C-1 move to a different class drawn uniformly."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    g = torch.Generator().manual_seed(seed)
    n = len(labels)
    idx = torch.randperm(n, generator=g)[: round(fraction * n)].sort().values
    out = labels.clone()
    binary = set(labels.unique().tolist()) <= {-1, 1}
    if binary and num_classes is None:
        out[idx] = -labels[idx]
    else:
        c = num_classes or int(labels.max()) + 1
        shift = torch.randint(1, c, (len(idx),), generator=g)
        out[idx] = (labels[idx] + shift) % c
    return Flip(labels=out, flipped=idx, seed=seed, fraction=fraction)
