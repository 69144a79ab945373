"""The README sanity run's path (full tier) on a tiny fake Omniglot layout, iterations cut to 2:
the authors' split (background + rotations / evaluation without), train.py's procedure, and the
per-shot validation of episode_shot_accuracy."""
import importlib.util
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from datasets.omniglot import authors_split
from reference_impls import rare_events as rare

SUITE = Path(__file__).resolve().parent.parent / "suites/rare_events/test_rare_events_full.py"


def _fake_omniglot(root: Path, alphabets: dict[str, int], split: str, drawers: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    for alpha, n_chars in alphabets.items():
        for c in range(1, n_chars + 1):
            folder = root / "omniglot/python" / split / alpha / f"character{c:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            stroke = rng.integers(10, 90, 2)
            for d in range(1, drawers + 1):
                img = np.full((105, 105), 255, np.uint8)
                y, x = stroke + rng.integers(-3, 4, 2)
                img[y:y + 12, x:x + 4] = 0
                Image.fromarray(img).convert("1").save(folder / f"{c:02d}{d:02d}_{d:02d}.png")


TINY = dict(rare.PAPER, ch1=4, ch2=8, key_dim=16, memory_size=64, choose_k=16, keep_prob=1.0, batch=2,
            episode_width=3, episode_length=9, episodes_per_epoch=2, epochs=1, lr=1e-3)


def test_readme_sanity_run_path(tmp_path):
    _fake_omniglot(tmp_path, {"Alpha": 2, "Beta": 1}, "images_background")
    _fake_omniglot(tmp_path, {"Gamma": 4}, "images_evaluation", seed=1)
    train, valid = authors_split(tmp_path)
    assert len(train) == 4 * 3 and any(n.endswith("@rot90") for n in train.names)      # rotations in training
    assert len(valid) == 4 and not any("@rot" in n for n in valid.names)               # none in validation
    spec = importlib.util.spec_from_file_location("rare_full", SUITE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.README_RUN["epochs"] * mod.README_RUN["episodes_per_epoch"] == 4000     # the README's 4,000 batches
    sets = (train, valid, "fake")
    acc = mod.readme_sanity_run(sets, TINY, seed=0, cache_dir=tmp_path / "cache", device="cpu", valid_batches=2)
    # 3-wide 9-long episodes: every class is shown 3 times, so shots 0, 1, 2 are scored
    assert sorted(acc) == [0, 1, 2] and all(0 <= a <= 1 for a in acc.values())
    assert acc[0] == 0.0                     # a class never shown cannot be answered (labels start at 1)
    again = mod.readme_sanity_run(sets, TINY, seed=0, cache_dir=tmp_path / "cache", device="cpu", valid_batches=2)
    assert again == acc                      # cached model, seeded validation: the same numbers


def test_episode_shot_accuracy_counts_showings():
    """With identical drawings per class a drawing shown before is recalled exactly (cosine 1), so
    shot 1 and 2 are perfect and shot 0 is zero. One episode per batch (parallel episodes may hold
    the same character under different labels) and a memory big enough that no write lands on a
    slot of the episode by the age noise."""
    torch.manual_seed(0)
    cfg = dict(TINY, episode_width=2, episode_length=6, batch=1, memory_size=4096)
    model = rare.build_model(cfg)
    with torch.no_grad():
        model.memory.query_proj.copy_(torch.eye(cfg["key_dim"]))
    imgs = torch.zeros(4, 20, 28, 28)
    for c in range(4):
        imgs[c, :, 2 + 6 * c: 6 + 6 * c, 3:25] = 1          # four distinct classes, identical drawings
    from datasets.omniglot import Characters
    acc = rare.episode_shot_accuracy(model, Characters(imgs, [f"c{i}" for i in range(4)]), cfg, batches=2, seed=0)
    assert acc[0] == 0.0 and acc[1] == 1.0 and acc[2] == 1.0
