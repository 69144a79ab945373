"""The trivial segmentation controls (per-position class prior, majority class) on hand-made labels."""
import pytest
import torch

from reference_impls.deeplab.controls import class_counts, majority_class, position_prior, predict_prior

I = 255  # ignore label


def test_position_prior_takes_each_positions_most_frequent_label():
    labels = torch.tensor([[[0, 1], [2, I]],
                           [[0, 1], [1, I]],
                           [[2, 2], [2, I]]])
    # (0,0): 0,0,2 -> 0   (0,1): 1,1,2 -> 1   (1,0): 2,1,2 -> 2   (1,1): never labelled -> majority
    counts = class_counts(labels, 3)
    assert counts.shape == (3, 2, 2) and counts[:, 1, 1].sum() == 0
    assert counts[:, 1, 0].tolist() == [0, 1, 2]
    assert majority_class(labels, 3) == 2          # class 2: 4 pixels, 1: 3, 0: 2
    assert position_prior(labels, 3).tolist() == [[0, 1], [2, 2]]


def test_position_prior_ties_go_to_the_lower_class_and_ignore_is_not_counted():
    labels = torch.tensor([[[1, I]], [[0, I]], [[I, 1]]])
    assert position_prior(labels, 2).tolist() == [[0, 1]]


def test_predict_prior_upsamples_by_nearest_neighbour():
    prior = torch.tensor([[0, 1], [2, 3]])
    pred = predict_prior(prior, 2, (4, 4))
    assert pred.shape == (2, 4, 4) and pred.dtype == torch.int64
    assert pred[0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]
    assert torch.equal(pred[0], pred[1])


def test_position_prior_scores_perfectly_on_position_determined_labels():
    from metrics.segmentation import ConfusionMatrix
    y = torch.zeros(5, 4, 6, dtype=torch.long)
    y[:, 2:] = 1                                    # "road" below, "sky" above, in every image
    y[0, 0, 0] = 1                                  # one outlier pixel does not move the prior
    pred = predict_prior(position_prior(y, 2), 5)
    assert pred[0].tolist() == ([[0] * 6] * 2 + [[1] * 6] * 2)
    assert ConfusionMatrix(2, ignore_index=I).update(pred[1:], y[1:]).scores()["miou"] == 1.0


def test_labels_outside_the_classes_are_an_error():
    with pytest.raises(ValueError, match="label 5"):
        position_prior(torch.tensor([[[0, 5]]]), 3)
    with pytest.raises(ValueError, match="no labelled pixel"):
        majority_class(torch.full((1, 2, 2), I), 3)
