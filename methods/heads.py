"""Heads shared by the methods: parsing head, masked max pooling, BN neck, part classifiers."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ParsingHead(nn.Module):
    """{3x3 Conv, BN, ReLU, 1x1 Conv, Sigmoid} -> one part's probability map G (paper 3.1)."""

    def __init__(self, dim: int, mid: int) -> None:
        super().__init__()
        first, last = nn.Conv2d(dim, mid, 3, padding=1, bias=False), nn.Conv2d(mid, 1, 1)
        self.body = nn.Sequential(first, nn.BatchNorm2d(mid), nn.ReLU(inplace=True), last)
        # Official code (model/hpnet.py PartSegHead); the paper is silent, so every profile:
        # both convolutions normal(std 0.001), zero bias, so G starts near 0.5 everywhere.
        for conv in (first, last):
            nn.init.normal_(conv.weight, std=0.001)
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).squeeze(1).sigmoid()  # [N, H, W]


def masked_max_pool(
    features: Tensor, probs: Tensor, threshold: float = 0.5
) -> tuple[Tensor, Tensor]:
    """H = F (x) 1{G > T}; h = GMP(H); v = max(1{G > T}) (paper 3.1).

    The max runs over the part's cells only. For the non-negative maps of a ReLU network (the
    paper's ResNet) that is exactly GMP(F (x) G-hat); for a transformer's signed features the
    product's zeros outside the part would otherwise win over its negative values.

    Args:
        features: [N, D, H, W] Conv5 maps.
        probs: [N, H, W] parsing probabilities G.

    Returns:
        h [N, D] pooled part features and v [N] visibility in {0, 1}.
    """
    mask = probs > threshold  # [N, H, W], binary G-hat
    # the max over the part's cells only (transformer features can be negative); a part with
    # no cell gets 0 (for non-negative CNN maps the same as the max of F (x) G-hat)
    inside = features.masked_fill(~mask.unsqueeze(1), float("-inf")).amax(dim=(2, 3))  # [N, D]
    visible = mask.flatten(1).any(dim=1)  # [N]
    h = torch.where(visible.unsqueeze(1), inside, torch.zeros_like(inside))
    return h, visible.to(features.dtype)


class BNNeck(nn.Module):
    """BN on the pooled feature (f = BN(h)) followed by a bias-free identity classifier.

    The BN shift is frozen as in the BNNeck of Luo et al., the paper's [15] practice of
    applying the triplet loss before BN and the ID loss after it.
    """

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(dim)
        self.bn.bias.requires_grad_(False)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        f = self.bn(h)  # [N, D]
        return f, self.classifier(f)  # [N, D], [N, C]
