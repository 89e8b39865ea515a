"""Protocols: multi- and single-gallery-shot, trials, "w/o vis", input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmark.errors import NonFiniteError, UnknownNameError, UserError
from benchmark.evaluation.distance import distance_matrix
from benchmark.evaluation.features import FeatureBank
from benchmark.evaluation.protocols import evaluate
from benchmark.evaluation.ranking import GalleryIndex
from tests.benchmark.evaluation import reference_eval as ref


def make_bank(n: int, seed: int, ids: int = 6, cams: int = 3, p_vis: float = 0.7) -> FeatureBank:
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(n, 3, 8, generator=gen)
    vis = (torch.rand(n, 3, generator=gen) < p_vis).float()
    pids = torch.randint(0, ids + 1, (n,), generator=gen)
    return FeatureBank(feats, vis, pids, torch.randint(0, cams, (n,), generator=gen))


def test_multi_shot_equals_reference() -> None:
    query, gallery = make_bank(30, 0), make_bank(80, 1)
    res = evaluate(query, gallery, budget=200, chunk_size=7, market_ids=True)
    dist = distance_matrix(query, gallery).numpy()
    ids = (query.pids.numpy(), query.camids.numpy(), gallery.pids.numpy(), gallery.camids.numpy())
    cmc, m_ap, valid, skipped = ref.cmc_map(dist, *ids, market_ids=True)
    assert (res.queries, res.skipped) == (valid, skipped) and skipped > 0, "skipped queries counted"
    np.testing.assert_allclose(res.cmc, cmc, atol=1e-12)
    assert (res.rank1, res.rank3, res.rank5, res.rank10) == tuple(cmc[[0, 2, 4, 9]])
    assert res.mAP == pytest.approx(m_ap, abs=1e-12)
    assert res.rank1_std is None and "rank1_std" not in res.to_dict(), "no std in multi mode"


def reference_single_shot(query, gallery, trials, seed) -> np.ndarray:
    """The documented single-shot rule, per query and identity, with the same draws."""
    dist = distance_matrix(query, gallery).numpy()
    groups = GalleryIndex.build(gallery.pids, gallery.camids).group_pids.tolist()
    g_pids, g_cams = gallery.pids.numpy(), gallery.camids.numpy()
    curves = []
    for t in range(trials):
        u = np.random.default_rng(seed + t).random((len(query), len(groups)))
        firsts = []
        for i, (pid, cam) in enumerate(
            zip(query.pids.tolist(), query.camids.tolist(), strict=True)
        ):
            kept = []
            for k, gid in enumerate(groups):
                items = np.flatnonzero(g_pids == gid)
                if gid == pid:
                    items = items[g_cams[items] != cam]
                if len(items):
                    kept.append(items[min(int(u[i, k] * len(items)), len(items) - 1)])
            kept = np.sort(np.array(kept, dtype=np.int64))  # ties: by gallery index
            raw = ref.query_ranking(dist[i, kept], pid, cam, g_pids[kept], g_cams[kept])
            if raw.any():
                firsts.append(int(np.argmax(raw)))
        curves.append([np.mean([f < k for f in firsts]) for k in (1, 3, 5, 10)])
    return np.array(curves)


def test_single_shot_equals_reference_rule() -> None:
    query, gallery = make_bank(25, 2), make_bank(70, 3)
    res = evaluate(query, gallery, mode="single", trials=4, seed=5, budget=150)
    curves = reference_single_shot(query, gallery, trials=4, seed=5)
    got = [res.rank1, res.rank3, res.rank5, res.rank10]
    np.testing.assert_allclose(got, curves.mean(0), atol=1e-12, err_msg="mean over trials")
    stds = [res.rank1_std, res.rank3_std, res.rank5_std, res.rank10_std]
    np.testing.assert_allclose(stds, curves.std(0), atol=1e-12, err_msg="population std")
    assert res.mAP == evaluate(query, gallery).mAP, "single-shot mAP stays on the full gallery"


def test_single_shot_is_deterministic_and_blocking_free() -> None:
    query, gallery = make_bank(40, 4), make_bank(90, 5)
    a = evaluate(query, gallery, mode="single", trials=3, seed=11)
    b = evaluate(query, gallery, mode="single", trials=3, seed=11, budget=90 * 7)
    assert a == b, "same seed must give the same result, whatever the block size"
    c = evaluate(query, gallery, mode="single", trials=3, seed=12)
    assert a.to_dict() != c.to_dict(), "another seed should draw other galleries"
    assert set(a.to_dict()) >= {"rank1_std", "rank10_std"}, "single mode reports stds"


def test_single_shot_with_one_image_per_identity_equals_multi_shot() -> None:
    query = make_bank(20, 6, ids=10)
    gen = torch.Generator().manual_seed(7)
    gallery = FeatureBank(
        torch.randn(11, 3, 8, generator=gen),
        torch.ones(11, 3),
        torch.arange(11),
        torch.full((11,), 9),
    )
    multi = evaluate(query, gallery)
    single = evaluate(query, gallery, mode="single", trials=3)
    np.testing.assert_allclose(single.cmc, multi.cmc, atol=1e-12, err_msg="nothing to draw")
    assert single.rank1_std == 0.0 and single.rank10_std == 0.0


def test_without_visibility_equals_all_visible() -> None:
    query, gallery = make_bank(15, 8, p_vis=0.3), make_bank(40, 9, p_vis=0.3)
    res = evaluate(query, gallery, use_visibility=False, distance="official")
    query1, gallery1 = (
        FeatureBank(b.features, torch.ones_like(b.visibility), b.pids, b.camids)
        for b in (query, gallery)
    )
    ones = evaluate(query1, gallery1, distance="official")
    assert res == ones, '"test w/o vis" = every visibility forced to 1'
    assert res != evaluate(query, gallery, distance="official"), "visibility should matter here"


def test_all_queries_skipped_gives_nan() -> None:
    query, gallery = make_bank(5, 10), make_bank(9, 11)
    query = FeatureBank(query.features, query.visibility, torch.full((5,), 99), query.camids)
    res = evaluate(query, gallery)
    assert (res.queries, res.skipped) == (0, 5) and math.isnan(res.rank1) and math.isnan(res.mAP)


def test_bad_arguments_raise_user_errors() -> None:
    query, gallery = make_bank(4, 12), make_bank(6, 13)
    with pytest.raises(UnknownNameError, match="multi, single"):
        evaluate(query, gallery, mode="double")
    with pytest.raises(UnknownNameError, match="official, paper"):
        evaluate(query, gallery, distance="cosine")
    with pytest.raises(UserError, match="trials must be at least 1"):
        evaluate(query, gallery, mode="single", trials=0)
    empty = FeatureBank(query.features[:0], query.visibility[:0], query.pids[:0], query.camids[:0])
    with pytest.raises(UserError, match="query set is empty"):
        evaluate(empty, gallery)
    gallery.features[2, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="gallery features contain NaN or inf in 1 of 6"):
        evaluate(query, gallery)


def test_hidden_queries_are_counted_and_never_rank1_by_gallery_order() -> None:
    query, gallery = make_bank(6, 14, p_vis=1.0), make_bank(30, 15, p_vis=1.0)
    query.visibility[:2] = 0.0  # two fully hidden queries: every distance +inf
    query.pids[:2] = gallery.pids[0]  # their identity comes first in the gallery
    for distance in ("paper", "official"):
        res = evaluate(query, gallery, distance=distance)
        assert res.queries_no_visible == 2, f"{distance}: two queries have no visible part"
        assert res.per_query is not None
        first = res.per_query.first_rank[:2]
        assert bool((first > 0).all()), f"{distance}: a hidden query is never a Rank-1 hit"
        assert bool(res.per_query.first_tied[:2].all()), f"{distance}: ties decided them"
        assert res.first_match_tied >= 2 and "queries_no_visible" in res.to_dict()
    assert evaluate(query, gallery, use_visibility=False).queries_no_visible == 0


def test_per_query_results_match_the_summary() -> None:
    query, gallery = make_bank(30, 16), make_bank(80, 17)
    res = evaluate(query, gallery, budget=170)
    per = res.per_query
    assert per is not None and len(per.first_rank) == 30, "one entry per query, in query order"
    assert res.mAP == pytest.approx(float(per.ap[per.valid].mean()), abs=1e-12)
    assert res.mAP_zzd == pytest.approx(float(per.ap_zzd[per.valid].mean()), abs=1e-12)
    assert res.rank1 == pytest.approx(float((per.first_rank[per.valid] == 0).double().mean()))
    assert res.mAP_zzd < res.mAP, "the trapezoid AP is below torchreid's on the same ranking"


def test_market_ids_make_pid_zero_a_distractor() -> None:
    query, gallery = make_bank(30, 18), make_bank(80, 19)
    plain, market = evaluate(query, gallery), evaluate(query, gallery, market_ids=True)
    zero_queries = int((query.pids == 0).sum())
    assert zero_queries > 0 and market.skipped >= plain.skipped + zero_queries - 1
    assert market.queries == plain.queries - zero_queries, "pid-0 queries count only when plain"
