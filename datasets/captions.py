"""Image-caption datasets in their published layouts, the vocabulary, and caption preprocessing.

    items = load_karpathy(root, "coco", split="test")   # [CaptionItem(image_path, captions, image_id)]
    vocab = Vocab.build([caption_tokens(c) for it in train for c in it.captions], min_count=5)

Layouts under the data root (the loaders raise DataMissing naming these):
    coco/dataset_coco.json + coco/{train2014,val2014}/COCO_*.jpg          (Karpathy split)
    flickr8k/dataset_flickr8k.json + flickr8k/images/*.jpg                (Karpathy split)
    flickr30k/dataset_flickr30k.json + flickr30k/images/*.jpg             (Karpathy split)
    pascal-sentences/dataset/<category>/<name>.jpg + pascal-sentences/sentence/<category>/<name>.txt
    sbu/SBU_captioned_photo_dataset_captions.txt + sbu/images/<line number, 0-based>.jpg

Captions are preprocessed with the evaluation tokenizer (metrics.captioning.ptb_tokenize), so
the words the model learns are the words BLEU/CIDEr count.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from metrics.captioning import ptb_tokenize

from . import DataError, DataMissing, locate, read_rgb

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"

KARPATHY = {
    "coco": ("coco", "dataset_coco.json", "coco/dataset_coco.json (Karpathy split) + coco/train2014/*.jpg + coco/val2014/*.jpg"),
    "flickr8k": ("flickr8k", "dataset_flickr8k.json",
                 "flickr8k/dataset_flickr8k.json (Karpathy split) + flickr8k/images/*.jpg (or Flicker8k_Dataset/, as unzipped)"),
    "flickr30k": ("flickr30k", "dataset_flickr30k.json",
                  "flickr30k/dataset_flickr30k.json (Karpathy split) + flickr30k/images/*.jpg (or flickr30k-images/, as untarred)"),
}
# the image folder's name in the official archives, accepted beside "images"
RELEASED_IMAGE_DIR = {"flickr8k": "Flicker8k_Dataset", "flickr30k": "flickr30k-images"}
PASCAL_LAYOUT = "pascal-sentences/dataset/<category>/<name>.jpg + pascal-sentences/sentence/<category>/<name>.txt (5 lines)"
SBU_LAYOUT = "sbu/SBU_captioned_photo_dataset_captions.txt (one caption a line) + sbu/images/<0-based line>.jpg"


def caption_tokens(text: str) -> list[str]:
    """The words of a caption as coco-caption's evaluation sees them."""
    return ptb_tokenize(text).split()


@dataclass
class CaptionItem:
    image: Path
    captions: list[str]
    image_id: int | str


# ----------------------------------------------------------------------------- vocabulary
class Vocab:
    """Words seen at least `min_count` times; the rest map to <unk>. Index 0 is <pad>."""

    def __init__(self, words: list[str]):
        self.itos = [PAD, START, END, UNK] + [w for w in words if w not in (PAD, START, END, UNK)]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.pad, self.start, self.end, self.unk = 0, 1, 2, 3

    @classmethod
    def build(cls, token_lists, min_count: int = 1) -> "Vocab":
        counts = Counter(w for toks in token_lists for w in toks)
        return cls(sorted(w for w, c in counts.items() if c >= min_count))

    def __len__(self):
        return len(self.itos)

    def encode(self, tokens: list[str], max_len: int | None = None) -> list[int]:
        """<start> w1 .. wn <end>, words cut to max_len."""
        ids = [self.stoi.get(w, self.unk) for w in tokens[:max_len]]
        return [self.start] + ids + [self.end]

    def decode(self, ids) -> str:
        out = []
        for i in ids:
            i = int(i)
            if i == self.end:
                break
            if i not in (self.pad, self.start):
                out.append(self.itos[i])
        return " ".join(out)

    def state_dict(self) -> dict:
        return {"itos": self.itos}

    @classmethod
    def from_state_dict(cls, d: dict) -> "Vocab":
        v = cls([])
        v.itos = list(d["itos"])
        v.stoi = {w: i for i, w in enumerate(v.itos)}
        return v


# ----------------------------------------------------------------------------- loaders
def _json(path: Path):
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: invalid JSON ({e.msg} at line {e.lineno})") from None


def load_karpathy(root, name: str, split: str = "test", check_images: bool = True) -> list[CaptionItem]:
    """COCO / Flickr8k / Flickr30k with Karpathy's split file. split: train (with "restval" for
    COCO, as im2txt and most papers do), val or test."""
    folder, fname, layout = KARPATHY[name]
    base = locate(root, folder, layout)
    path = locate(root, f"{folder}/{fname}", layout)
    data = _json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{path}: expected {{'images': [...]}} (Karpathy's split format)")
    splits = {"train": ("train", "restval")}.get(split, (split,))
    released = RELEASED_IMAGE_DIR.get(name)
    image_dir = released if released and not (base / "images").is_dir() and (base / released).is_dir() else "images"
    items = []
    for i, im in enumerate(data["images"]):
        try:
            if im["split"] not in splits:
                continue
            caps = [s["raw"] for s in im["sentences"]]
            sub = im.get("filepath", "") if name == "coco" else image_dir
            img = base / sub / im["filename"]
            image_id = im.get("cocoid", im.get("imgid", i))
        except (KeyError, TypeError) as e:
            raise DataError(f"{path}: image entry #{i} lacks {e} (needs split, filename, sentences[].raw)") from None
        if not caps or any(not isinstance(c, str) or not caption_tokens(c) for c in caps):
            raise DataError(f"{path}: image entry #{i} ({im['filename']}) has a missing or empty caption")
        items.append(CaptionItem(img, caps, image_id))
    if not items:
        raise DataError(f"{path}: no images in split {split!r}")
    if check_images and not items[0].image.exists():
        raise DataMissing(f"{items[0].image} (listed in {path}) not found; expected {layout}")
    return items


COCO_PAPER_TEST = 4000


def load_coco_paper_split(root, split: str = "test", n_test: int = COCO_PAPER_TEST) -> list[CaptionItem]:
    """Show and Tell's COCO protocol (section 4.1: 4,000 held-out images for test): test = 4,000
    val2014 images, train = train2014 and the rest of val2014. The paper does not publish its ids:
    ours are the last n_test val2014 images of Karpathy's file (coco/dataset_coco.json) after sorting
    by COCO id and shuffling with random.Random(12345) -- deterministic, not the authors' images."""
    import random
    items = [it for s in ("train", "val", "test") for it in load_karpathy(root, "coco", s)]
    val = sorted((it for it in items if "val2014" in str(it.image)), key=lambda it: int(it.image_id))
    random.Random(12345).shuffle(val)
    if len(val) <= n_test:
        raise DataError(f"coco/dataset_coco.json: only {len(val)} val2014 images; the paper's split holds out {n_test}")
    test_ids = {it.image_id for it in val[-n_test:]}
    if split == "test":
        return [it for it in val if it.image_id in test_ids]
    if split == "train":
        return [it for it in items if it.image_id not in test_ids]
    raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def load_pascal_sentences(root) -> list[CaptionItem]:
    """Rashtchian et al.'s 1,000 Pascal images x 5 sentences (the paper tests on all of them)."""
    base = locate(root, "pascal-sentences", PASCAL_LAYOUT)
    sent = locate(root, "pascal-sentences/sentence", PASCAL_LAYOUT)
    items = []
    for txt in sorted(sent.rglob("*.txt")):
        rel = txt.relative_to(sent).with_suffix(".jpg")
        try:
            caps = [l.strip() for l in txt.read_bytes().decode("utf-8").splitlines() if l.strip()]
        except UnicodeDecodeError as e:
            raise DataError(f"{txt}: not UTF-8 text (byte {e.start})") from None
        if not caps:
            raise DataError(f"{txt}: no sentences")
        items.append(CaptionItem(base / "dataset" / rel, caps, str(rel.with_suffix(""))))
    if not items:
        raise DataError(f"{sent}: no sentence files; expected {PASCAL_LAYOUT}")
    return items


def load_sbu(root, n_test: int = 1000) -> tuple[list[CaptionItem], list[CaptionItem]]:
    """SBU captioned photos (one caption per image): (train, test) where test is the last
    `n_test` lines, a deterministic split of ours (the paper does not publish its split)."""
    path = locate(root, "sbu/SBU_captioned_photo_dataset_captions.txt", SBU_LAYOUT)
    images = locate(root, "sbu/images", SBU_LAYOUT)
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start})") from None
    items = [CaptionItem(images / f"{i}.jpg", [c.strip()], i) for i, c in enumerate(lines)]
    items = [it for it in items if it.image.exists()]   # many SBU URLs are dead: use what was fetched
    if len(items) <= n_test:
        raise DataError(f"{images}: only {len(items)} images with captions; need more than {n_test}")
    return items[:-n_test], items[-n_test:]


class ImageFiles:
    """Images on disk as a lazily loaded uint8 tensor: `files[idx]` -> (B, 3, size, size) for an
    index tensor, a list or a slice, so the training code treats it like an in-memory tensor.
    resize: first resize to resize x resize, then take the central size x size crop (im2txt's
    evaluation preprocessing, the counterpart of `CaptionPairs`' training crops)."""

    def __init__(self, paths: list[Path], size: int = 299, resize: int | None = None):
        self.paths, self.size, self.resize = [Path(p) for p in paths], size, resize

    def __len__(self):
        return len(self.paths)

    def _load(self, path: Path):
        import numpy as np
        import torch
        from PIL import Image
        r = self.resize or self.size
        im = np.asarray(read_rgb(path).resize((r, r), Image.BILINEAR))
        o = (r - self.size) // 2
        return torch.from_numpy(im[o:o + self.size, o:o + self.size].copy()).permute(2, 0, 1)

    def __getitem__(self, idx):
        import torch
        if isinstance(idx, slice):
            idx = range(*idx.indices(len(self)))
        elif isinstance(idx, torch.Tensor):
            idx = idx.reshape(-1).tolist()
        elif isinstance(idx, int):
            return self._load(self.paths[idx])
        return torch.stack([self._load(self.paths[i]) for i in idx])


# ----------------------------------------------------------------------------- streaming training pairs
def _dataset_base():
    from torch.utils.data import Dataset
    return Dataset


class CaptionPairs(_dataset_base()):
    """Training pairs streamed from disk, for a DataLoader with workers: nothing is decoded before
    an item is asked for. Item -> (uint8 image (3, size, size), caption ids (T,) with <start>/<end>).

    every_caption=True: one item per (image, caption) pair (stage 1: every pair once an epoch);
    False: one item per image with one of its captions drawn at random (stage 2).
    train=True: the im2txt release's training distortions -- resize to resize x resize, a random
    size x size crop, a random horizontal flip, colour distortion (brightness +-32/255, contrast and
    saturation x[0.5, 1.5], hue +-0.032) -- drawn from the worker's torch RNG, which the DataLoader
    seeds per worker and per epoch from its generator (so two workers distort differently and a
    seeded loader repeats itself); train=False: the central crop, as `ImageFiles(resize=)` reads
    the test images. Images stay uint8: the model normalises (ImageNet statistics in the full tier)."""

    def __init__(self, items: list[CaptionItem], vocab: Vocab, size: int = 299, resize: int | None = None,
                 max_len: int = 20, every_caption: bool = True, train: bool = True):
        self.paths = [Path(it.image) for it in items]
        self.captions = [list(it.captions) for it in items]
        self.vocab, self.size, self.max_len, self.train = vocab, size, max_len, train
        self.resize = resize or round(size * 346 / 299)
        self.every_caption = every_caption
        self.pairs = [(i, j) for i, caps in enumerate(self.captions) for j in range(len(caps))] if every_caption else None

    def __len__(self):
        return len(self.pairs) if self.every_caption else len(self.paths)

    def read(self, i: int):
        """Image i as a uint8 tensor (3, resize, resize)."""
        import numpy as np
        import torch
        from PIL import Image
        im = read_rgb(self.paths[i]).resize((self.resize, self.resize), Image.BILINEAR)
        return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)

    def augment(self, img):
        import torch
        from torchvision.transforms.v2 import functional as TF
        r, s = self.resize, self.size
        if not self.train:
            o = (r - s) // 2
            return img[:, o:o + s, o:o + s]
        y, x = (int(v) for v in torch.randint(0, r - s + 1, (2,)))
        img = img[:, y:y + s, x:x + s]
        if torch.rand(()) < 0.5:
            img = img.flip(-1)
        u = torch.rand(4)
        img = (img.float() + (2 * float(u[0]) - 1) * 32).clamp(0, 255).to(torch.uint8)     # brightness +-32/255
        img = TF.adjust_saturation(img, 0.5 + float(u[1]))
        img = TF.adjust_hue(img, (2 * float(u[2]) - 1) * 0.032)
        return TF.adjust_contrast(img, 0.5 + float(u[3]))

    def __getitem__(self, p: int):
        import torch
        if self.every_caption:
            i, j = self.pairs[p]
        else:
            i, j = p, int(torch.randint(len(self.captions[p]), ()))
        ids = self.vocab.encode(caption_tokens(self.captions[i][j]), self.max_len)
        return self.augment(self.read(i)), torch.tensor(ids, dtype=torch.long)


def collate_captions(batch):
    """Stack images; pad caption ids with <pad> (0) to the batch's longest."""
    import torch
    images = torch.stack([b[0] for b in batch])
    T = max(len(b[1]) for b in batch)
    caps = torch.zeros(len(batch), T, dtype=torch.long)
    for k, (_, c) in enumerate(batch):
        caps[k, :len(c)] = c
    return images, caps


def caption_loader(dataset: CaptionPairs, batch: int, *, seed: int, workers: int = 4, rank: int = 0, world: int = 1,
                   shuffle: bool = True, pin_memory: bool = False):
    """A DataLoader streaming `dataset` with `workers` processes ($REPRO_LOADER_WORKERS overrides). Shuffled per epoch by a
    DistributedSampler (common.fit calls its set_epoch; under torchrun each rank reads its share);
    the generator seeds the workers' augmentation per epoch, deterministically in `seed`."""
    import torch
    from torch.utils.data import DataLoader, DistributedSampler

    from reference_impls.common.distributed import default_workers
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=seed, drop_last=world > 1)
    return DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=default_workers(workers), collate_fn=collate_captions,
                      generator=torch.Generator().manual_seed(seed), pin_memory=pin_memory, drop_last=True,
                      persistent_workers=False)
