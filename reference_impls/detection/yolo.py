"""YOLO v1 (Redmon et al., CVPR 2016), as the paper defines it, on a timm backbone.

The image is divided into an S x S grid. Each cell predicts B boxes (x, y, sqrt w, sqrt h, confidence)
and C class probabilities Pr(class | object), so the network's output is S x S x (B * 5 + C)
(7 x 7 x 30 for VOC). x, y are the box centre's offset inside its cell, w, h are relative to the
image; the network regresses sqrt(w), sqrt(h) directly so that an error on a small box costs more
than the same error on a large one. Conv features feed two fully connected layers (the paper's
4096-unit FC + dropout, then the S*S*(B*5+C) output) with a linear final activation.

Loss (Eq. 3), summed over the batch and divided by its size:
    λcoord Σ_obj [(x - x̂)² + (y - ŷ)²] + λcoord Σ_obj [(√w - √ŵ)² + (√h - √ĥ)²]
  + Σ_obj (C - Ĉ)² + λnoobj Σ_noobj (C - Ĉ)² + Σ_cells with obj Σ_c (p(c) - p̂(c))²
with λcoord = 5, λnoobj = 0.5; "obj" is the one predictor (of the B in the cell holding the object's
centre) whose box has the highest current IoU with the object; its confidence target is that IoU.

Test time: class-specific confidence = Pr(class | object) * confidence, per box and class; then a
score threshold and per-class NMS (darknet's VOC validation: threshold 0.001, NMS IoU 0.5).
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import batched_nms, box_iou

LAMBDA_COORD, LAMBDA_NOOBJ = 5.0, 0.5
SCORE_THRESH, NMS_IOU, MAX_DETS = 0.001, 0.5, 100


class YOLOv1(nn.Module):
    def __init__(self, backbone: nn.Module, feat_channels: int, feat_size: int, num_classes: int,
                 S: int = 7, B: int = 2, hidden: int = 4096, dropout: float = 0.5, head_channels: int = 1024,
                 input_size: int = 448, normalize: bool = False):
        super().__init__()
        self.S, self.B, self.C, self.input_size = S, B, num_classes, input_size
        self.backbone = backbone
        self.normalize = normalize
        if normalize:   # an ImageNet-pretrained backbone sees images normalised as in its training
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        # the paper's last conv layers before the FC layers
        self.conv = nn.Sequential(
            nn.Conv2d(feat_channels, head_channels, 3, padding=1), nn.BatchNorm2d(head_channels), nn.LeakyReLU(0.1),
            nn.AdaptiveAvgPool2d(S) if feat_size != S else nn.Identity())
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(head_channels * S * S, hidden), nn.LeakyReLU(0.1),
                                nn.Dropout(dropout), nn.Linear(hidden, S * S * (B * 5 + num_classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, S, S, B*5 + C) raw (linear) predictions."""
        if self.normalize:
            x = (x - self.mean) / self.std
        f = self.backbone(x)
        return self.fc(self.conv(f)).view(-1, self.S, self.S, self.B * 5 + self.C)

    # ------------------------------------------------------------------ boxes
    def decode_boxes(self, out: torch.Tensor, size: int) -> torch.Tensor:
        """(N, S, S, B, 4) predicted boxes [x0, y0, x1, y1] in pixels of a size x size image."""
        N, S, B = out.shape[0], self.S, self.B
        p = out[..., :B * 5].reshape(N, S, S, B, 5)
        gy, gx = torch.meshgrid(torch.arange(S, device=out.device), torch.arange(S, device=out.device), indexing="ij")
        cx = (gx[None, :, :, None] + p[..., 0]) / S
        cy = (gy[None, :, :, None] + p[..., 1]) / S
        w, h = p[..., 2].clamp(min=0) ** 2, p[..., 3].clamp(min=0) ** 2
        return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1) * size

    def loss(self, out: torch.Tensor, targets: list[dict], size: int) -> dict:
        """The sum-squared loss of Eq. 3 (targets: boxes (K,4) in pixels, labels (K,) 0-based)."""
        N, S, B, C = out.shape[0], self.S, self.B, self.C
        p = out[..., :B * 5].reshape(N, S, S, B, 5)
        cls = out[..., B * 5:]
        with torch.no_grad():
            pred_boxes = self.decode_boxes(out.detach(), size)
        obj = torch.zeros(N, S, S, B, dtype=torch.bool, device=out.device)
        cell_obj = torch.zeros(N, S, S, dtype=torch.bool, device=out.device)
        t_xywh = torch.zeros(N, S, S, B, 4, device=out.device)
        t_conf = torch.zeros(N, S, S, B, device=out.device)
        t_cls = torch.zeros(N, S, S, C, device=out.device)
        for n, t in enumerate(targets):
            boxes, labels = t["boxes"].to(out.device).float(), t["labels"].to(out.device)
            for box, lab in zip(boxes, labels):
                cx, cy = (box[0] + box[2]) / 2 / size, (box[1] + box[3]) / 2 / size
                w, h = (box[2] - box[0]) / size, (box[3] - box[1]) / size
                j, i = min(int(cx * S), S - 1), min(int(cy * S), S - 1)
                if cell_obj[n, i, j]:
                    continue  # one object per cell, as in the paper
                ious = box_iou(pred_boxes[n, i, j], box[None])[:, 0]
                b = int(ious.argmax())
                cell_obj[n, i, j], obj[n, i, j, b] = True, True
                t_xywh[n, i, j, b] = torch.stack([cx * S - j, cy * S - i, w.sqrt(), h.sqrt()])
                t_conf[n, i, j, b] = ious[b]
                t_cls[n, i, j, lab] = 1.0
        coord = ((p[..., :2] - t_xywh[..., :2]) ** 2).sum(-1)[obj].sum()
        wh = ((p[..., 2:4] - t_xywh[..., 2:4]) ** 2).sum(-1)[obj].sum()
        conf_obj = ((p[..., 4] - t_conf) ** 2)[obj].sum()
        conf_noobj = (p[..., 4] ** 2)[~obj].sum()
        cls_loss = ((cls - t_cls) ** 2).sum(-1)[cell_obj].sum()
        parts = {"coord": LAMBDA_COORD * coord / N, "wh": LAMBDA_COORD * wh / N, "conf_obj": conf_obj / N,
                 "conf_noobj": LAMBDA_NOOBJ * conf_noobj / N, "class": cls_loss / N}
        parts["loss"] = sum(parts.values())
        return parts

    @torch.no_grad()
    def detect(self, x: torch.Tensor, score_thresh: float = SCORE_THRESH, nms_iou: float = NMS_IOU,
               max_dets: int = MAX_DETS) -> list[dict]:
        """Detections per image: boxes (K,4) pixels, scores (K,), labels (K,) 0-based."""
        size = x.shape[-1]
        out = self(x)
        N, S, B, C = out.shape[0], self.S, self.B, self.C
        boxes = self.decode_boxes(out, size).clamp(0, size).reshape(N, S * S * B, 4)
        conf = out[..., :B * 5].reshape(N, S, S, B, 5)[..., 4]
        scores = (conf[..., None] * out[..., None, B * 5:]).reshape(N, S * S * B, C)  # Pr(class|obj) * conf
        results = []
        for n in range(N):
            s = scores[n].reshape(-1)
            keep = s > score_thresh
            idx = keep.nonzero()[:, 0]
            bx, sc, lb = boxes[n][idx // C], s[idx], idx % C
            ok = (bx[:, 2] > bx[:, 0]) & (bx[:, 3] > bx[:, 1])
            bx, sc, lb = bx[ok], sc[ok], lb[ok]
            k = batched_nms(bx, sc, lb, nms_iou)[:max_dets]
            results.append({"boxes": bx[k], "scores": sc[k], "labels": lb[k]})
        return results
