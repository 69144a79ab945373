"""PASCAL VOC detection (2007/2012) and the raccoon set, which uses the same XML.

    <data-root>/VOCdevkit/VOC2007/Annotations/<id>.xml
                                  ImageSets/Main/{train,val,trainval,test}.txt
                                  JPEGImages/<id>.jpg
    <data-root>/raccoon/annotations/raccoon-<n>.xml, images/raccoon-<n>.jpg,
                        data/{train,test}_labels.csv   (the published 160/40 split)

A record is a dict: id, image (path), width, height, boxes (N, 4) float32 [xmin, ymin, xmax, ymax]
in the XML's 1-based inclusive pixels, labels (N,) int64, difficult (N,) bool. Malformed XML
(no <size>, a box outside the image or with xmax < xmin, an unknown class, a missing field)
raises DataError naming the file.
"""
from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from . import DataError, finite, locate, read_rgb, read_text

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor")
RACCOON_CLASSES = ("raccoon",)

VOC_LAYOUT = ("VOCdevkit/VOC{year}/{{Annotations/<id>.xml, ImageSets/Main/{split}.txt, JPEGImages/<id>.jpg}} "
              "(the devkit tarballs VOCtrainval_06-Nov-2007.tar / VOCtest_06-Nov-2007.tar unpacked)")
RACCOON_LAYOUT = "raccoon/{annotations/raccoon-<n>.xml, images/raccoon-<n>.jpg, data/train_labels.csv, data/test_labels.csv}"


def _int(node, tag: str, path: Path) -> float:
    """The finite number in <tag> (NaN, inf and text are DataErrors naming the file)."""
    el = node.find(tag)
    if el is None or el.text is None:
        raise DataError(f"{path}: missing <{tag}>")
    return finite(el.text, f"{path}: <{tag}>", text=True)


def parse_voc_xml(path: str | Path, classes=VOC_CLASSES, clip_tolerance: int = 0) -> dict:
    """One annotation file -> record (without the image path). Boxes may exceed the image by at most
    `clip_tolerance` pixels (then they are clipped); further out is a DataError."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise DataError(f"{path}: not readable XML ({e})") from None
    size = root.find("size")
    if size is None:
        raise DataError(f"{path}: no <size> element (width/height are needed to check boxes)")
    w, h = _int(size, "width", path), _int(size, "height", path)
    if w <= 0 or h <= 0:
        raise DataError(f"{path}: image size {w:g}x{h:g} is not positive")
    boxes, labels, difficult = [], [], []
    for i, obj in enumerate(root.findall("object")):
        name_el = obj.find("name")
        name = (name_el.text or "").strip() if name_el is not None else ""
        if name not in classes:
            raise DataError(f"{path}: object {i} has unknown class {name!r} (known: {', '.join(classes)})")
        bb = obj.find("bndbox")
        if bb is None:
            raise DataError(f"{path}: object {i} ({name}) has no <bndbox>")
        x0, y0, x1, y1 = (_int(bb, t, path) for t in ("xmin", "ymin", "xmax", "ymax"))
        if x1 < x0 or y1 < y0:
            raise DataError(f"{path}: object {i} ({name}) box {x0:g},{y0:g},{x1:g},{y1:g} has xmax < xmin or ymax < ymin")
        t = clip_tolerance
        if x0 < 0 - t or y0 < 0 - t or x1 > w + t or y1 > h + t:
            raise DataError(f"{path}: object {i} ({name}) box {x0:g},{y0:g},{x1:g},{y1:g} lies outside the "
                            f"{w:g}x{h:g} image")
        boxes.append([max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)])
        labels.append(classes.index(name))
        d = obj.find("difficult")
        difficult.append(d is not None and (d.text or "0").strip() == "1")
    fn = root.find("filename")
    return {"id": path.stem, "filename": fn.text.strip() if fn is not None and fn.text else path.stem + ".jpg",
            "width": int(w), "height": int(h), "boxes": np.array(boxes, np.float32).reshape(-1, 4),
            "labels": np.array(labels, np.int64), "difficult": np.array(difficult, bool)}


def read_voc_split(voc_dir: Path, split: str) -> list[dict]:
    """Records of VOC<year>/ImageSets/Main/<split>.txt, images from JPEGImages/."""
    voc_dir = Path(voc_dir)
    ids_file = voc_dir / "ImageSets" / "Main" / f"{split}.txt"
    if not ids_file.exists():
        raise DataError(f"{ids_file}: missing (the image list of split '{split}')")
    ids = [ln.split()[0] for ln in read_text(ids_file).splitlines() if ln.strip()]
    recs = []
    for i in ids:
        r = parse_voc_xml(voc_dir / "Annotations" / f"{i}.xml")
        r["id"], r["image"] = i, voc_dir / "JPEGImages" / f"{i}.jpg"
        recs.append(r)
    return recs


def load_voc(data_root, year: str = "2007", split: str = "test") -> list[dict]:
    """VOC <year> <split> records; DataMissing with the expected layout when absent."""
    voc_dir = locate(data_root, f"VOCdevkit/VOC{year}", VOC_LAYOUT.format(year=year, split=split))
    locate(data_root, f"VOCdevkit/VOC{year}/ImageSets/Main/{split}.txt", VOC_LAYOUT.format(year=year, split=split))
    return read_voc_split(voc_dir, split)


def load_raccoon(data_root, split: str = "all") -> list[dict]:
    """The raccoon set (one class). split: 'train' (160), 'test' (40) from data/*_labels.csv, or 'all'."""
    root = locate(data_root, "raccoon/annotations", RACCOON_LAYOUT).parent
    files = sorted((root / "annotations").glob("*.xml"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise DataError(f"{root / 'annotations'}: no XML files")
    keep = None
    if split != "all":
        csv_path = root / "data" / f"{split}_labels.csv"
        if not csv_path.exists():
            raise DataError(f"{csv_path}: missing (the {split} split list)")
        reader = csv.DictReader(io.StringIO(read_text(csv_path), newline=""))
        if "filename" not in (reader.fieldnames or []):
            raise DataError(f"{csv_path}: no 'filename' column (header {reader.fieldnames}; expected "
                            "filename,width,height,class,xmin,ymin,xmax,ymax)")
        keep = set()
        for n, row in enumerate(reader, 2):
            if not row.get("filename"):
                raise DataError(f"{csv_path}:{n}: empty or missing filename")
            keep.add(row["filename"])
    recs = []
    for p in files:
        r = parse_voc_xml(p, RACCOON_CLASSES)
        if keep is not None and r["filename"] not in keep:
            continue
        r["image"] = root / "images" / r["filename"]
        if not r["image"].exists():
            raise DataError(f"{p}: its image {r['image']} is missing")
        recs.append(r)
    if keep is not None:
        unknown = sorted(keep - {r["filename"] for r in recs})
        if unknown:
            raise DataError(f"{csv_path}: {len(unknown)} image(s) without an annotation XML, e.g. {unknown[:3]}")
    return recs


def load_image(rec: dict, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 image (optionally resized to size x size) and its boxes rescaled to match,
    converted to half-open pixel boxes [x0-1, y0-1, x1, y1) in the resized frame."""
    from PIL import Image
    img = read_rgb(rec["image"])
    boxes = rec["boxes"].astype(np.float32).copy()
    boxes[:, :2] -= 1
    if size is not None:
        sx, sy = size / img.width, size / img.height
        img = img.resize((size, size), Image.BILINEAR)
        boxes *= np.array([sx, sy, sx, sy], np.float32)
    return np.asarray(img), boxes
