"""DeepLab v2 (Chen et al., TPAMI 2017) and the DeepLabv3+ decoder (Chen et al., ECCV 2018).

    net = DeepLab(num_classes=21, backbone="resnet101", head="aspp", output_stride=8, msc=True)
    logits = net(images)          # (N, C, H, W): bilinearly upsampled to the input size

- backbone: a timm ResNet with atrous (dilated) convolution in the last stages, so the feature
  map has output stride 8 or 16 instead of 32 (`timm.create_model(..., output_stride=...)`).
- heads: DeepLab-LargeFOV (one 3x3 conv with rate 12 on top of the backbone, then 1x1 convs;
  paper: rate-12 fc6 on VGG) and ASPP-L (four parallel 3x3 branches with rates 6/12/18/24 whose
  class scores are summed). ASPP-S uses rates 2/4/8/12.
- MSC: the image at scales 1, 0.75, 0.5 goes through the shared net; the score maps are
  upsampled to the scale-1 map and fused by taking the max at each position (paper section 3.3).
- head="aspp_v2": the DeepLab-v2 ResNet-101 ASPP as released (deeplab-v2 prototxt `fc1_voc12_c0..c3`):
  one 3x3 atrous conv per rate straight from the backbone to the classes, summed (~1.5 M parameters
  for 2048 -> 21 classes, 4 rates); the VGG-style fc6/fc7/fc8 branches ("aspp") are the VGG-16 model's.
- head="v3": DeepLabv3: ASPP (1x1 + rates 6/12/18 + image pooling, 256 channels), a 1x1 classifier,
  and the score map bilinearly upsampled from the output stride to the input (no decoder).
- head="v3+": DeepLabv3+: the same ASPP and a decoder that fuses the 4x-upsampled ASPP output with
  stride-4 low-level features (48 channels), two 3x3 convs, the classifier.
- freeze_bn=True: batch-norm statistics and affine parameters stay as loaded (the paper's fine-tuning).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reference_impls.common.backbones import backbone as make_backbone

HEADS = ("largefov", "aspp", "aspp_v2", "v3", "v3+")
ASPP_L = (6, 12, 18, 24)
ASPP_S = (2, 4, 8, 12)
MSC_SCALES = (1.0, 0.75, 0.5)


class LargeFOV(nn.Module):
    """DeepLab-LargeFOV head: 3x3 atrous conv (rate 12) -> 1x1 -> 1x1 classifier (fc6/fc7/fc8)."""

    def __init__(self, in_ch: int, num_classes: int, rate: int = 12, width: int = 1024, dropout: float = 0.5):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_ch, width, 3, padding=rate, dilation=rate), nn.ReLU(inplace=True), nn.Dropout2d(dropout),
            nn.Conv2d(width, width, 1), nn.ReLU(inplace=True), nn.Dropout2d(dropout),
            nn.Conv2d(width, num_classes, 1))

    def forward(self, x):
        return self.body(x)


class ASPP(nn.Module):
    """DeepLab v2 atrous spatial pyramid pooling: one LargeFOV-style branch per rate, each with its
    own fc6/fc7/fc8, and the branches' class scores summed (paper Fig. 4)."""

    def __init__(self, in_ch: int, num_classes: int, rates=ASPP_L, width: int = 1024, dropout: float = 0.5):
        super().__init__()
        self.branches = nn.ModuleList(LargeFOV(in_ch, num_classes, r, width, dropout) for r in rates)

    def forward(self, x):
        return sum(b(x) for b in self.branches)


class ASPPClassifier(nn.Module):
    """DeepLab-v2 ResNet ASPP: per rate one 3x3 atrous conv from the features straight to the class
    scores, the branches summed (the released model's fc1_voc12_c0..c3, weights N(0, 0.01), bias 0)."""

    def __init__(self, in_ch: int, num_classes: int, rates=ASPP_L):
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(in_ch, num_classes, 3, padding=r, dilation=r) for r in rates)
        for c in self.branches:
            nn.init.normal_(c.weight, std=0.01)
            nn.init.zeros_(c.bias)

    def forward(self, x):
        return sum(b(x) for b in self.branches)


def _conv_bn(i, o, k=1, rate=1):
    return nn.Sequential(nn.Conv2d(i, o, k, padding=rate * (k // 2), dilation=rate, bias=False),
                         nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class ASPPv3(nn.Module):
    """DeepLabv3 ASPP: 1x1 conv, three 3x3 atrous convs, image-level pooling; concatenated, 1x1 projected."""

    def __init__(self, in_ch: int, out_ch: int = 256, rates=(6, 12, 18)):
        super().__init__()
        self.branches = nn.ModuleList([_conv_bn(in_ch, out_ch, 1)] + [_conv_bn(in_ch, out_ch, 3, r) for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.ReLU(inplace=True))
        self.project = _conv_bn(out_ch * (len(rates) + 2), out_ch, 1)

    def forward(self, x):
        outs = [b(x) for b in self.branches]
        outs.append(F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear", align_corners=False))
        return self.project(torch.cat(outs, 1))


class V3Head(nn.Module):
    """DeepLabv3: ASPP at the output stride and a 1x1 classifier (upsampled to the input by the caller)."""

    def __init__(self, high_ch: int, num_classes: int, rates=(6, 12, 18), width: int = 256):
        super().__init__()
        self.aspp = ASPPv3(high_ch, width, rates)
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, high):
        return self.classifier(self.aspp(high))


class V3PlusHead(nn.Module):
    """DeepLabv3+ decoder: ASPP at stride 8/16, upsample to stride 4, concat 48-channel low-level features,
    two 3x3 convs, classifier (`width` / `low_width`: 256 / 48 published)."""

    def __init__(self, low_ch: int, high_ch: int, num_classes: int, rates=(6, 12, 18), width: int = 256,
                 low_width: int = 48):
        super().__init__()
        self.aspp = ASPPv3(high_ch, width, rates)
        self.low = _conv_bn(low_ch, low_width, 1)
        self.fuse = nn.Sequential(_conv_bn(width + low_width, width, 3), _conv_bn(width, width, 3),
                                  nn.Conv2d(width, num_classes, 1))

    def forward(self, low, high):
        x = self.aspp(high)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([x, self.low(low)], 1))


class DeepLab(nn.Module):
    def __init__(self, num_classes: int, backbone: str = "resnet101", head: str = "aspp", output_stride: int = 8,
                 msc: bool = False, msc_scales=MSC_SCALES, weights=None, width: int = 1024, rates=None,
                 backbone_channels=None, v3_width: int = 256, low_width: int = 48, freeze_bn: bool = False):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, not {head!r}")
        self.head_name, self.msc, self.msc_scales, self.freeze_bn = head, msc, tuple(msc_scales), freeze_bn
        # backbone_channels: the four stages' widths of a timm ResNet (default: the published ones;
        # the smoke tier quarters ResNet-18's, stem included (slim_stem), to fit the CPU budget)
        slim = {} if backbone_channels is None else dict(channels=tuple(backbone_channels))
        self.backbone = make_backbone(backbone, weights=weights, features_only=True, output_stride=output_stride,
                                      out_indices=(1, 4), **slim)
        if backbone_channels is not None:
            slim_stem(self.backbone, backbone_channels[0])
        low_ch, high_ch = self.backbone.feature_info.channels()
        if head == "largefov":
            self.head = LargeFOV(high_ch, num_classes, rate=(rates or (12,))[0], width=width)
        elif head == "aspp":
            self.head = ASPP(high_ch, num_classes, rates or ASPP_L, width=width)
        elif head == "aspp_v2":
            self.head = ASPPClassifier(high_ch, num_classes, rates or ASPP_L)
        elif head == "v3":
            self.head = V3Head(high_ch, num_classes, rates or (6, 12, 18), width=v3_width)
        else:
            self.head = V3PlusHead(low_ch, high_ch, num_classes, rates or (6, 12, 18), width=v3_width,
                                   low_width=low_width)
        if freeze_bn:
            for m in self.backbone.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.requires_grad_(False)

    def train(self, mode: bool = True):
        """With freeze_bn, the backbone's batch norms stay in eval mode (running statistics unchanged)."""
        super().train(mode)
        if self.freeze_bn:
            for m in self.backbone.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def param_groups(self, lr: float, head_mult: float = 10.0, bias_mult: float = 20.0) -> list[dict]:
        """SGD parameter groups as in the released DeepLab-v2 solver: the backbone at `lr`, the head's
        weights at `head_mult` x lr and its biases at `bias_mult` x lr (the classifier's lr_mult 10 / 20);
        frozen parameters are left out."""
        head_w = [p for n, p in self.head.named_parameters() if p.requires_grad and not n.endswith("bias")]
        head_b = [p for n, p in self.head.named_parameters() if p.requires_grad and n.endswith("bias")]
        body = [p for p in self.backbone.parameters() if p.requires_grad]
        return [dict(params=body, lr=lr), dict(params=head_w, lr=head_mult * lr), dict(params=head_b, lr=bias_mult * lr)]

    def scores(self, x):
        """Class scores at the output stride (v3+: stride 4), before upsampling."""
        low, high = self.backbone(x)
        return self.head(low, high) if self.head_name == "v3+" else self.head(high)

    def forward(self, x, scales=None):
        """Logits at the input resolution. With MSC (or explicit `scales`) the score maps of the
        rescaled inputs are max-fused; in training the per-scale maps are returned too, for the
        paper's loss on every scale and on the fused map."""
        scales = tuple(scales) if scales is not None else (self.msc_scales if self.msc else (1.0,))
        size = x.shape[-2:]
        if scales == (1.0,):
            return F.interpolate(self.scores(x), size=size, mode="bilinear", align_corners=False)
        outs = []
        for s in scales:
            xs = x if s == 1.0 else F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False,
                                                  recompute_scale_factor=True)
            outs.append(F.interpolate(self.scores(xs), size=size, mode="bilinear", align_corners=False))
        fused = torch.stack(outs).max(0).values
        if self.training:
            return fused, outs
        return fused


def slim_stem(net: nn.Module, width: int) -> nn.Module:
    """Narrow a timm ResNet's 7x7 stem (conv1, bn1) to `width` channels, and the first block of layer1
    to take them. timm keeps the plain stem 64 wide whatever `stem_width` says (it only applies to
    deep stems), so a ResNet with quartered stages would otherwise still run a 64-wide stem and
    max-pool at stride 2, the costliest layers of the slim network; this makes the stem as narrow as
    the first stage (a quarter-width ResNet, stem included). New convs get timm's init (Kaiming
    normal, fan-out); when layer1's input width then equals its output width, its 1x1 projection
    shortcut goes (identity, as in ResNet-18's layer1)."""
    from timm.models.resnet import BasicBlock
    block = net.layer1[0]
    if not isinstance(block, BasicBlock) or net.conv1.out_channels == width:
        return net
    net.conv1 = nn.Conv2d(net.conv1.in_channels, width, 7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(width)
    block.conv1 = nn.Conv2d(width, block.conv1.out_channels, 3, stride=block.conv1.stride,
                            padding=block.conv1.padding, dilation=block.conv1.dilation, bias=False)
    for conv in (net.conv1, block.conv1):
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if block.downsample is not None and block.conv1.stride == (1, 1) and width == block.conv2.out_channels:
        block.downsample = None
    elif block.downsample is not None:
        proj = block.downsample[0]
        block.downsample[0] = nn.Conv2d(width, proj.out_channels, 1, stride=proj.stride, bias=False)
        nn.init.kaiming_normal_(block.downsample[0].weight, mode="fan_out", nonlinearity="relu")
    return net


def msc_loss(out, target, ignore_index: int = 255):
    """Cross-entropy on the fused map and, with MSC in training, on every scale's map (paper 3.3)."""
    if isinstance(out, tuple):
        fused, outs = out
        return sum(F.cross_entropy(o, target, ignore_index=ignore_index) for o in [fused, *outs])
    return F.cross_entropy(out, target, ignore_index=ignore_index)


def taps_inside(rate: int, size: tuple[int, int], kernel: int = 3) -> float:
    """Fraction of a rate-`rate` kernel's taps, over all output positions of a `size` (H, W) feature
    map, that land inside the map rather than in its zero padding. At 1.0 every tap sees features;
    at 1/kernel^2 only the centre tap does (the filter degenerates into a 1x1 conv)."""
    frac = 1.0
    for n in size:
        offsets = [(k - kernel // 2) * rate for k in range(kernel)]
        frac *= sum(max(0, n - abs(o)) for o in offsets) / (kernel * n)
    return frac


def flops(model: nn.Module, shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass on a zero input of `shape` (torch's FlopCounterMode: a multiply-add
    is 2 FLOPs). Deterministic: it counts the operators, it does not time them. Build the model
    under `torch.device("meta")` to count without computing anything."""
    from torch.utils.flop_counter import FlopCounterMode
    device = next(model.parameters()).device
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        model(torch.zeros(shape, device=device))
    return int(fc.get_total_flops())


def field_of_view(rate: int, kernel: int = 3) -> int:
    """Receptive extent of one atrous conv: kernel + (kernel - 1)(rate - 1) input positions."""
    return kernel + (kernel - 1) * (rate - 1)


def impulse_extent(conv: nn.Conv2d, size: int = 65) -> int:
    """Measured field of view of `conv`: how many input positions along a row change the centre output."""
    x = torch.zeros(1, conv.in_channels, size, size, requires_grad=True)
    y = conv(x)
    c = y.shape[-1] // 2
    y[0, :, c, c].sum().backward()
    g = x.grad[0].abs().sum(0)
    cols = torch.nonzero(g.sum(0) > 0).flatten()
    return int(cols.max() - cols.min() + 1)
