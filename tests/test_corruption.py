"""Seeded corruption suite: every reader rejects malformed input with the project's own error,
and the message names the file.

A generator derives small pristine copies of the real datasets (../shared/data, or
REPRO_DATA_ROOT) once per session, then for every (corruption kind, seed) case copies the
family's tree into a fresh temp folder, corrupts one file there (the seed chooses which file,
where to cut, which byte or bit, which field, which bad value), runs the reader and asserts:

- the error is the project's own kind (DataError, DetectionError, ClaimsError, CheckpointError),
- its message contains the full path of the corrupted file,
- for command-line entry points: exit status non-zero, exactly one line on stderr, no traceback.

`test_pristine_copy_reads` checks that every family's uncorrupted copy reads without error, so
each failure is caused by its corruption. More seeds: REPRO_CORRUPTION_SEEDS="0-9" (default 0-1).
"""
from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from datasets import DataError
from harness.claims import ClaimsError
from metrics.detection import DetectionError
from reference_impls.common import CheckpointError

ROOT = Path(os.environ.get("REPRO_DATA_ROOT") or Path(__file__).resolve().parents[2] / "shared" / "data")
REPO = Path(__file__).resolve().parents[1]


def _seeds():
    spec = os.environ.get("REPRO_CORRUPTION_SEEDS", "0-1")
    out = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


SEEDS = _seeds()
BAD_BYTES = (b"\xff", b"\xfe", b"\xc0", b"\x80", b"\xed\xa0\x80")   # never valid UTF-8 where inserted


# ============================================================================ mutation helpers
def cut(path: Path, rng, lo: int = 1, hi: int | None = None):
    """Truncate `path` to a length drawn from [lo, hi) (hi: default the size)."""
    raw = path.read_bytes()
    hi = len(raw) if hi is None else hi
    path.write_bytes(raw[:int(rng.integers(lo, max(lo + 1, hi)))])


def cut_text(path: Path, rng):
    """Truncate a markup file before its last non-blank character (a prefix that cannot parse)."""
    raw = path.read_bytes()
    cut(path, rng, 1, len(raw.rstrip()) - 1)


def empty(path: Path, rng=None):
    path.write_bytes(b"")


def not_utf8(path: Path, rng):
    raw = path.read_bytes()
    pos = int(rng.integers(0, len(raw)))
    bad = BAD_BYTES[int(rng.integers(len(BAD_BYTES)))]
    path.write_bytes(raw[:pos] + bad + raw[pos:])


def flip_bit(path: Path, rng, lo: int, hi: int):
    raw = bytearray(path.read_bytes())
    pos = int(rng.integers(lo, hi))
    raw[pos] ^= 1 << int(rng.integers(8))
    path.write_bytes(bytes(raw))


def pick(rng, seq):
    seq = list(seq)
    return seq[int(rng.integers(len(seq)))]


def nonfinite(rng) -> str:
    return pick(rng, ["nan", "inf", "-inf", "NaN", "Infinity"])


def edit_lines(path: Path, rng, fn, pattern: str | None = None):
    """Replace one line (matching `pattern`, chosen by rng) with fn(line)."""
    lines = path.read_text().splitlines()
    idx = [i for i, ln in enumerate(lines) if ln.strip() and (pattern is None or re.search(pattern, ln))]
    i = pick(rng, idx)
    lines[i] = fn(lines[i])
    path.write_text("\n".join(lines) + "\n")


def save_png(arr, path: Path, mode=None):
    from PIL import Image
    Image.fromarray(np.asarray(arr), mode=mode).save(path)


# ============================================================================ pristine copies
def _need(rel: str):
    if not (ROOT / rel).exists():
        pytest.skip(f"corruption suite derives its inputs from the small real datasets: {ROOT / rel} not found")


def build_mnist(d: Path):
    _need("mnist")
    out = d / "mnist"
    out.mkdir()
    for stem, n_head in (("t10k-images-idx3-ubyte", 16), ("t10k-labels-idx1-ubyte", 8)):
        raw = gzip.decompress((ROOT / "mnist" / f"{stem}.gz").read_bytes())
        n = 64
        item = 28 * 28 if "images" in stem else 1
        head = bytearray(raw[:n_head])
        head[4:8] = n.to_bytes(4, "big")
        (out / f"{stem}.gz").write_bytes(gzip.compress(bytes(head) + raw[n_head:n_head + n * item], mtime=0))


def build_mnist_real(d: Path):
    _need("mnist")
    (d / "mnist").mkdir()
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(ROOT / "mnist" / f, d / "mnist" / f)


def build_omniglot(d: Path):
    _need("omniglot/python/images_background_small1")
    src = sorted(p for p in (ROOT / "omniglot/python/images_background_small1").glob("*/*") if p.is_dir())[:2]
    for c in src:
        shutil.copytree(c, d / "alpha" / c.parent.name / c.name)
    run = ROOT / "omniglot/python/one-shot-classification/run01"
    lines = [ln.split() for ln in (run / "class_labels.txt").read_text().splitlines() if ln.strip()][:5]
    for test, train in lines:
        for rel in (test, train):
            (d / "runs" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(run.parent / rel, d / "runs" / rel)
    (d / "runs" / "run01" / "class_labels.txt").write_text("".join(f"{a} {b}\n" for a, b in lines))


def build_camvid(d: Path):
    _need("camvid/CamVid")
    src = ROOT / "camvid" / "CamVid"
    base = d / "camvid" / "CamVid"
    lines = [ln for ln in (src / "train.txt").read_text().splitlines() if ln.strip()][:3]
    for ln in lines:
        for p in ln.split():
            rel = p.replace("/SegNet/CamVid/", "").lstrip("/")
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src / rel, base / rel)
    (base / "train.txt").write_text("\n".join(lines) + "\n")


RACCOON_IDS = ("raccoon-1", "raccoon-10", "raccoon-100", "raccoon-101")


def build_raccoon(d: Path):
    _need("raccoon/annotations")
    src = ROOT / "raccoon"
    for sub in ("annotations", "images", "data"):
        (d / "raccoon" / sub).mkdir(parents=True)
    for i in RACCOON_IDS:
        shutil.copy(src / "annotations" / f"{i}.xml", d / "raccoon" / "annotations" / f"{i}.xml")
        shutil.copy(src / "images" / f"{i}.jpg", d / "raccoon" / "images" / f"{i}.jpg")
    rows = [r for r in (src / "data" / "raccoon_labels.csv").read_text().splitlines()]
    keep = [rows[0]] + [r for r in rows[1:] if r.split(",")[0][:-4] in RACCOON_IDS]
    (d / "raccoon" / "data" / "train_labels.csv").write_text("\n".join(keep) + "\n")


def build_comp4(d: Path):
    """A VOC2007-layout folder from raccoon XMLs (class renamed 'dog', a VOC class) and comp4 files
    whose detections are the ground-truth boxes, jittered, with seeded scores."""
    _need("raccoon/annotations")
    voc = d / "VOCdevkit" / "VOC2007"
    (voc / "Annotations").mkdir(parents=True)
    (voc / "ImageSets" / "Main").mkdir(parents=True)
    lines, rng = [], np.random.default_rng(0)
    from datasets.voc_detection import parse_voc_xml
    for i in RACCOON_IDS:
        xml = (ROOT / "raccoon" / "annotations" / f"{i}.xml").read_text().replace("<name>raccoon</name>", "<name>dog</name>")
        (voc / "Annotations" / f"{i}.xml").write_text(xml)
        for b in parse_voc_xml(voc / "Annotations" / f"{i}.xml")["boxes"]:
            j = b + rng.integers(-3, 4, size=4)
            lines.append(f"{i} {rng.uniform(0.1, 1):.3f} {j[0]:.1f} {j[1]:.1f} {max(j[2], j[0]):.1f} {max(j[3], j[1]):.1f}")
    (voc / "ImageSets" / "Main" / "test.txt").write_text("\n".join(RACCOON_IDS) + "\n")
    (d / "dets").mkdir()
    (d / "dets" / "comp4_det_test_dog.txt").write_text("\n".join(lines) + "\n")


def build_coco_det(d: Path):
    _need("coco-detection")
    shutil.copytree(ROOT / "coco-detection" / "annotations", d / "annotations")
    (d / "results").mkdir()
    shutil.copy(ROOT / "coco-detection/results/instances_val2014_fakebbox100_results.json", d / "results" / "res.json")


def build_coco_cap(d: Path):
    _need("coco-caption")
    shutil.copytree(ROOT / "coco-caption" / "annotations", d / "annotations")
    shutil.copytree(ROOT / "coco-caption" / "results", d / "results")
    ann = json.loads((ROOT / "coco-caption/annotations/captions_val2014_fakecap_subset.DERIVED.json").read_text())
    caps: dict = {}
    for a in ann["annotations"]:
        caps.setdefault(a["image_id"], []).append(a["caption"])
    images = [{"filepath": "val2014", "filename": im["file_name"], "cocoid": im["id"], "split": "test",
               "sentences": [{"raw": c} for c in caps[im["id"]]]} for im in ann["images"][:40]]
    (d / "coco").mkdir()
    (d / "coco" / "dataset_coco.json").write_text(json.dumps({"images": images, "dataset": "coco"}, indent=1))


def build_seg(d: Path):
    """VOC2012 segmentation and Cityscapes layouts made from CamVid pairs: JPEG images, VOC palette
    label PNGs (CamVid ids 0..10, void -> 255), Cityscapes labelIds PNGs (CamVid id k -> labelId k + 7)."""
    _need("camvid/CamVid")
    from PIL import Image
    from metrics.segmentation import voc_palette
    src = ROOT / "camvid" / "CamVid"
    pairs = [ln.split() for ln in (src / "val.txt").read_text().splitlines() if ln.strip()][:2]
    voc = d / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "SegmentationClassAug", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True)
    city = d / "cityscapes"
    ids = []
    for k, (img, ann) in enumerate(pairs):
        iid = f"2007_{k:06d}"
        ids.append(iid)
        im = Image.open(src / img.replace("/SegNet/CamVid/", "").lstrip("/")).convert("RGB")
        lab = np.asarray(Image.open(src / ann.replace("/SegNet/CamVid/", "").lstrip("/")), dtype=np.uint8)
        im.save(voc / "JPEGImages" / f"{iid}.jpg", quality=90)
        voc_lab = np.where(lab == 11, 255, lab).astype(np.uint8)
        p = Image.fromarray(voc_lab, mode="P")
        p.putpalette(voc_palette().ravel().tolist())
        p.save(voc / "SegmentationClass" / f"{iid}.png")
        Image.fromarray(voc_lab, mode="L").save(voc / "SegmentationClassAug" / f"{iid}.png")
        name = f"camvid_{k:06d}_000019"
        (city / "leftImg8bit" / "val" / "camvid").mkdir(parents=True, exist_ok=True)
        (city / "gtFine" / "val" / "camvid").mkdir(parents=True, exist_ok=True)
        im.save(city / "leftImg8bit" / "val" / "camvid" / f"{name}_leftImg8bit.png")
        Image.fromarray(np.where(lab == 11, 0, lab + 7).astype(np.uint8), mode="L").save(
            city / "gtFine" / "val" / "camvid" / f"{name}_gtFine_labelIds.png")
    (voc / "ImageSets/Segmentation/val.txt").write_text("\n".join(ids) + "\n")
    (voc / "ImageSets/Segmentation/train_aug.txt").write_text("\n".join(ids) + "\n")


ILSVRC_N = 30


def build_ilsvrc(d: Path):
    """wsolevaluation metadata of the first ILSVRC_N val images; the same boxes as official per-image
    XML files (synsets n%08d of the class index, listed in synsets.txt); a prediction CSV
    (the ground-truth class and box, top-1) for the localization command line; imagenet.py's labels."""
    _need("imagenet-loc/metadata/ILSVRC/test")
    src = ROOT / "imagenet-loc/metadata/ILSVRC/test"
    meta = d / "meta"
    meta.mkdir()
    keep = [ln.split(",")[0] for ln in (src / "image_ids.txt").read_text().splitlines()[:ILSVRC_N]]
    ks = set(keep)
    for f in ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt"):
        (meta / f).write_text("".join(ln + "\n" for ln in (src / f).read_text().splitlines() if ln.split(",")[0] in ks))
    from datasets.ilsvrc import ground_truth_from_metadata
    gt = ground_truth_from_metadata(meta)
    xml = d / "xml"
    xml.mkdir()
    (d / "synsets.txt").write_text("".join(f"n{c:08d} class {c}\n" for c in range(1000)))
    rows = ["image_id,class,score,x0,y0,x1,y1"]
    for stem, g in gt.items():
        objs = "".join(f"<object><name>n{g['class']:08d}</name><bndbox><xmin>{int(b[0])}</xmin><ymin>{int(b[1])}</ymin>"
                       f"<xmax>{int(b[2])}</xmax><ymax>{int(b[3])}</ymax></bndbox></object>" for b in g["boxes"])
        (xml / f"{stem}.xml").write_text(f"<annotation><filename>{stem}</filename><size><width>{g['size'][0]}</width>"
                                        f"<height>{g['size'][1]}</height><depth>3</depth></size>{objs}</annotation>\n")
        b = g["boxes"][0]
        rows.append(f"{stem},{g['class']},0.9,{b[0]:g},{b[1]:g},{b[2]:g},{b[3]:g}")
    (d / "pred.csv").write_text("\n".join(rows) + "\n")


def build_cub(d: Path):
    """CUB-200-2011's text layout filled with the raccoon boxes (class 1 = 001.Raccoon; images are not read)."""
    _need("raccoon/annotations")
    from datasets.voc_detection import parse_voc_xml
    base = d / "CUB_200_2011"
    base.mkdir()
    images, boxes, split, labels = [], [], [], []
    for k, i in enumerate(RACCOON_IDS * 2, 1):
        r = parse_voc_xml(ROOT / "raccoon" / "annotations" / f"{i}.xml", ("raccoon",))
        x0, y0, x1, y1 = r["boxes"][0]
        images.append(f"{k} 001.Raccoon/{i}.jpg")
        boxes.append(f"{k} {x0:.1f} {y0:.1f} {x1 - x0 + 1:.1f} {y1 - y0 + 1:.1f}")
        split.append(f"{k} {k % 2}")
        labels.append(f"{k} 1")
    for name, lines in (("images.txt", images), ("bounding_boxes.txt", boxes), ("train_test_split.txt", split),
                        ("image_class_labels.txt", labels)):
        (base / name).write_text("\n".join(lines) + "\n")


def build_audio(d: Path):
    _need("audio/fsdd/recordings")
    fsdd = d / "audio" / "fsdd" / "recordings"
    fsdd.mkdir(parents=True)
    for f in ("0_george_0.wav", "7_jackson_3.wav"):
        shutil.copy(ROOT / "audio/fsdd/recordings" / f, fsdd / f)
    libri = d / "audio" / "librosa-data" / "audio"
    libri.mkdir(parents=True)
    for f in ("198-209-0000.hq.ogg", "198-209-0000.txt"):
        shutil.copy(ROOT / "audio/librosa-data/audio" / f, libri / f)
    import soundfile as sf
    x, sr = sf.read(str(fsdd / "0_george_0.wav"))
    (d / "flac").mkdir()
    sf.write(str(d / "flac" / "0_george_0.flac"), x, sr)


def build_claims(d: Path):
    for p in sorted((REPO / "suites").glob("*/claims.toml")):
        (d / p.parent.name).mkdir()
        shutil.copy(p, d / p.parent.name / "claims.toml")


def build_ckpt(d: Path):
    import torch
    torch.manual_seed(0)
    torch.save(_tiny().state_dict(), d / "model.pt")
    torch.save(_tiny(5).state_dict(), d / "other.pt")
    import timm
    torch.save(timm.create_model("test_resnet").state_dict(), d / "test_resnet.pth")
    torch.save(timm.create_model("test_efficientnet").state_dict(), d / "test_efficientnet.pth")


def _tiny(hidden: int = 3):
    from torch import nn
    return nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))


BUILDERS = {"mnist": build_mnist, "mnist_real": build_mnist_real, "omniglot": build_omniglot,
            "camvid": build_camvid, "voc_xml": build_raccoon, "comp4": build_comp4, "coco_det": build_coco_det,
            "coco_cap": build_coco_cap, "seg": build_seg, "ilsvrc": build_ilsvrc, "cub": build_cub,
            "audio": build_audio, "claims": build_claims, "checkpoint": build_ckpt}


@pytest.fixture(scope="session")
def pristine(tmp_path_factory):
    built: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in built:
            d = tmp_path_factory.mktemp(f"pristine-{family}")
            BUILDERS[family](d)
            built[family] = d
        return built[family]
    return get


# ============================================================================ readers
def read_mnist(d):
    from datasets.mnist import load_mnist
    load_mnist(d, "test", verify=False)


def read_mnist_verified(d):
    from datasets.mnist import load_mnist
    load_mnist(d, "test", verify=True)


def read_alphabets(d):
    from datasets.omniglot import load_alphabets
    load_alphabets(d / "alpha")


def read_run(d):
    from datasets.omniglot import load_run
    load_run(d / "runs" / "run01")


def read_camvid(d):
    from datasets.camvid import load_split
    load_split(d, "train", size=(45, 60))


def read_raccoon(d):
    from datasets.voc_detection import load_image, load_raccoon
    for r in load_raccoon(d, "train"):
        load_image(r, size=32)


def read_comp4(d):
    from datasets.voc_detection import VOC_CLASSES
    from metrics.detection import read_voc_dets
    read_voc_dets(d / "dets", "test", VOC_CLASSES)


def comp4_cli(d):
    return ["voc", str(d / "VOCdevkit" / "VOC2007"), str(d / "dets"), "--json"]


def read_coco(d):
    from metrics.detection import coco_evaluate
    coco_evaluate(d / "annotations" / "instances_val2014_100.json", d / "results" / "res.json")


def coco_cli(d):
    return ["coco", str(d / "annotations" / "instances_val2014_100.json"), str(d / "results" / "res.json"), "--json"]


CAP_ANN = "annotations/captions_val2014_fakecap_subset.DERIVED.json"
CAP_RES = "results/captions_val2014_fakecap_results.json"


def read_captions(d):
    from metrics.captioning import load_coco_refs, load_coco_results
    load_coco_results(d / CAP_RES, load_coco_refs(d / CAP_ANN))


def caption_cli(d):
    return [str(d / CAP_RES), str(d / CAP_ANN), "--json"]


def read_karpathy(d):
    from datasets.captions import load_karpathy
    load_karpathy(d, "coco", "test", check_images=False)


def read_voc_seg(d):
    from datasets.voc import VOCSegmentation
    ds = VOCSegmentation(d, "val")
    for i in range(len(ds)):
        ds[i]


def read_voc_aug(d):
    from datasets.voc import VOCSegmentation
    ds = VOCSegmentation(d, "train_aug")
    for i in range(len(ds)):
        ds[i]


def read_cityscapes(d):
    from datasets.cityscapes import Cityscapes
    ds = Cityscapes(d, "val")
    for i in range(len(ds)):
        ds[i]


def read_meta(d):
    from datasets.ilsvrc import ground_truth_from_metadata
    ground_truth_from_metadata(d / "meta")


def read_xml(d):
    from datasets.ilsvrc import ground_truth_from_xml
    ground_truth_from_xml(d / "xml", d / "synsets.txt")


def read_imagenet_labels(d):
    from datasets.imagenet import read_class_labels
    read_class_labels(d / "meta" / "class_labels.txt")


def loc_cli(d):
    return [str(d / "pred.csv"), str(d / "meta"), "--json"]


def loc_cli_xml(d):
    return [str(d / "pred.csv"), str(d / "xml"), "--synsets", str(d / "synsets.txt"), "--json"]


def read_cub(d):
    from datasets.cub import load_cub
    load_cub(d, "test"), load_cub(d, "train")


def read_fsdd(d):
    from datasets.audio import load_fsdd
    load_fsdd(d, sr=8000)


def read_libri(d):
    from datasets.audio import load_librispeech_clips
    load_librispeech_clips(d, sr=16000)


def read_flac(d):
    from datasets.audio import read_audio
    read_audio(d / "flac" / "0_george_0.flac", 8000)


def read_claims(d):
    from harness.claims import load_claims
    for p in sorted(d.glob("*/claims.toml")):
        load_claims(p)


def read_ckpt_weights(d):
    from reference_impls.common import load_weights
    load_weights(_tiny(), d / "model.pt")


def read_backbone(d):
    from reference_impls.common.backbones import backbone
    backbone("test_resnet", weights=d / "test_resnet.pth")


def read_cached(d):
    """trained() finding a cache entry: the corrupted file is the entry's model.pt."""
    from reference_impls.common import trained
    from reference_impls.common.cache import cache_key
    entry = d / "cache" / "tiny" / cache_key("tiny", {"h": 3}, 0)
    if not (entry / "model.pt").exists():
        entry.mkdir(parents=True)
        shutil.copy(d / "model.pt", entry / "model.pt")

    def no_training(model, resume):
        raise AssertionError("the cache entry exists: nothing may be trained")
    trained("tiny", _tiny, no_training, config={"h": 3}, seed=0, cache_dir=d / "cache")


def cached_path(d):
    from reference_impls.common.cache import cache_key
    entry = d / "cache" / "tiny" / cache_key("tiny", {"h": 3}, 0)
    entry.mkdir(parents=True, exist_ok=True)
    shutil.copy(d / "model.pt", entry / "model.pt")
    return entry / "model.pt"


def read_resume(d):
    """fit() resuming from d/resume.pt (written by a real one-epoch fit on first use)."""
    import torch
    from reference_impls.common import fit
    model = _tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = [(torch.ones(2, 4), torch.zeros(2, 2))]
    step = lambda m, b: ((m(b[0]) - b[1]) ** 2).mean()   # noqa: E731
    fit(model, step, data, epochs=2, optimizer=opt, checkpoint=d / "resume.pt", progress=False)


def resume_path(d):
    import torch
    from reference_impls.common import fit
    model = _tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = [(torch.ones(2, 4), torch.zeros(2, 2))]
    fit(model, lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(), data, epochs=1, optimizer=opt,
        checkpoint=d / "resume.pt", progress=False)
    return d / "resume.pt"


PRISTINE_READERS = {
    "mnist": [read_mnist], "mnist_real": [read_mnist_verified], "omniglot": [read_alphabets, read_run],
    "camvid": [read_camvid], "voc_xml": [read_raccoon], "comp4": [read_comp4], "coco_det": [read_coco],
    "coco_cap": [read_captions, read_karpathy], "seg": [read_voc_seg, read_voc_aug, read_cityscapes],
    "ilsvrc": [read_meta, read_xml, read_imagenet_labels], "cub": [read_cub],
    "audio": [read_fsdd, read_libri, read_flac], "claims": [read_claims],
    "checkpoint": [read_ckpt_weights, read_backbone, read_cached],
}
CLIS = {"comp4": [comp4_cli], "coco_det": [coco_cli], "coco_cap": [caption_cli], "ilsvrc": [loc_cli, loc_cli_xml]}


def _cli_main(family):
    if family in ("comp4", "coco_det"):
        from metrics.detection import main
    elif family == "coco_cap":
        from metrics.captioning import main
    else:
        from metrics.localization import main
    return main


# ============================================================================ the cases
CASES: dict[str, tuple] = {}


def case(family, reader, error=DataError, cli=None):
    """Register `fn(rng, d) -> corrupted path` as the case '<family>/<fn name>'. `cli(d)`: the argv of
    the family's command line, which must then exit non-zero with one line naming the file."""
    def deco(fn):
        CASES[f"{family}/{fn.__name__}"] = (family, fn, reader, error, cli)
        return fn
    return deco


# ---------------------------------------------------------------------------- MNIST (IDX in gzip)
def _mnist_file(rng, d):
    return d / "mnist" / pick(rng, ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])


def _idx_edit(path, fn):
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw = fn(raw)
    path.write_bytes(gzip.compress(bytes(raw), mtime=0))


@case("mnist", read_mnist)
def gz_truncated(rng, d):
    p = _mnist_file(rng, d)
    cut(p, rng)
    return p


@case("mnist", read_mnist)
def gz_zero_bytes(rng, d):
    p = _mnist_file(rng, d)
    empty(p)
    return p


@case("mnist", read_mnist)
def gz_corrupt_deflate_block(rng, d):
    p = _mnist_file(rng, d)
    raw = bytearray(p.read_bytes())
    lo = 10 + int(rng.integers(0, max(1, len(raw) // 2)))
    for k in range(lo, min(lo + 8, len(raw) - 8)):
        raw[k] ^= 0xFF
    p.write_bytes(bytes(raw))
    return p


@case("mnist", read_mnist)
def gz_header_magic(rng, d):
    p = _mnist_file(rng, d)
    flip_bit(p, rng, 0, 2)
    return p


@case("mnist", read_mnist)
def idx_magic(rng, d):
    p = _mnist_file(rng, d)

    def f(raw):
        raw[int(rng.integers(0, 2))] = int(rng.integers(1, 256))
        return raw
    _idx_edit(p, f)
    return p


@case("mnist", read_mnist)
def idx_unknown_dtype(rng, d):
    p = _mnist_file(rng, d)

    def f(raw):
        raw[2] = pick(rng, [0x00, 0x01, 0x0A, 0x0F, 0xFF])
        return raw
    _idx_edit(p, f)
    return p


@case("mnist", read_mnist)
def idx_header_cut(rng, d):
    p = _mnist_file(rng, d)
    _idx_edit(p, lambda raw: raw[:int(rng.integers(0, 4 + 4 * raw[3]))])
    return p


@case("mnist", read_mnist)
def idx_count_disagrees_with_body(rng, d):
    p = _mnist_file(rng, d)

    def f(raw):
        n = int.from_bytes(raw[4:8], "big") + int(pick(rng, [-3, -1, 1, 7]))
        raw[4:8] = n.to_bytes(4, "big")
        return raw
    _idx_edit(p, f)
    return p


@case("mnist", read_mnist)
def idx_trailing_bytes(rng, d):
    p = _mnist_file(rng, d)
    _idx_edit(p, lambda raw: raw + bytes(rng.integers(0, 256, size=int(rng.integers(1, 50))).astype(np.uint8)))
    return p


@case("mnist", read_mnist)
def idx_wrong_image_shape(rng, d):
    p = d / "mnist" / "t10k-images-idx3-ubyte.gz"

    def f(raw):
        h, w = pick(rng, [(14, 56), (56, 14), (7, 112), (16, 49)])     # same number of bytes, another shape
        raw[8:12], raw[12:16] = h.to_bytes(4, "big"), w.to_bytes(4, "big")
        return raw
    _idx_edit(p, f)
    return p


@case("mnist", read_mnist)
def idx_wrong_dtype(rng, d):
    p = _mnist_file(rng, d)

    def f(raw):
        raw[2] = pick(rng, [0x0B, 0x09])        # int16 (half as many items, same bytes) or int8
        if raw[2] == 0x0B:
            raw[4:8] = (int.from_bytes(raw[4:8], "big") // 2).to_bytes(4, "big")
        return raw
    _idx_edit(p, f)
    return p


@case("mnist", read_mnist)
def label_out_of_range(rng, d):
    p = d / "mnist" / "t10k-labels-idx1-ubyte.gz"

    def f(raw):
        raw[8 + int(rng.integers(0, len(raw) - 8))] = int(rng.integers(10, 256))
        return raw
    _idx_edit(p, f)
    return p


@case("mnist", read_mnist)
def label_count_mismatch(rng, d):
    p = d / "mnist" / "t10k-labels-idx1-ubyte.gz"

    def f(raw):
        k = int(rng.integers(1, 10))
        n = int.from_bytes(raw[4:8], "big") - k
        raw[4:8] = n.to_bytes(4, "big")
        return raw[:8 + n]
    _idx_edit(p, f)
    return p


@case("mnist_real", read_mnist_verified)
def verified_payload_bitflip(rng, d):
    p = d / "mnist" / "t10k-labels-idx1-ubyte.gz"

    def f(raw):
        k = 8 + int(rng.integers(0, len(raw) - 8))
        raw[k] = (raw[k] + int(rng.integers(1, 10))) % 10        # still a valid label 0..9
        return raw
    _idx_edit(p, f)
    return p


# ---------------------------------------------------------------------------- Omniglot (PNG + run lists)
def _omni_png(rng, d):
    return pick(rng, sorted((d / "alpha").rglob("*.png")) + sorted((d / "runs").rglob("*.png")))


def _omni_reader(d):
    read_alphabets(d)
    read_run(d)


@case("omniglot", _omni_reader)
def png_truncated(rng, d):
    p = _omni_png(rng, d)
    cut(p, rng, 1, p.stat().st_size - 16)
    return p


@case("omniglot", _omni_reader)
def png_zero_bytes(rng, d):
    p = _omni_png(rng, d)
    empty(p)
    return p


@case("omniglot", _omni_reader)
def png_signature(rng, d):
    p = _omni_png(rng, d)
    flip_bit(p, rng, 0, 8)
    return p


@case("omniglot", _omni_reader)
def png_is_text(rng, d):
    p = _omni_png(rng, d)
    p.write_text("this is not an image\n" * int(rng.integers(1, 5)))
    return p


@case("omniglot", _omni_reader)
def png_wrong_size(rng, d):
    from PIL import Image
    p = _omni_png(rng, d)
    s = int(pick(rng, [28, 50, 104, 106, 210]))
    Image.open(p).convert("L").resize((s, s)).save(p)
    return p


@case("omniglot", read_run)
def labels_bad_line(rng, d):
    p = d / "runs" / "run01" / "class_labels.txt"
    edit_lines(p, rng, lambda ln: pick(rng, [ln + " extra", ln.split()[0], ln.replace(" ", "\t") + " x"]))
    return p


@case("omniglot", read_run)
def labels_missing_image(rng, d):
    p = d / "runs" / "run01" / "class_labels.txt"
    edit_lines(p, rng, lambda ln: ln.replace(".png", "_gone.png", 1))
    return p


@case("omniglot", read_run)
def labels_not_utf8(rng, d):
    p = d / "runs" / "run01" / "class_labels.txt"
    not_utf8(p, rng)
    return p


@case("omniglot", read_run)
def labels_duplicate_item(rng, d):
    p = d / "runs" / "run01" / "class_labels.txt"
    lines = p.read_text().splitlines()
    p.write_text("\n".join(lines + [pick(rng, lines)]) + "\n")
    return p


@case("omniglot", read_run)
def labels_class_count(rng, d):
    p = d / "runs" / "run01" / "class_labels.txt"
    lines = [ln.split() for ln in p.read_text().splitlines()]
    i, j = rng.choice(len(lines), 2, replace=False)
    lines[i][1] = lines[j][1]                    # two test items, one class: counts disagree
    p.write_text("".join(f"{a} {b}\n" for a, b in lines))
    return p


@case("omniglot", read_alphabets)
def character_missing_drawing(rng, d):
    c = pick(rng, sorted(p for p in (d / "alpha").glob("*/*") if p.is_dir()))
    pick(rng, sorted(c.glob("*.png"))).unlink()
    return c                                   # the message names the character's folder


# ---------------------------------------------------------------------------- CamVid
CV = "camvid/CamVid"


def _cv_file(rng, d, kind):
    sub = "train" if kind == "image" else "trainannot"
    return pick(rng, sorted((d / CV / sub).glob("*.png")))


@case("camvid", read_camvid)
def image_truncated(rng, d):
    p = _cv_file(rng, d, "image")
    cut(p, rng, 1, p.stat().st_size - 16)
    return p


@case("camvid", read_camvid)
def image_zero_bytes(rng, d):
    p = _cv_file(rng, d, "image")
    empty(p)
    return p


@case("camvid", read_camvid)
def image_signature(rng, d):
    p = _cv_file(rng, d, "image")
    flip_bit(p, rng, 0, 8)
    return p


@case("camvid", read_camvid)
def annotation_truncated(rng, d):
    p = _cv_file(rng, d, "ann")
    cut(p, rng, 1, p.stat().st_size - 16)
    return p


@case("camvid", read_camvid)
def annotation_zero_bytes(rng, d):
    p = _cv_file(rng, d, "ann")
    empty(p)
    return p


@case("camvid", read_camvid)
def annotation_unknown_class(rng, d):
    from PIL import Image
    p = _cv_file(rng, d, "ann")
    a = np.array(Image.open(p))
    a[int(rng.integers(a.shape[0])), int(rng.integers(a.shape[1]))] = int(rng.integers(12, 256))
    save_png(a, p)
    return p


@case("camvid", read_camvid)
def annotation_wrong_size(rng, d):
    from PIL import Image
    p = _cv_file(rng, d, "ann")
    im = Image.open(p)
    im.resize((im.width + int(rng.integers(-20, 20)) or 1, im.height + int(rng.integers(1, 9))), Image.NEAREST).save(p)
    return p


@case("camvid", read_camvid)
def annotation_rgb(rng, d):
    from PIL import Image
    p = _cv_file(rng, d, "ann")
    Image.open(p).convert(pick(rng, ["RGB", "RGBA", "LA"])).save(p)
    return p


@case("camvid", read_camvid)
def list_bad_line(rng, d):
    p = d / CV / "train.txt"
    edit_lines(p, rng, lambda ln: pick(rng, [ln.split()[0], ln + " extra"]))
    return p


@case("camvid", read_camvid)
def list_missing_file(rng, d):
    p = d / CV / "train.txt"
    edit_lines(p, rng, lambda ln: ln.replace(".png", "_missing.png", int(rng.integers(1, 3))))
    return p


@case("camvid", read_camvid)
def list_not_utf8(rng, d):
    p = d / CV / "train.txt"
    not_utf8(p, rng)
    return p


# ---------------------------------------------------------------------------- VOC XML (raccoon)
def _xml(rng, d):
    return d / "raccoon" / "annotations" / f"{pick(rng, RACCOON_IDS)}.xml"


def _xml_sub(p, rng, tag, value):
    text = p.read_text()
    spans = [m for m in re.finditer(rf"<{tag}>[^<]*</{tag}>", text)]
    m = pick(rng, spans)
    p.write_text(text[:m.start()] + f"<{tag}>{value}</{tag}>" + text[m.end():])


@case("voc_xml", read_raccoon)
def xml_truncated(rng, d):
    p = _xml(rng, d)
    cut_text(p, rng)
    return p


@case("voc_xml", read_raccoon)
def xml_zero_bytes(rng, d):
    p = _xml(rng, d)
    empty(p)
    return p


@case("voc_xml", read_raccoon)
def xml_broken_tag(rng, d):
    p = _xml(rng, d)
    text = p.read_text()
    closers = [m.start() for m in re.finditer(r"</", text)]
    k = pick(rng, closers)
    p.write_text(text[:k] + text[k + 2:])
    return p


@case("voc_xml", read_raccoon)
def xml_nonfinite_coordinate(rng, d):
    p = _xml(rng, d)
    _xml_sub(p, rng, pick(rng, ["xmin", "ymin", "xmax", "ymax"]), nonfinite(rng))
    return p


@case("voc_xml", read_raccoon)
def xml_nonfinite_size(rng, d):
    p = _xml(rng, d)
    _xml_sub(p, rng, pick(rng, ["width", "height"]), nonfinite(rng))
    return p


@case("voc_xml", read_raccoon)
def xml_text_coordinate(rng, d):
    p = _xml(rng, d)
    _xml_sub(p, rng, pick(rng, ["xmin", "ymin", "xmax", "ymax", "width", "height"]), pick(rng, ["abc", "", "1,5", "0x1F"]))
    return p


@case("voc_xml", read_raccoon)
def xml_missing_size(rng, d):
    p = _xml(rng, d)
    p.write_text(re.sub(r"<size>.*?</size>", "", p.read_text(), flags=re.S))
    return p


@case("voc_xml", read_raccoon)
def xml_missing_field(rng, d):
    p = _xml(rng, d)
    tag = pick(rng, ["xmin", "ymin", "xmax", "ymax", "width", "height", "bndbox"])
    text = p.read_text()
    m = pick(rng, list(re.finditer(rf"<{tag}>.*?</{tag}>", text, flags=re.S)))
    p.write_text(text[:m.start()] + text[m.end():])
    return p


@case("voc_xml", read_raccoon)
def xml_unknown_class(rng, d):
    p = _xml(rng, d)
    _xml_sub(p, rng, "name", pick(rng, ["racoon", "dog", "", "Raccoon", "raccoon2"]))
    return p


@case("voc_xml", read_raccoon)
def xml_box_outside_image(rng, d):
    p = _xml(rng, d)
    tag = pick(rng, ["xmax", "ymax", "xmin", "ymin"])
    _xml_sub(p, rng, tag, str(int(rng.integers(5000, 10000)) * (1 if tag.endswith("max") else -1)))
    return p


@case("voc_xml", read_raccoon)
def xml_inverted_box(rng, d):
    p = _xml(rng, d)
    text = p.read_text()
    a, b = pick(rng, [("xmin", "xmax"), ("ymin", "ymax")])
    lo = re.search(rf"<{a}>([^<]*)</{a}>", text).group(1)
    hi = re.search(rf"<{b}>([^<]*)</{b}>", text).group(1)
    text = text.replace(f"<{a}>{lo}</{a}>", f"<{a}>@@</{a}>", 1).replace(f"<{b}>{hi}</{b}>", f"<{b}>{lo}</{b}>", 1)
    p.write_text(text.replace("@@", str(float(hi) + 1), 1))
    return p


@case("voc_xml", read_raccoon)
def xml_nonpositive_size(rng, d):
    p = _xml(rng, d)
    _xml_sub(p, rng, pick(rng, ["width", "height"]), pick(rng, ["0", "-1", "-650"]))
    return p


@case("voc_xml", read_raccoon)
def xml_not_utf8(rng, d):
    p = _xml(rng, d)
    text = p.read_bytes()
    m = pick(rng, list(re.finditer(rb"<(name|pose|folder|filename)>", text)))
    p.write_bytes(text[:m.end()] + pick(rng, BAD_BYTES) + text[m.end():])
    return p


@case("voc_xml", read_raccoon)
def csv_renamed_header(rng, d):
    p = d / "raccoon" / "data" / "train_labels.csv"
    lines = p.read_text().splitlines()
    lines[0] = lines[0].replace("filename", pick(rng, ["file_name", "Filename", "image", "fname"]))
    p.write_text("\n".join(lines) + "\n")
    return p


@case("voc_xml", read_raccoon)
def csv_not_utf8(rng, d):
    p = d / "raccoon" / "data" / "train_labels.csv"
    not_utf8(p, rng)
    return p


@case("voc_xml", read_raccoon)
def csv_unknown_image(rng, d):
    p = d / "raccoon" / "data" / "train_labels.csv"
    edit_lines(p, rng, lambda ln: ln.replace(".jpg", f"-{int(rng.integers(1000))}.jpg", 1), r"\.jpg")
    return p


@case("voc_xml", read_raccoon)
def jpeg_truncated(rng, d):
    p = d / "raccoon" / "images" / f"{pick(rng, RACCOON_IDS)}.jpg"
    cut(p, rng, 1, int(p.stat().st_size * 0.9))
    return p


@case("voc_xml", read_raccoon)
def jpeg_is_text(rng, d):
    p = d / "raccoon" / "images" / f"{pick(rng, RACCOON_IDS)}.jpg"
    p.write_bytes(b"<html>404 not found</html>" * int(rng.integers(1, 4)))
    return p


# ---------------------------------------------------------------------------- VOC comp4 detection files
COMP4 = "dets/comp4_det_test_dog.txt"


@case("comp4", read_comp4, DetectionError, comp4_cli)
def comp4_short_line(rng, d):
    p = d / COMP4
    edit_lines(p, rng, lambda ln: " ".join(ln.split()[:int(rng.integers(1, 6))]))
    return p


@case("comp4", read_comp4, DetectionError, comp4_cli)
def comp4_extra_field(rng, d):
    p = d / COMP4
    edit_lines(p, rng, lambda ln: ln + f" {rng.uniform():.2f}")
    return p


@case("comp4", read_comp4, DetectionError, comp4_cli)
def comp4_non_numeric(rng, d):
    p = d / COMP4

    def f(ln):
        parts = ln.split()
        parts[int(rng.integers(1, 6))] = pick(rng, ["abc", "1.2.3", "--", "0x"])
        return " ".join(parts)
    edit_lines(p, rng, f)
    return p


@case("comp4", read_comp4, DetectionError, comp4_cli)
def comp4_nonfinite(rng, d):
    p = d / COMP4

    def f(ln):
        parts = ln.split()
        parts[int(rng.integers(1, 6))] = nonfinite(rng)
        return " ".join(parts)
    edit_lines(p, rng, f)
    return p


@case("comp4", read_comp4, DetectionError, comp4_cli)
def comp4_inverted_box(rng, d):
    p = d / COMP4

    def f(ln):
        i, s, x0, y0, x1, y1 = ln.split()
        if rng.integers(2):
            return f"{i} {s} {float(x1) + 5} {y0} {x0} {y1}"
        return f"{i} {s} {x0} {float(y1) + 5} {x1} {y0}"
    edit_lines(p, rng, f)
    return p


@case("comp4", read_comp4, DetectionError, comp4_cli)
def comp4_not_utf8(rng, d):
    p = d / COMP4
    not_utf8(p, rng)
    return p


@case("comp4", None, DetectionError, comp4_cli)
def comp4_unknown_image(rng, d):
    p = d / COMP4
    edit_lines(p, rng, lambda ln: f"raccoon-{int(rng.integers(500, 999))} " + " ".join(ln.split()[1:]))
    return p


# ---------------------------------------------------------------------------- COCO detection JSON
COCO_ANN = "annotations/instances_val2014_100.json"
COCO_RES = "results/res.json"


def _json_edit(p, fn, **dump):
    data = json.loads(p.read_text())
    data = fn(data)
    p.write_text(json.dumps(data, **dump))
    return p


def _res_entry(rng, d, fn):
    def f(res):
        i = int(rng.integers(len(res)))
        res[i] = fn(res[i])
        return res
    return _json_edit(d / COCO_RES, f)


@case("coco_det", read_coco, DetectionError, coco_cli)
def res_truncated(rng, d):
    p = d / COCO_RES
    cut_text(p, rng)
    return p


@case("coco_det", read_coco, DetectionError, coco_cli)
def res_zero_bytes(rng, d):
    p = d / COCO_RES
    empty(p)
    return p


@case("coco_det", read_coco, DetectionError, coco_cli)
def res_not_a_list(rng, d):
    return _json_edit(d / COCO_RES, lambda r: pick(rng, [{"results": r}, None, "results", 3]))


@case("coco_det", read_coco, DetectionError, coco_cli)
def res_entry_is_list(rng, d):
    return _res_entry(rng, d, lambda e: [e["image_id"], e["category_id"], e["bbox"], e["score"]])


@case("coco_det", read_coco, DetectionError, coco_cli)
def res_null_bbox_value(rng, d):
    def f(e):
        if rng.integers(2):
            e["bbox"] = None
        else:
            e["bbox"][int(rng.integers(4))] = None
        return e
    return _res_entry(rng, d, f)


@case("coco_det", read_coco, DetectionError, coco_cli)
def res_string_value(rng, d):
    def f(e):
        if rng.integers(2):
            e["score"] = str(e["score"])
        else:
            e["bbox"][int(rng.integers(4))] = str(e["bbox"][0])
        return e
    return _res_entry(rng, d, f)


@case("coco_det", read_coco, DetectionError, coco_cli)
def res_bbox_length(rng, d):
    def f(e):
        e["bbox"] = e["bbox"][:int(rng.integers(0, 4))] if rng.integers(2) else e["bbox"] + [1.0]
        return e
    return _res_entry(rng, d, f)


@case("coco_det", read_coco, DetectionError, coco_cli)
def res_nonfinite(rng, d):
    def f(e):
        v = pick(rng, [float("nan"), float("inf"), float("-inf")])
        if rng.integers(2):
            e["score"] = v
        else:
            e["bbox"][int(rng.integers(4))] = v
        return e
    return _res_entry(rng, d, f)           # json.dumps writes NaN / Infinity, which Python's json reads


@case("coco_det", read_coco, DetectionError, coco_cli)
def res_negative_size(rng, d):
    def f(e):
        e["bbox"][int(rng.integers(2, 4))] = -float(rng.uniform(0.5, 50))
        return e
    return _res_entry(rng, d, f)


@case("coco_det", read_coco, DetectionError, coco_cli)
def res_missing_key(rng, d):
    def f(e):
        del e[pick(rng, ["image_id", "category_id", "bbox", "score"])]
        return e
    return _res_entry(rng, d, f)


@case("coco_det", read_coco, DetectionError, coco_cli)
def res_unknown_image(rng, d):
    def f(e):
        e["image_id"] = int(rng.integers(10 ** 6, 10 ** 7))
        return e
    return _res_entry(rng, d, f)


@case("coco_det", read_coco, DetectionError, coco_cli)
def res_unknown_category(rng, d):
    def f(e):
        e["category_id"] = pick(rng, [0, 12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91, 1000])   # not COCO category ids
        return e
    return _res_entry(rng, d, f)


@case("coco_det", read_coco, DetectionError, coco_cli)
def res_id_wrong_type(rng, d):
    def f(e):
        key = pick(rng, ["image_id", "category_id"])
        e[key] = pick(rng, [str(e[key]), float(e[key]) + 0.5, [e[key]], True])
        return e
    return _res_entry(rng, d, f)


@case("coco_det", read_coco, DetectionError, coco_cli)
def res_not_utf8(rng, d):
    p = d / COCO_RES
    not_utf8(p, rng)
    return p


def _ann_edit(rng, d, fn):
    return _json_edit(d / COCO_ANN, fn)


@case("coco_det", read_coco, DetectionError, coco_cli)
def ann_no_categories(rng, d):
    def f(a):
        if rng.integers(2):
            del a["categories"]
        else:
            a["categories"] = pick(rng, [None, {}, "person"])
        return a
    return _ann_edit(rng, d, f)


@case("coco_det", read_coco, DetectionError, coco_cli)
def ann_annotations_null(rng, d):
    def f(a):
        a[pick(rng, ["annotations", "images"])] = pick(rng, [None, {}, 7])
        return a
    return _ann_edit(rng, d, f)


@case("coco_det", read_coco, DetectionError, coco_cli)
def ann_truncated(rng, d):
    p = d / COCO_ANN
    cut_text(p, rng)
    return p


@case("coco_det", read_coco, DetectionError, coco_cli)
def ann_bad_bbox(rng, d):
    def f(a):
        e = a["annotations"][int(rng.integers(len(a["annotations"])))]
        e["bbox"] = pick(rng, [None, [1, 2, 3], [0, 0, -5, 5], [0, 0, float("nan"), 3], "0 0 1 1"])
        return a
    return _ann_edit(rng, d, f)


@case("coco_det", read_coco, DetectionError, coco_cli)
def ann_missing_field(rng, d):
    def f(a):
        e = a["annotations"][int(rng.integers(len(a["annotations"])))]
        del e[pick(rng, ["id", "image_id", "category_id", "bbox", "area", "iscrowd"])]
        return a
    return _ann_edit(rng, d, f)


@case("coco_det", read_coco, DetectionError, coco_cli)
def ann_dangling_id(rng, d):
    def f(a):
        e = a["annotations"][int(rng.integers(len(a["annotations"])))]
        key = pick(rng, ["image_id", "category_id"])
        e[key] = int(rng.integers(10 ** 6, 10 ** 7))
        return a
    return _ann_edit(rng, d, f)


@case("coco_det", read_coco, DetectionError, coco_cli)
def ann_duplicate_id(rng, d):
    def f(a):
        key = pick(rng, ["images", "categories", "annotations"])
        a[key].append(dict(a[key][int(rng.integers(len(a[key])))]))
        return a
    return _ann_edit(rng, d, f)


@case("coco_det", read_coco, DetectionError, coco_cli)
def ann_not_utf8(rng, d):
    p = d / COCO_ANN
    not_utf8(p, rng)
    return p


@case("coco_det", read_coco, DetectionError, coco_cli)
def ann_not_an_object(rng, d):
    return _ann_edit(rng, d, lambda a: pick(rng, [a["annotations"], None, "instances"]))


# ---------------------------------------------------------------------------- COCO captions JSON (+ Karpathy)
def _cap_edit(rng, d, which, fn):
    return _json_edit(d / (CAP_ANN if which == "ann" else CAP_RES), fn)


@case("coco_cap", read_captions, DataError, caption_cli)
def cap_annotations_null(rng, d):
    def f(a):
        a["annotations"] = pick(rng, [None, {}, "captions", 3])
        return a
    return _cap_edit(rng, d, "ann", f)


@case("coco_cap", read_captions, DataError, caption_cli)
def cap_images_object(rng, d):
    def f(a):
        a["images"] = pick(rng, [{str(im["id"]): im for im in a["images"]}, "images", 1])
        return a
    return _cap_edit(rng, d, "ann", f)


@case("coco_cap", read_captions, DataError, caption_cli)
def cap_bad_image_entry(rng, d):
    def f(a):
        i = int(rng.integers(len(a["images"])))
        a["images"][i] = pick(rng, [a["images"][i]["id"], {"file_name": "x.jpg"}, {"id": [1]}, {"id": 10 ** 9}])
        return a
    return _cap_edit(rng, d, "ann", f)


@case("coco_cap", read_captions, DataError, caption_cli)
def cap_bad_annotation(rng, d):
    def f(a):
        e = a["annotations"][int(rng.integers(len(a["annotations"])))]
        k = int(rng.integers(4))
        if k == 0:
            del e["image_id"]
        elif k == 1:
            e["caption"] = pick(rng, [None, 7, ["a", "b"]])
        elif k == 2:
            e["image_id"] = pick(rng, [[e["image_id"]], {"id": 1}, 1.5, None])
        else:
            del e["caption"]
        return a
    return _cap_edit(rng, d, "ann", f)


@case("coco_cap", read_captions, DataError, caption_cli)
def cap_annotations_truncated(rng, d):
    p = d / CAP_ANN
    cut_text(p, rng)
    return p


@case("coco_cap", read_captions, DataError, caption_cli)
def cap_annotations_not_utf8(rng, d):
    p = d / CAP_ANN
    not_utf8(p, rng)
    return p


@case("coco_cap", read_captions, DataError, caption_cli)
def cap_results_not_list(rng, d):
    return _cap_edit(rng, d, "res", lambda r: pick(rng, [{"results": r}, None, "x"]))


@case("coco_cap", read_captions, DataError, caption_cli)
def cap_result_entry(rng, d):
    def f(r):
        i = int(rng.integers(len(r)))
        e = r[i]
        r[i] = pick(rng, [[e["image_id"], e["caption"]], {"image_id": e["image_id"]}, {"caption": e["caption"]},
                          {"image_id": e["image_id"], "caption": pick(rng, [None, 3, ["a man"], "", " . , "])},
                          {"image_id": [e["image_id"]], "caption": e["caption"]}])
        return r
    return _cap_edit(rng, d, "res", f)


@case("coco_cap", read_captions, DataError, caption_cli)
def cap_result_unknown_image(rng, d):
    def f(r):
        r[int(rng.integers(len(r)))]["image_id"] = int(rng.integers(10 ** 7, 10 ** 8))
        return r
    return _cap_edit(rng, d, "res", f)


@case("coco_cap", read_captions, DataError, caption_cli)
def cap_result_duplicate(rng, d):
    def f(r):
        r.append(dict(r[int(rng.integers(len(r)))]))
        return r
    return _cap_edit(rng, d, "res", f)


@case("coco_cap", read_captions, DataError, caption_cli)
def cap_results_truncated(rng, d):
    p = d / CAP_RES
    cut_text(p, rng)
    return p


@case("coco_cap", read_captions, DataError, caption_cli)
def cap_results_not_utf8(rng, d):
    p = d / CAP_RES
    not_utf8(p, rng)
    return p


KARPATHY = "coco/dataset_coco.json"


@case("coco_cap", read_karpathy)
def karpathy_truncated(rng, d):
    p = d / KARPATHY
    cut_text(p, rng)
    return p


@case("coco_cap", read_karpathy)
def karpathy_not_utf8(rng, d):
    p = d / KARPATHY
    not_utf8(p, rng)
    return p


@case("coco_cap", read_karpathy)
def karpathy_images_not_list(rng, d):
    return _json_edit(d / KARPATHY, lambda k: pick(rng, [{"images": {}}, {"images": None}, k["images"], {}]))


@case("coco_cap", read_karpathy)
def karpathy_bad_entry(rng, d):
    def f(k):
        im = k["images"][int(rng.integers(len(k["images"])))]
        j = int(rng.integers(4))
        if j == 0:
            del im[pick(rng, ["split", "filename", "sentences"])]
        elif j == 1:
            im["sentences"] = pick(rng, [[], [{"raw": ""}], [{"raw": None}], [{"tokens": ["a"]}]])
        elif j == 2:
            im["sentences"] = None
        else:
            im["sentences"][0]["raw"] = " . "
        return k
    return _json_edit(d / KARPATHY, f)


# ---------------------------------------------------------------------------- segmentation PNGs (VOC, Cityscapes)
VOC = "VOCdevkit/VOC2012"
CS_IMG = "cityscapes/leftImg8bit/val/camvid"
CS_GT = "cityscapes/gtFine/val/camvid"


def _voc_label(rng, d, sub="SegmentationClass"):
    return pick(rng, sorted((d / VOC / sub).glob("*.png")))


@case("seg", read_voc_seg)
def voc_jpeg_truncated(rng, d):
    p = pick(rng, sorted((d / VOC / "JPEGImages").glob("*.jpg")))
    cut(p, rng, 1, int(p.stat().st_size * 0.9))
    return p


@case("seg", read_voc_seg)
def voc_jpeg_zero_bytes(rng, d):
    p = pick(rng, sorted((d / VOC / "JPEGImages").glob("*.jpg")))
    empty(p)
    return p


@case("seg", read_voc_seg)
def voc_label_truncated(rng, d):
    p = _voc_label(rng, d)
    cut(p, rng, 1, p.stat().st_size - 16)
    return p


@case("seg", read_voc_seg)
def voc_label_not_palette(rng, d):
    from PIL import Image
    p = _voc_label(rng, d)
    Image.open(p).convert(pick(rng, ["L", "RGB"])).save(p)
    return p


@case("seg", read_voc_seg)
def voc_label_wrong_palette(rng, d):
    from PIL import Image
    p = _voc_label(rng, d)
    im = Image.open(p)
    pal = im.getpalette()
    k = int(rng.integers(0, 63))
    pal[k] = (pal[k] + int(rng.integers(1, 255))) % 256
    im.putpalette(pal)
    im.save(p)
    return p


@case("seg", read_voc_seg)
def voc_label_unknown_class(rng, d):
    from PIL import Image
    p = _voc_label(rng, d)
    im = Image.open(p)
    a = np.array(im)
    a[int(rng.integers(a.shape[0])), int(rng.integers(a.shape[1]))] = int(rng.integers(21, 255))
    out = Image.fromarray(a, mode="P")
    out.putpalette(im.getpalette())
    out.save(p)
    return p


@case("seg", read_voc_seg)
def voc_label_wrong_size(rng, d):
    from PIL import Image
    p = _voc_label(rng, d)
    im = Image.open(p)
    out = im.resize((im.width + int(rng.integers(1, 30)), im.height), Image.NEAREST)
    out.putpalette(im.getpalette())
    out.save(p)
    return p


@case("seg", read_voc_aug)
def voc_aug_label_unknown_class(rng, d):
    from PIL import Image
    p = _voc_label(rng, d, "SegmentationClassAug")
    a = np.array(Image.open(p))
    a[int(rng.integers(a.shape[0])), int(rng.integers(a.shape[1]))] = int(rng.integers(21, 255))
    save_png(a, p, "L")
    return p


@case("seg", read_voc_seg)
def voc_list_not_utf8(rng, d):
    p = d / VOC / "ImageSets/Segmentation/val.txt"
    not_utf8(p, rng)
    return p


@case("seg", read_voc_seg)
def voc_list_unknown_id(rng, d):
    p = d / VOC / "ImageSets/Segmentation/val.txt"
    edit_lines(p, rng, lambda ln: f"2008_{int(rng.integers(10 ** 6)):06d}")
    return p


@case("seg", read_cityscapes)
def cs_image_truncated(rng, d):
    p = pick(rng, sorted((d / CS_IMG).glob("*.png")))
    cut(p, rng, 1, p.stat().st_size - 16)
    return p


@case("seg", read_cityscapes)
def cs_label_truncated(rng, d):
    p = pick(rng, sorted((d / CS_GT).glob("*.png")))
    cut(p, rng, 1, p.stat().st_size - 16)
    return p


@case("seg", read_cityscapes)
def cs_label_unknown_id(rng, d):
    from PIL import Image
    p = pick(rng, sorted((d / CS_GT).glob("*.png")))
    a = np.array(Image.open(p))
    a[int(rng.integers(a.shape[0])), int(rng.integers(a.shape[1]))] = int(rng.integers(34, 256))
    save_png(a, p, "L")
    return p


@case("seg", read_cityscapes)
def cs_label_wrong_size(rng, d):
    from PIL import Image
    p = pick(rng, sorted((d / CS_GT).glob("*.png")))
    im = Image.open(p)
    im.resize((im.width, im.height - int(rng.integers(1, 30))), Image.NEAREST).save(p)
    return p


@case("seg", read_cityscapes)
def cs_label_rgb(rng, d):
    from PIL import Image
    p = pick(rng, sorted((d / CS_GT).glob("*.png")))
    Image.open(p).convert("RGB").save(p)
    return p


# ---------------------------------------------------------------------------- ILSVRC CSV / XML (+ localization CLI)
def _meta(d, name):
    return d / "meta" / name


def _csv_field(rng, p, col, value_fn):
    def f(ln):
        parts = ln.split(",")
        c = col if col is not None else int(rng.integers(1, len(parts)))
        parts[c] = value_fn(parts[c])
        return ",".join(parts)
    edit_lines(p, rng, f)


@case("ilsvrc", read_meta, DataError, loc_cli)
def meta_class_not_int(rng, d):
    p = _meta(d, "class_labels.txt")
    _csv_field(rng, p, 1, lambda v: pick(rng, ["abc", "", "1.5", nonfinite(rng)]))
    return p


@case("ilsvrc", read_meta, DataError, loc_cli)
def meta_class_out_of_range(rng, d):
    p = _meta(d, "class_labels.txt")
    _csv_field(rng, p, 1, lambda v: str(pick(rng, [-1, 1000, 1001, 99999])))
    return p


@case("ilsvrc", read_meta, DataError, loc_cli)
def meta_duplicate_label(rng, d):
    p = _meta(d, "class_labels.txt")
    lines = p.read_text().splitlines()
    p.write_text("\n".join(lines + [pick(rng, lines)]) + "\n")
    return p


@case("ilsvrc", read_meta, DataError, loc_cli)
def meta_size_not_int(rng, d):
    p = _meta(d, "image_sizes.txt")
    _csv_field(rng, p, int(rng.integers(1, 3)), lambda v: pick(rng, ["abc", "", "12.5", nonfinite(rng)]))
    return p


@case("ilsvrc", read_meta, DataError, loc_cli)
def meta_size_nonpositive(rng, d):
    p = _meta(d, "image_sizes.txt")
    _csv_field(rng, p, int(rng.integers(1, 3)), lambda v: pick(rng, ["0", "-1", "-500"]))
    return p


@case("ilsvrc", read_meta, DataError, loc_cli)
def meta_size_unknown_image(rng, d):
    p = _meta(d, "image_sizes.txt")
    _csv_field(rng, p, 0, lambda v: f"val/ILSVRC2012_val_{int(rng.integers(60000, 99999)):08d}.JPEG")
    return p


@case("ilsvrc", read_meta, DataError, loc_cli)
def meta_box_nonfinite(rng, d):
    p = _meta(d, "localization.txt")
    _csv_field(rng, p, int(rng.integers(1, 5)), lambda v: nonfinite(rng))
    return p


@case("ilsvrc", read_meta, DataError, loc_cli)
def meta_box_outside_image(rng, d):
    p = _meta(d, "localization.txt")
    _csv_field(rng, p, int(rng.integers(1, 5)), lambda v: pick(rng, ["-5", "100000"]))
    return p


@case("ilsvrc", read_meta, DataError, loc_cli)
def meta_box_short_row(rng, d):
    p = _meta(d, "localization.txt")
    edit_lines(p, rng, lambda ln: ",".join(ln.split(",")[:int(rng.integers(1, 5))]))
    return p


@case("ilsvrc", read_meta, DataError, loc_cli)
def meta_box_unknown_image(rng, d):
    p = _meta(d, "localization.txt")
    _csv_field(rng, p, 0, lambda v: f"val/ILSVRC2012_val_{int(rng.integers(60000, 99999)):08d}.JPEG")
    return p


@case("ilsvrc", read_meta, DataError, loc_cli)
def meta_not_utf8(rng, d):
    p = _meta(d, pick(rng, ["class_labels.txt", "image_sizes.txt", "localization.txt"]))
    not_utf8(p, rng)
    return p


@case("ilsvrc", read_imagenet_labels)
def imagenet_labels_bad_line(rng, d):
    p = _meta(d, "class_labels.txt")
    _csv_field(rng, p, 1, lambda v: pick(rng, ["x", "", "2000", "-3", "1.0"]))
    return p


def _ilsvrc_xml(rng, d):
    return pick(rng, sorted((d / "xml").glob("*.xml")))


@case("ilsvrc", read_xml, DataError, loc_cli_xml)
def xml_box_truncated(rng, d):
    p = _ilsvrc_xml(rng, d)
    cut_text(p, rng)
    return p


@case("ilsvrc", read_xml, DataError, loc_cli_xml)
def xml_box_zero_bytes(rng, d):
    p = _ilsvrc_xml(rng, d)
    empty(p)
    return p


@case("ilsvrc", read_xml, DataError, loc_cli_xml)
def xml_box_missing_size(rng, d):
    p = _ilsvrc_xml(rng, d)
    p.write_text(re.sub(r"<size>.*?</size>", "", p.read_text()))
    return p


@case("ilsvrc", read_xml, DataError, loc_cli_xml)
def xml_box_nonfinite(rng, d):
    p = _ilsvrc_xml(rng, d)
    _xml_sub(p, rng, pick(rng, ["width", "height", "xmin", "ymin", "xmax", "ymax"]), nonfinite(rng))
    return p


@case("ilsvrc", read_xml, DataError, loc_cli_xml)
def xml_box_unknown_synset(rng, d):
    p = _ilsvrc_xml(rng, d)
    _xml_sub(p, rng, "name", pick(rng, ["n99999999", "dog", "n0144076"]))
    return p


@case("ilsvrc", read_xml, DataError, loc_cli_xml)
def xml_box_two_classes(rng, d):
    p = _ilsvrc_xml(rng, d)
    text = p.read_text()
    cls = int(re.search(r"<name>n(\d+)</name>", text).group(1))
    extra = f"<object><name>n{(cls + 1) % 1000:08d}</name><bndbox><xmin>0</xmin><ymin>0</ymin><xmax>1</xmax><ymax>1</ymax></bndbox></object>"
    p.write_text(text.replace("</annotation>", extra + "</annotation>"))
    return p


@case("ilsvrc", read_xml, DataError, loc_cli_xml)
def xml_box_no_objects(rng, d):
    p = _ilsvrc_xml(rng, d)
    p.write_text(re.sub(r"<object>.*?</object>", "", p.read_text()))
    return p


@case("ilsvrc", read_xml, DataError, loc_cli_xml)
def xml_box_outside(rng, d):
    p = _ilsvrc_xml(rng, d)
    tag = pick(rng, ["xmin", "ymin", "xmax", "ymax"])
    _xml_sub(p, rng, tag, str(pick(rng, [-10, 100000])))
    return p


@case("ilsvrc", read_xml, DataError, loc_cli_xml)
def synsets_bad(rng, d):
    p = d / "synsets.txt"
    lines = p.read_text().splitlines()
    i = int(rng.integers(len(lines)))
    if rng.integers(2):
        lines[i] = pick(rng, ["tench, Tinca tinca", "01440764 tench", "nXYZ tench"])
    else:
        lines[i] = lines[(i + 1) % len(lines)]
    p.write_text("\n".join(lines) + "\n")
    return p


def _pred(rng, d, fn):
    p = d / "pred.csv"
    lines = p.read_text().splitlines()
    i = 1 + int(rng.integers(len(lines) - 1))
    parts = lines[i].split(",")
    lines[i] = fn(parts)
    p.write_text("\n".join(lines) + "\n")
    return p


@case("ilsvrc", None, DataError, loc_cli)
def pred_nonfinite_score(rng, d):
    return _pred(rng, d, lambda f: ",".join(f[:2] + [nonfinite(rng)] + f[3:]))


@case("ilsvrc", None, DataError, loc_cli)
def pred_nonfinite_coordinate(rng, d):
    def fn(f):
        f[3 + int(rng.integers(4))] = nonfinite(rng)
        return ",".join(f)
    return _pred(rng, d, fn)


@case("ilsvrc", None, DataError, loc_cli)
def pred_bad_class(rng, d):
    def fn(f):
        f[1] = pick(rng, ["-1", "dog", "", "2.5"])
        return ",".join(f)
    return _pred(rng, d, fn)


@case("ilsvrc", None, DataError, loc_cli)
def pred_short_row(rng, d):
    return _pred(rng, d, lambda f: ",".join(f[:int(rng.integers(1, 7))]))


@case("ilsvrc", None, DataError, loc_cli)
def pred_unknown_image(rng, d):
    def fn(f):
        f[0] = f"ILSVRC2012_val_{int(rng.integers(60000, 99999)):08d}"
        return ",".join(f)
    return _pred(rng, d, fn)


@case("ilsvrc", None, DataError, loc_cli)
def pred_renamed_header(rng, d):
    p = d / "pred.csv"
    lines = p.read_text().splitlines()
    col = pick(rng, ["image_id", "class", "score", "x0", "y1"])
    lines[0] = lines[0].replace(col, col.upper())
    p.write_text("\n".join(lines) + "\n")
    return p


@case("ilsvrc", None, DataError, loc_cli)
def pred_not_utf8(rng, d):
    p = d / "pred.csv"
    not_utf8(p, rng)
    return p


@case("ilsvrc", None, DataError, loc_cli)
def pred_bad_cam_threshold(rng, d):
    p = d / "pred.csv"
    lines = p.read_text().splitlines()
    lines[0] += ",cam_threshold"
    bad = int(rng.integers(1, len(lines)))
    lines = [ln if k == 0 else ln + "," + (pick(rng, ["1.5", "-0.1", nonfinite(rng), "x"]) if k == bad else "0.2")
             for k, ln in enumerate(lines)]
    p.write_text("\n".join(lines) + "\n")
    return p


# ---------------------------------------------------------------------------- CUB-200-2011 text files
CUB = "CUB_200_2011"


def _cub_field(rng, d, name, col, value):
    p = d / CUB / name
    _csv_like = p.read_text().splitlines()
    i = int(rng.integers(len(_csv_like)))
    parts = _csv_like[i].split()
    parts[col] = value
    _csv_like[i] = " ".join(parts)
    p.write_text("\n".join(_csv_like) + "\n")
    return p


@case("cub", read_cub)
def cub_box_nonfinite(rng, d):
    return _cub_field(rng, d, "bounding_boxes.txt", int(rng.integers(1, 5)), nonfinite(rng))


@case("cub", read_cub)
def cub_box_not_a_number(rng, d):
    return _cub_field(rng, d, "bounding_boxes.txt", int(rng.integers(1, 5)), pick(rng, ["abc", "1,5", "--"]))


@case("cub", read_cub)
def cub_box_invalid(rng, d):
    col = int(rng.integers(1, 5))
    return _cub_field(rng, d, "bounding_boxes.txt", col, "-3.0" if col < 3 else pick(rng, ["0", "-1.0"]))


@case("cub", read_cub)
def cub_missing_entry(rng, d):
    name = pick(rng, ["bounding_boxes.txt", "train_test_split.txt", "image_class_labels.txt"])
    p = d / CUB / name
    lines = p.read_text().splitlines()
    del lines[int(rng.integers(len(lines)))]
    p.write_text("\n".join(lines) + "\n")
    return p


@case("cub", read_cub)
def cub_unknown_id(rng, d):
    return _cub_field(rng, d, pick(rng, ["bounding_boxes.txt", "train_test_split.txt", "image_class_labels.txt"]),
                      0, str(int(rng.integers(100, 10 ** 6))))


@case("cub", read_cub)
def cub_class_out_of_range(rng, d):
    return _cub_field(rng, d, "image_class_labels.txt", 1, pick(rng, ["0", "201", "999", "-1", "x"]))


@case("cub", read_cub)
def cub_bad_split_flag(rng, d):
    return _cub_field(rng, d, "train_test_split.txt", 1, pick(rng, ["2", "yes", "-1", "test"]))


@case("cub", read_cub)
def cub_field_count(rng, d):
    name = pick(rng, ["images.txt", "bounding_boxes.txt", "train_test_split.txt", "image_class_labels.txt"])
    p = d / CUB / name
    edit_lines(p, rng, lambda ln: pick(rng, [ln + " extra", " ".join(ln.split()[:-1])]))
    return p


@case("cub", read_cub)
def cub_duplicate_id(rng, d):
    name = pick(rng, ["images.txt", "bounding_boxes.txt", "train_test_split.txt", "image_class_labels.txt"])
    p = d / CUB / name
    lines = p.read_text().splitlines()
    p.write_text("\n".join(lines + [pick(rng, lines)]) + "\n")
    return p


@case("cub", read_cub)
def cub_not_utf8(rng, d):
    p = d / CUB / pick(rng, ["images.txt", "bounding_boxes.txt", "train_test_split.txt", "image_class_labels.txt"])
    not_utf8(p, rng)
    return p


# ---------------------------------------------------------------------------- audio (wav, ogg, flac)
FSDD = "audio/fsdd/recordings"
OGG = "audio/librosa-data/audio/198-209-0000.hq.ogg"


def _wav(rng, d):
    return pick(rng, sorted((d / FSDD).glob("*.wav")))


def _data_end(p: Path) -> int:
    raw = p.read_bytes()
    pos = 12
    while pos + 8 <= len(raw):
        cid, n = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        if cid == b"data":
            return pos + 8 + n
        pos += 8 + n + (n % 2)
    raise AssertionError(f"{p}: no data chunk")


@case("audio", read_fsdd)
def wav_truncated(rng, d):
    p = _wav(rng, d)
    cut(p, rng, 1, _data_end(p))
    return p


@case("audio", read_fsdd)
def wav_zero_bytes(rng, d):
    p = _wav(rng, d)
    empty(p)
    return p


@case("audio", read_fsdd)
def wav_riff_magic(rng, d):
    p = _wav(rng, d)
    lo = pick(rng, [0, 8])                       # "RIFF" or "WAVE"
    flip_bit(p, rng, lo, lo + 4)
    return p


@case("audio", read_fsdd)
def wav_riff_size_too_big(rng, d):
    p = _wav(rng, d)
    raw = bytearray(p.read_bytes())
    raw[4:8] = struct.pack("<I", len(raw) - 8 + int(rng.integers(2, 10 ** 6)))
    p.write_bytes(bytes(raw))
    return p


@case("audio", read_fsdd)
def wav_not_pcm(rng, d):
    p = _wav(rng, d)
    raw = bytearray(p.read_bytes())
    k = raw.index(b"fmt ") + 8
    raw[k:k + 2] = struct.pack("<H", pick(rng, [2, 3, 6, 7, 0x55]))
    p.write_bytes(bytes(raw))
    return p


@case("audio", read_fsdd)
def wav_wrong_rate(rng, d):
    p = _wav(rng, d)
    raw = bytearray(p.read_bytes())
    k = raw.index(b"fmt ") + 8
    raw[k + 4:k + 8] = struct.pack("<I", pick(rng, [16000, 22050, 44100, 11025]))
    p.write_bytes(bytes(raw))
    return p


@case("audio", read_fsdd)
def wav_fmt_chunk_cut(rng, d):
    p = _wav(rng, d)
    raw = p.read_bytes()
    k = raw.index(b"fmt ")
    p.write_bytes(raw[:k + int(rng.integers(0, 24))])
    return p


@case("audio", read_fsdd)
def wav_bad_name(rng, d):
    p = _wav(rng, d)
    bad = p.with_name(pick(rng, ["zero_george_0.wav", "0-george-0.wav", "0_George_0.wav", "0_george.wav"]))
    p.rename(bad)
    return bad


@case("audio", read_fsdd)
def wav_unknown_speaker(rng, d):
    p = _wav(rng, d)
    bad = p.with_name(f"{p.name.split('_')[0]}_{pick(rng, ['alice', 'bob', 'georgy'])}_0.wav")
    p.rename(bad)
    return bad


@case("audio", read_libri)
def ogg_truncated(rng, d):
    p = d / OGG
    cut(p, rng)
    return p


@case("audio", read_libri)
def ogg_zero_bytes(rng, d):
    p = d / OGG
    empty(p)
    return p


@case("audio", read_libri)
def ogg_corrupt_byte(rng, d):
    p = d / OGG
    flip_bit(p, rng, 0, p.stat().st_size)
    return p


@case("audio", read_libri)
def ogg_transcript_not_utf8(rng, d):
    p = d / OGG.replace(".hq.ogg", ".txt")
    not_utf8(p, rng)
    return p


@case("audio", read_flac)
def flac_truncated(rng, d):
    p = d / "flac" / "0_george_0.flac"
    cut(p, rng, 1, p.stat().st_size - 64)
    return p


# ---------------------------------------------------------------------------- claims.toml
def _claims(rng, d):
    return pick(rng, sorted(d.glob("*/claims.toml")))


def _claim_blocks(text):
    parts = text.split("[[claim]]")
    return parts[0], parts[1:]


def _set_in_claim(rng, p, key, value):
    head, blocks = _claim_blocks(p.read_text())
    k = int(rng.integers(len(blocks)))
    lines = [ln for ln in blocks[k].splitlines() if not re.match(rf"\s*{key}\s*=", ln)]
    blocks[k] = "\n".join(lines[:2] + [f"{key} = {value}"] + lines[2:]) + "\n"
    p.write_text(head + "".join("[[claim]]" + b for b in blocks))
    return p


@case("claims", read_claims, ClaimsError)
def claims_value_nonfinite(rng, d):
    return _set_in_claim(rng, _claims(rng, d), "value", pick(rng, ["nan", "inf", "-inf", "+nan"]))


@case("claims", read_claims, ClaimsError)
def claims_tolerance_nonfinite(rng, d):
    return _set_in_claim(rng, _claims(rng, d), pick(rng, ["tolerance", "margin"]), pick(rng, ["nan", "inf", "-nan"]))


@case("claims", read_claims, ClaimsError)
def claims_negative_tolerance(rng, d):
    return _set_in_claim(rng, _claims(rng, d), pick(rng, ["tolerance", "margin"]), f"-{rng.uniform(0.01, 5):.2f}")


@case("claims", read_claims, ClaimsError)
def claims_not_tables(rng, d):
    p = _claims(rng, d)
    text = p.read_text()
    head = text.split("[[claim]]")[0]
    head = head.replace("[paper]", pick(rng, ["claim = [1, 2]\n[paper]", 'claim = "x"\n[paper]', "claim = 3\n[paper]"]), 1)
    p.write_text(head)
    return p


@case("claims", read_claims, ClaimsError)
def claims_unknown_paper_key(rng, d):
    p = _claims(rng, d)
    text = p.read_text()
    p.write_text(text.replace("[paper]\n", f"[paper]\n{pick(rng, ['venue', 'year', 'titel', 'url'])} = \"x\"\n", 1))
    return p


@case("claims", read_claims, ClaimsError)
def claims_unknown_field(rng, d):
    return _set_in_claim(rng, _claims(rng, d), pick(rng, ["tolerence", "valeu", "direction2", "Notes"]), '"x"')


@case("claims", read_claims, ClaimsError)
def claims_wrong_type(rng, d):
    key, val = pick(rng, [("value", '"12"'), ("tolerance", "true"), ("asserted", '"no"'), ("controls", '"untrained"'),
                          ("kind", "3"), ("margin", "[1]")])
    return _set_in_claim(rng, _claims(rng, d), key, val)


@case("claims", read_claims, ClaimsError)
def claims_bad_enum(rng, d):
    key, val = pick(rng, [("kind", '"guess"'), ("tier", '"medium"'), ("direction", '"up"'), ("level", '"V9"')])
    return _set_in_claim(rng, _claims(rng, d), key, val)


@case("claims", read_claims, ClaimsError)
def claims_missing_required(rng, d):
    p = _claims(rng, d)
    head, blocks = _claim_blocks(p.read_text())
    k = int(rng.integers(len(blocks)))
    key = pick(rng, ["id", "kind", "tier", "metric", "direction", "source"])
    blocks[k] = "\n".join(ln for ln in blocks[k].splitlines() if not re.match(rf"\s*{key}\s*=", ln)) + "\n"
    p.write_text(head + "".join("[[claim]]" + b for b in blocks))
    return p


@case("claims", read_claims, ClaimsError)
def claims_duplicate_id(rng, d):
    p = _claims(rng, d)
    head, blocks = _claim_blocks(p.read_text())
    p.write_text(head + "".join("[[claim]]" + b for b in blocks + [pick(rng, blocks)]))
    return p


@case("claims", read_claims, ClaimsError)
def claims_truncated_string(rng, d):
    p = _claims(rng, d)
    text = p.read_text()
    m = pick(rng, list(re.finditer(r'= "([^"\n]{2,})"', text)))
    p.write_text(text[:m.start(1) + int(rng.integers(1, len(m.group(1))))])
    return p


@case("claims", read_claims, ClaimsError)
def claims_not_utf8(rng, d):
    p = _claims(rng, d)
    not_utf8(p, rng)
    return p


@case("claims", read_claims, ClaimsError)
def claims_no_paper(rng, d):
    p = _claims(rng, d)
    text = p.read_text()
    p.write_text(re.sub(r"\[paper\]\n(?:[^\[\n][^\n]*\n|\n)*", pick(rng, ["", "[paper]\ntitle = \"x\"\n"]), text, count=1))
    return p


# ---------------------------------------------------------------------------- checkpoints
@case("checkpoint", read_ckpt_weights, CheckpointError)
def ckpt_truncated(rng, d):
    p = d / "model.pt"
    cut(p, rng)
    return p


@case("checkpoint", read_ckpt_weights, CheckpointError)
def ckpt_zero_bytes(rng, d):
    p = d / "model.pt"
    empty(p)
    return p


@case("checkpoint", read_ckpt_weights, CheckpointError)
def ckpt_random_bytes(rng, d):
    p = d / "model.pt"
    p.write_bytes(rng.integers(0, 256, size=int(rng.integers(1, 5000))).astype(np.uint8).tobytes())
    return p


@case("checkpoint", read_ckpt_weights, CheckpointError)
def ckpt_zip_header(rng, d):
    p = d / "model.pt"
    flip_bit(p, rng, 0, 4)
    return p


@case("checkpoint", read_ckpt_weights, CheckpointError)
def ckpt_wrong_shape(rng, d):
    p = d / "model.pt"
    shutil.copy(d / "other.pt", p)
    return p


@case("checkpoint", read_ckpt_weights, CheckpointError)
def ckpt_wrong_keys(rng, d):
    import torch
    p = d / "model.pt"
    sd = torch.load(p, weights_only=True)
    k = pick(rng, sorted(sd))
    if rng.integers(2):
        del sd[k]
    else:
        sd["extra." + k] = sd[k]
    torch.save(sd, p)
    return p


@case("checkpoint", read_ckpt_weights, CheckpointError)
def ckpt_not_a_state_dict(rng, d):
    import torch
    p = d / "model.pt"
    sd = torch.load(p, weights_only=True)
    torch.save(pick(rng, [list(sd.values()), {"weights": 1.5}, "model", {k: v.tolist() for k, v in sd.items()}]), p)
    return p


@case("checkpoint", read_ckpt_weights, CheckpointError)
def ckpt_pickled_code(rng, d):
    import torch
    p = d / "model.pt"
    torch.save({"w": torch.zeros(2), "obj": pick(rng, [Path("x"), object, complex])}, p)   # weights_only refuses these
    return p


@case("checkpoint", read_cached, CheckpointError)
def cache_entry_wrong_shape(rng, d):
    p = cached_path(d)
    shutil.copy(d / "other.pt", p)
    return p


@case("checkpoint", read_cached, CheckpointError)
def cache_entry_truncated(rng, d):
    p = cached_path(d)
    cut(p, rng)
    return p


@case("checkpoint", read_resume, CheckpointError)
def resume_corrupt(rng, d):
    p = resume_path(d)
    pick(rng, [lambda: cut(p, rng), lambda: empty(p), lambda: flip_bit(p, rng, 0, 4)])()
    return p


@case("checkpoint", read_resume, CheckpointError)
def resume_wrong_content(rng, d):
    import torch
    p = resume_path(d)
    st = torch.load(p, weights_only=True)
    j = int(rng.integers(3))
    if j == 0:
        del st[pick(rng, ["model", "optimizer", "rng", "epoch", "history"])]
    elif j == 1:
        st["model"] = torch.load(d / "other.pt", weights_only=True)
    else:
        st = st["model"]                         # a plain state_dict where fit() wrote its own record
    torch.save(st, p)
    return p


def read_memo(d):
    from reference_impls.common import memo
    memo("feats", {"seed": 0}, lambda: {"x": [0.0]}, cache_dir=d / "cache")


@case("checkpoint", read_memo, CheckpointError)
def memo_entry_corrupt(rng, d):
    import torch
    from reference_impls.common.cache import cache_key
    p = d / "cache" / "memo" / "feats" / f"{cache_key('feats', {'seed': 0}, seed=0)}.pt"
    p.parent.mkdir(parents=True)
    torch.save({"x": torch.zeros(3)}, p)
    pick(rng, [lambda: cut(p, rng), lambda: empty(p), lambda: flip_bit(p, rng, 0, 4)])()
    return p


@case("checkpoint", read_backbone, CheckpointError)
def backbone_random_bytes(rng, d):
    p = d / "test_resnet.pth"
    p.write_bytes(rng.integers(0, 256, size=int(rng.integers(1, 4000))).astype(np.uint8).tobytes())
    return p


@case("checkpoint", read_backbone, CheckpointError)
def backbone_truncated(rng, d):
    p = d / "test_resnet.pth"
    cut(p, rng)
    return p


@case("checkpoint", read_backbone, CheckpointError)
def backbone_other_models_weights(rng, d):
    p = d / "test_resnet.pth"
    src = pick(rng, [d / "test_efficientnet.pth", d / "model.pt"])
    shutil.copy(src, p)
    return p


# ============================================================================ the tests
CASE_IDS = sorted(CASES)


def _check_message(exc, bad: Path):
    msg = str(exc)
    assert str(bad) in msg, f"{type(exc).__name__} does not name the corrupted file {bad}: {msg}"
    assert "Traceback" not in msg


def _run_cli(family, argv, bad, capsys):
    main = _cli_main(family)
    capsys.readouterr()
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc not in (0, None), f"exit {rc} on a corrupted {bad}; stdout: {out[:300]}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), f"expected one 'error:' line, got: {err[:500]}"
    assert str(bad) in lines[0], f"the error line does not name {bad}: {lines[0]}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", CASE_IDS)
def test_corruption(name, seed, pristine, tmp_path, capsys):
    family, corrupt, reader, error, cli = CASES[name]
    d = tmp_path / "data"
    shutil.copytree(pristine(family), d)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    bad = corrupt(rng, d)
    if reader is not None:
        with pytest.raises(error) as ei:
            reader(d)
        _check_message(ei.value, Path(bad))
    if cli is not None:
        _run_cli(family, cli(d), Path(bad), capsys)


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_pristine_copy_reads(family, pristine, tmp_path, capsys):
    """The uncorrupted derived copy of every family reads without error (and the command lines exit
    0 on it), so each failure above comes from its corruption."""
    d = tmp_path / "data"
    shutil.copytree(pristine(family), d)
    for reader in PRISTINE_READERS[family]:
        reader(d)
    for cli in CLIS.get(family, []):
        assert _cli_main(family)(cli(d)) == 0, capsys.readouterr().err


def test_every_family_and_enough_cases():
    families = {f for f, *_ in CASES.values()}
    assert families >= {"mnist", "omniglot", "camvid", "voc_xml", "comp4", "coco_det", "coco_cap", "seg",
                        "ilsvrc", "cub", "audio", "claims", "checkpoint"}
    assert len(CASES) * len(SEEDS) >= 200, (len(CASES), SEEDS)


def test_new_seeds_give_new_corruptions(pristine, tmp_path):
    """Seeds change the corrupted bytes, not only the name of the test."""
    outs = []
    for seed in (0, 1, 2):
        d = tmp_path / f"s{seed}"
        shutil.copytree(pristine("voc_xml"), d)
        bad = xml_nonfinite_coordinate(np.random.default_rng([seed, 1]), d)
        outs.append((bad.name, bad.read_bytes()))
    assert len(set(outs)) > 1
