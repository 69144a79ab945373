"""Omniglot loader and episode sampler: real layout, malformed inputs, impossible episodes."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from datasets import DataError, DataMissing
from datasets.omniglot import (EpisodeSampler, load_alphabets, load_background_small, load_run, load_runs,
                               with_rotations)

DATA = os.environ.get("REPRO_DATA_ROOT", "/work/shared/data")
HAVE = Path(DATA, "omniglot/python/one-shot-classification/run01").is_dir()


def _png(path, ink=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.full((105, 105), 255, np.uint8)
    if ink:
        a[40:60, 50:55] = 0
    Image.fromarray(a).convert("1").save(path)


def _fake_run(tmp_path, n=3):
    run = tmp_path / "run01"
    lines = []
    for i in range(1, n + 1):
        _png(run / "training" / f"class{i:02d}.png")
        _png(run / "test" / f"item{i:02d}.png")
        lines.append(f"run01/test/item{i:02d}.png run01/training/class{(i % n) + 1:02d}.png")
    (run / "class_labels.txt").write_text("\n".join(lines) + "\n")
    return run


def test_run_loader_on_fake_run(tmp_path):
    r = load_run(_fake_run(tmp_path))
    assert r.train_images.shape == (3, 28, 28) and r.test_images.shape == (3, 28, 28)
    assert r.answers["run01/test/item01.png"] == "run01/training/class02.png"
    assert 0 < float(r.train_images.mean()) < 0.2   # ink is 1, background 0


def test_run_missing_class_image(tmp_path):
    run = _fake_run(tmp_path)
    (run / "training" / "class02.png").unlink()
    with pytest.raises(DataError, match="class02.png"):
        load_run(run)


def test_run_unreadable_png(tmp_path):
    run = _fake_run(tmp_path)
    (run / "test" / "item03.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="item03.png.*unreadable"):
        load_run(run)


def test_run_bad_label_line(tmp_path):
    run = _fake_run(tmp_path)
    (run / "class_labels.txt").write_text("run01/test/item01.png\n")
    with pytest.raises(DataError, match="class_labels.txt:1"):
        load_run(run)


def test_alphabet_with_missing_drawing(tmp_path):
    for c in ("character01", "character02"):
        for d in range(3):
            _png(tmp_path / "Alpha" / c / f"{d:02d}.png")
    assert load_alphabets(tmp_path).images.shape == (2, 3, 28, 28)
    (tmp_path / "Alpha" / "character02" / "01.png").unlink()
    with pytest.raises(DataError, match="character02"):
        load_alphabets(tmp_path)


def test_missing_root_is_data_missing(tmp_path):
    with pytest.raises(DataMissing, match="images_background_small"):
        load_background_small(tmp_path)
    with pytest.raises(DataMissing):
        load_runs(None)


def test_sampler_disjoint_and_impossible():
    g = torch.Generator().manual_seed(0)
    s = EpisodeSampler(5, 3, 4)
    for _ in range(20):
        ep = s.sample(10, 20, g)
        assert len(set(ep.classes.tolist())) == 5
        for sup, qry in zip(ep.support, ep.query):
            assert not set(sup.tolist()) & set(qry.tolist())
    with pytest.raises(ValueError, match="20-way"):
        EpisodeSampler(20, 1).sample(10, 20, g)
    with pytest.raises(ValueError, match="examples per class"):
        EpisodeSampler(5, 19, 2).sample(10, 20, g)
    with pytest.raises(ValueError):
        EpisodeSampler(0, 1)
    a = EpisodeSampler(5, 1, 1).episodes(30, 20, 3, seed=4)
    b = EpisodeSampler(5, 1, 1).episodes(30, 20, 3, seed=4)
    assert all(torch.equal(x.classes, y.classes) and torch.equal(x.query, y.query) for x, y in zip(a, b))


def test_rotations():
    from datasets.omniglot import Characters
    c = Characters(torch.rand(2, 3, 28, 28), ["A/c1", "A/c2"])
    r = with_rotations(c)
    assert len(r) == 8 and r.names[2] == "A/c1@rot90"
    assert torch.equal(r.images[4], torch.rot90(c.images[0], 2, dims=(-2, -1)))


@pytest.mark.skipif(not HAVE, reason=f"Omniglot subset not under {DATA}/omniglot/python")
def test_real_omniglot_subset():
    chars = load_background_small(DATA)
    assert chars.images.shape == (242, 20, 28, 28)
    assert len({n.split("/")[0] for n in chars.names}) == 8
    runs = load_runs(DATA)
    assert len(runs) == 20 and all(r.train_images.shape == (20, 28, 28) for r in runs)
    assert all(sorted(r.answers.values()) == r.train_files for r in runs)
