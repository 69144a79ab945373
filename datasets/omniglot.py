"""Omniglot (Lake et al. 2015) in its original layout, and an N-way K-shot episode sampler.

    <data-root>/omniglot/python/
        images_background/<Alphabet>/characterNN/<drawer>.png      (30 alphabets, 964 characters; full tier)
        images_evaluation/<Alphabet>/characterNN/<drawer>.png      (20 alphabets, 659 characters; full tier)
        images_background_small1/, images_background_small2/      (5 alphabets each; smoke tier)
        one-shot-classification/runNN/{training/classNN.png, test/itemNN.png, class_labels.txt}

Images are 105x105 1-bit PNGs with black ink on white. We load them with ink = 1.0 and
resize to 28x28 (box filter), as the official "rare events" code does before training.

    chars = load_background_small(root)          # Characters: images [C, 20, 28, 28] + names
    runs = load_runs(root)                       # the 20 official within-alphabet 20-way runs
    train, test = vinyals_split(root)            # full tier: 1200 / 423 characters (+ rotations)
    sampler = EpisodeSampler(n_way=5, k_shot=1, n_query=5)
    ep = sampler.sample(num_classes, num_examples, generator)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from . import DataError, fingerprint, locate, read_text

IMAGE_SIZE = 28
SOURCE_SIZE = 105       # the published drawings are 105x105
ROOT = "omniglot/python"
LAYOUT = ("omniglot/python/{images_background,images_evaluation,images_background_small1,"
          "images_background_small2}/<Alphabet>/characterNN/*.png and "
          "omniglot/python/one-shot-classification/run01..run20/{training/classNN.png,test/itemNN.png,class_labels.txt} "
          "(unzip the official brendenlake/omniglot python/*.zip files there)")


@dataclass
class Characters:
    """Omniglot characters: images[c, d] is drawer d's drawing of character c (float, ink = 1)."""
    images: torch.Tensor          # [C, D, 28, 28]
    names: list[str]              # "<Alphabet>/characterNN" (plus "@rot90" etc. for rotations)

    def __len__(self):
        return len(self.names)

    def subset(self, idx) -> "Characters":
        idx = list(idx)
        return Characters(self.images[idx], [self.names[i] for i in idx])


@dataclass
class Run:
    """One official 20-way one-shot run: 20 training images (one per class), 20 test images,
    and for every test item the training file that is its class (class_labels.txt)."""
    name: str
    train_files: list[str]        # sorted, e.g. "run01/training/class01.png"
    test_files: list[str]         # sorted
    answers: dict[str, str]       # test file -> training file of its class
    train_images: torch.Tensor    # [20, 28, 28], in train_files order
    test_images: torch.Tensor     # [20, 28, 28], in test_files order


# ----------------------------------------------------------------------------- images
def load_image(path: Path, size: int = IMAGE_SIZE, source_size: int | None = None) -> torch.Tensor:
    """A PNG as a [size, size] float tensor, ink = 1, background = 0. `source_size`: the side the
    file must have (SOURCE_SIZE = 105 for Omniglot's own files), else DataError naming the file."""
    try:
        with Image.open(path) as im:
            im.load()
            shape = im.size
            im = im.convert("L")
            if size != im.size[0] or size != im.size[1]:
                im = im.resize((size, size), Image.BOX)
            a = np.asarray(im, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise DataError(f"{path}: missing image") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        raise DataError(f"{path}: unreadable image ({type(e).__name__}: {e})") from None
    if source_size is not None and shape != (source_size, source_size):
        raise DataError(f"{path}: image is {shape[0]}x{shape[1]}, expected {source_size}x{source_size} "
                        f"(Omniglot's drawings)")
    return torch.from_numpy(1.0 - a)


def load_alphabets(folder: Path, size: int = IMAGE_SIZE) -> Characters:
    """Every <Alphabet>/characterNN/*.png under `folder`; every character must have the same
    number of drawings (20 in Omniglot)."""
    folder = Path(folder)
    chars = sorted(p for p in folder.glob("*/*") if p.is_dir())
    if not chars:
        raise DataError(f"{folder}: no <Alphabet>/<character>/ folders found")
    listed = {c: sorted(c.glob("*.png")) for c in chars}
    n = max(len(f) for f in listed.values())
    for c, files in listed.items():       # a lost drawing is the usual fault: the largest count is the norm
        if len(files) != n or n == 0:
            raise DataError(f"{c}: {len(files)} drawings, expected {n} like the other characters")
    images, names = [], []
    for c in chars:
        files = listed[c]
        images.append(torch.stack([load_image(f, size, SOURCE_SIZE) for f in files]))
        names.append(f"{c.parent.name}/{c.name}")
    return Characters(torch.stack(images), names)


def _merge(parts: list[Characters]) -> Characters:
    seen, keep_img, keep_names = set(), [], []
    for part in parts:
        for i, name in enumerate(part.names):
            if name not in seen:                    # Greek and Latin are in both small sets
                seen.add(name)
                keep_img.append(part.images[i])
                keep_names.append(name)
    return Characters(torch.stack(keep_img), keep_names)


def load_background_small(root) -> Characters:
    """The two "minimal" background splits merged (8 alphabets, 242 characters)."""
    base = locate(root, ROOT, LAYOUT)
    folders = [locate(root, f"{ROOT}/images_background_small{i}", LAYOUT) for i in (1, 2)]
    del base
    return _merge([load_alphabets(f) for f in folders])


def background_small_fingerprint(root) -> str:
    return fingerprint(*[locate(root, f"{ROOT}/images_background_small{i}", LAYOUT) for i in (1, 2)])


def with_rotations(chars: Characters) -> Characters:
    """Each character plus its 90/180/270-degree rotations as new classes (Santoro/Vinyals)."""
    imgs = [chars.images] + [torch.rot90(chars.images, r, dims=(-2, -1)) for r in (1, 2, 3)]
    names = chars.names + [f"{n}@rot{90 * r}" for r in (1, 2, 3) for n in chars.names]
    return Characters(torch.cat(imgs), names)


def vinyals_split(root, n_train: int = 1200) -> tuple[Characters, Characters]:
    """Full tier: all 1,623 characters (background then evaluation alphabets, sorted), the
    first 1,200 for training and the remaining 423 for testing, each with rotations."""
    bg = load_alphabets(locate(root, f"{ROOT}/images_background", LAYOUT))
    ev = load_alphabets(locate(root, f"{ROOT}/images_evaluation", LAYOUT))
    allc = Characters(torch.cat([bg.images, ev.images]), bg.names + ev.names)
    if len(allc) != 1623:
        raise DataError(f"{root}/{ROOT}: {len(allc)} characters in images_background + images_evaluation, expected 1623")
    idx = list(range(len(allc)))
    return with_rotations(allc.subset(idx[:n_train])), with_rotations(allc.subset(idx[n_train:]))



def authors_split(root) -> tuple[Characters, Characters]:
    """The authors' data_utils.py (the README sanity run): train on images_background (964
    characters) plus rotations, validate on images_evaluation (659 characters) without rotations."""
    bg = load_alphabets(locate(root, f"{ROOT}/images_background", LAYOUT))
    ev = load_alphabets(locate(root, f"{ROOT}/images_evaluation", LAYOUT))
    return with_rotations(bg), ev

# ----------------------------------------------------------------------------- official runs
def load_run(folder: Path, size: int = IMAGE_SIZE) -> Run:
    folder = Path(folder)
    labels = folder / "class_labels.txt"
    if not labels.is_file():
        raise DataError(f"{labels}: missing (each run folder needs class_labels.txt)")
    answers = {}
    for i, line in enumerate(read_text(labels).splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DataError(f"{labels}:{i}: expected '<test file> <training file>', got {line!r}")
        if parts[0] in answers:
            raise DataError(f"{labels}:{i}: test item {parts[0]} is listed twice")
        answers[parts[0]] = parts[1]
    test_files, train_files = sorted(answers), sorted(set(answers.values()))
    if len(test_files) != len(train_files):
        raise DataError(f"{labels}: {len(test_files)} test items but {len(train_files)} distinct classes")
    base = folder.parent

    def read(rel):
        p = base / rel
        if not p.is_file():
            raise DataError(f"{p}: missing image named in {labels}")
        return load_image(p, size, SOURCE_SIZE)

    return Run(folder.name, train_files, test_files, answers,
               torch.stack([read(f) for f in train_files]), torch.stack([read(f) for f in test_files]))


def load_runs(root, size: int = IMAGE_SIZE) -> list[Run]:
    base = locate(root, f"{ROOT}/one-shot-classification/run01", LAYOUT).parent
    runs = [load_run(base / f"run{i:02d}", size) for i in range(1, 21)]
    return runs


# ----------------------------------------------------------------------------- episodes
@dataclass
class Episode:
    classes: torch.Tensor         # [N] indices into the character set
    support: torch.Tensor         # [N, K] drawer indices
    query: torch.Tensor           # [N, Q] drawer indices, disjoint from support


class EpisodeSampler:
    """N-way K-shot episodes: N distinct classes; per class K support and Q query drawings,
    disjoint. Labels inside an episode are 0..N-1 in `classes` order."""

    def __init__(self, n_way: int, k_shot: int, n_query: int = 1):
        if n_way < 1 or k_shot < 1 or n_query < 1:
            raise ValueError(f"N-way K-shot needs N, K, Q >= 1 (got N={n_way}, K={k_shot}, Q={n_query})")
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query

    def check(self, num_classes: int, num_examples: int):
        if self.n_way > num_classes:
            raise ValueError(f"{self.n_way}-way episodes need {self.n_way} classes; the data has {num_classes}")
        if self.k_shot + self.n_query > num_examples:
            raise ValueError(f"{self.k_shot}-shot episodes with {self.n_query} queries per class need "
                             f"{self.k_shot + self.n_query} examples per class; the data has {num_examples}")

    def sample(self, num_classes: int, num_examples: int, generator: torch.Generator) -> Episode:
        self.check(num_classes, num_examples)
        classes = torch.randperm(num_classes, generator=generator)[: self.n_way]
        order = torch.stack([torch.randperm(num_examples, generator=generator) for _ in range(self.n_way)])
        k = self.k_shot
        return Episode(classes, order[:, :k], order[:, k:k + self.n_query])

    def episodes(self, num_classes: int, num_examples: int, n: int, seed: int) -> list[Episode]:
        g = torch.Generator().manual_seed(seed)
        return [self.sample(num_classes, num_examples, g) for _ in range(n)]


__all__ = ["Characters", "Run", "Episode", "EpisodeSampler", "load_image", "load_alphabets",
           "load_background_small", "background_small_fingerprint", "with_rotations", "vinyals_split",
           "load_run", "load_runs", "IMAGE_SIZE", "LAYOUT"]
