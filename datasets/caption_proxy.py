"""Smoke-tier captioning proxy: synthetic scenes, five reference captions each.

    data = caption_proxy(n=1500, seed=0)
    data["images"]    (N, 3, S, S) uint8 tensor
    data["captions"]  N lists of 5 strings, written from the scene description
    data["attributes"] (N, n_classes + 8) multi-hot: shapes and colours present (the encoder's
                       "ImageNet": a classification task that says nothing about layout or wording)

Captions describe colour, shape, size, position and the left/above relation of two objects,
with varied templates and synonyms ("large"/"big", "picture"/"image", "to the left of"/"left of"),
so that the five references of an image differ the way human ones do and BLEU/CIDEr reward
getting the content right rather than one fixed sentence.
"""
from __future__ import annotations

import numpy as np
import torch

from .synthetic.scenes import COLOR_NAMES, SceneConfig, make_scene

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


def caption_proxy(n: int, seed: int = 0, cfg: SceneConfig = PROXY_SCENES, k: int = 5) -> dict:
    """n scenes (deterministic in seed) with k captions each; see the module docstring."""
    images = np.zeros((n, 3, cfg.size, cfg.size), np.uint8)
    attrs = np.zeros((n, cfg.n_classes + len(COLOR_NAMES)), np.float32)
    captions = []
    for i in range(n):
        s = make_scene(np.random.default_rng([seed, i]), cfg)
        images[i] = s.image.transpose(2, 0, 1)
        for o in s.description["objects"]:
            attrs[i, o["class"]] = 1
            attrs[i, cfg.n_classes + COLOR_NAMES.index(o["color"])] = 1
        captions.append(scene_captions(s.description, np.random.default_rng([seed, i, 1]), k))
    return {"images": torch.from_numpy(images), "captions": captions, "attributes": torch.from_numpy(attrs)}
