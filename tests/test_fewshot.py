"""metrics.fewshot against independent computations and on degenerate inputs."""
import numpy as np
import pytest
from scipy import stats

from metrics.fewshot import accuracy_ci95, episode_accuracy, run_error, runs_accuracy


def test_accuracy_ci95_matches_scipy_sem():
    rng = np.random.default_rng(0)
    accs = rng.integers(0, 6, size=300) / 5
    mean, half = accuracy_ci95(accs)
    assert mean == pytest.approx(100 * accs.mean())
    assert half == pytest.approx(100 * 1.96 * stats.sem(accs))


def test_accuracy_ci95_degenerate():
    assert accuracy_ci95([1.0]) == (100.0, 0.0)
    assert accuracy_ci95([0.4] * 10) == pytest.approx((40.0, 0.0))
    with pytest.raises(ValueError):
        accuracy_ci95([])


def test_episode_accuracy():
    assert episode_accuracy([0, 1, 2, 3], [0, 1, 0, 3]) == 0.75
    with pytest.raises(ValueError):
        episode_accuracy([0, 1], [0])
    with pytest.raises(ValueError):
        episode_accuracy([], [])


def _official_classification_run(lines, cost, ftype):
    """A literal port of classification_run in Lake's demo_classification.py (given the cost matrix)."""
    pairs = [line.split() for line in lines]
    test_files = [p[0] for p in pairs]
    train_files = [p[1] for p in pairs]
    answers_files = list(train_files)
    test_files.sort()
    train_files.sort()
    yhat = np.argmin(cost, axis=1) if ftype == "cost" else np.argmax(cost, axis=1)
    correct = sum(1.0 for i in range(len(test_files)) if train_files[yhat[i]] == answers_files[i])
    return 100 - 100 * correct / len(test_files)


def _run(rng):
    perm = rng.permutation(20) + 1
    lines = [f"run01/test/item{i:02d}.png run01/training/class{perm[i - 1]:02d}.png" for i in range(1, 21)]
    test_files = sorted(line.split()[0] for line in lines)
    train_files = sorted(line.split()[1] for line in lines)
    answers = dict(line.split() for line in lines)
    return lines, test_files, train_files, answers


def test_run_error_matches_official_loop():
    rng = np.random.default_rng(1)
    for _ in range(20):
        lines, te, tr, ans = _run(rng)
        cost = rng.random((20, 20))
        assert run_error(cost, te, tr, ans, "cost") == pytest.approx(_official_classification_run(lines, cost, "cost"))
        assert run_error(-cost, te, tr, ans, "score") == pytest.approx(run_error(cost, te, tr, ans, "cost"))


def test_run_error_perfect_and_worst():
    rng = np.random.default_rng(2)
    lines, te, tr, ans = _run(rng)
    truth = np.array([[1.0 if ans[t] == c else 0.0 for c in tr] for t in te])
    assert run_error(truth, te, tr, ans, "score") == 0.0
    assert run_error(truth, te, tr, ans, "cost") == 100.0
    assert runs_accuracy([0.0, 100.0]) == 50.0
    with pytest.raises(ValueError):
        run_error(truth[:, :5], te, tr, ans)
    with pytest.raises(ValueError):
        run_error(truth, te, tr, ans, "distance")
    with pytest.raises(ValueError):
        runs_accuracy([])
