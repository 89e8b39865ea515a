"""Input checks of the evaluation: comparable query/gallery banks, finite features."""

from __future__ import annotations

import torch

from benchmark.errors import NonFiniteError, UserError
from benchmark.evaluation.features import FeatureBank

BLOCK_BUDGET = 1 << 22  # values held or examined at once (16 MiB of float32)


def check_finite(bank: FeatureBank, name: str, budget: int = BLOCK_BUDGET) -> None:
    """Raise NonFiniteError if a feature is NaN or inf, with no [N, P, D] temporary.

    Args:
        bank: the features to check.
        name: what the bank is, for the message ("query", "gallery").
        budget: most feature values examined at once.
    """
    feats = bank.features
    rows = max(1, budget // max(1, feats[0].numel())) if len(feats) else 1
    bad = 0
    for r0 in range(0, len(feats), rows):
        part = feats[r0 : r0 + rows]
        if not bool(torch.isfinite(part.sum())):  # NaN/inf propagate (or a rare overflow)
            bad += int((~torch.isfinite(part)).flatten(1).any(1).sum())
    if bad:
        raise NonFiniteError(
            f"{name} features contain NaN or inf in {bad} of {len(feats)} images; "
            "the model diverged or its checkpoint is corrupt: retrain or pick another checkpoint"
        )


def check_pair(query: FeatureBank, gallery: FeatureBank) -> None:
    """Raise a one-line UserError if the two banks cannot be compared."""
    for name, bank in (("query", query), ("gallery", gallery)):
        if len(bank) == 0:
            raise UserError(f"the {name} set is empty; evaluation needs at least one image in each")
        if bank.features.ndim != 3 or bank.visibility.shape != bank.features.shape[:2]:
            raise UserError(
                f"{name} features must be [N, P, D] with visibility [N, P]; got "
                f"{tuple(bank.features.shape)} and {tuple(bank.visibility.shape)}"
            )
    if query.features.shape[1:] != gallery.features.shape[1:]:
        raise UserError(
            f"query features are [Q, P, D] = {tuple(query.features.shape)} but gallery features "
            f"are {tuple(gallery.features.shape)}; both sides need the same P and D"
        )
