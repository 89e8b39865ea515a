"""Run a model over a loader and collect a FeatureBank."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class FeatureBank:
    """Features of one query or gallery set.

    Attributes:
        features: [N, P, D] float part features.
        visibility: [N, P] part visibility in {0, 1}.
        pids: [N] identities (0 = distractor, never matched).
        camids: [N] cameras.
    """

    features: Tensor
    visibility: Tensor
    pids: Tensor
    camids: Tensor

    def __len__(self) -> int:
        return int(self.pids.shape[0])
