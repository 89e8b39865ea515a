"""Part label codes: DensePose's 14 parts -> the 7-part code of HPNet/EANet -> HPNet's 4 parts."""

from __future__ import annotations

import numpy as np

# 7-part code of the official HPNet/EANet releases (0 is background).
PART7_NAMES = (
    "background",
    "head",
    "torso",
    "upper_arm",
    "lower_arm",
    "upper_leg",
    "lower_leg",
    "foot",
)
# HPNet's 4 parts (paper section 3): head; torso+arms; upper legs; lower legs+feet.
PART4_NAMES = ("background", "head", "torso_arms", "upper_legs", "lower_legs_feet")

# DensePose dp_masks order (1-based): 1 torso, 2 right hand, 3 left hand, 4 left foot,
# 5 right foot, 6 upper leg R, 7 upper leg L, 8 lower leg R, 9 lower leg L, 10 upper arm L,
# 11 upper arm R, 12 lower arm L, 13 lower arm R, 14 head.
DENSEPOSE14_TO_7 = np.array([0, 2, 4, 4, 7, 7, 5, 5, 6, 6, 3, 3, 4, 4, 1], dtype=np.uint8)
PART7_TO_4 = np.array([0, 1, 2, 2, 2, 3, 4, 4], dtype=np.uint8)


def densepose14_to_7(label14: np.ndarray) -> np.ndarray:
    """Map a DensePose 14-part label map (0 background) to the 7-part code."""
    return DENSEPOSE14_TO_7[label14]


def part7_to_4(label7: np.ndarray) -> np.ndarray:
    """Fuse a 7-part label map into HPNet's 4 parts (0 background)."""
    return PART7_TO_4[label7]
