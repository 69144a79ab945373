"""Faster R-CNN (Ren et al., NIPS 2015) through torchvision, with configurable backbones.

- "resnet50_fpn": torchvision's fasterrcnn_resnet50_fpn as published (frozen BatchNorm; 41,755,286
  parameters with 91 classes), randomly initialised; its trained weights come from a file you name.
- "vgg16": the paper's VGG-16 conv5_3 backbone (stride 16, 512 channels), one feature map with
  3 scales x 3 ratios anchors, 7x7 RoI pooling and the fc6/fc7 (4096) head.
- any timm model name (`timm:<name>`): the small smoke-tier detector, one feature map.

Test-time settings as in the paper / py-faster-rcnn: 300 RPN proposals after NMS at IoU 0.7,
detections kept above score 0.05, per-class NMS at IoU 0.3, at most 100 per image.

`set_box_regression(model, False)` turns the second stage's class-specific box regression off, so
the detections are the RPN proposals, classified (the R-CNN "without BB" ablation); a model built
with `box_regression=False` is also trained without that loss term.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import FrozenBatchNorm2d, MultiScaleRoIAlign

TEST_SETTINGS = dict(box_score_thresh=0.05, box_nms_thresh=0.3, box_detections_per_img=100,
                     rpn_pre_nms_top_n_test=6000, rpn_post_nms_top_n_test=300, rpn_nms_thresh=0.7)


class SwitchablePredictor(nn.Module):
    """FastRCNNPredictor whose box deltas can be switched off (zeros -> boxes = proposals)."""

    def __init__(self, inner: FastRCNNPredictor, regress: bool = True):
        super().__init__()
        self.inner, self.regress = inner, regress

    def forward(self, x):
        scores, deltas = self.inner(x)
        return scores, deltas if self.regress else torch.zeros_like(deltas)


class SingleMap(nn.Module):
    """A backbone returning one feature map as torchvision's {'0': map}, with `out_channels`."""

    def __init__(self, body: nn.Module, out_channels: int):
        super().__init__()
        self.body, self.out_channels = body, out_channels

    def forward(self, x):
        f = self.body(x)
        return OrderedDict([("0", f[-1] if isinstance(f, (list, tuple)) else f)])


def vgg16_backbone(weights: str | None = None) -> SingleMap:
    from torchvision.models import vgg16
    m = vgg16(weights=None)
    if weights is not None:
        from reference_impls.common import load_weights
        load_weights(m, weights)
    body = m.features[:-1]  # conv5_3 + ReLU, stride 16 (the last max-pool dropped)
    for layer in list(body)[:10]:  # the paper fine-tunes conv3_1 and up
        for p in layer.parameters():
            p.requires_grad_(False)
    return SingleMap(body, 512)


def build_faster_rcnn(num_classes: int, backbone: str = "resnet50_fpn", *, min_size: int = 800, max_size: int = 1333,
                      box_regression: bool = True, anchor_sizes=(128, 256, 512), aspect_ratios=(0.5, 1.0, 2.0),
                      rpn_batch_size_per_image: int = 256, box_batch_size_per_image: int = 512,
                      rpn_post_nms_top_n_train: int = 2000, rpn_pre_nms_top_n_train: int = 12000,
                      rpn_post_nms_top_n_test: int = 300, rpn_pre_nms_top_n_test: int = 6000,
                      representation: int = 4096, neck_channels: int | None = None,
                      backbone_weights: str | None = None) -> FasterRCNN:
    """num_classes includes the background (VOC: 21, COCO: 91)."""
    test = dict(TEST_SETTINGS, rpn_post_nms_top_n_test=rpn_post_nms_top_n_test,
                rpn_pre_nms_top_n_test=rpn_pre_nms_top_n_test)
    if backbone == "resnet50_fpn":
        # built as torchvision builds its published COCO model (frozen BN, layers 2-4 trainable), so
        # its weights file loads and the parameter count is the documented 41,755,286; a plain
        # fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None) has trainable BN (41,808,406)
        body = resnet_fpn_backbone(backbone_name="resnet50", weights=None, norm_layer=FrozenBatchNorm2d,
                                   trainable_layers=3)
        model = FasterRCNN(body, num_classes=num_classes, min_size=min_size, max_size=max_size, **test)
    else:
        if backbone == "vgg16":
            body = vgg16_backbone(backbone_weights)
        elif backbone.startswith("timm:"):
            name, _, idx = backbone[5:].partition("@")
            feats, ch, _ = timm_feature_map(name, int(idx) if idx else -1, backbone_weights)
            if neck_channels:
                feats = nn.Sequential(*feats, nn.Conv2d(ch, neck_channels, 1), nn.BatchNorm2d(neck_channels),
                                      nn.ReLU(inplace=True))
                ch = neck_channels
            body = SingleMap(feats, ch)
        else:
            raise ValueError(f"unknown backbone {backbone!r} (resnet50_fpn, vgg16 or timm:<name>[@stage])")
        anchors = AnchorGenerator(sizes=(tuple(anchor_sizes),), aspect_ratios=(tuple(aspect_ratios),))
        pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
        head = TwoMLPHead(body.out_channels * 7 * 7, representation)
        model = FasterRCNN(body, num_classes=None, min_size=min_size, max_size=max_size,
                           rpn_anchor_generator=anchors, box_roi_pool=pool, box_head=head,
                           box_predictor=FastRCNNPredictor(representation, num_classes),
                           rpn_batch_size_per_image=rpn_batch_size_per_image,
                           box_batch_size_per_image=box_batch_size_per_image,
                           rpn_pre_nms_top_n_train=rpn_pre_nms_top_n_train,
                           rpn_post_nms_top_n_train=rpn_post_nms_top_n_train, **test)
    model.roi_heads.box_predictor = SwitchablePredictor(model.roi_heads.box_predictor, box_regression)
    model.trains_box_regression = box_regression
    return model


class LastFeature(nn.Module):
    """The last map of a features_only backbone's list (a tensor passes through): the one feature
    map both smoke-tier detectors and the full-tier YOLO read."""

    def forward(self, f):
        return f[-1] if isinstance(f, (list, tuple)) else f


def timm_feature_map(name: str, stage: int = -1, weights: str | None = None) -> tuple[nn.Module, int, int]:
    """(module image -> one feature map, its channels, its stride): timm `name` cut after `stage`."""
    from reference_impls.common.backbones import backbone as timm_backbone
    feats = timm_backbone(name, weights=weights, features_only=True, out_indices=(stage,))
    return (nn.Sequential(feats, LastFeature()), feats.feature_info.channels()[-1],
            feats.feature_info.reduction()[-1])


def set_box_regression(model: FasterRCNN, on: bool) -> FasterRCNN:
    model.roi_heads.box_predictor.regress = on
    return model


def load_torchvision_state(model: FasterRCNN, path) -> FasterRCNN:
    """Load torchvision's published checkpoint (keys without our predictor wrapper) or ours."""
    from reference_impls.common import safe_load
    from reference_impls.common.train import CheckpointError
    state = safe_load(path)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    state = {k.replace("roi_heads.box_predictor.cls_score", "roi_heads.box_predictor.inner.cls_score")
              .replace("roi_heads.box_predictor.bbox_pred", "roi_heads.box_predictor.inner.bbox_pred")
             if ".inner." not in k else k: v for k, v in state.items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {path} does not fit fasterrcnn: {str(e).splitlines()[0]}") from None
    return model
