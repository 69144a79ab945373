"""Miniature datasets in the published on-disk layouts, for checking a set-up before downloading
hundreds of GB, and for the project's own tests of every full-tier path.

    python -m datasets fake --layout voc2007 DIR        (or: ./repro data fake --layout voc2007 DIR)
    python -m datasets fake --layout all DIR

Each layout writes a few images (deterministic: the same bytes on every run for the same seed) in
the files, names, formats and encodings of the original release, so the project's readers (and
the originals' own tools) read them unchanged:

    voc2007      VOCdevkit/VOC2007: Annotations/*.xml (the devkit's XML), JPEGImages/*.jpg,
                 ImageSets/Main/{train,val,trainval,test}.txt and <class>_<split>.txt (" 1"/"-1"/" 0")
    voc2012      VOCdevkit/VOC2012: JPEGImages, SegmentationClass + SegmentationObject (palette PNGs with
                 the VOC colour map, 255 on object borders), Annotations, ImageSets/{Main,Segmentation}
                 (train, val, trainval, test), plus the SBD augmentation as used by DeepLab:
                 SegmentationClassAug/*.png (class-id greyscale PNGs) and ImageSets/Segmentation/train_aug.txt,
                 and the SBD release it is converted from: benchmark_RELEASE/dataset/{cls,inst}/*.mat (MATLAB v5,
                 zlib-compressed, structs GTcls / GTinst as scipy.io.loadmat reads the real ones), img/*.jpg,
                 train.txt, val.txt (SBD's train holds a VOC 2012 val image, as the real one does)
    coco         coco/annotations/instances_{train,val}2017.json, instances_{train,val}2014.json,
                 captions_{train,val}2014.json, coco/{train,val}{2014,2017}/*.jpg (COCO_<split>2014_<12 digits>.jpg
                 and <12 digits>.jpg), coco/dataset_coco.json (Karpathy's split: train/restval/val/test)
    ilsvrc_val   ILSVRC2012_img_val/ILSVRC2012_val_XXXXXXXX.JPEG, ILSVRC2012_bbox_val/val/*.xml,
                 LOC_synset_mapping.txt, LOC_val_solution.csv (the Kaggle LOC CSVs), and wsolevaluation's
                 imagenet-loc/metadata/ILSVRC/test/{image_ids,class_labels,image_sizes,localization}.txt
    ilsvrc_train ILSVRC2012_img_train/<wnid>/<wnid>_<n>.JPEG (all 1,000 class folders, a few JPEGs)
    ilsvrc_test  ILSVRC2012_img_test/ILSVRC2012_test_XXXXXXXX.JPEG, ILSVRC2014_clsloc_test_gt/*.xml,
                 LOC_synset_mapping.txt
    cityscapes   cityscapes/leftImg8bit/{train,val,test}/<city>/*_leftImg8bit.png, gtFine/.../*_gtFine_{labelIds,
                 instanceIds,color}.png and *_gtFine_polygons.json
    omniglot     omniglot/python/images_{background,evaluation}/<Alphabet>/characterNN/<id>_<drawer>.png
                 (105x105 1-bit PNGs) and the same folders zipped (images_background.zip, ...); with
                 total=(964, 659) the release's 1,623 characters (the full tier's split needs them)
    vctk         audio/VCTK-Corpus-0.92/wav48_silence_trimmed/pNNN/pNNN_MMM_mic{1,2}.flac (48 kHz, 16-bit FLAC),
                 txt/pNNN/pNNN_MMM.txt, speaker-info.txt (3 speakers x 6 clips of 0.6 s)
    mnist        mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (IDX, big-endian header, gzip)
    flickr30k    flickr30k/dataset_flickr30k.json (Karpathy's split: train/val/test) + flickr30k/images/<flickr id>.jpg
    pascal_sentences  pascal-sentences/dataset/<VOC class>/<VOC 2008 id>.jpg + pascal-sentences/sentence/<class>/<id>.txt
                 (five sentences a file, as scraped from the UIUC page)
    sbu          sbu/SBU_captioned_photo_dataset_{captions,urls}.txt (aligned lines, as released) and
                 sbu/images/<0-based line>.jpg for the photos fetched (one URL "dead": no image)

What cannot be byte-compatible is said where it matters: the images are drawn, not photographs; the
counts are tiny (so checks of a dataset's size, e.g. MNIST's sha256, do not pass on them; Omniglot's
1,623 characters are written on request); the ILSVRC synsets are the real 1,000, the COCO categories the real 80.
"""
from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import numpy as np

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor")

# the 80 COCO categories with their published (gappy) ids and supercategories
COCO_CATEGORIES = [
    (1, "person", "person"), (2, "bicycle", "vehicle"), (3, "car", "vehicle"), (4, "motorcycle", "vehicle"),
    (5, "airplane", "vehicle"), (6, "bus", "vehicle"), (7, "train", "vehicle"), (8, "truck", "vehicle"),
    (9, "boat", "vehicle"), (10, "traffic light", "outdoor"), (11, "fire hydrant", "outdoor"),
    (13, "stop sign", "outdoor"), (14, "parking meter", "outdoor"), (15, "bench", "outdoor"), (16, "bird", "animal"),
    (17, "cat", "animal"), (18, "dog", "animal"), (19, "horse", "animal"), (20, "sheep", "animal"),
    (21, "cow", "animal"), (22, "elephant", "animal"), (23, "bear", "animal"), (24, "zebra", "animal"),
    (25, "giraffe", "animal"), (27, "backpack", "accessory"), (28, "umbrella", "accessory"),
    (31, "handbag", "accessory"), (32, "tie", "accessory"), (33, "suitcase", "accessory"), (34, "frisbee", "sports"),
    (35, "skis", "sports"), (36, "snowboard", "sports"), (37, "sports ball", "sports"), (38, "kite", "sports"),
    (39, "baseball bat", "sports"), (40, "baseball glove", "sports"), (41, "skateboard", "sports"),
    (42, "surfboard", "sports"), (43, "tennis racket", "sports"), (44, "bottle", "kitchen"),
    (46, "wine glass", "kitchen"), (47, "cup", "kitchen"), (48, "fork", "kitchen"), (49, "knife", "kitchen"),
    (50, "spoon", "kitchen"), (51, "bowl", "kitchen"), (52, "banana", "food"), (53, "apple", "food"),
    (54, "sandwich", "food"), (55, "orange", "food"), (56, "broccoli", "food"), (57, "carrot", "food"),
    (58, "hot dog", "food"), (59, "pizza", "food"), (60, "donut", "food"), (61, "cake", "food"),
    (62, "chair", "furniture"), (63, "couch", "furniture"), (64, "potted plant", "furniture"), (65, "bed", "furniture"),
    (67, "dining table", "furniture"), (70, "toilet", "furniture"), (72, "tv", "electronic"),
    (73, "laptop", "electronic"), (74, "mouse", "electronic"), (75, "remote", "electronic"),
    (76, "keyboard", "electronic"), (77, "cell phone", "electronic"), (78, "microwave", "appliance"),
    (79, "oven", "appliance"), (80, "toaster", "appliance"), (81, "sink", "appliance"),
    (82, "refrigerator", "appliance"), (84, "book", "indoor"), (85, "clock", "indoor"), (86, "vase", "indoor"),
    (87, "scissors", "indoor"), (88, "teddy bear", "indoor"), (89, "hair drier", "indoor"),
    (90, "toothbrush", "indoor")]

CITYSCAPES_COLORS = {0: (0, 0, 0), 7: (128, 64, 128), 8: (244, 35, 232), 11: (70, 70, 70), 13: (190, 153, 153),
                     17: (153, 153, 153), 21: (107, 142, 35), 23: (70, 130, 180), 24: (220, 20, 60),
                     26: (0, 0, 142)}
CITYSCAPES_NAMES = {0: "unlabeled", 7: "road", 8: "sidewalk", 11: "building", 13: "fence", 17: "pole",
                    21: "vegetation", 23: "sky", 24: "person", 26: "car"}

WORDS = ("a man riding a wave on top of a surfboard", "a dog sitting on a couch next to a person",
         "two people standing in a kitchen near a stove", "a red bus driving down a city street",
         "a plate of food with broccoli and rice", "a cat laying on a bed with a blanket",
         "a group of people flying kites in a park", "a train on the tracks at a station")


# ----------------------------------------------------------------------------- drawing
def _objects(rng, w: int, h: int, n_classes: int, k: int | None = None):
    """k random rectangles (class, x0, y0, x1, y1) in 0-based pixel coordinates, inclusive."""
    out = []
    for _ in range(k or int(rng.integers(1, 4))):
        bw, bh = int(rng.integers(w // 5, w // 2)), int(rng.integers(h // 5, h // 2))
        x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        out.append((int(rng.integers(0, n_classes)), x0, y0, x0 + bw - 1, y0 + bh - 1))
    return out


def _image(rng, w: int, h: int, objects=()) -> np.ndarray:
    """A textured background with a coloured, textured block per object (uint8 HxWx3)."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.integers(60, 200, 3)
    img = base + 30 * np.sin(xx[..., None] / rng.uniform(5, 20) + rng.uniform(0, 6, 3)) * \
        np.cos(yy[..., None] / rng.uniform(5, 20))
    for c, x0, y0, x1, y1 in objects:
        colour = np.array([(37 * c) % 256, (91 * c + 80) % 256, (53 * c + 160) % 256])
        img[y0:y1 + 1, x0:x1 + 1] = colour + 20 * rng.standard_normal((y1 - y0 + 1, x1 - x0 + 1, 3))
    return np.clip(img + 6 * rng.standard_normal(img.shape), 0, 255).astype(np.uint8)


def _jpeg(path: Path, arr: np.ndarray, quality: int = 90) -> None:
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, "JPEG", quality=quality)


def _png(path: Path, arr: np.ndarray, mode: str | None = None, palette=None) -> None:
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(arr, mode=mode) if mode else Image.fromarray(arr)
    if palette is not None:
        im.putpalette(palette)
    im.save(path, "PNG")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _voc_xml(folder: str, filename: str, w: int, h: int, objects, names, database: str,
             segmented: int = 0, difficult=()) -> str:
    """The VOC devkit's annotation XML (tab-indented, as in VOC2007/Annotations), boxes 1-based inclusive."""
    objs = "".join(
        f"\t<object>\n\t\t<name>{names[c]}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n"
        f"\t\t<difficult>{int(i in difficult)}</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>{x0 + 1}</xmin>\n"
        f"\t\t\t<ymin>{y0 + 1}</ymin>\n\t\t\t<xmax>{x1 + 1}</xmax>\n\t\t\t<ymax>{y1 + 1}</ymax>\n\t\t</bndbox>\n"
        f"\t</object>\n" for i, (c, x0, y0, x1, y1) in enumerate(objects))
    return (f"<annotation>\n\t<folder>{folder}</folder>\n\t<filename>{filename}</filename>\n\t<source>\n"
            f"\t\t<database>{database}</database>\n\t\t<annotation>PASCAL VOC2007</annotation>\n"
            f"\t\t<image>flickr</image>\n\t</source>\n\t<size>\n\t\t<width>{w}</width>\n\t\t<height>{h}</height>\n"
            f"\t\t<depth>3</depth>\n\t</size>\n\t<segmented>{segmented}</segmented>\n{objs}</annotation>\n")


def _lists(base: Path, splits: dict[str, list[str]], records: dict[str, list] | None = None) -> None:
    """ImageSets/Main/<split>.txt and, with records, the per-class <class>_<split>.txt (id, then 1 / -1 / 0)."""
    for split, ids in splits.items():
        _write(base / f"{split}.txt", "".join(f"{i}\n" for i in ids))
        if records is None:
            continue
        for c, name in enumerate(VOC_CLASSES):
            lines = []
            for i in ids:
                objs = records[i]
                flag = " 1" if any(o[0] == c for o in objs) else "-1"
                lines.append(f"{i} {flag}\n")
            _write(base / f"{name}_{split}.txt", "".join(lines))


# ----------------------------------------------------------------------------- layouts
def voc2007(root: Path, n: int = 8, seed: int = 0, size=(200, 150)) -> Path:
    rng = np.random.default_rng(seed)
    base = Path(root) / "VOCdevkit" / "VOC2007"
    ids = [f"{i:06d}" for i in range(1, n + 1)]
    records = {}
    for i in ids:
        w, h = size
        objs = _objects(rng, w, h, len(VOC_CLASSES))
        records[i] = objs
        _jpeg(base / "JPEGImages" / f"{i}.jpg", _image(rng, w, h, objs))
        _write(base / "Annotations" / f"{i}.xml",
               _voc_xml("VOC2007", f"{i}.jpg", w, h, objs, VOC_CLASSES, "The VOC2007 Database",
                        difficult={1} if int(i) % 4 == 0 else ()))
    q = max(1, n // 4)
    splits = {"train": ids[:q], "val": ids[q:2 * q], "trainval": ids[:2 * q], "test": ids[2 * q:]}
    _lists(base / "ImageSets" / "Main", splits, records)
    return base


# a fixed MAT-file header text (scipy writes the creation time there; the bytes must not change)
MAT_HEADER = b"MATLAB 5.0 MAT-file, written by datasets.fake (a miniature SBD release)".ljust(116, b" ")


def _mat(path: Path, name: str, fields: dict) -> None:
    """A MATLAB v5 MAT-file (zlib-compressed elements, as MATLAB's `save` writes since R14) holding one
    1x1 struct `name` with `fields` (dict order = field order)."""
    import scipy.io
    buf = io.BytesIO()
    scipy.io.savemat(buf, {name: fields}, do_compression=True, oned_as="column")
    raw = buf.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(MAT_HEADER + raw[116:])


def _boundaries(lab: np.ndarray, values) -> np.ndarray:
    """SBD's Boundaries: a cell (len(values) x 1) of sparse logical HxW maps, the inner border of each region."""
    import scipy.sparse
    edge = np.zeros(lab.shape, bool)
    edge[:-1] |= lab[:-1] != lab[1:]
    edge[1:] |= lab[1:] != lab[:-1]
    edge[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    cell = np.empty((len(values), 1), object)
    for k, v in enumerate(values):
        cell[k, 0] = scipy.sparse.csc_matrix(edge & (lab == v))
    return cell


def _sbd(base: Path, iid: str, cls: np.ndarray, inst: np.ndarray, objs) -> None:
    """cls/<id>.mat (GTcls: Segmentation, Boundaries per class 1..20, CategoriesPresent) and inst/<id>.mat
    (GTinst: Segmentation with instance ids, Boundaries per instance, Categories), as in SBD."""
    present = sorted({int(c) for c in np.unique(cls) if c != 0})
    _mat(base / "cls" / f"{iid}.mat", "GTcls", {
        "Segmentation": cls, "Boundaries": _boundaries(cls, range(1, len(VOC_CLASSES) + 1)),
        "CategoriesPresent": np.asarray(present, np.float64).reshape(-1, 1)})
    kept = [k for k in range(1, len(objs) + 1) if (inst == k).any()]
    _mat(base / "inst" / f"{iid}.mat", "GTinst", {
        "Segmentation": inst, "Boundaries": _boundaries(inst, kept),
        "Categories": np.asarray([objs[k - 1][0] + 1 for k in kept], np.float64).reshape(-1, 1)})


def voc2012(root: Path, n: int = 8, seed: int = 0, size=(200, 150), n_aug: int = 4,
            aug=("SegmentationClassAug", "SBD")) -> Path:
    """VOC 2012 segmentation (+ the SBD-augmented train_aug set DeepLab trains on, in the layouts named
    in `aug`: "SegmentationClassAug" (the converted PNGs + train_aug.txt) and/or "SBD" (the release)).

    The SBD release covers the `n_aug` extra images, the first VOC train image and the first and last
    VOC val images (the first in SBD's train split), so that building train_aug from it
    (`voc.train_aug_ids`) gives the ids of train_aug.txt: VOC train + the extra images."""
    from metrics.segmentation import voc_palette
    rng = np.random.default_rng(seed + 1)
    base = Path(root) / "VOCdevkit" / "VOC2012"
    pal = voc_palette(256).ravel().tolist()
    ids = [f"2007_{i:06d}" for i in range(32, 32 + n)]
    aug_ids = [f"2008_{i:06d}" for i in range(1, n_aug + 1)]
    test_ids = [f"2008_{i:06d}" for i in range(100, 102)]
    half = n // 2
    sbd_ids = sorted({ids[0], ids[half], ids[-1], *aug_ids}) if "SBD" in aug else []
    sbd = Path(root) / "benchmark_RELEASE" / "dataset"
    for i in ids + aug_ids + test_ids:
        w, h = size
        objs = _objects(rng, w, h, len(VOC_CLASSES))
        _jpeg(base / "JPEGImages" / f"{i}.jpg", _image(rng, w, h, objs))
        _write(base / "Annotations" / f"{i}.xml", _voc_xml("VOC2012", f"{i}.jpg", w, h, objs, VOC_CLASSES,
                                                           "The VOC2008 Database", segmented=1))
        if i in test_ids:
            continue
        lab = np.zeros((h, w), np.uint8)
        inst = np.zeros((h, w), np.uint8)
        for k, (c, x0, y0, x1, y1) in enumerate(objs, 1):
            lab[y0:y1 + 1, x0:x1 + 1] = c + 1
            inst[y0:y1 + 1, x0:x1 + 1] = k
        full = lab.copy()                                    # SBD labels have no border
        if i in sbd_ids:
            _sbd(sbd, i, full, inst.copy(), objs)
            (sbd / "img").mkdir(parents=True, exist_ok=True)
            (sbd / "img" / f"{i}.jpg").write_bytes((base / "JPEGImages" / f"{i}.jpg").read_bytes())
        edge = np.zeros_like(lab, bool)                      # VOC marks object borders 255 ("void")
        edge[:-1] |= inst[:-1] != inst[1:]
        edge[:, :-1] |= inst[:, :-1] != inst[:, 1:]
        lab[edge], inst[edge] = 255, 255
        if i in ids:
            _png(base / "SegmentationClass" / f"{i}.png", lab, "P", pal)
            _png(base / "SegmentationObject" / f"{i}.png", inst, "P", pal)
        if "SegmentationClassAug" in aug:
            _png(base / "SegmentationClassAug" / f"{i}.png", full, "L")   # SBD-derived labels have no border
    seg = {"train": ids[:half], "val": ids[half:], "trainval": ids, "test": test_ids}
    _lists(base / "ImageSets" / "Segmentation", seg)
    if "SegmentationClassAug" in aug:
        _write(base / "ImageSets" / "Segmentation" / "train_aug.txt", "".join(f"{i}\n" for i in ids[:half] + aug_ids))
    if sbd_ids:      # SBD's own splits hold VOC 2012 train and val images (train_aug drops the val ones)
        k = (n_aug + 1) // 2
        _write(sbd / "train.txt", "".join(f"{i}\n" for i in sorted({ids[0], ids[half], *aug_ids[:k]})))
        _write(sbd / "val.txt", "".join(f"{i}\n" for i in sorted({ids[-1], *aug_ids[k:]})))
    _lists(base / "ImageSets" / "Main", {"train": ids[:half] + aug_ids, "val": ids[half:],
                                          "trainval": ids + aug_ids, "test": test_ids})
    return base


def _coco_instances(split_name: str, images: list[dict], anns: list[dict]) -> dict:
    return {"info": {"description": "COCO 2017 Dataset (fake miniature)", "url": "http://cocodataset.org",
                     "version": "1.0", "year": 2017, "contributor": "COCO Consortium",
                     "date_created": "2017/09/01"},
            "licenses": [{"url": "http://creativecommons.org/licenses/by-nc-sa/2.0/", "id": 1,
                          "name": "Attribution-NonCommercial-ShareAlike License"}],
            "images": images, "annotations": anns,
            "categories": [{"supercategory": s, "id": i, "name": n} for i, n, s in COCO_CATEGORIES]}


def coco(root: Path, n: int = 8, seed: int = 0, size=(160, 120)) -> Path:
    """COCO 2014 and 2017 instances, 2014 captions, the images, and Karpathy's split file."""
    rng = np.random.default_rng(seed + 2)
    base = Path(root) / "coco"
    karpathy, sentid = [], 0
    ann_id = 1
    for year in ("2014", "2017"):
        for split in ("train", "val"):
            images, anns, caps = [], [], []
            for k in range(n):
                cid = (391895 if split == "val" else 9) + 1000 * k + (0 if year == "2014" else 1)
                w, h = size
                objs = _objects(rng, w, h, len(COCO_CATEGORIES))
                fname = f"COCO_{split}{year}_{cid:012d}.jpg" if year == "2014" else f"{cid:012d}.jpg"
                _jpeg(base / f"{split}{year}" / fname, _image(rng, w, h, objs))
                images.append({"license": 1, "file_name": fname,
                               "coco_url": f"http://images.cocodataset.org/{split}{year}/{fname}",
                               "height": h, "width": w, "date_captured": "2013-11-14 11:18:45",
                               "flickr_url": "http://farm1.staticflickr.com/1/1_1.jpg", "id": cid})
                for c, x0, y0, x1, y1 in objs:
                    bw, bh = float(x1 - x0 + 1), float(y1 - y0 + 1)
                    anns.append({"segmentation": [[x0, y0, x1 + 1, y0, x1 + 1, y1 + 1, x0, y1 + 1]],
                                 "area": bw * bh, "iscrowd": 0, "image_id": cid,
                                 "bbox": [float(x0), float(y0), bw, bh], "category_id": COCO_CATEGORIES[c][0],
                                 "id": ann_id})
                    ann_id += 1
                sents = [WORDS[(k + j) % len(WORDS)] + ("." if j % 2 else "") for j in range(5)]
                for s in sents:
                    caps.append({"image_id": cid, "id": ann_id, "caption": s})
                    ann_id += 1
                if year == "2014":
                    ks = ("train" if split == "train" else
                          ("restval", "val", "test", "test")[k % 4] if k >= 2 else "train")
                    ids = list(range(sentid, sentid + 5))
                    sentid += 5
                    karpathy.append({"filepath": f"{split}2014", "sentids": ids, "filename": fname,
                                     "imgid": len(karpathy), "split": ks, "cocoid": cid,
                                     "sentences": [{"tokens": s.rstrip(".").split(), "raw": s,
                                                    "imgid": len(karpathy), "sentid": sid}
                                                   for s, sid in zip(sents, ids)]})
            inst = _coco_instances(f"{split}{year}", images, anns)
            _write(base / "annotations" / f"instances_{split}{year}.json", json.dumps(inst))
            if year == "2014":
                _write(base / "annotations" / f"captions_{split}{year}.json",
                       json.dumps({**{k: inst[k] for k in ("info", "licenses", "images")}, "annotations": caps}))
    _write(base / "dataset_coco.json", json.dumps({"images": karpathy, "dataset": "coco"}))
    return base


def _synsets() -> list[tuple[str, str]]:
    """The 1,000 ILSVRC-2012 synsets with their words, in the standard (sorted) class order."""
    import timm.data
    info = Path(timm.data.__file__).parent / "_info"
    lemma = dict(line.split("\t", 1) for line in (info / "imagenet_synset_to_lemma.txt").read_text().splitlines()
                 if "\t" in line)
    wnids = (info / "imagenet_synsets.txt").read_text().split()
    return [(w, lemma.get(w, w).strip()) for w in wnids]


def _ilsvrc_xml(folder: str, stem: str, w: int, h: int, wnid: str, boxes) -> str:
    objs = "".join(f"\t<object>\n\t\t<name>{wnid}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n"
                   f"\t\t<difficult>0</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>{x0}</xmin>\n\t\t\t<ymin>{y0}</ymin>\n"
                   f"\t\t\t<xmax>{x1}</xmax>\n\t\t\t<ymax>{y1}</ymax>\n\t\t</bndbox>\n\t</object>\n"
                   for x0, y0, x1, y1 in boxes)
    return (f"<annotation>\n\t<folder>{folder}</folder>\n\t<filename>{stem}</filename>\n\t<source>\n"
            f"\t\t<database>ILSVRC_2012</database>\n\t</source>\n\t<size>\n\t\t<width>{w}</width>\n"
            f"\t\t<height>{h}</height>\n\t\t<depth>3</depth>\n\t</size>\n\t<segmented>0</segmented>\n{objs}</annotation>\n")


def _synset_mapping(root: Path) -> list[str]:
    syn = _synsets()
    _write(Path(root) / "LOC_synset_mapping.txt", "".join(f"{w} {words}\n" for w, words in syn))
    return [w for w, _ in syn]


def ilsvrc_val(root: Path, n: int = 8, seed: int = 0, size=(200, 150)) -> Path:
    rng = np.random.default_rng(seed + 3)
    root = Path(root)
    wnids = _synset_mapping(root)
    meta = root / "imagenet-loc" / "metadata" / "ILSVRC" / "test"
    sol, ids, labels, sizes, locs = ["ImageId,PredictionString\n"], [], [], [], []
    for k in range(1, n + 1):
        stem = f"ILSVRC2012_val_{k:08d}"
        w, h = size[0] + 8 * (k % 3), size[1]
        c = int(rng.integers(0, 1000))
        objs = _objects(rng, w, h, 1)
        boxes = [(x0, y0, x1, y1) for _, x0, y0, x1, y1 in objs]
        _jpeg(root / "ILSVRC2012_img_val" / f"{stem}.JPEG", _image(rng, w, h, [(c % 20, *b) for b in boxes]))
        _write(root / "ILSVRC2012_bbox_val" / "val" / f"{stem}.xml", _ilsvrc_xml("val", stem, w, h, wnids[c], boxes))
        sol.append(f"{stem}," + "".join(f"{wnids[c]} {x0} {y0} {x1} {y1} " for x0, y0, x1, y1 in boxes) + "\n")
        rel = f"val/{stem}.JPEG"
        ids.append(f"{rel}\n"), labels.append(f"{rel},{c}\n"), sizes.append(f"{rel},{w},{h}\n")
        locs += [f"{rel},{x0},{y0},{x1},{y1}\n" for x0, y0, x1, y1 in boxes]
    _write(root / "LOC_val_solution.csv", "".join(sol))
    for name, lines in (("image_ids", ids), ("class_labels", labels), ("image_sizes", sizes), ("localization", locs)):
        _write(meta / f"{name}.txt", "".join(lines))
    return root / "ILSVRC2012_img_val"


def ilsvrc_train(root: Path, n: int = 8, seed: int = 0, size=(200, 150)) -> Path:
    """ILSVRC2012_img_train/<wnid>/<wnid>_<n>.JPEG: all 1,000 class folders, a JPEG in the first `n`."""
    rng = np.random.default_rng(seed + 9)
    base = Path(root) / "ILSVRC2012_img_train"
    wnids = _synset_mapping(root)
    for c, w in enumerate(wnids):
        (base / w).mkdir(parents=True, exist_ok=True)
        if c < n:
            objs = _objects(rng, *size, 1)
            _jpeg(base / w / f"{w}_{10026 + c}.JPEG", _image(rng, *size, [(c % 20, *o[1:]) for o in objs]))
    return base


def ilsvrc_test(root: Path, n: int = 4, seed: int = 0, size=(200, 150)) -> Path:
    rng = np.random.default_rng(seed + 4)
    root = Path(root)
    wnids = _synset_mapping(root)
    for k in range(1, n + 1):
        stem = f"ILSVRC2012_test_{k:08d}"
        w, h = size
        c = int(rng.integers(0, 1000))
        boxes = [(x0, y0, x1, y1) for _, x0, y0, x1, y1 in _objects(rng, w, h, 1)]
        _jpeg(root / "ILSVRC2012_img_test" / f"{stem}.JPEG", _image(rng, w, h, [(c % 20, *b) for b in boxes]))
        _write(root / "ILSVRC2014_clsloc_test_gt" / f"{stem}.xml", _ilsvrc_xml("test", stem, w, h, wnids[c], boxes))
    return root / "ILSVRC2012_img_test"


def cityscapes(root: Path, n: int = 2, seed: int = 0, size=(256, 128)) -> Path:
    """Frames of two cities per split; labelIds/instanceIds/color PNGs and polygon JSON (test: all 0, as released)."""
    rng = np.random.default_rng(seed + 5)
    base = Path(root) / "cityscapes"
    cities = {"train": ("aachen", "bochum"), "val": ("frankfurt",), "test": ("berlin",)}
    w, h = size
    ids = list(CITYSCAPES_COLORS)
    for split, cs in cities.items():
        for city in cs:
            for k in range(n):
                stem = f"{city}_{k:06d}_{19:06d}"
                lab = np.full((h, w), 7, np.uint8)                 # road
                lab[: h // 3] = 23                                   # sky
                lab[h // 3: h // 2] = 11                             # building
                objs = _objects(rng, w, h, len(ids))
                inst = lab.astype(np.int32).copy()
                for j, (c, x0, y0, x1, y1) in enumerate(objs):
                    lab[y0:y1 + 1, x0:x1 + 1] = ids[c]
                    inst[y0:y1 + 1, x0:x1 + 1] = ids[c] * 1000 + j if ids[c] >= 24 else ids[c]
                if split == "test":
                    lab[:], inst[:] = 0, 0
                colour = np.zeros((h, w, 4), np.uint8)
                for i, col in CITYSCAPES_COLORS.items():
                    colour[lab == i] = (*col, 255)
                img = _image(rng, w, h)
                for i, col in CITYSCAPES_COLORS.items():
                    m = lab == i
                    img[m] = (0.6 * img[m] + 0.4 * np.array(col)).astype(np.uint8)
                _png(base / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", img)
                gt = base / "gtFine" / split / city
                _png(gt / f"{stem}_gtFine_labelIds.png", lab, "L")
                _png(gt / f"{stem}_gtFine_instanceIds.png", inst.astype(np.uint16))   # 16-bit greyscale PNG
                _png(gt / f"{stem}_gtFine_color.png", colour, "RGBA")
                polys = [{"label": CITYSCAPES_NAMES[ids[c]], "polygon": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]}
                         for c, x0, y0, x1, y1 in objs] if split != "test" else []
                _write(gt / f"{stem}_gtFine_polygons.json",
                       json.dumps({"imgHeight": h, "imgWidth": w, "objects": polys}, indent=4))
    return base


def omniglot(root: Path, seed: int = 0, alphabets: int = 2, characters: int = 3, drawers: int = 20,
             total: tuple[int, int] | None = None, zips: bool = True) -> Path:
    """images_background and images_evaluation: <Alphabet>/characterNN/<character id>_<drawer>.png,
    105x105 1-bit PNGs (ink black on white), and the zip files the release ships.

    `characters` per alphabet, or with `total=(964, 659)` the release's character counts (background,
    evaluation) spread over the `alphabets` of each part: the 1,623 characters the full tier's Vinyals
    split checks for (with `drawers=6`, enough for 5-shot episodes, ~10k tiny PNGs)."""
    from PIL import Image, ImageDraw
    rng = np.random.default_rng(seed + 6)
    base = Path(root) / "omniglot" / "python"
    char_id = 0
    for p, (part, names) in enumerate((("images_background", ("Alphabet_of_the_Magi", "Anglo-Saxon_Futhorc", "Armenian")),
                                       ("images_evaluation", ("Angelic", "Atemayar_Qelisayer", "Atlantean")))):
        names = names[:alphabets]
        per = [characters] * len(names) if total is None else \
            [total[p] // len(names) + (a < total[p] % len(names)) for a in range(len(names))]
        for alpha, n_chars in zip(names, per):
            for c in range(1, n_chars + 1):
                char_id += 1
                strokes = rng.integers(15, 90, (3, 4))
                folder = base / part / alpha / f"character{c:02d}"
                folder.mkdir(parents=True, exist_ok=True)
                for d in range(1, drawers + 1):
                    im = Image.new("1", (105, 105), 1)
                    draw = ImageDraw.Draw(im)
                    for s in strokes:
                        jitter = rng.integers(-4, 5, 4)
                        draw.line([tuple(s[:2] + jitter[:2]), tuple(s[2:] + jitter[2:])], fill=0, width=3)
                    im.save(folder / f"{char_id:04d}_{d:02d}.png", "PNG")
        if zips:
            with zipfile.ZipFile(base / f"{part}.zip", "w", zipfile.ZIP_DEFLATED) as z:
                for q in sorted((base / part).rglob("*")):
                    z.write(q, q.relative_to(base).as_posix() + ("/" if q.is_dir() else ""))
    return base


def vctk(root: Path, seed: int = 0, speakers=("p225", "p226", "p227"), per_speaker: int = 6,
         seconds: float = 0.6) -> Path:
    """VCTK 0.92: 48 kHz 16-bit FLAC per microphone, transcripts and speaker-info.txt. The defaults fit
    the WaveNet full tier: it holds out each speaker's last 5 utterances (so 6 leave one to train on)
    and trains on 8,000-sample crops at 16 kHz (0.5 s; the clips are 0.6 s)."""
    import soundfile as sf
    rng = np.random.default_rng(seed + 7)
    base = Path(root) / "audio" / "VCTK-Corpus-0.92"
    sr = 48000
    info = ["ID  AGE  GENDER  ACCENTS  REGION COMMENTS \n"]
    for j, spk in enumerate(speakers):
        info.append(f"{spk}  {23 + j}  {'FM'[j % 2]}    English    Southern  England\n")
        f0 = 110 + 40 * j
        for u in range(1, per_speaker + 1):
            t = np.arange(int(seconds * sr)) / sr
            env = np.sin(np.pi * t / seconds) ** 2
            wav = env * (0.3 * np.sin(2 * np.pi * f0 * t * (1 + 0.05 * u)) + 0.1 * np.sin(2 * np.pi * 3 * f0 * t))
            wav = wav + 0.01 * rng.standard_normal(len(t))
            for mic in (1, 2):
                p = base / "wav48_silence_trimmed" / spk / f"{spk}_{u:03d}_mic{mic}.flac"
                p.parent.mkdir(parents=True, exist_ok=True)
                sf.write(str(p), (wav * (1 if mic == 1 else 0.8)).astype(np.float32), sr, subtype="PCM_16",
                         format="FLAC")
            _write(base / "txt" / spk / f"{spk}_{u:03d}.txt", WORDS[(j + u) % len(WORDS)].capitalize() + ".\n")
    _write(base / "speaker-info.txt", "".join(info))
    return base


def _idx(arr: np.ndarray) -> bytes:
    """IDX: two zero bytes, the type code (0x08 = uint8), the number of dimensions, big-endian sizes."""
    head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def mnist(root: Path, seed: int = 0, n_train: int = 64, n_test: int = 32) -> Path:
    """The four IDX files, gzipped (magic 0x00000803 for images, 0x00000801 for labels)."""
    rng = np.random.default_rng(seed + 8)
    base = Path(root) / "mnist"
    base.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        rng.shuffle(labels)
        images = np.zeros((n, 28, 28), np.uint8)
        for i, y in enumerate(labels):          # a blob whose position and shape depend on the digit
            cy, cx = 8 + (y % 3) * 6, 8 + (y // 3) * 4
            yy, xx = np.mgrid[0:28, 0:28]
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2 / (1 + y % 4)) / 12)
            images[i] = np.clip(255 * blob + 20 * rng.standard_normal((28, 28)), 0, 255)
        for stem, arr in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            buf = io.BytesIO()
            with gzip.GzipFile(filename=stem, mode="wb", fileobj=buf, mtime=0) as g:
                g.write(_idx(arr))
            (base / f"{stem}.gz").write_bytes(buf.getvalue())
    return base


def _sentences(k: int) -> list[str]:
    """Five captions of image k, capitalised with a full stop (as the releases' raw sentences)."""
    return [WORDS[(k + j) % len(WORDS)].capitalize() + "." for j in range(5)]


def flickr30k(root: Path, n: int = 8, seed: int = 0, size=(160, 120)) -> Path:
    """Karpathy's dataset_flickr30k.json (the 29k/1k/1k split; here the last quarter test, the one
    before it val) and the images, named by their Flickr ids as in flickr30k-images/."""
    rng = np.random.default_rng(seed + 10)
    base = Path(root) / "flickr30k"
    images, sentid = [], 0
    for k in range(n):
        fname = f"{1000092795 + 7919 * k}.jpg"
        _jpeg(base / "images" / fname, _image(rng, *size, _objects(rng, *size, 20)))
        split = "test" if k >= n - max(1, n // 4) else "val" if k >= n - 2 * max(1, n // 4) else "train"
        sents = _sentences(k)
        ids = list(range(sentid, sentid + len(sents)))
        sentid += len(sents)
        images.append({"sentids": ids, "imgid": k, "split": split, "filename": fname,
                       "sentences": [{"tokens": s.rstrip(".").lower().split(), "raw": s, "imgid": k, "sentid": i}
                                     for s, i in zip(sents, ids)]})
    _write(base / "dataset_flickr30k.json", json.dumps({"images": images, "dataset": "flickr30k"}))
    return base


def pascal_sentences(root: Path, per_class: int = 2, classes=("aeroplane", "bicycle"), seed: int = 0,
                     size=(160, 120)) -> Path:
    """Rashtchian et al.'s Pascal sentences (50 VOC 2008 images of each of the 20 classes, five
    sentences each) as the UIUC page is usually scraped: dataset/<class>/<id>.jpg and
    sentence/<class>/<id>.txt (one sentence a line)."""
    rng = np.random.default_rng(seed + 11)
    base = Path(root) / "pascal-sentences"
    k = 0
    for c in classes:
        for _ in range(per_class):
            iid = f"2008_{716 + 37 * k:06d}"
            objs = [(VOC_CLASSES.index(c), *o[1:]) for o in _objects(rng, *size, 1)]
            _jpeg(base / "dataset" / c / f"{iid}.jpg", _image(rng, *size, objs))
            _write(base / "sentence" / c / f"{iid}.txt", "".join(f" {s}\n" for s in _sentences(k)))
            k += 1
    return base


def sbu(root: Path, n: int = 12, seed: int = 0, size=(160, 120), dead: tuple[int, ...] = (3,)) -> Path:
    """SBU captioned photos: the release's two aligned text files (one caption / one Flickr URL a
    line) and the photos a user fetched, sbu/images/<0-based line>.jpg; the lines in `dead` have
    no image (a dead URL, as many SBU URLs are)."""
    rng = np.random.default_rng(seed + 12)
    base = Path(root) / "sbu"
    caps, urls = [], []
    for k in range(n):
        caps.append(WORDS[k % len(WORDS)].capitalize() + (" on a sunny day" if k % 3 == 0 else ""))
        urls.append(f"http://static.flickr.com/{2723 + k}/{4385058960 + 1009 * k}_b0f291553e.jpg")
        if k not in dead:
            _jpeg(base / "images" / f"{k}.jpg", _image(rng, *size, _objects(rng, *size, 20)))
    _write(base / "SBU_captioned_photo_dataset_captions.txt", "".join(f"{c}\n" for c in caps))
    _write(base / "SBU_captioned_photo_dataset_urls.txt", "".join(f"{u}\n" for u in urls))
    return base


LAYOUTS = {"voc2007": voc2007, "voc2012": voc2012, "coco": coco, "ilsvrc_val": ilsvrc_val,
           "ilsvrc_train": ilsvrc_train, "ilsvrc_test": ilsvrc_test, "cityscapes": cityscapes, "omniglot": omniglot, "vctk": vctk,
           "mnist": mnist, "flickr30k": flickr30k, "pascal_sentences": pascal_sentences, "sbu": sbu}


def write(layout: str, root: str | Path, seed: int = 0) -> list[Path]:
    """Write one layout (or "all") under `root`; returns the top folders written."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = list(LAYOUTS) if layout == "all" else [layout]
    unknown = [n for n in names if n not in LAYOUTS]
    if unknown:
        raise ValueError(f"unknown layout {unknown[0]!r}; known: {', '.join(LAYOUTS)}, all")
    return [LAYOUTS[n](root, seed=seed) for n in names]
