"""Deterministic proxy data: synthetic scenes (see scenes.py)."""
from .scenes import SHAPES, Scene, SceneConfig, SceneDataset, make_scene

__all__ = ["SHAPES", "Scene", "SceneConfig", "SceneDataset", "make_scene"]
