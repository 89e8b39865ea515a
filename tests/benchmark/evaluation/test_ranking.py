"""CMC, mAP, mAP_zzd, mINP: hand-computed cases, pessimistic ties, torchreid's and HPNet's loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmark.evaluation.ranking import PerQuery, cmc_map, rank_queries, summarise
from tests.benchmark.evaluation import reference_eval as ref

T = torch.tensor


def test_hand_computed_case() -> None:
    # gallery:       0 same pid+cam  1 neg   2 match  3 distractor  4 junk  5 match  6 neg (tie)
    g_pids = T([1, 2, 1, 0, -1, 1, 3])
    g_cams = T([0, 1, 1, 1, 1, 2, 1])
    inf = float("inf")
    dist = T(
        [
            [0.1, 0.2, 0.3, 0.25, 0.05, 0.6, 0.3],  # pid 1: kept order 1, 3, 6, 2*, 5*
            [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.1],  # pid 3: its match (6) first
            [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],  # pid 4: not in the gallery -> skipped
            [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],  # pid 2 cam 1: only match on its camera -> skipped
            [inf, 0.9, inf, 0.8, 0.1, inf, inf],  # pid 1 cam 2: kept 3, 1, 6, 0*, 2*
        ]
    )
    q_pids, q_cams = T([1, 3, 4, 2, 1]), T([0, 0, 0, 1, 2])
    res = cmc_map(dist, q_pids, q_cams, g_pids, g_cams, market_ids=True)
    # query 0: 0 (same camera) and 4 (junk) removed; the 0.3 tie puts the non-match 6 before
    #   the match 2 -> matches at ranks 4 and 5 -> AP = (1/4 + 2/5) / 2 = 13/40;
    #   AP_zzd = ((0 + 1/4) / 2 + (1/4 + 2/5) / 2) / 2 = 9/40
    # query 1: its match first -> AP = AP_zzd = 1
    # query 4: 5 (its camera) and 4 (junk) removed; kept order 3 (0.8), 1 (0.9), then at +inf
    #   the non-match 6 before the matches 0*, 2* -> ranks 4 and 5, as query 0
    assert (res.queries, res.skipped) == (3, 2), "two queries have no match"
    np.testing.assert_allclose(res.cmc[:5], [1 / 3, 1 / 3, 1 / 3, 1.0, 1.0])
    assert res.mAP == pytest.approx((13 / 40 + 1 + 13 / 40) / 3), "non-interpolated AP"
    assert res.mAP_zzd == pytest.approx((9 / 40 + 1 + 9 / 40) / 3), "trapezoid AP"
    assert res.first_match_tied == 2, "queries 0 and 4 had their first match decided by a tie"
    # INP = matches / rank of the hardest match: 2/5, 1/1, 2/5
    assert res.mINP == pytest.approx((2 / 5 + 1 + 2 / 5) / 3), "mean inverse negative penalty"


def test_a_tie_puts_the_match_after_every_non_match() -> None:
    for match_at in range(3):
        pids = T([2, 2, 2])
        pids[match_at] = 1
        res = cmc_map(T([[0.5, 0.5, 0.5]]), T([1]), T([0]), pids, T([1, 1, 1]))
        want = np.array([0.0, 0.0] + [1.0] * 48)
        np.testing.assert_array_equal(res.cmc, want, err_msg=f"match at {match_at}: rank 3")
        assert res.mAP == pytest.approx(1 / 3), "AP = precision at the only match"
        assert res.mAP_zzd == pytest.approx((0 / 2 + 1 / 3) / 2), "ap_zzd: (0/2 + 1/3) / 2"
        assert res.first_match_tied == 1, "the tie decided the first match"
        assert res.mINP == pytest.approx(1 / 3), "the tied match is the hardest, at rank 3"


def test_partial_tie_and_own_items_among_themselves() -> None:
    # distances 0.1 (match a), 0.2 (neg), 0.2 (match b), 0.2 (match c), 0.3 (neg)
    dist = T([[0.2, 0.1, 0.3, 0.2, 0.2]])
    pids = T([1, 7, 9, 7, 7])
    per = rank_queries(dist, T([7]), T([0]), pids, T([1, 1, 1, 1, 1]))
    # kept order: a (rank 1), neg 0.2, then b and c (ranks 3, 4), then 0.3
    assert per.first_rank.tolist() == [0] and not bool(per.first_tied[0]), "no tie at 0.1"
    want = (1 + 2 / 3 + 3 / 4) / 3
    assert float(per.ap[0]) == pytest.approx(want)
    want_zzd = ((1 + 1) / 2 + (1 / 2 + 2 / 3) / 2 + (2 / 3 + 3 / 4) / 2) / 3
    assert float(per.ap_zzd[0]) == pytest.approx(want_zzd)


def test_fully_hidden_query_is_never_a_rank1_hit() -> None:
    # every distance +inf (no part visible): the match is last whatever the gallery order
    inf = float("inf")
    for match_at in range(4):
        pids = T([5, 6, 8, 9])
        pids[match_at] = 1
        res = cmc_map(T([[inf] * 4]), T([1]), T([0]), pids, T([1, 1, 1, 1]))
        assert res.cmc[0] == 0.0 and res.cmc[3] == 1.0, f"match at {match_at}: rank 4"
        assert res.first_match_tied == 1


def test_permuting_the_gallery_changes_no_metric() -> None:
    rng = np.random.default_rng(3)
    for seed in range(20):
        dist, q_pids, q_cams, g_pids, g_cams = random_case(seed, 12, 50, "special")
        base = cmc_map(*(torch.from_numpy(a) for a in (dist, q_pids, q_cams, g_pids, g_cams)))
        perm = rng.permutation(dist.shape[1])
        case = (dist[:, perm], q_pids, q_cams, g_pids[perm], g_cams[perm])
        moved = cmc_map(*(torch.from_numpy(a) for a in case))
        np.testing.assert_array_equal(base.cmc, moved.cmc, err_msg=f"seed {seed}: CMC")
        assert (base.mAP, base.mAP_zzd, base.first_match_tied) == (
            moved.mAP,
            moved.mAP_zzd,
            moved.first_match_tied,
        ), f"seed {seed}: the gallery order changed a metric"


def test_pid_zero_and_negative_are_identities_unless_market_ids() -> None:
    dist = T([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    q_pids, q_cams = T([0, -1]), T([0, 0])
    g_pids, g_cams = T([0, -1, 4]), T([1, 1, 1])
    plain = cmc_map(dist, q_pids, q_cams, g_pids, g_cams)
    assert (plain.queries, plain.skipped) == (2, 0), "pid 0 and -1 match their own items"
    np.testing.assert_allclose(plain.cmc[:2], [0.5, 1.0])  # pid 0 at rank 1, pid -1 at rank 2
    market = cmc_map(dist, q_pids, q_cams, g_pids, g_cams, market_ids=True)
    assert (market.queries, market.skipped) == (0, 2), "Market: pid <= 0 queries have no match"


def test_no_valid_query_gives_nan() -> None:
    zero, no = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.bool)
    res = summarise(PerQuery(T([-1, -1]), zero, zero, no, no, zero))
    assert res.queries == 0 and res.skipped == 2
    assert math.isnan(res.mAP) and np.isnan(res.cmc).all(), "no valid query: undefined metrics"
    assert math.isnan(res.mINP)


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
        market = bool(seed % 2)
        res = cmc_map(
            *(torch.from_numpy(a) for a in case),
            market_ids=market,
            budget=int(rng.integers(1, 300)),
        )
        cmc, m_ap, valid, skipped = ref.cmc_map(*case, market_ids=market)
        assert (res.queries, res.skipped) == (valid, skipped), f"seed {seed}: query counts"
        if valid:
            np.testing.assert_array_equal(res.cmc, cmc, err_msg=f"seed {seed}: CMC")
            assert res.mAP == pytest.approx(m_ap, abs=1e-12), f"seed {seed}: mAP"
            m_inp, _ = ref.minp(*case, market_ids=market)
            assert res.mINP == pytest.approx(m_inp, abs=1e-12), f"seed {seed}: mINP"


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
    assert res.mINP == pytest.approx(ref.minp(dist, q_pids, q_cams, g_pids, g_cams)[0], abs=1e-12)
    per = rank_queries(*(torch.from_numpy(a) for a in (dist, q_pids, q_cams, g_pids, g_cams)))
    check_per_query(per, ref.per_query(dist, q_pids, q_cams, g_pids, g_cams), "large")


def check_per_query(per: PerQuery, want: list, label: str) -> None:
    first, ap, ap_zzd, tied = (np.array(c) for c in zip(*want, strict=True))
    np.testing.assert_array_equal(per.first_rank.numpy(), first, err_msg=f"{label}: first rank")
    np.testing.assert_array_equal(per.valid.numpy(), first >= 0, err_msg=f"{label}: valid")
    np.testing.assert_allclose(per.ap.numpy(), ap, atol=1e-12, err_msg=f"{label}: AP")
    np.testing.assert_allclose(per.ap_zzd.numpy(), ap_zzd, atol=1e-12, err_msg=f"{label}: zzd")
    np.testing.assert_array_equal(per.first_tied.numpy(), tied, err_msg=f"{label}: tied")


@pytest.mark.parametrize("kind", ["continuous", "ties", "special", "mixed"])
def test_per_query_equals_official_port(kind: str) -> None:
    # the plain pid rule removes only same pid + same camera, as the official code does
    for seed in range(30):
        case = random_case(seed, 10, 40, kind)
        per = rank_queries(*(torch.from_numpy(a) for a in case), budget=97)
        check_per_query(per, ref.per_query(*case), f"seed {seed}")
        market = rank_queries(*(torch.from_numpy(a) for a in case), market_ids=True, budget=97)
        check_per_query(market, ref.per_query(*case, market_ids=True), f"seed {seed} market")
