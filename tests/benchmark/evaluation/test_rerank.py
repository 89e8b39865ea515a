"""k-reciprocal re-ranking: the blocked, sparse implementation against a dense loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.errors import UserError
from benchmark.evaluation import rerank
from benchmark.evaluation.features import FeatureBank
from benchmark.evaluation.rerank import (
    RerankParams,
    feature_rows,
    k_reciprocal_blocks,
    rerank_matrices,
)
from benchmark.reporting.table_render import distance_text
from tests.benchmark.evaluation.reference_eval import (
    dense_rerank,
    dense_rerank_full,
    distance_matrix,
    official_distance,
    paper_distance,
)


def _euclidean(a, b):
    return np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0))


def _clustered(rng, ids, per_id, dim=8):
    centres = rng.normal(size=(ids, dim))
    return np.repeat(centres, per_id, axis=0) + 0.4 * rng.normal(size=(ids * per_id, dim))


@pytest.mark.parametrize(
    ("num_q", "num_g", "k1", "k2", "lam"),
    [(7, 30, 20, 6, 0.3), (12, 60, 5, 3, 0.5), (5, 40, 8, 1, 0.0), (30, 90, 4, 2, 1.0)],
)
def test_matches_the_dense_loop(num_q, num_g, k1, k2, lam, monkeypatch):
    monkeypatch.setattr(rerank, "ROW_BLOCK", 16)  # several blocks per pass
    monkeypatch.setattr(rerank, "QUERY_BLOCK", 4)
    rng = np.random.default_rng(num_q * 1000 + num_g)
    feats = _clustered(rng, (num_q + num_g) // 5, 5)
    rng.shuffle(feats)
    q, g = feats[:num_q], feats[num_q:]
    q_g, q_q, g_g = _euclidean(q, g), _euclidean(q, q), _euclidean(g, g)
    want = dense_rerank(q_g, q_q, g_g, k1, k2, lam)
    got = rerank_matrices(q_g, q_q, g_g, RerankParams(k1, k2, lam))
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_matches_the_dense_loop_for_an_asymmetric_distance():
    rng = np.random.default_rng(3)
    q_g, q_q, g_g = rng.random((6, 25)), rng.random((6, 6)), rng.random((25, 25))
    np.fill_diagonal(q_q, 0.0)
    np.fill_diagonal(g_g, 0.0)
    want = dense_rerank(q_g, q_q, g_g, 6, 3, 0.3)
    np.testing.assert_allclose(rerank_matrices(q_g, q_q, g_g, RerankParams(6, 3)), want, atol=1e-6)


def test_no_common_visible_part_becomes_the_farthest_finite_distance_of_its_row():
    rng = np.random.default_rng(4)
    feats = rng.normal(size=(40, 6))
    q_g, q_q, g_g = _euclidean(feats[:8], feats[8:]), _euclidean(feats[:8], feats[:8]), None
    g_g = _euclidean(feats[8:], feats[8:])
    q_g[2, [3, 7, 11]] = np.inf
    g_g[5, 9] = g_g[9, 5] = np.inf
    got = rerank_matrices(q_g, q_q, g_g, RerankParams(10, 4))
    # the rule by hand: each column of [[q_q, q_g], [q_g^T, g_g]] gets its finite maximum
    full = np.block([[q_q, q_g], [q_g.T, g_g]])
    peak = np.where(np.isfinite(full), full, -np.inf).max(axis=0)
    full = np.where(np.isfinite(full), full, peak[None, :])
    want = dense_rerank_full(full, len(q_q), 10, 4, 0.3)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("distance", ["paper", "official"])
def test_feature_rows_are_the_columns_of_the_authors_matrix(distance):
    """Rows from features (a block at a time) = the matrix built from q_g, q_q and g_g."""
    rng = np.random.default_rng(5)
    qf, gf = rng.normal(size=(5, 3, 4)), rng.normal(size=(9, 3, 4))
    qv, gv = (rng.random((5, 3)) > 0.3).astype(np.float32), np.ones((9, 3), np.float32)

    def bank(f, v):
        n = len(f)
        return FeatureBank(
            torch.tensor(f, dtype=torch.float32),
            torch.tensor(v),
            torch.arange(n),
            torch.zeros(n, dtype=torch.int64),
        )

    fn = paper_distance if distance == "paper" else official_distance
    q_g, q_q = distance_matrix(qf, qv, gf, gv, fn), distance_matrix(qf, qv, qf, qv, fn)
    g_g = distance_matrix(gf, gv, gf, gv, fn)
    want = np.block([[q_q, q_g], [q_g.T, g_g]]).T
    rows = feature_rows(bank(qf, qv), bank(gf, gv), use_visibility=True, distance=distance)
    for r0, r1 in ((0, 14), (0, 3), (3, 8), (8, 14)):
        np.testing.assert_allclose(rows(r0, r1), want[r0:r1], rtol=1e-5, atol=1e-5)


def test_blocks_cover_every_query_once():
    rng = np.random.default_rng(6)
    feats = rng.normal(size=(50, 5))
    full = _euclidean(feats, feats)
    blocks = list(k_reciprocal_blocks(lambda a, b: full[a:b], 10, 50, RerankParams(5, 2)))
    assert [(q0, q1) for q0, q1, _ in blocks] == [(0, 10)]
    assert blocks[0][2].shape == (10, 40)


def test_bad_parameters_are_one_line_errors():
    with pytest.raises(UserError, match="k1 >= 1"):
        RerankParams(k1=0)
    with pytest.raises(UserError, match="lambda must lie in"):
        RerankParams(lam=1.5)


def test_matches_the_dense_loop_at_a_thousand_images():
    rng = np.random.default_rng(7)
    feats = _clustered(rng, 220, 5, dim=16)
    rng.shuffle(feats)
    q, g = feats[:60], feats[60:]
    q_g, q_q, g_g = _euclidean(q, g), _euclidean(q, q), _euclidean(g, g)
    want = dense_rerank(q_g, q_q, g_g)
    np.testing.assert_allclose(rerank_matrices(q_g, q_q, g_g), want, atol=1e-6, rtol=0)


def test_a_rerank_row_names_its_parameters_and_the_caption_says_them():
    assert RerankParams().distance_name("paper") == "paper+rerank"
    name = RerankParams(10, 3, 0.5).distance_name("official")
    assert name == "official+rerank(k1=10,k2=3,lambda=0.5)"
    assert rerank.describe(name) == ("official", "k1 10, k2 3, lambda 0.5")
    assert rerank.describe("paper") == ("paper", None)
    text = distance_text("paper+rerank")
    assert "k1 20, k2 6, lambda 0.3" in text and "largest finite distance" in text
