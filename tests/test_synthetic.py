"""Synthetic scenes: deterministic by seed, masks/boxes/labels consistent, fast enough."""
import numpy as np
import pytest

from datasets.synthetic import SHAPES, SceneConfig, SceneDataset, make_scene


def test_same_seed_same_scene_different_seed_different_scene():
    a, b, c = SceneDataset(5, seed=3)[2], SceneDataset(5, seed=3)[2], SceneDataset(5, seed=4)[2]
    assert np.array_equal(a.image, b.image) and np.array_equal(a.instance, b.instance)
    assert a.description == b.description
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("cfg", [SceneConfig(), SceneConfig(size=96, n_classes=8, max_objects=5, max_overlap=0.6),
                                 SceneConfig(clutter=0, distractors=0, background_contrast=0.0)])
def test_annotations_are_consistent(cfg):
    for i in range(40):
        s = make_scene(np.random.default_rng([0, i]), cfg)
        assert s.image.shape == (cfg.size, cfg.size, 3) and s.image.dtype == np.uint8
        assert len(s.classes) == len(s.boxes) == len(s.description["objects"]) >= 1
        assert s.labels == sorted(set(s.classes.tolist()))
        for k, (cls, box) in enumerate(zip(s.classes, s.boxes)):
            ys, xs = np.nonzero(s.instance == k + 1)
            assert len(ys) > 0
            assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            assert (s.semantic[s.instance == k + 1] == cls + 1).all()
            assert s.description["objects"][k]["name"] == SHAPES[cls]
        assert ((s.semantic > 0) == (s.instance > 0)).all()
        assert s.semantic.max() <= cfg.n_classes


def test_occlusion_knob_bounds_hidden_fraction():
    cfg = SceneConfig(max_objects=5, max_overlap=0.2)
    for i in range(30):
        s = make_scene(np.random.default_rng([1, i]), cfg)
        for ob, k in zip(s.description["objects"], range(len(s.classes))):
            visible = np.count_nonzero(s.instance == k + 1)
            assert visible >= (1 - 0.2) * ob["area"] - 1


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="n_classes"):
        make_scene(np.random.default_rng(0), SceneConfig(n_classes=9))


def test_generation_speed(benchmark):
    """Benchmark, not a timed assertion: the issue asks for >= 1,000 64x64 scenes/s on one core."""
    rng = np.random.default_rng(0)
    scene = benchmark(make_scene, rng, SceneConfig())
    assert scene.image.shape[:2] == (64, 64) and len(scene.boxes) >= 1   # the timed call made a real scene
