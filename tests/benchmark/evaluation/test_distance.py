"""Eq. (1) and the official code's distance against slow per-pair loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmark.errors import UnknownNameError, UserError
from benchmark.evaluation.distance import OFFICIAL_NO_SHARED, distance_matrix, iter_distance_blocks
from benchmark.evaluation.features import FeatureBank
from tests.benchmark.evaluation import reference_eval as ref


def make_bank(n: int, seed: int, parts: int = 3, dim: int = 6, p_vis: float = 0.5) -> FeatureBank:
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(n, parts, dim, generator=gen)
    vis = (torch.rand(n, parts, generator=gen) < p_vis).float()
    vis[0] = 0.0  # an image with no visible part: +inf to everything
    feats[1, 0] = 0.0  # a zero part feature: normalised with eps, no NaN
    pids = torch.randint(1, 4, (n,), generator=gen)
    return FeatureBank(feats, vis, pids, torch.randint(0, 2, (n,), generator=gen))


def reference(query: FeatureBank, gallery: FeatureBank, fn) -> np.ndarray:
    return ref.distance_matrix(
        query.features.numpy(),
        query.visibility.numpy(),
        gallery.features.numpy(),
        gallery.visibility.numpy(),
        fn,
    )


@pytest.mark.parametrize("chunk_size", [1, 4, 1000])
def test_paper_distance_matches_slow_loop(chunk_size: int) -> None:
    query, gallery = make_bank(9, 0), make_bank(13, 1)
    got = distance_matrix(query, gallery, chunk_size=chunk_size).numpy()
    want = reference(query, gallery, ref.paper_distance)
    assert np.isinf(want).any() and np.isfinite(want).any(), "the case must mix inf and finite"
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg="+inf pairs differ")
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=0, atol=2e-6)


def test_distance_inf_without_overlap() -> None:
    feats = torch.randn(2, 2, 4, generator=torch.Generator().manual_seed(0))
    query = FeatureBank(feats[:1], torch.tensor([[1.0, 0.0]]), torch.tensor([1]), torch.tensor([0]))
    gallery = FeatureBank(
        feats, torch.tensor([[0.0, 1.0], [1.0, 1.0]]), torch.tensor([1, 2]), torch.tensor([1, 1])
    )
    dist = distance_matrix(query, gallery)
    assert math.isinf(dist[0, 0]) and dist[0, 0] > 0, "no commonly visible part must give +inf"
    assert math.isfinite(dist[0, 1]), "one shared part must give a finite distance"


def test_identical_features_give_zero_not_nan() -> None:
    feats = torch.randn(3, 2, 512, generator=torch.Generator().manual_seed(3)) * 1e3
    bank = FeatureBank(feats, torch.ones(3, 2), torch.arange(3), torch.zeros(3, dtype=torch.long))
    dist = distance_matrix(bank, bank)
    assert torch.isfinite(dist).all(), "the clamp in sqrt(max(2 - 2ab, 0)) must avoid NaN"
    assert torch.all(dist.diagonal() == 0), f"self distance must be 0, got {dist.diagonal()}"


def near_duplicates(n: int, seed: int, dim: int = 256) -> FeatureBank:
    """One person seen n times with tiny, increasing perturbations (distances 1e-6 .. 1e-2)."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(1, 2, dim, generator=gen)
    noise = torch.randn(n, 2, dim, generator=gen)
    scale = torch.logspace(-6, -2, n)[:, None, None] / dim**0.5
    feats = base + scale * noise
    return FeatureBank(feats, torch.ones(n, 2), torch.arange(n), torch.zeros(n, dtype=torch.long))


def test_small_distances_are_accurate_and_chunk_size_free() -> None:
    bank = near_duplicates(40, 11)
    want = reference(bank, bank, ref.paper_distance)
    first = distance_matrix(bank, bank, chunk_size=1)
    np.testing.assert_allclose(first.numpy(), want, rtol=1e-5, atol=1e-9, err_msg="vs float64")
    for chunk in (3, 17, 4096):
        got = distance_matrix(bank, bank, chunk_size=chunk)
        assert torch.equal(got, first), f"chunk {chunk}: near-duplicate distances changed"
    order = torch.argsort(first[0], stable=True)
    assert order.tolist() == np.argsort(want[0], kind="stable").tolist(), "float64 ranking"


@pytest.mark.parametrize("scale", [1e20, 1e-25])
def test_extreme_scales_rank_as_unscaled(scale: float) -> None:
    query, gallery = make_bank(9, 12, dim=64, p_vis=0.8), make_bank(30, 13, dim=64, p_vis=0.8)
    scaled = [
        FeatureBank(b.features * scale, b.visibility, b.pids, b.camids) for b in (query, gallery)
    ]
    assert torch.isfinite(scaled[0].features).all() and bool((scaled[1].features != 0).any())
    want = distance_matrix(query, gallery)
    got = distance_matrix(*scaled)
    assert torch.equal(torch.isinf(got), torch.isinf(want)), "+inf pairs differ"
    finite = torch.isfinite(want)
    torch.testing.assert_close(got[finite], want[finite], rtol=0, atol=1e-5)
    assert torch.equal(
        torch.argsort(got, dim=1, stable=True), torch.argsort(want, dim=1, stable=True)
    )


def test_official_distance_matches_slow_loop() -> None:
    query, gallery = make_bank(8, 2), make_bank(11, 3)
    got = distance_matrix(query, gallery, distance="official", chunk_size=3).numpy()
    want = reference(query, gallery, ref.official_distance)
    assert (want >= OFFICIAL_NO_SHARED).any(), "the case must have pairs without a shared part"
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=2e-6)


@pytest.mark.parametrize("name", ["paper", "official"])
def test_hidden_query_parts_are_skipped_exactly(name: str) -> None:
    """Parts a query hides skip their products: soft visibilities, a part no query shows, a part
    every query shows, and queries split into blocks, against the slow loop."""
    query, gallery = make_bank(10, 6, parts=4), make_bank(12, 7, parts=4)
    gen = torch.Generator().manual_seed(8)
    soft = torch.rand(query.visibility.shape, generator=gen) * query.visibility
    soft[:, 1], soft[:, 3] = 0.0, 0.7  # part 1 hidden everywhere, part 3 shown everywhere
    query = FeatureBank(query.features, soft, query.pids, query.camids)
    fn = ref.paper_distance if name == "paper" else ref.official_distance
    want = reference(query, gallery, fn)
    blocks = iter_distance_blocks(query, gallery, distance=name, chunk_size=5, budget=3 * 12)
    got = torch.cat([b.values for b in blocks]).numpy()
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg="+inf pairs differ")
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-6, atol=2e-6)


def test_without_visibility_equals_all_ones() -> None:
    query, gallery = make_bank(5, 4), make_bank(7, 5)
    ones = tuple(
        FeatureBank(b.features, torch.ones_like(b.visibility), b.pids, b.camids)
        for b in (query, gallery)
    )
    for name in ("paper", "official"):
        got = distance_matrix(query, gallery, use_visibility=False, distance=name)
        torch.testing.assert_close(got, distance_matrix(*ones, distance=name))
        assert torch.isfinite(got).all(), f"{name}: w/o vis every pair shares every part"


def test_unknown_distance_lists_valid_names() -> None:
    bank = make_bank(3, 6)
    with pytest.raises(UnknownNameError, match="official.*paper"):
        distance_matrix(bank, bank, distance="euclid")


def test_empty_or_mismatched_sets_raise_user_error() -> None:
    bank = make_bank(3, 7)
    empty = FeatureBank(bank.features[:0], bank.visibility[:0], bank.pids[:0], bank.camids[:0])
    with pytest.raises(UserError, match="gallery set is empty"):
        distance_matrix(bank, empty)
    other = make_bank(3, 8, dim=5)
    with pytest.raises(UserError, match="same P and D"):
        distance_matrix(bank, other)


@pytest.mark.parametrize("rows", [0, 1, 255, 256, 700])
def test_part_norms_are_exact_float64_norms_at_any_scale(rows: int) -> None:
    from benchmark.evaluation.distance import _norms64

    gen = torch.Generator().manual_seed(rows)
    feats = torch.randn(rows, 3, 16, generator=gen)
    if rows:
        feats[0] *= 1e20  # float32 squares would overflow
        feats[-1] *= 1e-25  # and underflow
        feats[rows // 2, 1] = 0.0
    got = _norms64(feats)
    assert got.dtype == torch.float64 and got.shape == (rows, 3)
    torch.testing.assert_close(
        got, torch.linalg.vector_norm(feats.double(), dim=-1), rtol=0, atol=0
    )
