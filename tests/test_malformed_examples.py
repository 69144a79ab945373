"""Issue 21's examples, one test each: every one gives the project's own error naming the file
(and the command lines print one line and exit non-zero). The inputs are written here, so these
run without the data root; tests/test_corruption.py derives many more from the real datasets."""
from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from datasets import DataError
from harness.claims import ClaimsError, load_claims
from metrics.detection import DetectionError
from reference_impls.common import CheckpointError

REPO = Path(__file__).resolve().parents[1]


def png(path: Path, arr, mode=None, palette=None):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(np.asarray(arr, np.uint8), mode=mode)
    if palette is not None:
        im.putpalette(palette)
    im.save(path)
    return path


def one_error_line(capsys, rc, path):
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc != 0, f"exit {rc}; stdout {out[:200]}"
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert str(path) in lines[0], lines[0]


# ----------------------------------------------------------------------------- MNIST
def test_mnist_corrupt_deflate_block_is_data_error(tmp_path):
    from datasets.mnist import load_mnist
    d = tmp_path / "mnist"
    d.mkdir()
    rng = np.random.default_rng(0)
    images = bytes([0, 0, 8, 3]) + (50).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + \
        rng.integers(0, 256, 50 * 784).astype(np.uint8).tobytes()
    labels = bytes([0, 0, 8, 1]) + (50).to_bytes(4, "big") + rng.integers(0, 10, 50).astype(np.uint8).tobytes()
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(images, mtime=0))
    (d / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels, mtime=0))
    x, y = load_mnist(tmp_path, "test", verify=False)
    assert x.shape == (50, 28, 28) and y.shape == (50,)
    raw = bytearray((d / "t10k-images-idx3-ubyte.gz").read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 16] = b"\xff" * 16           # a corrupt deflate block: zlib.error before
    (d / "t10k-images-idx3-ubyte.gz").write_bytes(bytes(raw))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz"):
        load_mnist(tmp_path, "test", verify=False)


# ----------------------------------------------------------------------------- VOC XML, raccoon CSV
XML = """<annotation><filename>a.jpg</filename><size><width>{w}</width><height>100</height><depth>3</depth></size>
<object><name>dog</name><difficult>0</difficult><bndbox><xmin>10</xmin><ymin>10</ymin><xmax>50</xmax><ymax>{ymax}</ymax></bndbox></object>
</annotation>
"""


def test_voc_xml_nan_coordinate_is_data_error(tmp_path):
    from datasets.voc_detection import parse_voc_xml
    p = tmp_path / "a.xml"
    p.write_text(XML.format(w=100, ymax=60))
    assert parse_voc_xml(p)["boxes"].tolist() == [[10, 10, 50, 60]]
    p.write_text(XML.format(w=100, ymax="nan"))            # returned a NaN box before
    with pytest.raises(DataError, match=r"a\.xml.*ymax"):
        parse_voc_xml(p)
    assert str(p) in str(pytest.raises(DataError, parse_voc_xml, p).value)


def test_voc_xml_nan_width_names_the_file(tmp_path):
    from datasets.voc_detection import parse_voc_xml
    p = tmp_path / "a.xml"
    p.write_text(XML.format(w="nan", ymax=60))             # "cannot convert float NaN to integer" before
    with pytest.raises(DataError) as ei:
        parse_voc_xml(p)
    assert str(p) in str(ei.value) and "width" in str(ei.value)


def _raccoon(tmp_path, header="filename,width,height,class,xmin,ymin,xmax,ymax"):
    base = tmp_path / "raccoon"
    (base / "annotations").mkdir(parents=True)
    (base / "images").mkdir()
    (base / "data").mkdir()
    (base / "annotations" / "raccoon-1.xml").write_text(XML.format(w=100, ymax=60).replace("dog", "raccoon").replace("a.jpg", "raccoon-1.jpg"))
    from PIL import Image
    Image.new("RGB", (100, 100)).save(base / "images" / "raccoon-1.jpg")
    (base / "data" / "train_labels.csv").write_text(f"{header}\nraccoon-1.jpg,100,100,raccoon,10,10,50,60\n")
    return base / "data" / "train_labels.csv"


def test_raccoon_renamed_csv_header_is_data_error(tmp_path):
    from datasets.voc_detection import load_raccoon
    csv_path = _raccoon(tmp_path)
    assert len(load_raccoon(tmp_path, "train")) == 1
    csv_path.write_text(csv_path.read_text().replace("filename", "file_name", 1))     # KeyError before
    with pytest.raises(DataError) as ei:
        load_raccoon(tmp_path, "train")
    assert str(csv_path) in str(ei.value) and "filename" in str(ei.value)


def test_raccoon_csv_not_utf8_is_data_error(tmp_path):
    from datasets.voc_detection import load_raccoon
    csv_path = _raccoon(tmp_path)
    csv_path.write_bytes(csv_path.read_bytes().replace(b"raccoon,", b"rac\xffcoon,", 1))
    with pytest.raises(DataError) as ei:
        load_raccoon(tmp_path, "train")
    assert str(csv_path) in str(ei.value) and "UTF-8" in str(ei.value)


# ----------------------------------------------------------------------------- COCO detection command line
GT = {"images": [{"id": 1, "width": 100, "height": 100}, {"id": 2, "width": 100, "height": 100}],
      "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30], "area": 900, "iscrowd": 0},
                      {"id": 2, "image_id": 2, "category_id": 2, "bbox": [50, 50, 20, 20], "area": 400, "iscrowd": 0}],
      "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}
RES = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30], "score": 0.9},
       {"image_id": 2, "category_id": 2, "bbox": [52, 50, 20, 20], "score": 0.8}]


def _coco_files(tmp_path, gt=None, res=None):
    a, r = tmp_path / "gt.json", tmp_path / "res.json"
    a.write_text(json.dumps(GT if gt is None else gt))
    r.write_text(json.dumps(RES if res is None else res))
    return a, r


def test_coco_command_line_scores_valid_files(tmp_path, capsys):
    from metrics.detection import main
    a, r = _coco_files(tmp_path)
    assert main(["coco", str(a), str(r), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["AP50"] == pytest.approx(1.0)


def _bad_result(**change):
    res = json.loads(json.dumps(RES))
    for k, v in change.items():
        if v is KeyError:
            del res[0][k]
        else:
            res[0][k] = v
    return res


@pytest.mark.parametrize("res, what", [
    (_bad_result(bbox=[10, None, 30, 30]), "bbox"),                 # null bbox value: TypeError before
    (_bad_result(score="0.9"), "score"),                            # a string score: traceback before
    (_bad_result(image_id=77), "image_id 77"),                      # pycocotools' AssertionError before
    (_bad_result(image_id=KeyError), "image_id"),                   # KeyError before
    ([list(RES[0].values()), RES[1]], "result 0"),                  # an entry that is a list
    (_bad_result(category_id=3), "category_id 3"),                  # scored silently before
], ids=["null-bbox-value", "string-score", "unknown-image", "missing-image-id", "entry-is-list", "unknown-category"])
def test_coco_command_line_rejects_bad_results(tmp_path, capsys, res, what):
    from metrics.detection import coco_evaluate, main
    a, r = _coco_files(tmp_path, res=res)
    with pytest.raises(DetectionError) as ei:
        coco_evaluate(a, r)
    assert str(r) in str(ei.value) and what in str(ei.value)
    one_error_line(capsys, main(["coco", str(a), str(r)]), r)


def test_coco_annotations_without_categories(tmp_path, capsys):
    from metrics.detection import coco_evaluate, main
    gt = {k: v for k, v in GT.items() if k != "categories"}
    a, r = _coco_files(tmp_path, gt=gt)
    with pytest.raises(DetectionError, match="categories"):
        coco_evaluate(a, r)
    one_error_line(capsys, main(["coco", str(a), str(r)]), a)


def test_coco_unknown_category_is_an_error_in_memory_too():
    """The decision for what pycocotools accepts silently: an unknown category id is an error."""
    from metrics.detection import coco_evaluate
    with pytest.raises(DetectionError, match="category_id 5 is not one of the ground truth's categories"):
        coco_evaluate(GT, _bad_result(category_id=5))


def test_coco_unknown_category_can_be_ignored_explicitly():
    """`unknown_category="ignore"` is pycocotools' own behaviour, asked for by name: such detections
    are dropped, and the scores equal those without them."""
    from metrics.detection import coco_evaluate
    extra = RES + [{"image_id": 1, "category_id": 9, "bbox": [10, 10, 30, 30], "score": 0.99}]
    assert coco_evaluate(GT, extra, unknown_category="ignore") == coco_evaluate(GT, RES)


def test_coco_command_line_subprocess_prints_one_line(tmp_path):
    a, r = _coco_files(tmp_path, res=_bad_result(bbox=None))
    p = subprocess.run([sys.executable, "-m", "metrics.detection", "coco", str(a), str(r)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert p.stderr.startswith("error: ") and str(r) in p.stderr


# ----------------------------------------------------------------------------- captions command line
def _caption_files(tmp_path, ann_change):
    ann = {"images": [{"id": 1}, {"id": 2}],
           "annotations": [{"id": 1, "image_id": 1, "caption": "a dog runs"}, {"id": 2, "image_id": 2, "caption": "a cat"}]}
    ann.update(ann_change)
    a, r = tmp_path / "ann.json", tmp_path / "res.json"
    a.write_text(json.dumps(ann))
    r.write_text(json.dumps([{"image_id": 1, "caption": "a dog"}, {"image_id": 2, "caption": "a cat"}]))
    return a, r


@pytest.mark.parametrize("change", [{"annotations": None}, {"images": {"1": {"id": 1}}}],
                         ids=["annotations-null", "images-object"])
def test_captioning_command_line_rejects_bad_annotations(tmp_path, capsys, change):
    from metrics.captioning import load_coco_refs, main
    a, r = _caption_files(tmp_path, {})
    assert main([str(r), str(a), "--json"]) == 0
    capsys.readouterr()
    a, r = _caption_files(tmp_path, change)              # TypeError / AttributeError before
    with pytest.raises(DataError) as ei:
        load_coco_refs(a)
    assert str(a) in str(ei.value)
    one_error_line(capsys, main([str(r), str(a)]), a)


# ----------------------------------------------------------------------------- segmentation datasets
def _voc_seg(tmp_path):
    from metrics.segmentation import voc_palette
    base = tmp_path / "VOCdevkit" / "VOC2012"
    (base / "ImageSets" / "Segmentation").mkdir(parents=True)
    (base / "ImageSets" / "Segmentation" / "val.txt").write_text("2007_000001\n")
    (base / "JPEGImages").mkdir()
    from PIL import Image
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60, 3)).astype(np.uint8)).save(
        base / "JPEGImages" / "2007_000001.jpg")
    png(base / "SegmentationClass" / "2007_000001.png", np.zeros((40, 60)), "P", voc_palette().ravel().tolist())
    return base


def test_voc_segmentation_truncated_jpeg_is_data_error(tmp_path):
    from datasets.voc import VOCSegmentation
    base = _voc_seg(tmp_path)
    assert VOCSegmentation(tmp_path, "val")[0][0].shape == (3, 40, 60)
    jpg = base / "JPEGImages" / "2007_000001.jpg"
    jpg.write_bytes(jpg.read_bytes()[: jpg.stat().st_size // 2])        # OSError before
    with pytest.raises(DataError) as ei:
        VOCSegmentation(tmp_path, "val")[0]
    assert str(jpg) in str(ei.value)


def _cityscapes(tmp_path):
    from PIL import Image
    img = tmp_path / "cityscapes/leftImg8bit/val/aachen/aachen_000000_000019_leftImg8bit.png"
    img.parent.mkdir(parents=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60, 3)).astype(np.uint8)).save(img)
    gt = png(tmp_path / "cityscapes/gtFine/val/aachen/aachen_000000_000019_gtFine_labelIds.png",
             np.full((40, 60), 7), "L")
    return img, gt


@pytest.mark.parametrize("which", ["image", "label"])
def test_cityscapes_truncated_png_is_data_error(tmp_path, which):
    from datasets.cityscapes import Cityscapes
    img, gt = _cityscapes(tmp_path)
    assert Cityscapes(tmp_path, "val")[0][1].unique().tolist() == [0]
    p = img if which == "image" else gt
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])               # OSError before
    with pytest.raises(DataError) as ei:
        Cityscapes(tmp_path, "val")[0]
    assert str(p) in str(ei.value)


# ----------------------------------------------------------------------------- localization command line
def _ilsvrc_meta(tmp_path):
    meta = tmp_path / "meta"
    meta.mkdir()
    (meta / "image_ids.txt").write_text("val/ILSVRC2012_val_00000001.JPEG\n")
    (meta / "class_labels.txt").write_text("val/ILSVRC2012_val_00000001.JPEG,65\n")
    (meta / "image_sizes.txt").write_text("val/ILSVRC2012_val_00000001.JPEG,500,375\n")
    (meta / "localization.txt").write_text("val/ILSVRC2012_val_00000001.JPEG,111,108,441,193\n")
    pred = tmp_path / "pred.csv"
    pred.write_text("image_id,class,score,x0,y0,x1,y1\nILSVRC2012_val_00000001,65,0.9,111,108,441,193\n")
    return meta, pred


def test_localization_command_line_nan_score_exits_non_zero(tmp_path, capsys):
    from metrics.localization import main
    meta, pred = _ilsvrc_meta(tmp_path)
    assert main([str(pred), str(meta), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["top1_loc_error"] == 0.0
    pred.write_text(pred.read_text().replace(",0.9,", ",nan,"))          # exit 0 before
    one_error_line(capsys, main([str(pred), str(meta)]), pred)


def test_localization_csv_not_utf8_exits_non_zero(tmp_path, capsys):
    from metrics.localization import main
    meta, pred = _ilsvrc_meta(tmp_path)
    pred.write_bytes(pred.read_bytes().replace(b"ILSVRC2012_val_00000001,", b"ILSVRC2012_val_\xe900000001,"))
    one_error_line(capsys, main([str(pred), str(meta)]), pred)


# ----------------------------------------------------------------------------- audio
def test_read_audio_truncated_ogg_is_data_error(tmp_path):
    import soundfile as sf
    from datasets.audio import read_audio
    p = tmp_path / "clip.ogg"
    t = np.arange(16000 * 2) / 16000
    sf.write(str(p), (0.3 * np.sin(2 * math.pi * 440 * t)).astype(np.float32), 16000, format="OGG", subtype="VORBIS")
    assert len(read_audio(p, 16000)) == len(t)
    p.write_bytes(p.read_bytes()[: p.stat().st_size * 2 // 3])          # silently returned part of the clip before
    with pytest.raises(DataError, match="truncated Ogg") as ei:
        read_audio(p, 16000)
    assert str(p) in str(ei.value)


# ----------------------------------------------------------------------------- claims
CLAIMS = """[paper]
id = "demo"

[[claim]]
id = "acc"
kind = "exact"
tier = "smoke"
metric = "accuracy"
value = 0.9
tolerance = 0.1
direction = "higher"
source = "Table 1"
"""


@pytest.mark.parametrize("edit, what", [
    (lambda t: t.replace("value = 0.9", "value = nan"), "value"),
    (lambda t: t.replace("tolerance = 0.1", "tolerance = nan"), "tolerance"),
    (lambda t: "claim = [1, 2]\n" + t.split("[[claim]]")[0], "claim #1"),
    (lambda t: t.replace('id = "demo"', 'id = "demo"\nvenue = "CVPR"'), "venue"),
], ids=["value-nan", "tolerance-nan", "claim-not-a-table", "unknown-paper-key"])
def test_claims_reader_rejects(tmp_path, edit, what):
    p = tmp_path / "claims.toml"
    p.write_text(CLAIMS)
    assert load_claims(p)["acc"].value == 0.9
    p.write_text(edit(CLAIMS))
    with pytest.raises(ClaimsError) as ei:
        load_claims(p)
    assert str(p) in str(ei.value) and what in str(ei.value)


# ----------------------------------------------------------------------------- checkpoints
def _net(h=3):
    return torch.nn.Sequential(torch.nn.Linear(4, h), torch.nn.ReLU(), torch.nn.Linear(h, 2))


def test_cached_model_of_the_wrong_shape_is_checkpoint_error(tmp_path):
    from reference_impls.common import trained
    from reference_impls.common.cache import cache_key

    def train(model, resume):
        pass
    trained("net", _net, train, config={"h": 3}, seed=0, cache_dir=tmp_path)
    entry = tmp_path / "net" / cache_key("net", {"h": 3}, 0) / "model.pt"
    assert entry.exists()
    torch.save(_net(5).state_dict(), entry)                 # RuntimeError without the file before
    with pytest.raises(CheckpointError) as ei:
        trained("net", _net, train, config={"h": 3}, seed=0, cache_dir=tmp_path)
    assert str(entry) in str(ei.value) and "size mismatch" in str(ei.value)


def test_load_weights_wrong_shape_is_checkpoint_error(tmp_path):
    from reference_impls.common import load_weights
    p = tmp_path / "w.pt"
    torch.save({"model": _net(6).state_dict()}, p)
    with pytest.raises(CheckpointError) as ei:
        load_weights(_net(), p)
    assert str(p) in str(ei.value)


@pytest.mark.parametrize("content", ["random-bytes", "other-model"])
def test_backbone_with_bad_weights_is_checkpoint_error(tmp_path, content):
    import timm
    from reference_impls.common.backbones import backbone
    good = tmp_path / "good.pth"
    torch.save(timm.create_model("test_resnet").state_dict(), good)
    assert backbone("test_resnet", weights=good, num_classes=0) is not None
    p = tmp_path / "weights.pth"
    if content == "random-bytes":
        p.write_bytes(os.urandom(3000))                    # EOFError/RuntimeError before
    else:
        torch.save(timm.create_model("test_efficientnet").state_dict(), p)   # RuntimeError before
    for kwargs in ({}, {"num_classes": 0}):             # num_classes=0 made timm load non-strictly
        with pytest.raises(CheckpointError) as ei:
            backbone("test_resnet", weights=p, **kwargs)
        assert str(p) in str(ei.value)


# ----------------------------------------------------------------------------- non-UTF-8 comp4 / CSV
def test_comp4_not_utf8_is_detection_error(tmp_path, capsys):
    from datasets.voc_detection import VOC_CLASSES
    from metrics.detection import main, read_voc_dets
    voc = tmp_path / "VOC2007"
    (voc / "Annotations").mkdir(parents=True)
    (voc / "ImageSets" / "Main").mkdir(parents=True)
    (voc / "Annotations" / "000001.xml").write_text(XML.format(w=100, ymax=60))
    (voc / "ImageSets" / "Main" / "test.txt").write_text("000001\n")
    dets = tmp_path / "dets"
    dets.mkdir()
    f = dets / "comp4_det_test_dog.txt"
    f.write_text("000001 0.9 10 10 50 60\n")
    assert main(["voc", str(voc), str(dets), "--json"]) == 0
    capsys.readouterr()
    f.write_bytes(b"000001 0.9 10 10 50 60\n00000\xb2 0.5 1 1 5 5\n")     # UnicodeDecodeError before
    with pytest.raises(DetectionError) as ei:
        read_voc_dets(dets, "test", VOC_CLASSES)
    assert str(f) in str(ei.value)
    one_error_line(capsys, main(["voc", str(voc), str(dets)]), f)


def test_ilsvrc_metadata_csv_not_utf8_is_data_error(tmp_path):
    from datasets.ilsvrc import ground_truth_from_metadata
    meta, _ = _ilsvrc_meta(tmp_path)
    assert ground_truth_from_metadata(meta)["ILSVRC2012_val_00000001"]["class"] == 65
    p = meta / "localization.txt"
    p.write_bytes(p.read_bytes() + b"val/ILSVRC2012_val_0000000\xff.JPEG,1,1,2,2\n")
    with pytest.raises(DataError) as ei:
        ground_truth_from_metadata(meta)
    assert str(p) in str(ei.value)
