"""Global-feature baseline (paper 4.4): one Conv5 branch, global max pooling, ID + triplet."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from reid_methods.backbone import method_backbone, split_class_token
from reid_methods.base import Batch, Method, MethodConfig, Output, register_method
from reid_methods.heads import BNNeck
from reid_methods.losses import id_loss, part_triplet_loss


@dataclass(frozen=True)
class BaselineConfig(MethodConfig):
    id_weight: float = 1.0  # eq. (10) lambda_ide; the baseline keeps HPNet's ReID losses
    triplet_weight: float = 0.1  # eq. (10) lambda_tri
    margin: float = 0.3  # eq. (3) M
    # ViT/DeiT: the global feature is the class token (TransReID's baseline) instead of the
    # patches' max; other backbones have no class token (a one-line error)
    global_token: bool = False


@register_method(
    "baseline", BaselineConfig(), label="Baseline", table="table4", order=0, in_all=True
)
class Baseline(Method):
    """P = 1 part: the whole image, visibility 1."""

    cfg: BaselineConfig

    def __init__(self, cfg: BaselineConfig, num_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        net = method_backbone(cfg, cfg.global_token)
        self.backbone = torch.nn.Sequential(net.trunk, net.conv5)
        self.neck = BNNeck(net.dim, num_classes)

    def forward(self, images: Tensor) -> Output:
        fmap, token = split_class_token(self.backbone(images))
        h = fmap.amax(dim=(2, 3)) if token is None else token  # [N, D] GMP or the class token
        f, logits = self.neck(h)
        ones = h.new_ones(h.shape[0], 1)  # [N, 1]
        return Output(f.unsqueeze(1), ones, h.unsqueeze(1), logits.unsqueeze(1))

    def loss(self, out: Output, batch: Batch) -> dict[str, Tensor]:
        assert out.logits is not None and out.pre_bn is not None, "training output lacks logits"
        return {
            "id": self.cfg.id_weight * id_loss(out.logits, batch.pids, out.visibility),
            "triplet": self.cfg.triplet_weight
            * part_triplet_loss(out.pre_bn, out.visibility, batch.pids, self.cfg.margin),
        }
