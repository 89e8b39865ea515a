"""CMC / mAP: a hand-computed case, and the vectorised code against torchreid's loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmark.evaluation.ranking import cmc_map, summarise
from tests.benchmark.evaluation import reference_eval as ref

T = torch.tensor


def test_hand_computed_case() -> None:
    # gallery:       0 same pid+cam  1 neg   2 match  3 distractor  4 junk  5 match  6 neg (tie)
    g_pids = T([1, 2, 1, 0, -1, 1, 3])
    g_cams = T([0, 1, 1, 1, 1, 2, 1])
    inf = float("inf")
    dist = T(
        [
            [0.1, 0.2, 0.3, 0.25, 0.05, 0.6, 0.3],  # pid 1: kept order 1, 3, 2*, 6, 5*
            [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.1],  # pid 3: its match (6) first
            [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],  # pid 4: not in the gallery -> skipped
            [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],  # pid 2 cam 1: only match on its camera -> skipped
            [
                inf,
                0.9,
                inf,
                0.8,
                0.1,
                inf,
                inf,
            ],  # pid 1 cam 2: kept 3, 1, 2*, 6 (inf ties by index)
        ]
    )
    q_pids, q_cams = T([1, 3, 4, 2, 1]), T([0, 0, 0, 1, 2])
    res = cmc_map(dist, q_pids, q_cams, g_pids, g_cams)
    # query 0: 0 (same camera) and 4 (junk) removed; matches at ranks 3 and 5 (2 before 6 on
    #   the 0.3 tie) -> AP = (1/3 + 2/5) / 2 = 11/30
    # query 1: its match first -> AP = 1
    # query 4: 5 (its camera) and 4 (junk) removed; kept order 3 (0.8), 1 (0.9), then the inf
    #   ties by index 0*, 2*, 6 -> matches at ranks 3 and 4 -> AP = (1/3 + 2/4) / 2 = 5/12
    # Rank-1 = 1/3 (query 1), Rank-2 = 1/3, Rank-3 and above = 3/3
    assert (res.queries, res.skipped) == (3, 2), "two queries have no match"
    np.testing.assert_allclose(res.cmc[:5], [1 / 3, 1 / 3, 1.0, 1.0, 1.0])
    assert res.mAP == pytest.approx((11 / 30 + 1 + 5 / 12) / 3), "non-interpolated AP"


def test_equal_distances_rank_by_gallery_index() -> None:
    for match_at in range(3):
        pids = T([2, 2, 2])
        pids[match_at] = 1
        res = cmc_map(T([[0.5, 0.5, 0.5]]), T([1]), T([0]), pids, T([1, 1, 1]))
        want = np.array([0.0] * match_at + [1.0] * (50 - match_at))
        np.testing.assert_array_equal(
            res.cmc, want, err_msg=f"a tie must put gallery index {match_at} at rank {match_at + 1}"
        )
        assert res.mAP == pytest.approx(1 / (match_at + 1)), "AP = precision at the only match"


def test_no_valid_query_gives_nan() -> None:
    res = summarise(T([-1, -1]), torch.zeros(2, dtype=torch.float64))
    assert res.queries == 0 and res.skipped == 2
    assert math.isnan(res.mAP) and np.isnan(res.cmc).all(), "no valid query: undefined metrics"


def random_case(seed: int, q: int, g: int, kind: str):
    rng = np.random.default_rng(seed)
    g_pids, g_cams = rng.integers(-1, 8, g), rng.integers(0, 3, g)
    q_pids, q_cams = rng.integers(0, 9, q), rng.integers(0, 3, q)
    if kind == "continuous":
        dist = rng.random((q, g))
    elif kind == "ties":
        dist = rng.integers(0, 4, (q, g)) / 2
    elif kind == "special":
        dist = rng.choice([0.5, 1.0, np.inf, -0.0, 0.0, -1.0, 10000.0], (q, g))
    else:  # signed values, infinities
        dist = rng.random((q, g)) * 3 - 1
        dist[rng.random((q, g)) < 0.3] = np.inf
    return dist.astype(np.float32), q_pids, q_cams, g_pids, g_cams


@pytest.mark.parametrize("kind", ["continuous", "ties", "special", "mixed"])
def test_vectorised_equals_reference_loop(kind: str) -> None:
    rng = np.random.default_rng(1)
    for seed in range(40):
        q, g = int(rng.integers(1, 15)), int(rng.integers(1, 60))
        case = random_case(seed, q, g, kind)
        dist, q_pids, q_cams, g_pids, g_cams = case
        res = cmc_map(*(torch.from_numpy(a) for a in case), budget=int(rng.integers(1, 300)))
        cmc, m_ap, valid, skipped = ref.cmc_map(dist, q_pids, q_cams, g_pids, g_cams)
        assert (res.queries, res.skipped) == (valid, skipped), f"seed {seed}: query counts"
        if valid:
            np.testing.assert_array_equal(res.cmc, cmc, err_msg=f"seed {seed}: CMC")
            assert res.mAP == pytest.approx(m_ap, abs=1e-12), f"seed {seed}: mAP"


def test_large_gallery_equals_reference_loop() -> None:
    # thousands of items per row exercise the histogram bins and the in-bin comparisons
    rng = np.random.default_rng(7)
    q, g = 24, 6000
    g_pids, g_cams = rng.integers(-1, 150, g), rng.integers(0, 6, g)
    q_pids, q_cams = rng.integers(0, 150, q), rng.integers(0, 6, q)
    dist = (rng.random((q, g)) + 0.5).astype(np.float32)
    dist[::2] = np.round(dist[::2] * 40) / 40  # many exact ties
    dist[rng.random((q, g)) < 0.05] = np.inf
    dist[3, :] = 1.0  # a row of equal distances
    dist[5, :] = 10000.0 + rng.random(g).astype(np.float32)  # an outlying range
    res = cmc_map(*(torch.from_numpy(a) for a in (dist, q_pids, q_cams, g_pids, g_cams)))
    cmc, m_ap, valid, skipped = ref.cmc_map(dist, q_pids, q_cams, g_pids, g_cams)
    assert (res.queries, res.skipped) == (valid, skipped)
    np.testing.assert_array_equal(res.cmc, cmc, err_msg="CMC differs from the reference loop")
    assert res.mAP == pytest.approx(m_ap, abs=1e-12)
