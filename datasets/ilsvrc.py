"""ILSVRC (ImageNet 2012) validation set with localization boxes, for the CAM full tier.

Layout under the data root (either box source works, so JPEGs alone are enough):

    <data-root>/ILSVRC2012_img_val/ILSVRC2012_val_00000001.JPEG ...      the 50,000 val JPEGs
    boxes, one of:
    <data-root>/ILSVRC2012_bbox_val/ILSVRC2012_val_00000001.xml ...      the official per-image XML
                                      (optionally inside a val/ subfolder, as the devkit tar unpacks)
    <data-root>/imagenet-loc/metadata/ILSVRC/test/{image_ids,class_labels,image_sizes,localization}.txt
                                      wsolevaluation's CSV metadata (its "test" split = ILSVRC2012 val)
    optional <data-root>/LOC_synset_mapping.txt ("n01440764 tench, ..."): class order for XML boxes;
    without it the class index is the rank of the synset among the sorted synsets in the XMLs.

Boxes are (x0, y0, x1, y1) exactly as written in the files (inclusive pixel coordinates, the
convention of the ILSVRC devkit and wsolevaluation). Class index = the standard sorted-WordNet-id order.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from . import DataError, DataMissing, locate, read_text

JPEG_DIR = "ILSVRC2012_img_val"
XML_DIR = "ILSVRC2012_bbox_val"
META_DIR = "imagenet-loc/metadata/ILSVRC/test"
LAYOUT = (f"<data-root>/{JPEG_DIR}/ILSVRC2012_val_XXXXXXXX.JPEG (50,000 files) and boxes from either "
          f"<data-root>/{XML_DIR}/[val/]ILSVRC2012_val_XXXXXXXX.xml or <data-root>/{META_DIR}/"
          "{image_ids,class_labels,image_sizes,localization}.txt (wsolevaluation metadata)")


def read_synsets(path: str | Path) -> list[str]:
    """LOC_synset_mapping.txt / synsets.txt: one 'nXXXXXXXX [words]' per line -> the class order."""
    path = Path(path)
    out = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        wnid = line.split()[0]
        if not (wnid.startswith("n") and wnid[1:].isdigit()):
            raise DataError(f"{path}:{n}: expected a WordNet id like n01440764, got {wnid!r}")
        out.append(wnid)
    if len(set(out)) != len(out):
        raise DataError(f"{path}: duplicate synsets")
    return out


def read_xml(path: str | Path) -> dict:
    """One official box file -> {"size": (w, h), "objects": [(synset, (x0, y0, x1, y1)), ...]}."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
        size = root.find("size")
        w, h = int(size.findtext("width")), int(size.findtext("height"))
        objs = []
        for o in root.iter("object"):
            bb = o.find("bndbox")
            box = tuple(int(float(bb.findtext(k))) for k in ("xmin", "ymin", "xmax", "ymax"))
            objs.append((o.findtext("name").strip(), box))
    except FileNotFoundError:
        raise DataError(f"{path}: missing box file") from None
    except (ET.ParseError, AttributeError, TypeError, ValueError, OverflowError) as e:
        raise DataError(f"{path}: not an ILSVRC box XML ({type(e).__name__}: {e})") from None
    if not objs:
        raise DataError(f"{path}: no <object> boxes")
    for _name, b in objs:
        _check_box(b, (w, h), path)
    return {"size": (w, h), "objects": objs}


def _check_box(b, size, where):
    w, h = size
    x0, y0, x1, y1 = b
    if not (0 <= x0 <= x1 < w + 1 and 0 <= y0 <= y1 < h + 1):   # ILSVRC boxes may touch x = width
        raise DataError(f"{where}: box {tuple(b)} outside the {w}x{h} image or not x0<=x1, y0<=y1")


def _xml_dir(p: Path) -> Path:
    return p / "val" if (p / "val").is_dir() else p


def ground_truth_from_xml(folder: str | Path, synsets: list[str] | str | Path | None = None) -> dict[str, dict]:
    """{image_id: {"class", "boxes" (m, 4), "size" (w, h)}} from a folder of per-image XML files."""
    folder = _xml_dir(Path(folder))
    files = sorted(folder.glob("*.xml"))
    if not files:
        raise DataMissing(f"no *.xml box files in {folder}; expected {LAYOUT}")
    parsed = {f.stem: (f, read_xml(f)) for f in files}
    if synsets is None:
        order = sorted({name for _, d in parsed.values() for name, _ in d["objects"]})
    else:
        order = read_synsets(synsets) if isinstance(synsets, (str, Path)) else list(synsets)
    index = {s: i for i, s in enumerate(order)}
    out = {}
    for stem, (f, d) in parsed.items():
        names = {n for n, _ in d["objects"]}
        unknown = names - set(index)
        if unknown:
            raise DataError(f"{f}: unknown synset(s) {sorted(unknown)} (not in the synset list)")
        if len(names) != 1:
            raise DataError(f"{f}: boxes of several classes {sorted(names)}; ILSVRC val has one class per image")
        out[stem] = {"class": index[names.pop()], "size": d["size"],
                     "boxes": np.array([b for _, b in d["objects"]], dtype=np.float64)}
    return out


def _lines(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise DataError(f"{path}: missing (wsolevaluation metadata needs image_ids, class_labels, "
                        "image_sizes and localization .txt)")
    return [ln.strip().split(",") for ln in read_text(path).splitlines() if ln.strip()]


def ground_truth_from_metadata(folder: str | Path) -> dict[str, dict]:
    """The same from wsolevaluation's metadata folder (lines 'val/<file>.JPEG,...')."""
    folder = Path(folder)
    out: dict[str, dict] = {}
    for n, row in enumerate(_lines(folder / "class_labels.txt"), 1):
        try:
            c = int(row[1])
        except (IndexError, ValueError):
            raise DataError(f"{folder / 'class_labels.txt'}:{n}: expected '<image>,<class index>', got {row}") from None
        if not 0 <= c < 1000:
            raise DataError(f"{folder / 'class_labels.txt'}:{n}: class index {c} outside 0..999")
        if Path(row[0]).stem in out:
            raise DataError(f"{folder / 'class_labels.txt'}:{n}: image {row[0]} listed twice")
        out[Path(row[0]).stem] = {"class": c, "boxes": [], "size": None}
    for n, row in enumerate(_lines(folder / "image_sizes.txt"), 1):
        stem = Path(row[0]).stem
        if stem not in out or len(row) != 3:
            raise DataError(f"{folder / 'image_sizes.txt'}:{n}: bad line {row} (unknown image or not '<image>,w,h')")
        try:
            w, h = int(row[1]), int(row[2])
        except ValueError:
            raise DataError(f"{folder / 'image_sizes.txt'}:{n}: width and height must be integers, got {row[1:]}") from None
        if w <= 0 or h <= 0:
            raise DataError(f"{folder / 'image_sizes.txt'}:{n}: image size {w}x{h} is not positive")
        out[stem]["size"] = (w, h)
    for n, row in enumerate(_lines(folder / "localization.txt"), 1):
        stem = Path(row[0]).stem
        try:
            box = tuple(int(float(v)) for v in row[1:5])
            assert len(row) == 5
        except (ValueError, AssertionError, OverflowError):
            raise DataError(f"{folder / 'localization.txt'}:{n}: expected '<image>,x0,y0,x1,y1', got {row}") from None
        if stem not in out or out[stem]["size"] is None:
            raise DataError(f"{folder / 'localization.txt'}:{n}: box for unknown image {row[0]}")
        _check_box(box, out[stem]["size"], f"{folder / 'localization.txt'}:{n}")
        out[stem]["boxes"].append(box)
    for stem, d in out.items():
        if d["size"] is None:
            raise DataError(f"{folder / 'image_sizes.txt'}: no size for image {stem}")
        if not d["boxes"]:
            raise DataError(f"{folder / 'localization.txt'}: no box for image {stem}")
        d["boxes"] = np.array(d["boxes"], dtype=np.float64)
    return out


def load_ground_truth(path: str | Path, synsets=None) -> dict[str, dict]:
    """A folder of XMLs or a wsolevaluation metadata folder, whichever `path` is."""
    path = Path(path)
    if not path.exists():
        raise DataMissing(f"no ground truth at {path}; expected {LAYOUT}")
    if (path / "localization.txt").exists():
        return ground_truth_from_metadata(path)
    return ground_truth_from_xml(path, synsets)


def load_val(root, limit: int | None = None) -> list[dict]:
    """[{"id", "path", "class", "boxes", "size"}] for the val JPEGs under the data root.
    JPEGs are required (DataMissing otherwise); boxes come from the XMLs if present, else the metadata."""
    if root is None:
        raise DataMissing(f"no data root given (--data-root or REPRO_DATA_ROOT); expected {LAYOUT}")
    root = Path(root)
    synsets = root / "LOC_synset_mapping.txt"
    if (root / XML_DIR).is_dir():
        gt = ground_truth_from_xml(root / XML_DIR, synsets if synsets.exists() else None)
    else:
        gt = ground_truth_from_metadata(locate(root, META_DIR, LAYOUT))
    jpegs = locate(root, JPEG_DIR, LAYOUT)          # boxes are read first: only the images are missing then
    files = sorted(jpegs.glob("*.JPEG"))
    if not files:
        raise DataMissing(f"{jpegs} holds no .JPEG files; expected {LAYOUT}")
    out = []
    for f in files[:limit] if limit else files:
        if f.stem not in gt:
            raise DataError(f"{f}: no ground-truth boxes for this image")
        out.append({"id": f.stem, "path": f, **gt[f.stem]})
    return out


TRAIN_DIR = "ILSVRC2012_img_train"
TRAIN_LAYOUT = f"<data-root>/{TRAIN_DIR}/<wnid>/*.JPEG (the 1000 class folders of the official train tar, unpacked)"


def train_samples(root) -> list[tuple[Path, int]]:
    """(image path, class index) for ILSVRC2012 train: class index = rank of the wnid folder among
    the sorted 1000 (torchvision's order, the same as the val labels)."""
    folder = locate(root, TRAIN_DIR, TRAIN_LAYOUT)
    wnids = sorted(d.name for d in folder.iterdir() if d.is_dir())
    if len(wnids) != 1000:
        raise DataError(f"{folder}: expected 1000 class folders (wnids), found {len(wnids)}; expected {TRAIN_LAYOUT}")
    out = [(p, i) for i, w in enumerate(wnids) for p in sorted((folder / w).glob("*.JPEG"))]
    if not out:
        raise DataMissing(f"{folder} holds no JPEGs; expected {TRAIN_LAYOUT}")
    return out
