"""Smoke-tier captioning proxy: synthetic scenes, five reference captions each.

    data = caption_proxy(n=1500, seed=0)
    data["images"]    (N, 3, S, S) uint8 tensor
    data["captions"]  N lists of 5 strings, written from the scene description
    data["attributes"] (N, n_classes + 8) multi-hot: shapes and colours present (the encoder's
                       "ImageNet": a classification task that says nothing about layout or wording)
    data["objects"]   N lists of [colour, shape] per object
    data["masks"]     (N, S, S) uint8 instance map: 0 background, i + 1 where object i is visible
                      (objects in the order of data["objects"]; for attention-in-mask measures)

Captions describe colour, shape, size, position and the left/above relation of two objects,
with varied templates and synonyms ("large"/"big", "picture"/"image", "to the left of"/"left of"),
so that the five references of an image differ the way human ones do and BLEU/CIDEr reward
getting the content right rather than one fixed sentence.

Compositional split (`combos="train"` / `"test"`): an object is a (colour, shape) pair, and a
fixed quarter of the unordered pairs of distinct objects, `held_out_pair`, never occurs together in
a training scene; every test scene shows two objects that form such a pair. Every object, and every
colour and shape, still occurs in training, with other partners. Retrieval (the caption of the
nearest training image) must get one of the two objects wrong, while a generative captioner can
compose two object phrases it has seen apart -- the paper's claim that the model generates
descriptions beyond the training captions (section 4.3.4, Table 1's nearest-neighbour row).
"""
from __future__ import annotations

import numpy as np
import torch

from .synthetic.scenes import COLOR_NAMES, SHAPES, SceneConfig, make_scene

PROXY_SCENES = SceneConfig(size=32, n_classes=5, min_objects=1, max_objects=2, scale=(0.16, 0.3),
                           max_overlap=0.15, clutter=1, distractors=0, background_contrast=0.25)

SYN = {"large": ["large", "big"], "small": ["small", "little"], "circle": ["circle", "disc"],
       "square": ["square", "box"], "triangle": ["triangle"], "diamond": ["diamond"], "cross": ["cross", "plus"],
       "picture": ["picture", "image", "photo"]}


def _w(rng, word: str) -> str:
    return str(rng.choice(SYN.get(word, [word])))


def _pic(rng) -> str:
    w = _w(rng, "picture")
    return ("an " if w[0] in "aeiou" else "a ") + w


def _place(o) -> str:
    h, v = o["horizontal"], o["vertical"]
    if h == "center" and v == "middle":
        return "in the center"
    if h == "center":
        return f"at the {v}"
    if v == "middle":
        return f"on the {h}"
    return f"in the {v} {h}"


def _np(rng, o, size: bool | None = None) -> str:
    """A noun phrase: 'a big red circle', 'a red disc'."""
    size = rng.random() < 0.5 if size is None else size
    words = ([_w(rng, o["size"])] if size else []) + [o["color"], _w(rng, o["name"])]
    return ("an " if words[0][0] in "aeiou" else "a ") + " ".join(words)


def _one(rng, o) -> list[str]:
    return [
        f"{_np(rng, o, True)}",
        f"{_np(rng, o)} {_place(o)}",
        f"there is {_np(rng, o)} {_place(o)}",
        f"{_pic(rng)} of {_np(rng, o)}",
        f"{_pic(rng)} with {_np(rng, o)} {_place(o)}",
        f"{_np(rng, o, True)} {_place(o)} of the {_w(rng, 'picture')}",
        f"one {o['color']} {_w(rng, o['name'])} {_place(o)}",
    ]


def _two(rng, a, b, relations) -> list[str]:
    out = [f"{_np(rng, a)} and {_np(rng, b)}",
           f"two shapes {_np(rng, a)} and {_np(rng, b)}",
           f"{_pic(rng)} of {_np(rng, a)} and {_np(rng, b)}",
           f"there is {_np(rng, a)} {_place(a)} and {_np(rng, b)} {_place(b)}"]
    for i, rel, _j in relations:
        x, y = (a, b) if i == 0 else (b, a)
        if rel == "left of":
            out += [f"{_np(rng, x)} {rng.choice(['to the left of', 'left of'])} {_np(rng, y)}",
                    f"{_np(rng, y)} {rng.choice(['to the right of', 'right of'])} {_np(rng, x)}"]
        else:
            out += [f"{_np(rng, x)} {rng.choice(['above', 'over'])} {_np(rng, y)}",
                    f"{_np(rng, y)} {rng.choice(['below', 'under'])} {_np(rng, x)}"]
    return out


def scene_captions(description: dict, rng: np.random.Generator, k: int = 5) -> list[str]:
    """k distinct captions of one scene, each from a different template."""
    objs = description["objects"]
    if not objs:
        pool = ["an empty picture", "a picture with no shapes", "just a plain background",
                "an empty image with a few lines", "nothing but the background"]
    elif len(objs) == 1:
        pool = _one(rng, objs[0])
    else:
        a, b = objs[0], objs[1]
        if rng.random() < 0.5:   # mention either object first
            a, b = b, a
            rel = [(1 - i, r, 1 - j) for i, r, j in description["relations"] if {i, j} == {0, 1}]
        else:
            rel = [(i, r, j) for i, r, j in description["relations"] if {i, j} == {0, 1}]
        pool = _two(rng, a, b, rel)
    idx = rng.permutation(len(pool))
    caps = [pool[i] for i in idx[:k]]
    while len(caps) < k:   # a scene with few templates: repeat with fresh synonyms
        caps.append(pool[int(rng.integers(len(pool)))])
    return caps


def object_id(o: dict) -> int:
    """An object's type, colour x shape, as one integer."""
    return COLOR_NAMES.index(o["color"]) * len(SHAPES) + SHAPES.index(o["name"])


def held_out_pair(a: int, b: int) -> bool:
    """Whether two object types (object_id) are a held-out pair: a fixed quarter of the unordered
    pairs of distinct types, spread so that every type has held-out and seen partners."""
    a, b = min(a, b), max(a, b)
    return a != b and (7 * a + 13 * b) % 4 == 0


def is_held_out(description: dict) -> bool:
    """A scene shows a held-out pair of objects."""
    ids = [object_id(o) for o in description["objects"]]
    return any(held_out_pair(x, y) for i, x in enumerate(ids) for y in ids[i + 1:])


def _accept(description: dict, combos: str | None) -> bool:
    if combos is None:
        return True
    if combos == "train":
        return not is_held_out(description)
    if combos == "test":
        return is_held_out(description)
    raise ValueError(f"combos must be None, 'train' or 'test', got {combos!r}")


def caption_proxy(n: int, seed: int = 0, cfg: SceneConfig = PROXY_SCENES, k: int = 5, combos: str | None = None) -> dict:
    """n scenes (deterministic in seed) with k captions each; see the module docstring.
    combos="train": no scene shows a held-out pair of objects; "test": every scene shows one."""
    images = np.zeros((n, 3, cfg.size, cfg.size), np.uint8)
    attrs = np.zeros((n, cfg.n_classes + len(COLOR_NAMES)), np.float32)
    masks = np.zeros((n, cfg.size, cfg.size), np.uint8)
    captions, objects = [], []
    for i in range(n):
        s = make_scene(np.random.default_rng([seed, i]), cfg)
        attempt = 0
        while not _accept(s.description, combos):   # rejection sampling, deterministic in (seed, i)
            attempt += 1
            if attempt > 1000:
                raise ValueError(f"no scene satisfies combos={combos!r} after 1000 draws")
            s = make_scene(np.random.default_rng([seed, i, 2, attempt]), cfg)
        images[i] = s.image.transpose(2, 0, 1)
        masks[i] = s.instance
        for o in s.description["objects"]:
            attrs[i, o["class"]] = 1
            attrs[i, cfg.n_classes + COLOR_NAMES.index(o["color"])] = 1
        captions.append(scene_captions(s.description, np.random.default_rng([seed, i, 1]), k))
        objects.append([[o["color"], o["name"]] for o in s.description["objects"]])
    return {"images": torch.from_numpy(images), "captions": captions, "attributes": torch.from_numpy(attrs),
            "objects": objects, "masks": torch.from_numpy(masks)}


_CANONICAL = {w: k for k, ws in SYN.items() for w in ws}


def canonical_word(word: str) -> str:
    """A synonym mapped back to the scene vocabulary ('disc' -> 'circle', 'plus' -> 'cross')."""
    return _CANONICAL.get(word, word)


def named_objects(caption: str) -> set[tuple[str, str]]:
    """The (colour, shape) objects a caption names: a colour word followed by a shape word
    (synonyms mapped back: 'disc' -> circle, 'plus' -> cross)."""
    w = [_CANONICAL.get(x, x) for x in caption.lower().split()]
    return {(a, b) for a, b in zip(w, w[1:]) if a in COLOR_NAMES and b in SHAPES}
