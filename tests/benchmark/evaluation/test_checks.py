"""Input checks of the evaluation: finite features, comparable banks."""

from __future__ import annotations

import pytest
import torch

from benchmark.errors import NonFiniteError, UserError
from benchmark.evaluation.checks import check_finite, check_pair
from benchmark.evaluation.features import FeatureBank


def _bank(n: int, parts: int = 3, dim: int = 6) -> FeatureBank:
    gen = torch.Generator().manual_seed(n)
    feats = torch.randn(n, parts, dim, generator=gen)
    return FeatureBank(feats, torch.ones(n, parts), torch.arange(n), torch.zeros(n))


def test_check_finite_counts_bad_images() -> None:
    bank = _bank(6)
    bank.features[2, 1, 3] = float("nan")
    bank.features[4, 0, 0] = float("inf")
    with pytest.raises(NonFiniteError, match="query features contain NaN or inf in 2 of 6"):
        check_finite(bank, "query", budget=7)
    check_finite(_bank(6), "query", budget=7)  # finite features pass


def test_check_pair_names_the_bad_side() -> None:
    bank = _bank(3)
    flat = FeatureBank(bank.features[:, 0], bank.visibility, bank.pids, bank.camids)
    with pytest.raises(UserError, match=r"gallery features must be \[N, P, D\]"):
        check_pair(bank, flat)
    with pytest.raises(UserError, match="same P and D"):
        check_pair(bank, _bank(3, parts=2))
    check_pair(bank, _bank(4))  # same P and D: comparable
