"""PartParser: a small DANet-style part-segmentation network with a DeepLabv3+ decoder.

Why this architecture: the paper trains DANet (Fu et al., CVPR 2019) on DensePose-COCO to
predict Market-1501's part labels (section 4.2), so we keep DANet's two ideas: a dilated ResNet
encoder and its dual attention (a position attention module that lets every cell look at every
other cell, and a channel attention module over the feature maps). Person crops are small
(128x64 on the cpu profile), so the encoder keeps output stride 16 with a last stride of 1 (the
same ResNets as the ReID methods, narrow ones for CPUs) and the attention costs nothing on its
8x4 map. At that size a stride-16 map alone blurs the thin limbs and the feet, so a
DeepLabv3+-style decoder adds the stride-4 Conv2 features for sharper boundaries. The
classifier predicts 8 classes (background + the 7 parts of DESIGN) trained with cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reid_methods.backbone import SPECS, ResNetTrunk, build_backbone

NUM_CLASSES = 8  # background + 7 parts (datasets.parts.PART7_NAMES)


def conv_bn_relu(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class PositionAttention(nn.Module):
    """DANet's position attention: each cell adds a softmax-weighted sum of all cells."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query = nn.Conv2d(dim, max(dim // 8, 1), 1)
        self.key = nn.Conv2d(dim, max(dim // 8, 1), 1)
        self.value = nn.Conv2d(dim, dim, 1)
        self.gamma = nn.Parameter(torch.zeros(1))  # starts as the identity (DANet)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # [N, HW, C']
        k = self.key(x).flatten(2)  # [N, C', HW]
        attn = torch.softmax(q @ k, dim=-1)  # [N, HW, HW]
        out = self.value(x).flatten(2) @ attn.transpose(1, 2)  # [N, C, HW]
        return x + self.gamma * out.view(n, c, h, w)


class ChannelAttention(nn.Module):
    """DANet's channel attention: each map adds a softmax-weighted sum of all maps."""

    def __init__(self) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        flat = x.flatten(2)  # [N, C, HW]
        energy = flat @ flat.transpose(1, 2)  # [N, C, C]
        energy = energy.amax(-1, keepdim=True) - energy  # DANet's max-subtraction
        out = torch.softmax(energy, dim=-1) @ flat  # [N, C, HW]
        return x + self.gamma * out.view(n, c, h, w)


class PartParser(nn.Module):
    """Image [N, 3, H, W] (normalised) -> part logits [N, 8, H, W].

    Args:
        backbone: a name of ``methods.backbone.SPECS``.
        attention: use DANet's dual attention on the stride-16 map.
        pretrained: local ResNet state dict for the encoder, or None.
    """

    def __init__(
        self, backbone: str, attention: bool = True, pretrained: str | None = None
    ) -> None:
        super().__init__()
        enc = build_backbone(backbone, last_stride=1, pretrained=pretrained)
        self.trunk, self.conv5 = enc.trunk, enc.conv5
        spec = SPECS[backbone]
        low_dim = spec.widths[0] * spec.block.expansion  # type: ignore[attr-defined]
        mid = min(256, enc.dim // 2)
        self.reduce = conv_bn_relu(enc.dim, mid)
        self.attention = attention
        self.pam = PositionAttention(mid)
        self.cam = ChannelAttention()
        self.fuse = conv_bn_relu(mid, mid)
        low_out = min(48, low_dim)  # DeepLabv3+ keeps the low-level branch narrow
        self.low = conv_bn_relu(low_dim, low_out, kernel=1)
        self.decode = nn.Sequential(conv_bn_relu(mid + low_out, mid), conv_bn_relu(mid, mid))
        self.classifier = nn.Conv2d(mid, NUM_CLASSES, 1)

    def forward(self, images: Tensor) -> Tensor:
        t = self.trunk
        assert isinstance(t, ResNetTrunk), "the encoder is a built-in ResNet (SPECS[backbone])"
        x = t.maxpool(t.relu(t.bn1(t.conv1(images))))
        low = t.layer1(x)  # [N, C2, H/4, W/4]
        x = self.conv5(t.layer3(t.layer2(low)))  # [N, D, H/16, W/16]
        x = self.reduce(x)
        if self.attention:
            x = self.pam(x) + self.cam(x)  # DANet: the two attention branches are summed
        x = self.fuse(x)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        x = self.decode(torch.cat([x, self.low(low)], dim=1))  # [N, mid, H/4, W/4]
        logits = self.classifier(x)
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)
