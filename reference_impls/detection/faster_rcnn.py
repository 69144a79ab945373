"""Faster R-CNN (Ren et al., NIPS 2015) through torchvision, with configurable backbones.

- "resnet50_fpn": torchvision's fasterrcnn_resnet50_fpn as published (frozen BatchNorm; 41,755,286
  parameters with 91 classes), randomly initialised; its trained weights come from a file you name.
- "vgg16": the paper's VGG-16 conv5_3 backbone (stride 16, 512 channels), one feature map with
  3 scales x 3 ratios anchors, 7x7 RoI max pooling (the paper's RoIPool, `roi_pool="pool"`; RoIAlign
  with `roi_pool="align"`), 128 sampled RoIs per image, and the fc6/fc7 (4096, ReLU, dropout 0.5)
  head; with ImageNet VGG-16 weights both the conv layers and fc6/fc7 start from the classifier
  (`vgg16_parts`), as in the paper.
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


class VGG16Head(nn.Module):
    """fc6/fc7 of VGG-16 on a 512 x 7 x 7 RoI feature: Linear-ReLU-Dropout twice (Fast R-CNN's head)."""

    def __init__(self, representation: int = 4096, dropout: float = 0.5):
        super().__init__()
        self.fc6, self.fc7 = nn.Linear(512 * 7 * 7, representation), nn.Linear(representation, representation)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = self.drop(torch.relu(self.fc6(x.flatten(1))))
        return self.drop(torch.relu(self.fc7(x)))


class RoIPool(nn.Module):
    """The paper's RoI max pooling on the single feature map '0' (torchvision's box_roi_pool interface)."""

    def __init__(self, output_size: int = 7, spatial_scale: float = 1 / 16):
        super().__init__()
        from torchvision.ops import RoIPool as _RoIPool
        self.pool = _RoIPool(output_size, spatial_scale)

    def forward(self, features, proposals, image_shapes):
        return self.pool(features["0"], proposals)


def vgg16_parts(weights: str | None = None, representation: int = 4096) -> tuple[SingleMap, VGG16Head]:
    """(conv5_3 backbone, fc6/fc7 head) of torchvision's VGG-16; with `weights` (an ImageNet VGG-16
    classifier state_dict) both come from it: features.* -> the backbone, classifier.0/3 -> fc6/fc7."""
    from torchvision.models import vgg16
    m = vgg16(weights=None)
    if weights is not None:
        from reference_impls.common import load_weights
        load_weights(m, weights)
    body = m.features[:-1]  # conv5_3 + ReLU, stride 16 (the last max-pool dropped)
    for layer in list(body)[:10]:  # the paper fine-tunes conv3_1 and up
        for p in layer.parameters():
            p.requires_grad_(False)
    head = VGG16Head(representation)
    if representation == 4096:
        with torch.no_grad():
            for fc, src in ((head.fc6, m.classifier[0]), (head.fc7, m.classifier[3])):
                fc.weight.copy_(src.weight)
                fc.bias.copy_(src.bias)
    return SingleMap(body, 512), head


def vgg16_backbone(weights: str | None = None) -> SingleMap:
    return vgg16_parts(weights)[0]


def build_faster_rcnn(num_classes: int, backbone: str = "resnet50_fpn", *, min_size: int = 800, max_size: int = 1333,
                      box_regression: bool = True, anchor_sizes=(128, 256, 512), aspect_ratios=(0.5, 1.0, 2.0),
                      rpn_batch_size_per_image: int = 256, box_batch_size_per_image: int = 512,
                      rpn_post_nms_top_n_train: int = 2000, rpn_pre_nms_top_n_train: int = 12000,
                      rpn_post_nms_top_n_test: int = 300, rpn_pre_nms_top_n_test: int = 6000,
                      representation: int = 4096, neck_channels: int | None = None,
                      backbone_weights: str | None = None, roi_pool: str | None = None) -> FasterRCNN:
    """num_classes includes the background (VOC: 21, COCO: 91). `roi_pool`: "pool" (RoIPool, the
    paper's; default for vgg16) or "align" (RoIAlign, torchvision's; default otherwise)."""
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
        head, stride = None, 16
        if backbone == "vgg16":
            body, head = vgg16_parts(backbone_weights, representation)
        elif backbone.startswith("timm:"):
            name, _, idx = backbone[5:].partition("@")
            feats, ch, stride = timm_feature_map(name, int(idx) if idx else -1, backbone_weights)
            if neck_channels:
                feats = nn.Sequential(*feats, nn.Conv2d(ch, neck_channels, 1), nn.BatchNorm2d(neck_channels),
                                      nn.ReLU(inplace=True))
                ch = neck_channels
            body = SingleMap(feats, ch)
        else:
            raise ValueError(f"unknown backbone {backbone!r} (resnet50_fpn, vgg16 or timm:<name>[@stage])")
        anchors = AnchorGenerator(sizes=(tuple(anchor_sizes),), aspect_ratios=(tuple(aspect_ratios),))
        pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2)
        head = head if head is not None else TwoMLPHead(body.out_channels * 7 * 7, representation)
        model = FasterRCNN(body, num_classes=None, min_size=min_size, max_size=max_size,
                           rpn_anchor_generator=anchors, box_roi_pool=pool, box_head=head,
                           box_predictor=FastRCNNPredictor(representation, num_classes),
                           rpn_batch_size_per_image=rpn_batch_size_per_image,
                           box_batch_size_per_image=box_batch_size_per_image,
                           rpn_pre_nms_top_n_train=rpn_pre_nms_top_n_train,
                           rpn_post_nms_top_n_train=rpn_post_nms_top_n_train, **test)
    if backbone != "resnet50_fpn" and (roi_pool or ("pool" if backbone == "vgg16" else "align")) == "pool":
        model.roi_heads.box_roi_pool = RoIPool(7, 1 / stride)   # torchvision's constructor accepts only RoIAlign
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
