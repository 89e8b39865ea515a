"""Paired training transforms: flip (image and part labels together), jitter, part blackout.

The jitter and the blackout follow the official HPNet code (package/data/transform.py:
``enhance_aug`` and ``occlude_part``) with its probabilities and ranges. All randomness comes
from torch's global generator, whose state the checkpoints save, so a resumed run draws the
same augmentations as an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)  # ImageNet statistics
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)

# Official enhance_aug: skip the whole step with p = 0.5, else each operation with p = 0.7 in
# a random order; blur radius 1 or 2 (PIL's radius is the Gaussian's sigma), factors U(0.6, 1.4).
PHOTOMETRIC_SKIP = 0.5
PHOTOMETRIC_OP = 0.7
BLUR_SIGMAS = (1.0, 2.0)
FACTOR_RANGE = (0.6, 1.4)
OPERATIONS = ("blur", "brightness", "contrast", "saturation", "gamma")
MAX_BLACKOUT_PARTS = 2  # official max_occlude_parts: 1 or 2 parts, equally likely


def uniform(lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand(()))


@dataclass(frozen=True)
class PairedTransform:
    """Augmentations of one training image [3, H, W] in [0, 1] and its part labels [H, W].

    Attributes:
        flip: paper 4.1 random horizontal flip (p = 0.5), applied to image and labels at once.
        photometric: the official code's random blur/brightness/contrast/saturation/gamma.
        blackout: probability of blacking out 1-2 of the ``num_parts`` parts (official code:
            0.5); their pixels take the mean colour (0 once normalised) and their labels
            become background, as for any occluder.
        num_parts: the part codes 1..num_parts the blackout picks from, present or not.
    """

    flip: bool = False
    photometric: bool = False
    blackout: float = 0.0
    num_parts: int = 4

    def __call__(self, image: Tensor, parts: Tensor) -> tuple[Tensor, Tensor]:
        if self.flip and torch.rand(()) < 0.5:
            image, parts = image.flip(-1), parts.flip(-1)
        if self.photometric:
            image = jitter(image, draw_jitter())
        if self.blackout and parts.numel() and torch.rand(()) < self.blackout:
            image, parts = black_out_parts(image, parts, self.num_parts)
        return image, parts


def draw_jitter() -> list[tuple[str, float]]:
    """The operations of one official ``comb_aug_im`` call, in order, with their parameters."""
    if torch.rand(()) < PHOTOMETRIC_SKIP:
        return []
    plan = []
    for i in torch.randperm(len(OPERATIONS)).tolist():
        name = OPERATIONS[i]
        if name == "blur":
            value = BLUR_SIGMAS[int(torch.randint(len(BLUR_SIGMAS), ()))]
        else:
            value = uniform(*FACTOR_RANGE)
        if torch.rand(()) < PHOTOMETRIC_OP:
            plan.append((name, value))
    return plan


def jitter(image: Tensor, plan: list[tuple[str, float]]) -> Tensor:
    """Applies ``draw_jitter``'s plan to [3, H, W] in [0, 1]."""
    # third-party, imported on use: torchvision's import costs a second on every command
    import torchvision.transforms.v2.functional as TF

    adjust = {
        "brightness": TF.adjust_brightness,
        "contrast": TF.adjust_contrast,
        "saturation": TF.adjust_saturation,
        "gamma": TF.adjust_gamma,
    }
    for name, value in plan:
        if name == "blur":  # kernel +-3 sigma, odd
            image = TF.gaussian_blur(image, [2 * int(3 * value) + 1] * 2, [value, value])
        else:
            image = adjust[name](image, value)
    return image.clamp(0, 1)


def black_out_parts(image: Tensor, parts: Tensor, num_parts: int = 4) -> tuple[Tensor, Tensor]:
    """Fill 1-2 random parts of 1..num_parts with the mean colour; their labels -> background.

    As the official ``occlude_part``: the parts are drawn among all codes, so a drawn part
    absent from the image hides nothing; the fill is 0 after normalisation.
    """
    count = 1 + int(torch.randint(MAX_BLACKOUT_PARTS, ()))
    chosen = torch.randperm(num_parts)[:count] + 1  # [count] part codes
    hide = torch.isin(parts, chosen.to(parts.dtype))  # [H, W]
    return torch.where(hide, MEAN.to(image.dtype), image), parts.masked_fill(hide, 0)


def normalise(image: Tensor) -> Tensor:
    """[3, H, W] in [0, 1] -> ImageNet-normalised."""
    return (image - MEAN) / STD
