"""datasets.camvid on the staged data (when present) and on small malformed copies."""
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets import DataError, DataMissing, camvid

ROOT = os.environ.get("REPRO_DATA_ROOT", str(Path(__file__).resolve().parents[2] / "shared" / "data"))


def make_camvid(tmp_path, n=2, size=(12, 16), label_max=11):
    base = tmp_path / "camvid" / "CamVid"
    for d in ("train", "trainannot"):
        (base / d).mkdir(parents=True)
    lines = []
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(base / "train" / f"{i}.png")
        lab = rng.integers(0, 12, size).astype(np.uint8)
        lab[0, 0] = label_max
        Image.fromarray(lab, mode="L").save(base / "trainannot" / f"{i}.png")
        lines.append(f"/SegNet/CamVid/train/{i}.png /SegNet/CamVid/trainannot/{i}.png")
    (base / "train.txt").write_text("\n".join(lines) + "\n")
    return tmp_path, base


def test_missing_root_names_layout(tmp_path):
    with pytest.raises(DataMissing, match="camvid/CamVid.*trainannot"):
        camvid.load_split(tmp_path, "train")
    with pytest.raises(DataMissing, match="no data root"):
        camvid.load_split(None, "train")


def test_small_copy_loads_and_maps_void(tmp_path):
    root, _ = make_camvid(tmp_path)
    x, y = camvid.load_split(root, "train")
    assert x.shape == (2, 3, 12, 16) and str(x.dtype) == "torch.uint8"
    assert y.shape == (2, 12, 16) and int(y[0, 0, 0]) == 255 and int(y[y != 255].max()) <= 10
    x2, y2 = camvid.load_split(root, "train", size=(6, 8))
    assert x2.shape == (2, 3, 6, 8) and y2.shape == (2, 6, 8)


def test_unknown_class_id(tmp_path):
    root, _ = make_camvid(tmp_path, label_max=12)
    with pytest.raises(DataError, match=r"trainannot/0.png: unknown class id 12"):
        camvid.load_split(root, "train")


def test_size_mismatch(tmp_path):
    root, base = make_camvid(tmp_path)
    Image.fromarray(np.zeros((5, 5), np.uint8), mode="L").save(base / "trainannot" / "1.png")
    with pytest.raises(DataError, match=r"trainannot/1.png: annotation is 5x5 but image"):
        camvid.load_split(root, "train")


def test_missing_list_entry_and_bad_line(tmp_path):
    root, base = make_camvid(tmp_path)
    (base / "train" / "1.png").unlink()
    with pytest.raises(DataError, match=r"train.txt, line 2: listed file .*train/1.png does not exist"):
        camvid.load_split(root, "train")
    (base / "train.txt").write_text("just-one-path.png\n")
    with pytest.raises(DataError, match="line 1"):
        camvid.load_split(root, "train")
    with pytest.raises(DataError, match="val.txt"):
        camvid.load_split(root, "val")


def test_rgb_annotation_rejected(tmp_path):
    root, base = make_camvid(tmp_path)
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(base / "trainannot" / "0.png")
    with pytest.raises(DataError, match="trainannot/0.png.*mode 'RGB'"):
        camvid.load_split(root, "train")


@pytest.mark.skipif(not (Path(ROOT) / "camvid" / "CamVid").is_dir(), reason="staged CamVid not present")
def test_staged_camvid_split_sizes():
    for split, n in camvid.SPLITS.items():
        assert len(camvid.read_list(ROOT, split)) == n
    x, y = camvid.load_split(ROOT, "val", limit=3)
    assert x.shape == (3, 3, 180, 240) and y.shape == (3, 180, 240)
    vals = set(np.unique(y.numpy()).tolist())
    assert vals <= set(range(11)) | {255}
