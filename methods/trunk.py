"""What a backbone builder returns (trunk, Conv5, width) and the local-weights file check,
shared by the torchvision ResNets (``backbone``) and timm models (``timm_backbone``)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from benchmark.errors import UserError


@dataclass
class Backbone:
    """A trunk (Conv1-4), one Conv5 stage and the Conv5 output width."""

    trunk: nn.Module  # ResNetTrunk, or a timm model's stages before the last
    conv5: nn.Sequential
    dim: int

    def conv5_copies(self, n: int) -> nn.ModuleList:
        """``n`` unshared Conv5 branches initialised alike (paper section 3)."""
        return nn.ModuleList([copy.deepcopy(self.conv5) for _ in range(n)])


def check_weights_file(path: Path) -> None:
    """A local weights file must exist; ``synthetic`` is resolved by ``run`` only."""
    if str(path) == "synthetic":  # resolved to the cached file by benchmark.training.pretrain
        raise UserError(
            "pretrained='synthetic' is resolved by 'python -m benchmark run'; elsewhere pass the "
            "path that 'python -m benchmark pretrain' prints"
        )
    if not path.is_file():
        raise UserError(f"pretrained weights {path} not found; give a local .pth state dict path")
