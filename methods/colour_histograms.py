"""A training-free reference: colour histograms over fixed horizontal stripes.

No learning and no visibility: each image is cut into ``stripes`` horizontal bands (PCB's
layout, without its network), and each band becomes one part feature, the square root of its
joint hue-saturation histogram next to its value (brightness) histogram. Eq. (1) L2-normalises
part features, so the distance of two bands is the Hellinger distance of their histograms
(cosine of square-rooted histograms = the Bhattacharyya coefficient). Every learned method must
beat it: on a data set where it does not, the set measures colour, not the method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from reid_methods.base import Batch, Method, MethodConfig, Output, register_method

# ImageNet statistics the loaders normalise with (benchmark.loading.transforms): undone here.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ColourHistogramConfig(MethodConfig):
    trains: bool = False  # nothing to fit: the run evaluates it as built
    stripes: int = 6  # PCB's 6 horizontal bands (paper 4.4's stripe baseline)
    hue_bins: int = 8  # hue carries clothing colour and survives a camera's brightness change
    saturation_bins: int = 4  # grey vs coloured garments
    value_bins: int = 4  # light vs dark garments, kept apart so brightness weighs little


def rgb_to_hsv(rgb: Tensor) -> Tensor:
    """[N, 3, H, W] RGB in [0, 1] -> HSV with every channel in [0, 1]."""
    r, g, b = rgb.unbind(1)
    value, _ = rgb.max(1)
    low, _ = rgb.min(1)
    chroma = value - low
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    hue = torch.where(
        value == r,
        ((g - b) / safe) % 6,
        torch.where(value == g, (b - r) / safe + 2, (r - g) / safe + 4),
    )
    hue = torch.where(chroma > 0, hue / 6, torch.zeros_like(hue))
    saturation = torch.where(value > 0, chroma / torch.where(value > 0, value, 1), 0)
    return torch.stack([hue, saturation, value], 1)


def bin_index(x: Tensor, bins: int) -> Tensor:
    """Bin of each value of ``x`` in [0, 1] among ``bins`` equal bins (1.0 in the last)."""
    return (x * bins).long().clamp_(0, bins - 1)


@register_method(
    "colour_hist",
    ColourHistogramConfig(),
    label="Colour histograms (training-free)",
    latex="Colour histograms (training-free)",
    order=-10,  # first: the floor the learned rows stand on
    in_all=True,
    reference=None,  # the reference of the "beats the training-free reference" claims
)
class ColourHistograms(Method):
    """P = ``stripes`` bands, visibility 1; no parameters and no loss."""

    cfg: ColourHistogramConfig
    mean: Tensor  # [1, 3, 1, 1] buffers: the normalisation undone
    std: Tensor

    def __init__(self, cfg: ColourHistogramConfig, num_classes: int) -> None:
        super().__init__()
        if cfg.trains:
            raise ValueError("colour_hist has nothing to train; leave trains=False")
        self.cfg = cfg
        # buffers, so the model has a state dict (exported and checked like every method)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, images: Tensor) -> Output:
        cfg = self.cfg
        rgb = (images.float() * self.std + self.mean).clamp(0, 1)  # [N, 3, H, W]
        hsv = rgb_to_hsv(rgb)
        n, _, height, width = hsv.shape
        hs = bin_index(hsv[:, 0], cfg.hue_bins) * cfg.saturation_bins
        hs = hs + bin_index(hsv[:, 1], cfg.saturation_bins)  # [N, H, W] joint hue-sat bin
        v = bin_index(hsv[:, 2], cfg.value_bins) + cfg.hue_bins * cfg.saturation_bins
        rows = (torch.arange(height, device=images.device) * cfg.stripes) // height  # [H]
        bands = torch.arange(cfg.stripes, device=images.device)
        pixels = (rows.view(-1, 1) == bands).sum(0).float() * width  # [P] pixels per band
        stripe = rows.view(1, height, 1).expand(n, height, width)
        dim = cfg.hue_bins * cfg.saturation_bins + cfg.value_bins
        counts = images.new_zeros(n, cfg.stripes, dim, dtype=torch.float32)  # [N, P, D]
        ones = torch.ones(n, height * width, device=images.device)
        for codes in (hs, v):
            index = (stripe * dim + codes).reshape(n, -1)  # [N, H*W] flat (stripe, bin)
            counts.view(n, -1).scatter_add_(1, index, ones)
        # each band's two histograms sum to 1 each; the square root makes eq. (1) Hellinger
        features = (counts / pixels.view(1, -1, 1)).sqrt()  # [N, P, D]
        visibility = features.new_ones(n, cfg.stripes)  # [N, P]: no visibility
        return Output(features, visibility)

    def loss(self, out: Output, batch: Batch) -> dict[str, Tensor]:
        return {}

    def backbone_parameters(self) -> list[nn.Parameter]:
        return []

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        return []
