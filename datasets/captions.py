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
    "flickr8k": ("flickr8k", "dataset_flickr8k.json", "flickr8k/dataset_flickr8k.json (Karpathy split) + flickr8k/images/*.jpg"),
    "flickr30k": ("flickr30k", "dataset_flickr30k.json", "flickr30k/dataset_flickr30k.json (Karpathy split) + flickr30k/images/*.jpg"),
}
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
    items = []
    for i, im in enumerate(data["images"]):
        try:
            if im["split"] not in splits:
                continue
            caps = [s["raw"] for s in im["sentences"]]
            sub = im.get("filepath", "") if name == "coco" else "images"
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
    index tensor, a list or a slice, so the training code treats it like an in-memory tensor."""

    def __init__(self, paths: list[Path], size: int = 299):
        self.paths, self.size = [Path(p) for p in paths], size

    def __len__(self):
        return len(self.paths)

    def _load(self, path: Path):
        import numpy as np
        import torch
        from PIL import Image
        im = read_rgb(path).resize((self.size, self.size), Image.BILINEAR)
        return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)

    def __getitem__(self, idx):
        import torch
        if isinstance(idx, slice):
            idx = range(*idx.indices(len(self)))
        elif isinstance(idx, torch.Tensor):
            idx = idx.reshape(-1).tolist()
        elif isinstance(idx, int):
            return self._load(self.paths[idx])
        return torch.stack([self._load(self.paths[i]) for i in idx])
