"""CAM-seeded weak segmentation (the notes' weak-supervision section; issue 19 item 6) on the same
two-part-object proxy and the same cached nets as test_localization.py: masks from image labels only
(a classifier's top-1 class painted where its CAM is high), scored by mIoU against the scenes' masks,
against the untrained net's seeds and a box prior, with the fully supervised model of the same size
as the upper bound (the gap to full supervision is reported, not hidden).
"""
import pytest

from reference_impls.weak_supervision.smoke import segmentation


@pytest.fixture(scope="module")
def seg(seed, cache_dir, device):
    return segmentation(seed, cache_dir=cache_dir, device=device)


# ----------------------------------------------------------------------------- CAM-seeded weak segmentation
def test_cam_seeded_segmentation(claim, seg):
    """Masks from image labels only: the NIN net's top-1 class painted where its CAM reaches 30% of its
    range. Scored by mIoU (background + 4 classes) against the scenes' masks; controls: the untrained
    net's seeds and the box prior (the fixed box fitted to the training boxes, painted with the same
    predicted class). The fully supervised model of the same size (SegNet) is the upper bound."""
    s = seg
    extra = {"acol_seeded": s["acol_seeded"]["miou"], "full_supervision": s["full_supervision"]["miou"],
             "per_class_iou": s["cam_seeded"]["iou"], "by_threshold": s["cam_seeded_by_threshold"],
             "box": list(s["box_prior"]["box"])}
    claim("cam_seeded_segmentation_miou", s["cam_seeded"]["miou"],
          controls={"untrained": s["untrained_cam_seeded"]["miou"], "box_prior": s["box_prior"]["miou"]}, **extra)
    claim("full_supervision_beats_cam_seeded", s["full_supervision"]["miou"], than=s["cam_seeded"]["miou"],
          controls={"untrained": s["untrained_full_supervision"]["miou"], "box_prior": s["box_prior"]["miou"]},
          gap_points=s["full_supervision"]["miou"] - s["cam_seeded"]["miou"], full_iou=s["full_supervision"]["iou"])
    claim("acol_seeded_segmentation_miou", s["acol_seeded"]["miou"], than=s["cam_seeded"]["miou"],
          controls={"untrained": s["untrained_cam_seeded"]["miou"], "box_prior": s["box_prior"]["miou"]})


