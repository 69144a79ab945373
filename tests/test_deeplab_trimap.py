"""The trimap (boundary band) mIoU of metrics.segmentation on hand-made label maps."""
import pytest
import torch

from metrics.segmentation import boundary_band, trimap_scores

I = 255


def test_band_of_a_vertical_edge():
    y = torch.zeros(4, 8, dtype=torch.long)
    y[:, 4:] = 1                                   # an edge between columns 3 and 4
    assert boundary_band(y, 0)[0].tolist() == [0, 0, 0, 1, 1, 0, 0, 0]
    assert boundary_band(y, 1)[0].tolist() == [0, 0, 1, 1, 1, 1, 0, 0]
    assert boundary_band(y, 3).all()
    assert boundary_band(torch.zeros(3, 3, dtype=torch.long), 2).sum() == 0       # no boundary, no band


def test_band_is_chebyshev_around_a_square_and_skips_ignored_pixels():
    y = torch.zeros(7, 7, dtype=torch.long)
    y[3, 3] = 1                                    # a one-pixel object
    expect0 = torch.zeros(7, 7, dtype=torch.bool)
    expect0[3, 3] = True
    expect0[2, 3] = expect0[4, 3] = expect0[3, 2] = expect0[3, 4] = True         # its 4-neighbours
    assert torch.equal(boundary_band(y, 0), expect0)
    b1 = boundary_band(y, 1)
    assert b1[1:6, 1:6].sum() == 21 and b1.sum() == 21                             # the 5x5 box minus its 4 corners
    y[0, :] = I                                    # an ignored row is no boundary and never in the band
    assert boundary_band(y, 1)[0].sum() == 0
    assert torch.equal(boundary_band(y, 0), expect0)
    v = torch.zeros(5, 5, dtype=torch.long)
    v[2, :] = I                                    # VOC: the void band marks the boundary
    assert boundary_band(v, 0).sum() == 0
    assert boundary_band(v, 1, void_is_boundary=True).sum() == 10                 # rows 1 and 3


def test_trimap_miou_scores_only_the_band():
    y = torch.zeros(1, 4, 8, dtype=torch.long)
    y[..., 4:] = 1
    pred = y.clone()
    pred[..., 0] = 1                               # wrong far from the edge: outside the width-1 band
    s = trimap_scores(pred, y, 2, 1)
    assert s["miou"] == 1.0 and s["band_fraction"] == pytest.approx(0.5)
    pred[..., 3] = 1                               # the edge moved one pixel left: wrong inside the band
    s = trimap_scores(pred, y, 2, 1)
    # band columns 2..5: class 0 truth at 2,3; class 1 predicted at 3,4,5 -> IoU0 = 1/2, IoU1 = 2/3
    assert s["iou"] == pytest.approx([1 / 2, 2 / 3]) and s["miou"] == pytest.approx(7 / 12)
    with pytest.raises(ValueError, match="width"):
        boundary_band(y, -1)
