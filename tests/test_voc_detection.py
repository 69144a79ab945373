"""datasets.voc_detection / coco_detection / detection_proxy: real layouts, malformed inputs."""
from __future__ import annotations

import numpy as np
import pytest

from datasets import DataError, DataMissing
from datasets.voc_detection import load_image, load_raccoon, load_voc, parse_voc_xml


def xml(size="<size><width>100</width><height>80</height><depth>3</depth></size>", name="dog",
        box=(10, 10, 50, 60), difficult=0):
    return (f"<annotation><filename>x.jpg</filename>{size}<object><name>{name}</name><difficult>{difficult}</difficult>"
            f"<bndbox><xmin>{box[0]}</xmin><ymin>{box[1]}</ymin><xmax>{box[2]}</xmax><ymax>{box[3]}</ymax></bndbox>"
            f"</object></annotation>")


def test_parse_voc_xml(tmp_path):
    p = tmp_path / "a.xml"
    p.write_text(xml(difficult=1))
    r = parse_voc_xml(p)
    assert r["width"] == 100 and r["height"] == 80
    assert r["boxes"].tolist() == [[10, 10, 50, 60]] and r["labels"].tolist() == [11] and r["difficult"].tolist() == [True]


@pytest.mark.parametrize("text,msg", [
    (xml(size=""), "no <size>"),
    (xml(box=(10, 10, 150, 60)), "outside"),
    (xml(box=(50, 10, 10, 60)), "xmax < xmin"),
    (xml(name="unicorn"), "unknown class 'unicorn'"),
    (xml(box=(10, 10, "abc", 60)), "not a number"),
    ("<annotation><size>", "not readable XML"),
])
def test_malformed_xml_names_file_and_problem(tmp_path, text, msg):
    p = tmp_path / "bad.xml"
    p.write_text(text)
    with pytest.raises(DataError, match=msg) as e:
        parse_voc_xml(p)
    assert str(p) in str(e.value)


def test_voc_missing_names_layout(tmp_path):
    with pytest.raises(DataMissing, match="VOCdevkit/VOC2007"):
        load_voc(tmp_path, "2007", "test")
    with pytest.raises(DataMissing, match="no data root"):
        load_voc(None)


def test_voc_split(tmp_path):
    voc = tmp_path / "VOCdevkit" / "VOC2007"
    (voc / "Annotations").mkdir(parents=True), (voc / "ImageSets" / "Main").mkdir(parents=True)
    (voc / "ImageSets" / "Main" / "test.txt").write_text("000001\n000002\n")
    (voc / "Annotations" / "000001.xml").write_text(xml())
    with pytest.raises(DataError, match="000002.xml"):
        load_voc(tmp_path, "2007", "test")
    (voc / "Annotations" / "000002.xml").write_text(xml(name="cat"))
    recs = load_voc(tmp_path, "2007", "test")
    assert [r["id"] for r in recs] == ["000001", "000002"] and recs[1]["labels"].tolist() == [7]


def test_raccoon(data_root):
    recs = load_raccoon(data_root)
    assert len(recs) == 200 and sum(len(r["boxes"]) for r in recs) == 217
    assert len(load_raccoon(data_root, "train")) == 160 and len(load_raccoon(data_root, "test")) == 40
    img, boxes = load_image(recs[0], size=64)
    assert img.shape == (64, 64, 3) and (boxes >= 0).all() and (boxes <= 64).all()


def test_coco_loaders(tmp_path, data_root):
    from datasets.coco_detection import load_coco, load_conformance, parse_expected_output
    with pytest.raises(DataMissing, match="instances_val2017.json"):
        load_coco(tmp_path)
    bad = tmp_path / "out.txt"
    bad.write_text("type=bbox\n Average Precision = 0.1\n")
    with pytest.raises(DataError, match="0 numbers"):
        parse_expected_output(bad)
    assert load_conformance(data_root)["expected"][0] == 0.505


def test_proxy_is_deterministic_and_valid():
    from datasets.detection_proxy import proxy_split
    a, b = proxy_split(20, 3, "test"), proxy_split(20, 3, "test")
    assert a["images"].equal(b["images"]) and all(x["boxes"].equal(y["boxes"]) for x, y in zip(a["targets"], b["targets"]))
    assert not a["images"].equal(proxy_split(20, 3, "train")["images"])
    boxes = np.concatenate([t["boxes"].numpy() for t in a["targets"]])
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all() and boxes.max() <= 64
    sizes = boxes[:, 2] - boxes[:, 0]
    assert sizes.min() < 16 < sizes.max()  # several scales
