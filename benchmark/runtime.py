"""Device choice and seeding."""

from __future__ import annotations

import random

import numpy as np
import torch


def pick_device(name: str | None = None) -> torch.device:
    """``name`` if given, else CUDA when available, else the CPU."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and random; samplers use their own seeded generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
