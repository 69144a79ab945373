"""Few-shot evaluation: N-way K-shot episode accuracy with a 95% confidence interval, and the
official scoring of Lake et al.'s 20-way one-shot runs.

    acc, ci = accuracy_ci95(per_episode_accuracies)      # in %, mean ± 1.96 * s / sqrt(n)
    err = run_error(scores, run.test_files, run.train_files, run.answers, kind="score")
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def episode_accuracy(pred, target) -> float:
    """Fraction of queries of one episode predicted correctly (0..1)."""
    pred, target = np.asarray(pred).reshape(-1), np.asarray(target).reshape(-1)
    if pred.shape != target.shape or pred.size == 0:
        raise ValueError(f"episode_accuracy: need equally long non-empty predictions and targets, "
                         f"got {pred.shape} and {target.shape}")
    return float((pred == target).mean())


def accuracy_ci95(per_episode: Sequence[float]) -> tuple[float, float]:
    """Mean accuracy over episodes and the half-width of its 95% confidence interval, both in %:
    100 * mean, 100 * 1.96 * std / sqrt(n), with the sample std (ddof=1; 0 for one episode)."""
    a = np.asarray(per_episode, dtype=np.float64)
    if a.size == 0:
        raise ValueError("accuracy_ci95: no episodes")
    half = 1.96 * a.std(ddof=1) / math.sqrt(a.size) if a.size > 1 else 0.0
    return 100.0 * float(a.mean()), 100.0 * float(half)


def run_error(matrix, test_files: Sequence[str], train_files: Sequence[str], answers: dict,
              kind: str = "cost") -> float:
    """Percent error of one official run, as `classification_run` in Lake's
    demo_classification.py: rows = test items (sorted), columns = training images (sorted);
    each test item takes the argmin cost (or argmax score) column, and is correct when that
    training file is its class in class_labels.txt."""
    if kind not in ("cost", "score"):
        raise ValueError(f"kind must be 'cost' or 'score', got {kind!r}")
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (len(test_files), len(train_files)):
        raise ValueError(f"run_error: matrix is {m.shape}, expected ({len(test_files)}, {len(train_files)})")
    if np.isnan(m).any():
        raise ValueError("run_error: matrix holds NaN")
    yhat = m.argmin(1) if kind == "cost" else m.argmax(1)
    correct = sum(train_files[j] == answers[t] for t, j in zip(test_files, yhat))
    return 100.0 - 100.0 * correct / len(test_files)


def runs_accuracy(errors: Sequence[float]) -> float:
    """Mean accuracy (%) over runs: 100 - mean error, as Lake et al. report it."""
    e = np.asarray(errors, dtype=np.float64)
    if e.size == 0:
        raise ValueError("runs_accuracy: no runs")
    return 100.0 - float(e.mean())


__all__ = ["episode_accuracy", "accuracy_ci95", "run_error", "runs_accuracy"]
