"""PCB (Sun et al., ECCV'18): 6 horizontal stripes, per-stripe reduction and classifier."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reid_methods.backbone import method_backbone
from reid_methods.base import Batch, Method, MethodConfig, Output, register_method
from reid_methods.losses import id_loss


@dataclass(frozen=True)
class PCBConfig(MethodConfig):
    num_stripes: int = 6  # PCB's p = 6 uniform horizontal parts
    reduce_dim: int = 256  # PCB's 1x1 conv reduction before each classifier
    dropout: float = 0.5  # PCB's dropout before each classifier


class StripeClassifier(nn.Module):
    """1x1 conv reduction (as a Linear on the pooled vector), BN, ReLU, dropout, classifier."""

    def __init__(self, dim: int, reduce_dim: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.reduce = nn.Sequential(
            nn.Linear(dim, reduce_dim, bias=False),
            nn.BatchNorm1d(reduce_dim),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(reduce_dim, num_classes))

    def forward(self, g: Tensor) -> Tensor:
        return self.classifier(self.reduce(g))  # [N, C]


@register_method("pcb", PCBConfig(), label="PCB", order=10, in_all=True)
class PCB(Method):
    """P = 6 stripes, visibility 1; test features are the pooled stripe vectors g (PCB)."""

    cfg: PCBConfig

    def __init__(self, cfg: PCBConfig, num_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        net = method_backbone(cfg)
        self.backbone = nn.Sequential(net.trunk, net.conv5)
        self.stripes = nn.ModuleList(
            StripeClassifier(net.dim, cfg.reduce_dim, num_classes, cfg.dropout)
            for _ in range(cfg.num_stripes)
        )

    def forward(self, images: Tensor) -> Output:
        fmap = self.backbone(images)  # [N, D, H, W]
        g = F.adaptive_avg_pool2d(fmap, (self.cfg.num_stripes, 1)).flatten(2).transpose(1, 2)
        # g: [N, P, D]
        logits = torch.stack([head(g[:, j]) for j, head in enumerate(self.stripes)], dim=1)
        ones = g.new_ones(g.shape[:2])  # [N, P]
        return Output(g, ones, g, logits)  # logits [N, P, C]

    def loss(self, out: Output, batch: Batch) -> dict[str, Tensor]:
        assert out.logits is not None, "training output lacks logits"
        # eq. (2) with every stripe visible: PCB's sum of per-stripe cross-entropies.
        return {"id": id_loss(out.logits, batch.pids, out.visibility)}
