"""PASCAL VOC 2012 segmentation and the SBD-augmented training set (train_aug).

    <data-root>/VOCdevkit/VOC2012/
        JPEGImages/<id>.jpg
        SegmentationClass/<id>.png               # palette PNGs, indices 0..20, 255 = boundary/ignore
        SegmentationClassAug/<id>.png            # SBD + VOC labels as class-id PNGs (10,582 train_aug ids)
        ImageSets/Segmentation/{train,val,trainval,test}.txt
        ImageSets/Segmentation/train_aug.txt     # the 10,582 train_aug ids (VOC val ids excluded)
    <data-root>/benchmark_RELEASE/dataset/       # or, instead of the two Aug entries: the SBD release itself
        cls/<id>.mat                             # MATLAB v5: struct GTcls {Segmentation uint8 HxW 0..20,
                                                 #   Boundaries (cell of sparse), CategoriesPresent}
        inst/<id>.mat, img/<id>.jpg, train.txt, val.txt

`VOCSegmentation(root, "val")[i]` -> (uint8 image (3, H, W), int64 label (H, W), id). For
"train_aug" the reader takes the converted `SegmentationClassAug` PNGs when the data root has them
(with train_aug.txt), else the SBD release (Hariharan et al., ICCV 2011) directly: `cls/<id>.mat`
read with scipy.io.loadmat, the id list built by `train_aug_ids`; `.source` says which it used
("SegmentationClassAug" or "SBD"), `aug_source=` picks one. The test split (from the VOC2012 test
tarball) has images and no labels; `save_prediction` writes the evaluation server's format: palette
PNGs in results/VOC2012/Segmentation/comp6_test_cls/.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import DataError, DataMissing, locate, read_rgb, read_text

NUM_CLASSES = 21
IGNORE = 255
LAYOUT = ("VOCdevkit/VOC2012/{JPEGImages/<id>.jpg, SegmentationClass/<id>.png (palette PNG), "
          "ImageSets/Segmentation/{train,val,test}.txt}; for training also "
          "VOCdevkit/VOC2012/SegmentationClassAug/<id>.png (SBD-augmented class-id PNGs) and "
          "VOCdevkit/VOC2012/ImageSets/Segmentation/train_aug.txt (10,582 ids), or instead of these two the "
          "SBD release benchmark_RELEASE/dataset/{cls/<id>.mat, train.txt, val.txt}")
SBD_DIR = "benchmark_RELEASE/dataset"
SBD_LAYOUT = ("benchmark_RELEASE/dataset/{cls/<id>.mat (MATLAB v5, struct GTcls: Segmentation uint8 HxW with "
              "labels 0..20, Boundaries, CategoriesPresent), inst/<id>.mat, img/<id>.jpg, train.txt, val.txt} "
              "(SBD, Hariharan et al. 2011: benchmark.tgz unpacked)")
AUG_SOURCES = ("SegmentationClassAug", "SBD")


def voc_root(root) -> Path:
    return locate(root, "VOCdevkit/VOC2012", LAYOUT)


def _read_list(lst: Path, layout: str) -> list[str]:
    if not lst.exists():
        raise DataMissing(f"missing {lst}; expected <data-root>/{layout}")
    ids = [line.split()[0] for line in read_text(lst).splitlines() if line.strip()]
    if not ids:
        raise DataError(f"{lst}: empty list")
    return ids


def read_ids(root, split: str, aug_source: str | None = None) -> list[str]:
    """The ids of a split; "train_aug" from train_aug.txt or, from the SBD release, by `train_aug_ids`."""
    if split == "train_aug" and train_aug_source(root, aug_source) == "SBD":
        sbd = sbd_root(root)
        return train_aug_ids(read_ids(root, "train"), read_ids(root, "val"),
                             _read_list(sbd / "train.txt", SBD_LAYOUT), _read_list(sbd / "val.txt", SBD_LAYOUT))
    return _read_list(voc_root(root) / "ImageSets" / "Segmentation" / f"{split}.txt", LAYOUT)


def sbd_root(root) -> Path:
    return locate(root, SBD_DIR, SBD_LAYOUT)


def train_aug_ids(voc_train, voc_val, sbd_train, sbd_val) -> list[str]:
    """The train_aug ids: (SBD train + SBD val + VOC 2012 train) minus VOC 2012 val, each id once, sorted.

    This is the list DeepLab trains on: the authors' released exper/voc12/list/train_aug.txt
    (deeplab-public) has 10,582 lines, one per id, sorted by id, and mmsegmentation's
    tools/convert_datasets/voc_aug.py rebuilds it as set(VOC train + SBD train + SBD val) - set(VOC val),
    asserting AUG_LEN = 10582 on the real lists (VOC 2012 train 1,464 and val 1,449; SBD train 8,498
    and val 2,857). SBD's splits predate VOC 2012's and hold VOC 2012 val images, hence the subtraction
    (torchvision's SBDataset ships a "train_noval" list for the same reason)."""
    val = set(voc_val)
    return sorted(set(voc_train).union(sbd_train, sbd_val) - val)


def train_aug_source(root, prefer: str | None = None) -> str:
    """Which train_aug layout the data root holds: "SegmentationClassAug" (the converted PNGs and
    train_aug.txt; preferred when both are there) or "SBD" (the release); `prefer` asks for one."""
    if prefer is not None and prefer not in AUG_SOURCES:
        raise ValueError(f"aug_source {prefer!r}: expected one of {AUG_SOURCES}")
    base = voc_root(root)
    png = (base / "SegmentationClassAug").is_dir() and (base / "ImageSets" / "Segmentation" / "train_aug.txt").exists()
    sbd_dir = Path(root) / SBD_DIR
    sbd = all((sbd_dir / p).exists() for p in ("cls", "train.txt", "val.txt"))
    if prefer == "SBD" and not sbd:
        raise DataMissing(f"no SBD release under {sbd_dir}; expected <data-root>/{SBD_LAYOUT}")
    if prefer == "SegmentationClassAug" and not png:
        raise DataMissing(f"missing {base / 'SegmentationClassAug'} or {base / 'ImageSets/Segmentation/train_aug.txt'}; "
                          f"expected <data-root>/{LAYOUT}")
    if prefer is not None:
        return prefer
    if png:
        return "SegmentationClassAug"
    if sbd:
        return "SBD"
    raise DataMissing(f"no train_aug labels: expected {base / 'SegmentationClassAug'}/<id>.png with "
                      f"{base / 'ImageSets/Segmentation/train_aug.txt'}, or the SBD release <data-root>/{SBD_LAYOUT}")


def read_sbd_label(path: Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """`GTcls.Segmentation` of an SBD `cls/<id>.mat` (uint8 HxW, 0..20; 255 accepted as ignore), read
    as torchvision's SBDataset and mmsegmentation's voc_aug.py read it (scipy.io.loadmat,
    ["GTcls"][0]["Segmentation"][0]); anything else is a DataError naming the file."""
    import scipy.io
    try:
        mat = scipy.io.loadmat(path, squeeze_me=False, struct_as_record=True)
    except Exception as e:      # truncated, not a MAT file, a v7.3 (HDF5) file, ...
        raise DataError(f"{path}: not a readable MATLAB v5 MAT-file ({type(e).__name__}: {e})") from None
    g = mat.get("GTcls")
    if g is None:
        names = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(f"{path}: no variable 'GTcls' (found {names}); expected SBD's cls/<id>.mat")
    if not isinstance(g, np.ndarray) or not g.dtype.names or "Segmentation" not in g.dtype.names or g.size != 1:
        what = f"a struct without 'Segmentation' (fields {list(g.dtype.names)})" if getattr(g, "dtype", None) is not None \
            and g.dtype.names else f"{type(g).__name__} of dtype {getattr(g, 'dtype', '?')}, shape {getattr(g, 'shape', '?')}"
        raise DataError(f"{path}: GTcls is {what}; expected a 1x1 struct with field Segmentation")
    seg = g["Segmentation"].reshape(-1)[0]
    if not isinstance(seg, np.ndarray) or seg.dtype != np.uint8 or seg.ndim != 2:
        raise DataError(f"{path}: GTcls.Segmentation is {getattr(seg, 'dtype', type(seg).__name__)} with shape "
                        f"{getattr(seg, 'shape', '?')}; expected a uint8 HxW label image")
    if shape is not None and seg.shape != tuple(shape):
        raise DataError(f"{path}: GTcls.Segmentation is {seg.shape[1]}x{seg.shape[0]} but the image is "
                        f"{shape[1]}x{shape[0]}")
    bad = (seg >= NUM_CLASSES) & (seg != IGNORE)
    if bad.any():
        raise DataError(f"{path}: unknown class id {int(seg[bad][0])} in GTcls.Segmentation "
                        f"(VOC ids are 0..20, 255 = ignore)")
    return seg


def read_label(path: Path, expect_palette: bool) -> np.ndarray:
    from PIL import Image
    from metrics.segmentation import voc_palette
    try:
        im = Image.open(path)
        im.load()
    except Exception as e:
        raise DataError(f"{path}: cannot read ({type(e).__name__}: {e})") from None
    if expect_palette:
        if im.mode != "P":
            raise DataError(f"{path}: expected a palette ('P') PNG as in SegmentationClass, got mode {im.mode!r}")
        pal = np.asarray(im.getpalette()[: 3 * NUM_CLASSES], dtype=np.uint8).reshape(-1, 3)
        if len(pal) < NUM_CLASSES or not np.array_equal(pal, voc_palette(NUM_CLASSES)):
            raise DataError(f"{path}: palette does not match the VOC colour map (first {NUM_CLASSES} entries)")
    elif im.mode not in ("L", "P"):
        raise DataError(f"{path}: expected a class-id PNG (mode 'L' or 'P'), got mode {im.mode!r}")
    lab = np.asarray(im, dtype=np.uint8)
    bad = (lab >= NUM_CLASSES) & (lab != IGNORE)
    if bad.any():
        raise DataError(f"{path}: unknown class id {int(lab[bad][0])} (VOC ids are 0..20, 255 = ignore)")
    return lab


class VOCSegmentation(torch.utils.data.Dataset):
    """split: train | val | trainval | test (VOC labels) or train_aug (SBD-augmented labels).

    train_aug reads `SegmentationClassAug` PNGs, or the SBD release (`aug_source="SBD"`, or when the
    PNGs are absent): a VOC 2012 train id takes its VOC SegmentationClass label (as mmsegmentation's
    pascal_voc12_aug config pairs train.txt with SegmentationClass), every other id its SBD
    cls/<id>.mat; the image is VOC's JPEGImages/<id>.jpg, else SBD's img/<id>.jpg. `.source` names
    the labels used: "SegmentationClass", "SegmentationClassAug" or "SBD"."""

    def __init__(self, root, split: str = "val", transform=None, aug_source: str | None = None):
        self.base = voc_root(root)
        self.split, self.transform = split, transform
        self.aug = split == "train_aug"
        self.source = train_aug_source(root, aug_source) if self.aug else "SegmentationClass"
        self.ids = read_ids(root, split, aug_source=self.source if self.aug else None)
        self.list_file = self.base / "ImageSets" / "Segmentation" / f"{split}.txt"
        self.has_labels = split != "test"
        self.label_dir = self.base / ("SegmentationClassAug" if self.source == "SegmentationClassAug" else "SegmentationClass")
        if self.source == "SBD":
            self.sbd = sbd_root(root)
            self.list_file = f"{self.sbd / 'train.txt'}, {self.sbd / 'val.txt'} or {self.base / 'ImageSets/Segmentation/train.txt'}"
            self.voc_train = set(read_ids(root, "train"))
        elif self.has_labels and not self.label_dir.is_dir():
            raise DataMissing(f"missing {self.label_dir}; expected <data-root>/{LAYOUT}")

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        iid = self.ids[i]
        ip = self.base / "JPEGImages" / f"{iid}.jpg"
        if self.source == "SBD" and not ip.exists() and (self.sbd / "img" / f"{iid}.jpg").exists():
            ip = self.sbd / "img" / f"{iid}.jpg"
        if not ip.exists():
            raise DataError(f"{ip}: listed in {self.split}.txt but missing ({self.list_file})")
        img = np.asarray(read_rgb(ip), dtype=np.uint8)
        if self.source == "SBD" and iid not in self.voc_train:
            mp = self.sbd / "cls" / f"{iid}.mat"
            if not mp.exists():
                raise DataError(f"{mp}: listed in the SBD lists but missing ({self.list_file})")
            lab = read_sbd_label(mp, img.shape[:2])
        elif self.has_labels:
            lp = self.label_dir / f"{iid}.png"
            if not lp.exists():
                raise DataError(f"{lp}: listed in {self.split}.txt but missing ({self.list_file})")
            lab = read_label(lp, expect_palette=self.label_dir.name == "SegmentationClass")
            if lab.shape != img.shape[:2]:
                raise DataError(f"{lp}: label is {lab.shape[1]}x{lab.shape[0]} but {ip} is {img.shape[1]}x{img.shape[0]}")
        else:
            lab = np.full(img.shape[:2], IGNORE, np.uint8)
        x = torch.from_numpy(img.copy()).permute(2, 0, 1)
        y = torch.from_numpy(lab.astype(np.int64))
        if self.transform is not None:
            x, y = self.transform(x, y)
        return x, y, iid


def save_prediction(label: np.ndarray, out_dir: str | Path, image_id: str, comp: str = "comp6") -> Path:
    """Write one prediction in the evaluation server's layout and format (palette PNG)."""
    from PIL import Image
    from metrics.segmentation import voc_palette
    d = Path(out_dir) / "results" / "VOC2012" / "Segmentation" / f"{comp}_test_cls"
    d.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(np.asarray(label, dtype=np.uint8), mode="P")
    im.putpalette(voc_palette().ravel().tolist())
    path = d / f"{image_id}.png"
    tmp = path.with_suffix(".tmp.png")
    im.save(tmp)
    tmp.replace(path)
    return path
