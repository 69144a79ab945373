"""The MNIST IDX loader: real files (when the data root has them), malformed input, subsets, flips."""
import gzip
import struct

import numpy as np
import pytest
import torch

from datasets import DataError, DataMissing, data_root_from_env
from datasets.mnist import binary_subset, flip_labels, load_mnist, parse_idx


def _idx(arr: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + b"".join(struct.pack(">I", s) for s in arr.shape) + \
        arr.astype(np.uint8).tobytes()


def _write(folder, images, labels, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    for stem, arr in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)):
        data = _idx(arr)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)


def test_parse_idx_roundtrip():
    a = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    assert np.array_equal(parse_idx(_idx(a)), a)


@pytest.mark.parametrize("data, msg", [
    (b"\x00\x00", "too short"),
    (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad IDX magic"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown IDX data type"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 1), "ends inside the header"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x00\x00", "file holds 2"),
])
def test_corrupt_idx_names_the_problem(data, msg):
    with pytest.raises(DataError, match=msg):
        parse_idx(data, "x.idx")


def test_label_count_mismatch(tmp_path):
    _write(tmp_path / "mnist", np.zeros((3, 28, 28)), np.zeros(2))
    with pytest.raises(DataError, match="2 labels but .* 3 images"):
        load_mnist(tmp_path, "train", verify=False)


def test_checksum_mismatch_and_plain_files(tmp_path):
    _write(tmp_path / "mnist", np.zeros((3, 28, 28)), np.array([0, 1, 7]), gz=False)
    with pytest.raises(DataError, match="decompressed sha256"):
        load_mnist(tmp_path, "train")
    x, y = load_mnist(tmp_path, "train", verify=False)
    assert x.dtype == torch.uint8 and x.shape == (3, 28, 28) and y.dtype == torch.int64 and y.tolist() == [0, 1, 7]


def test_bad_gzip_and_bad_labels(tmp_path):
    _write(tmp_path / "mnist", np.zeros((2, 28, 28)), np.array([3, 12]))
    with pytest.raises(DataError, match="label 12 outside"):
        load_mnist(tmp_path, "train", verify=False)
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="not a valid gzip"):
        load_mnist(tmp_path, "train", verify=False)


def test_missing_data_names_layout(tmp_path):
    with pytest.raises(DataMissing, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path, "train")
    with pytest.raises(DataMissing):
        load_mnist(None, "test")


def test_real_mnist():
    root = data_root_from_env()
    try:
        x, y = load_mnist(root, "train")
        xt, yt = load_mnist(root, "test")
    except DataMissing as e:
        pytest.skip(str(e))
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert torch.bincount(y).tolist()[:2] == [5923, 6742] and torch.bincount(yt).tolist()[:2] == [980, 1135]
    b, by = binary_subset(x, y, 1, 7)
    assert len(b) == 6742 + 6265 and set(by.tolist()) == {-1, 1} and int((by == 1).sum()) == 6742


def test_flip_labels_is_seeded_and_exact():
    y = torch.arange(1000) % 10
    f = flip_labels(y, 0.1, num_classes=10, seed=3)
    assert f.seed == 3 and len(f.flipped) == 100
    assert (f.labels != y).nonzero()[:, 0].tolist() == f.flipped.tolist()
    assert torch.equal(flip_labels(y, 0.1, num_classes=10, seed=3).labels, f.labels)
    assert not torch.equal(flip_labels(y, 0.1, num_classes=10, seed=4).labels, f.labels)
    yb = torch.where(torch.arange(100) % 2 == 0, 1, -1)
    fb = flip_labels(yb, 0.2, seed=0)
    assert torch.equal(fb.labels[fb.flipped], -yb[fb.flipped]) and int((fb.labels != yb).sum()) == 20
