"""Paired training transforms: flip (image and part labels together), jitter, part blackout.

All randomness comes from torch's global generator, whose state the checkpoints save, so a
resumed run draws the same augmentations as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchvision.transforms.v2.functional as TF
from torch import Tensor

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)  # ImageNet statistics
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def uniform(lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand(()))


@dataclass(frozen=True)
class PairedTransform:
    """Augmentations of one training image [3, H, W] in [0, 1] and its part labels [H, W].

    Attributes:
        flip: paper 4.1 random horizontal flip (p = 0.5), applied to image and labels at once.
        photometric: the official code's random blur/brightness/contrast/saturation/gamma.
        blackout: probability of blacking out 1-2 random visible parts (official code); their
            label pixels become background, as for any occluder.
    """

    flip: bool = False
    photometric: bool = False
    blackout: float = 0.0

    def __call__(self, image: Tensor, parts: Tensor) -> tuple[Tensor, Tensor]:
        if self.flip and torch.rand(()) < 0.5:
            image, parts = image.flip(-1), parts.flip(-1)
        if self.photometric:
            image = jitter(image)
        if self.blackout and parts.numel() and torch.rand(()) < self.blackout:
            image, parts = black_out_parts(image, parts)
        return image, parts


def jitter(image: Tensor) -> Tensor:
    """Each of blur, brightness, contrast, saturation, gamma with p = 0.5 (factors 0.8-1.2)."""
    if torch.rand(()) < 0.5:
        image = TF.gaussian_blur(image, [3, 3], [uniform(0.1, 1.0)])
    for adjust in (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation):
        if torch.rand(()) < 0.5:
            image = adjust(image, uniform(0.8, 1.2))
    if torch.rand(()) < 0.5:
        image = TF.adjust_gamma(image, uniform(0.8, 1.2))
    return image.clamp(0, 1)


def black_out_parts(image: Tensor, parts: Tensor) -> tuple[Tensor, Tensor]:
    """Set the pixels of 1-2 random present parts to black and their labels to background."""
    present = [int(p) for p in parts.unique() if p > 0]
    if not present:
        return image, parts
    count = min(len(present), 1 + int(torch.rand(()) < 0.5))
    chosen = [present[i] for i in torch.randperm(len(present))[:count].tolist()]
    hide = torch.isin(parts, torch.tensor(chosen, dtype=parts.dtype))  # [H, W]
    return image.masked_fill(hide, 0.0), parts.masked_fill(hide, 0)


def normalise(image: Tensor) -> Tensor:
    """[3, H, W] in [0, 1] -> ImageNet-normalised."""
    return (image - MEAN) / STD
