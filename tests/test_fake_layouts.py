"""`./repro data fake --layout NAME DIR`: every miniature layout is read by the project's own loaders,
and its format matches the real small samples in the shared data root where they exist."""
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from datasets import fake

ROOT = Path(__file__).parents[1]
SHARED = Path(os.environ.get("REPRO_DATA_ROOT") or ROOT.parent / "shared" / "data")


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fake")
    fake.write("all", root)
    return root


def test_cli_writes_a_layout_and_rejects_an_unknown_one(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run([sys.executable, "-m", "datasets", "fake", "--layout", "mnist", str(tmp_path)], env=env,
                        capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()
    bad = subprocess.run([sys.executable, "-m", "datasets", "fake", "--layout", "imagenet22k", str(tmp_path)],
                         env=env, capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "unknown layout 'imagenet22k'" in bad.stderr


def test_deterministic(tmp_path):
    fake.write("voc2007", tmp_path / "a")
    fake.write("voc2007", tmp_path / "b")
    for p in (tmp_path / "a").rglob("*"):
        if p.is_file():
            assert p.read_bytes() == (tmp_path / "b" / p.relative_to(tmp_path / "a")).read_bytes(), p


def test_voc2007_detection(fake_root):
    from datasets.voc_detection import VOC_CLASSES, load_voc, parse_voc_xml
    test, trainval = load_voc(fake_root, "2007", "test"), load_voc(fake_root, "2007", "trainval")
    assert len(test) == 4 and len(trainval) == 4
    r = test[0]
    assert r["image"].exists() and r["boxes"].shape[1] == 4 and (r["boxes"][:, 2] <= r["width"]).all()
    assert any(rec["difficult"].any() for rec in test + trainval)
    # the per-class lists agree with the annotations
    main = fake_root / "VOCdevkit" / "VOC2007" / "ImageSets" / "Main"
    for line in (main / "dog_test.txt").read_text().splitlines():
        iid, flag = line.split()
        has = VOC_CLASSES.index("dog") in parse_voc_xml(fake_root / "VOCdevkit/VOC2007/Annotations" / f"{iid}.xml")["labels"]
        assert flag == ("1" if has else "-1")
    # the same XML schema as a real VOC-format file (raccoon uses the devkit's XML)
    real = SHARED / "raccoon" / "annotations" / "raccoon-1.xml"
    if real.exists():
        import xml.etree.ElementTree as ET
        tags = lambda p: {e.tag for e in ET.parse(p).getroot().iter()}   # noqa: E731
        assert {"size", "width", "height", "depth", "object", "name", "bndbox", "xmin", "ymax", "difficult",
                "truncated", "pose"} <= tags(real) & tags(main.parent.parent / "Annotations" / f"{r['id']}.xml")


def test_voc2012_segmentation_and_sbd_aug(fake_root):
    from datasets import voc
    val = voc.VOCSegmentation(fake_root, "val")
    x, y, iid = val[0]
    assert str(x.dtype) == "torch.uint8" and x.shape[0] == 3
    assert x.shape[1:] == y.shape and (y == 255).any() and ((y > 0) & (y < 21)).any()
    aug = voc.VOCSegmentation(fake_root, "train_aug")
    assert len(aug) == 8 and not (aug[0][1] == 255).any()        # SBD-derived labels have no border
    test = voc.VOCSegmentation(fake_root, "test")
    assert not test.has_labels and (test[0][1] == 255).all()


def test_coco_instances_captions_and_karpathy(fake_root):
    from pycocotools.coco import COCO

    from datasets.captions import load_karpathy
    from datasets.coco_detection import load_coco
    c = load_coco(fake_root, "2017", "val")
    api = COCO(str(c["annotations"]))
    img = api.loadImgs(api.getImgIds()[0])[0]
    assert (c["images"] / img["file_name"]).exists()
    assert len(api.getCatIds()) == 80 and api.getAnnIds()
    real = SHARED / "coco-detection" / "annotations" / "instances_val2014_100.json"
    if real.exists():               # the same keys, and the real 80 categories
        r = json.loads(real.read_text())
        d = c["dataset"]
        assert set(d) == set(r) and set(d["images"][0]) == set(r["images"][0])
        assert set(d["annotations"][0]) == set(r["annotations"][0]) and d["categories"] == r["categories"]
    caps = COCO(str(fake_root / "coco" / "annotations" / "captions_val2014.json"))
    assert len(caps.getAnnIds()) == 5 * len(caps.getImgIds())
    train, test = load_karpathy(fake_root, "coco", "train"), load_karpathy(fake_root, "coco", "test")
    assert test and len(train) > len(test) and all(it.image.exists() and len(it.captions) == 5 for it in train + test)
    split = json.loads((fake_root / "coco" / "dataset_coco.json").read_text())["images"]
    assert {im["split"] for im in split} == {"train", "restval", "val", "test"}
    assert len(train) == sum(im["split"] in ("train", "restval") for im in split)    # restval trains, as in im2txt


def test_ilsvrc_val_xml_kaggle_csv_and_wsol_metadata(fake_root):
    from datasets import ilsvrc
    val = ilsvrc.load_val(fake_root)                     # XML boxes + LOC_synset_mapping.txt
    assert len(val) == 8 and all(s["path"].exists() for s in val)
    meta = ilsvrc.ground_truth_from_metadata(fake_root / ilsvrc.META_DIR)
    for s in val:                                          # the CSV metadata says the same as the XMLs
        assert meta[s["id"]]["class"] == s["class"] and np.array_equal(meta[s["id"]]["boxes"], s["boxes"])
        assert meta[s["id"]]["size"] == s["size"]
    synsets = ilsvrc.read_synsets(fake_root / "LOC_synset_mapping.txt")
    assert len(synsets) == 1000 and synsets == sorted(synsets)
    rows = (fake_root / "LOC_val_solution.csv").read_text().splitlines()
    assert rows[0] == "ImageId,PredictionString" and len(rows) == 9
    stem, pred = rows[1].split(",")
    parts = pred.split()
    assert stem == val[0]["id"] and parts[0] == synsets[val[0]["class"]] and len(parts) % 5 == 0
    real = SHARED / ilsvrc.META_DIR / "localization.txt"
    if real.exists():               # the wsolevaluation line format of the real metadata
        import re
        pattern = re.compile(r"^val/ILSVRC2012_val_\d{8}\.JPEG,\d+,\d+,\d+,\d+$")
        assert pattern.match(real.open().readline().strip())
        assert pattern.match((fake_root / ilsvrc.META_DIR / "localization.txt").open().readline().strip())


def test_ilsvrc_train_folders(fake_root):
    from datasets import ilsvrc
    samples = ilsvrc.train_samples(fake_root)
    assert len(samples) == 8 and {c for _, c in samples} == set(range(8))
    assert samples[0][0].name.startswith(samples[0][0].parent.name + "_")


def test_ilsvrc_test_xml(fake_root):
    from datasets import ilsvrc
    gt = ilsvrc.ground_truth_from_xml(fake_root / "ILSVRC2014_clsloc_test_gt", fake_root / "LOC_synset_mapping.txt")
    images = sorted((fake_root / "ILSVRC2012_img_test").glob("*.JPEG"))
    assert len(images) == 4 and all(f.stem in gt for f in images)


def test_cityscapes(fake_root):
    from PIL import Image

    from datasets import cityscapes
    ds = cityscapes.Cityscapes(fake_root, "val")
    x, y, name = ds[0]
    assert x.shape[1:] == y.shape and set(np.unique(y.numpy())) <= set(range(19)) | {255}
    assert (y != 255).any()
    assert len(cityscapes.Cityscapes(fake_root, "train")) == 4 and len(cityscapes.Cityscapes(fake_root, "test")) == 2
    inst = next((fake_root / "cityscapes" / "gtFine" / "val").rglob("*_instanceIds.png"))
    assert Image.open(inst).mode.startswith("I")                 # 16-bit, as released


def test_omniglot(fake_root):
    import zipfile

    from PIL import Image

    from datasets import omniglot
    base = fake_root / "omniglot" / "python"
    bg, ev = omniglot.load_alphabets(base / "images_background"), omniglot.load_alphabets(base / "images_evaluation")
    assert bg.images.shape == (6, 20, 28, 28) and ev.images.shape == (6, 20, 28, 28)
    assert 0 < float(bg.images.mean()) < 0.5                     # ink = 1 on a mostly empty page
    png = next((base / "images_background").rglob("*.png"))
    with Image.open(png) as im:
        assert (im.mode, im.size, im.format) == ("1", (105, 105), "PNG")
    real = next((SHARED / "omniglot" / "python").rglob("*.png"), None) if SHARED.exists() else None
    if real is not None:
        with Image.open(real) as im:
            assert (im.mode, im.size) == ("1", (105, 105))
        import re
        assert re.match(r"\d{4}_\d{2}\.png", real.name) and re.match(r"\d{4}_\d{2}\.png", png.name)
    names = zipfile.ZipFile(base / "images_evaluation.zip").namelist()
    assert any(n.startswith("images_evaluation/") and n.endswith(".png") for n in names)


def test_omniglot_release_counts_spread_over_alphabets(tmp_path):
    """total=(background, evaluation) writes that many characters per part (the full tier asks for the
    release's 964 + 659), spread over the alphabets, with `drawers` drawings each and the ids running on."""
    from datasets import omniglot
    base = fake.omniglot(tmp_path, total=(7, 5), drawers=2, zips=False)
    bg, ev = omniglot.load_alphabets(base / "images_background"), omniglot.load_alphabets(base / "images_evaluation")
    assert bg.images.shape == (7, 2, 28, 28) and ev.images.shape == (5, 2, 28, 28)
    per_alpha = sorted(len(list(a.iterdir())) for a in (base / "images_background").iterdir())
    assert per_alpha == [3, 4] and not (base / "images_background.zip").exists()
    assert (base / "images_evaluation" / "Atemayar_Qelisayer" / "character02" / "0012_02.png").is_file()


def test_vctk(fake_root):
    import soundfile as sf

    from datasets.audio import load_vctk, vctk_files
    files = vctk_files(fake_root)
    assert sorted(files) == ["p225", "p226", "p227"] and all(len(v) == 6 for v in files.values())
    info = sf.info(str(files["p225"][0]))
    assert (info.samplerate, info.channels, info.format, info.subtype) == (48000, 1, "FLAC", "PCM_16")
    utts = load_vctk(fake_root, sr=16000, per_speaker=1)
    assert len(utts) == 3 and utts[0].sr == 16000 and np.abs(utts[0].audio).max() > 0.1
    assert len(utts[0].audio) > 8000          # longer than the WaveNet full tier's 8,000-sample crops


def test_mnist_idx(fake_root):
    from datasets.mnist import load_mnist
    x, y = load_mnist(fake_root, "train", verify=False)       # not the real bytes, so not the real sha256
    assert x.shape == (64, 28, 28) and y.shape == (64,) and set(y.tolist()) == set(range(10))
    raw = gzip.decompress((fake_root / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    assert raw[:4] == b"\x00\x00\x08\x03" and int.from_bytes(raw[4:8], "big") == 32
    real = SHARED / "mnist" / "t10k-labels-idx1-ubyte.gz"
    if real.exists():              # the same 8-byte IDX header layout as the real labels file
        r = gzip.decompress(real.read_bytes())[:4]
        f = gzip.decompress((fake_root / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())[:4]
        assert r == f == b"\x00\x00\x08\x01"
    with pytest.raises(Exception, match="sha256"):
        load_mnist(fake_root, "train")


def test_flickr30k_pascal_sentences_and_sbu(fake_root):
    from datasets.captions import load_karpathy, load_pascal_sentences, load_sbu
    splits = {s: load_karpathy(fake_root, "flickr30k", s) for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [4, 2, 2]
    assert all(it.image.exists() and len(it.captions) == 5 for its in splits.values() for it in its)
    assert splits["test"][0].image.parent == fake_root / "flickr30k" / "images"
    # Karpathy's schema: the same keys per image and per sentence as the COCO file (less COCO's own)
    f30k = json.loads((fake_root / "flickr30k" / "dataset_flickr30k.json").read_text())
    coco = json.loads((fake_root / "coco" / "dataset_coco.json").read_text())
    assert f30k["dataset"] == "flickr30k" and set(f30k["images"][0]) == set(coco["images"][0]) - {"cocoid", "filepath"}
    assert set(f30k["images"][0]["sentences"][0]) == {"tokens", "raw", "imgid", "sentid"}
    pascal = load_pascal_sentences(fake_root)
    assert len(pascal) == 4 and all(it.image.exists() and len(it.captions) == 5 for it in pascal)
    assert pascal[0].image_id == "aeroplane/2008_000716"
    train, test = load_sbu(fake_root, n_test=2)
    assert len(train) == 9 and len(test) == 2 and 3 not in {it.image_id for it in train + test}   # line 3: dead URL
    caps = (fake_root / "sbu" / "SBU_captioned_photo_dataset_captions.txt").read_text().splitlines()
    urls = (fake_root / "sbu" / "SBU_captioned_photo_dataset_urls.txt").read_text().splitlines()
    assert len(caps) == len(urls) == 12 and all(u.startswith("http://static.flickr.com/") for u in urls)
    assert test[-1].captions == [caps[11]]
