"""datasets.ilsvrc / datasets.cub / datasets.wsol_proxy: layouts, malformed input."""
from pathlib import Path

import numpy as np
import pytest

from datasets import DataError, DataMissing, read_rgb
from datasets import cub, ilsvrc
from datasets.wsol_proxy import train_view, wsol_proxy

XML = """<annotation><filename>{stem}</filename><size><width>{w}</width><height>{h}</height><depth>3</depth></size>
{objects}</annotation>"""
OBJ = "<object><name>{name}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"


def _xml(folder: Path, stem, objs, w=100, h=80):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.xml").write_text(XML.format(stem=stem, w=w, h=h, objects="".join(
        OBJ.format(name=n, b=b) for n, b in objs)))


def test_xml_ground_truth_and_synset_order(tmp_path):
    d = tmp_path / "ILSVRC2012_bbox_val" / "val"
    _xml(d, "ILSVRC2012_val_00000001", [("n02000000", (1, 2, 30, 40)), ("n02000000", (50, 5, 99, 79))])
    _xml(d, "ILSVRC2012_val_00000002", [("n01000000", (0, 0, 10, 10))])
    gt = ilsvrc.load_ground_truth(tmp_path / "ILSVRC2012_bbox_val")
    assert gt["ILSVRC2012_val_00000001"]["class"] == 1 and gt["ILSVRC2012_val_00000002"]["class"] == 0
    assert gt["ILSVRC2012_val_00000001"]["boxes"].tolist() == [[1, 2, 30, 40], [50, 5, 99, 79]]
    syn = tmp_path / "LOC_synset_mapping.txt"
    syn.write_text("n02000000 bird\nn01000000 fish\n")
    gt = ilsvrc.load_ground_truth(tmp_path / "ILSVRC2012_bbox_val", synsets=syn)
    assert gt["ILSVRC2012_val_00000001"]["class"] == 0


def test_xml_malformed(tmp_path):
    d = tmp_path / "x"
    _xml(d, "a", [("n02000000", (1, 2, 300, 40))])             # box outside a 100x80 image
    with pytest.raises(DataError, match=r"a\.xml.*outside"):
        ilsvrc.load_ground_truth(d)
    d2 = tmp_path / "y"
    _xml(d2, "b", [("n09999999", (1, 2, 3, 4))])
    syn = tmp_path / "s.txt"
    syn.write_text("n01000000 fish\n")
    with pytest.raises(DataError, match=r"b\.xml.*unknown synset"):
        ilsvrc.load_ground_truth(d2, synsets=syn)
    (d2 / "c.xml").write_text("<annotation><size>")
    with pytest.raises(DataError, match=r"c\.xml"):
        ilsvrc.read_xml(d2 / "c.xml")
    with pytest.raises(DataError, match="missing"):
        ilsvrc.read_xml(d2 / "missing.xml")
    with pytest.raises(DataMissing):
        ilsvrc.load_ground_truth(tmp_path / "nowhere")


def test_metadata_malformed(tmp_path):
    (tmp_path / "class_labels.txt").write_text("val/a.JPEG,1\n")
    (tmp_path / "image_sizes.txt").write_text("val/a.JPEG,50,40\n")
    (tmp_path / "localization.txt").write_text("val/a.JPEG,10,10,60,29\n")
    with pytest.raises(DataError, match=r"localization\.txt:1.*outside"):
        ilsvrc.ground_truth_from_metadata(tmp_path)
    (tmp_path / "localization.txt").write_text("val/zzz.JPEG,1,1,2,2\n")
    with pytest.raises(DataError, match="unknown image"):
        ilsvrc.ground_truth_from_metadata(tmp_path)


def test_real_wsolevaluation_metadata(data_root):
    meta = (data_root / ilsvrc.META_DIR) if data_root else None
    if meta is None or not meta.is_dir():
        pytest.skip(f"needs <data-root>/{ilsvrc.META_DIR}")
    gt = ilsvrc.ground_truth_from_metadata(meta)
    assert len(gt) == 50000 and sum(len(g["boxes"]) for g in gt.values()) == 80477
    g = gt["ILSVRC2012_val_00000001"]
    assert g["class"] == 65 and g["size"] == (500, 375) and g["boxes"].tolist() == [[111, 108, 441, 193]]


def test_val_needs_jpegs(tmp_path):
    with pytest.raises(DataMissing, match="ILSVRC2012_img_val"):
        ilsvrc.load_val(tmp_path)
    with pytest.raises(DataMissing):
        ilsvrc.load_val(None)


def test_truncated_jpeg(tmp_path):
    from PIL import Image
    p = tmp_path / "x.JPEG"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(p)
    p.write_bytes(p.read_bytes()[:300])
    with pytest.raises(DataError, match=r"x\.JPEG"):
        read_rgb(p)


def test_cub_layout(tmp_path):
    base = tmp_path / "CUB_200_2011"
    base.mkdir()
    (base / "images.txt").write_text("1 001.Black_footed_Albatross/a.jpg\n2 002.Laysan_Albatross/b.jpg\n")
    (base / "bounding_boxes.txt").write_text("1 10.0 20.0 30.0 40.0\n2 0 0 5 5\n")
    (base / "train_test_split.txt").write_text("1 0\n2 1\n")
    test = cub.load_cub(tmp_path, "test")
    assert len(test) == 1 and test[0]["class"] == 0 and test[0]["boxes"].tolist() == [[10, 20, 39, 59]]
    assert cub.load_cub(tmp_path, "train")[0]["class"] == 1
    (base / "bounding_boxes.txt").write_text("1 10.0 20.0\n")
    with pytest.raises(DataError, match="bounding_boxes.txt:1"):
        cub.load_cub(tmp_path)
    with pytest.raises(DataMissing, match="CUB_200_2011"):
        cub.load_cub(tmp_path / "none")


def test_proxy_deterministic_and_weak():
    a, b = wsol_proxy(20, seed=3), wsol_proxy(20, seed=3)
    assert all(torch_equal(a[k], b[k]) for k in a)
    assert not torch_equal(a["images"], wsol_proxy(20, seed=3, split="test")["images"])
    assert set(train_view(a)) == {"images", "labels"}          # no boxes for training
    bx = a["boxes"].numpy()
    assert (bx[:, 2] >= bx[:, 0]).all() and (bx[:, 2] < 64).all() and (bx >= 0).all()
    # the box is tight around the object: the raw canvas differs from the background at its border rows
    w = bx[:, 2] - bx[:, 0] + 1
    assert w.max() < 40 and w.min() > 5


def torch_equal(x, y):
    import torch
    return torch.equal(x, y)
