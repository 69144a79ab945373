"""Weak supervision on the synthetic scenes: ACoL (Zhang et al., CVPR 2018), the NIN-style
class-map head (Lin et al., ICLR 2014; Zhou et al., CVPR 2016), and CAM-seeded segmentation.

    from reference_impls.weak_supervision import experiment
    r = experiment(seed=0)        # the proxy, four tiny nets (cached), every evaluation and control

Modules: `part_objects` (two-part objects whose CAM locks onto the head), `models` (backbone, NIN
and FC heads, ACoL, the fully supervised SegNet, ACoL-VGG16), `train`, `maps` (coverage metrics,
centre prior), `segmentation` (CAM seeds, box prior, mIoU), `smoke` (the smoke-tier experiment),
`imagenet` (the full tier's ILSVRC / CUB evaluation of ACoL checkpoints).
"""
from .smoke import CONFIG, experiment, summary
from .maps import centre_gaussian, head_area_share, head_share, localization_scores, max_mask_iou
from .models import ACoLNet, FCHeadNet, NINNet, SegNet, acol_vgg16, head_params, normalize_maps
from .part_objects import PartsConfig, parts_proxy
from .segmentation import box_prior_masks, cam_seed_masks, miou

__all__ = ["CONFIG", "experiment", "summary", "centre_gaussian", "head_area_share", "head_share",
           "localization_scores", "max_mask_iou", "ACoLNet", "FCHeadNet", "NINNet", "SegNet", "acol_vgg16",
           "head_params", "normalize_maps", "PartsConfig", "parts_proxy", "box_prior_masks", "cam_seed_masks", "miou"]
