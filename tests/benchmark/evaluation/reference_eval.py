"""Slow, obvious reference loops for the evaluation tests (per pair, per query)."""

from __future__ import annotations

import math

import numpy as np


def paper_distance(f1, v1, f2, v2) -> float:
    """Eq. (1) for one pair: [P, D] features, [P] visibility."""
    num = den = 0.0
    for j in range(f1.shape[0]):
        a, b = np.asarray(f1[j], np.float64), np.asarray(f2[j], np.float64)
        a = a / np.linalg.norm(a) if a.any() else a  # a zero feature stays zero
        b = b / np.linalg.norm(b) if b.any() else b
        w = float(v1[j]) * float(v2[j])
        num += w * float(np.linalg.norm(a - b))
        den += w
    return num / den if den > 0 else math.inf


def official_distance(f1, v1, f2, v2) -> float:
    """The official code's qvis + qgvis cosine distance for one pair."""
    eps = float(np.finfo(np.float32).eps)
    q_sum = qg_sum = shared = 0.0
    for j in range(f1.shape[0]):
        a, b = np.asarray(f1[j], np.float64), np.asarray(f2[j], np.float64)
        c = 1.0 - float((a / (np.linalg.norm(a) + eps)) @ (b / (np.linalg.norm(b) + eps)))
        q_sum += float(v1[j]) * c
        qg_sum += float(v1[j]) * float(v2[j]) * c
        shared += float(v1[j]) * float(v2[j])
    qg = 10000.0 if shared == 0 else qg_sum / (shared + 1e-8)
    return q_sum / (float(np.sum(v1)) + 1e-8) + qg


def distance_matrix(qf, qv, gf, gv, fn) -> np.ndarray:
    return np.array(
        [[fn(qf[i], qv[i], gf[k], gv[k]) for k in range(len(gf))] for i in range(len(qf))]
    )


def query_ranking(dist_row, q_pid, q_cam, g_pids, g_cams, market_ids=False):
    """torchreid's per-query steps with a pessimistic sort: the 0/1 match list of kept items.

    Order: distance, then the query's own identity after everything else (a match after every
    non-match at a tie), then gallery index.
    """
    d = np.asarray(dist_row, np.float32).astype(np.float64)
    d = np.where(d == 0, 0.0, d)  # -0.0 ties with +0.0
    can_match = q_pid > 0 if market_ids else True
    own = (g_pids == q_pid) & can_match
    order = np.lexsort((np.arange(len(d)), own, d))
    junk = (g_pids[order] < 0) if market_ids else np.zeros(len(order), bool)
    remove = ((g_pids[order] == q_pid) & (g_cams[order] == q_cam)) | junk
    matches = own[order]
    return matches[~remove].astype(np.int64)


def ap_zzd(y_true) -> float:
    """A direct port of the official HPNet ``ap_zzd`` (package/eval/metric.py)."""
    ngood = y_true.sum()
    d_recall = 1.0 / ngood
    rows_good = np.argwhere(y_true).flatten()
    ap = 0
    for i in range(ngood):
        precision = (i + 1) * 1.0 / (rows_good[i] + 1)
        if rows_good[i] != 0:
            old_precision = i * 1.0 / rows_good[i]
        else:
            old_precision = 1.0
        ap = ap + d_recall * (old_precision + precision) / 2
    return ap


def per_query(dist, q_pids, q_cams, g_pids, g_cams, market_ids=False):
    """(first rank or -1, AP, AP_zzd, first match tied) per query, torchreid's loop."""
    out = []
    for i in range(dist.shape[0]):
        raw = query_ranking(dist[i], q_pids[i], q_cams[i], g_pids, g_cams, market_ids)
        if not raw.any():
            out.append((-1, 0.0, 0.0, False))
            continue
        first = int(np.argmax(raw))
        tmp = raw.cumsum() / (np.arange(len(raw)) + 1.0) * raw
        d = np.asarray(dist[i], np.float32)
        can_match = q_pids[i] > 0 if market_ids else True
        own = (g_pids == q_pids[i]) & can_match
        kept = ~(((g_pids == q_pids[i]) & (g_cams == q_cams[i])) | (market_ids & (g_pids < 0)))
        d_first = np.sort(d[own & kept])[0]
        tied = bool(np.any(d[kept & ~own] == d_first))
        out.append((first, tmp.sum() / raw.sum(), ap_zzd(raw), tied))
    return out


def cmc_map(dist, q_pids, q_cams, g_pids, g_cams, max_rank=50, market_ids=False):
    """torchreid eval_market1501 (pessimistic ties): (cmc [max_rank], mAP, valid, skipped)."""
    all_cmc, all_ap, skipped = [], [], 0
    for i in range(dist.shape[0]):
        raw = query_ranking(dist[i], q_pids[i], q_cams[i], g_pids, g_cams, market_ids)
        if not raw.any():
            skipped += 1
            continue
        cmc = np.minimum(raw.cumsum(), 1)
        cmc = np.concatenate([cmc, np.ones(max(0, max_rank - len(cmc)), np.int64)])
        all_cmc.append(cmc[:max_rank])
        tmp = raw.cumsum() / (np.arange(len(raw)) + 1.0) * raw
        all_ap.append(tmp.sum() / raw.sum())
    if not all_cmc:
        return np.full(max_rank, np.nan), math.nan, 0, skipped
    return np.mean(all_cmc, axis=0), float(np.mean(all_ap)), len(all_cmc), skipped


def minp(dist, q_pids, q_cams, g_pids, g_cams, market_ids=False) -> tuple[float, int]:
    """mINP (Ye et al., TPAMI 2021) as the survey's code writes it: per query, the cumulative
    match count at the hardest match over that match's 1-based position. (mINP, valid)."""
    inps = []
    for i in range(dist.shape[0]):
        raw = query_ranking(dist[i], q_pids[i], q_cams[i], g_pids, g_cams, market_ids)
        if not raw.any():
            continue
        hardest = int(np.where(raw == 1)[0].max())
        inps.append(raw.cumsum()[hardest] / (hardest + 1.0))
    return (float(np.mean(inps)) if inps else math.nan), len(inps)


def dense_rerank(q_g, q_q, g_g, k1=20, k2=6, lam=0.3) -> np.ndarray:
    """k-reciprocal re-ranking (Zhong et al., CVPR 2017) the straightforward way: dense N x N
    arrays and loops, in the distance-matrix form of the authors' code."""
    return dense_rerank_full(np.block([[q_q, q_g], [q_g.T, g_g]]), q_g.shape[0], k1, k2, lam)


def dense_rerank_full(full, num_q, k1=20, k2=6, lam=0.3) -> np.ndarray:
    """``dense_rerank`` from the whole (Q+G) x (Q+G) matrix [[q_q, q_g], [q_g^T, g_g]]."""
    orig = np.power(np.asarray(full, np.float32), 2).astype(np.float32)
    orig = (orig / orig.max(axis=0)).T  # each column by its maximum, then transposed
    n = orig.shape[0]
    rank = np.argsort(orig, axis=1, kind="stable")

    def reciprocal(i, k):
        forward = rank[i, : k + 1]
        return np.array([j for j in forward if i in rank[j, : k + 1]], dtype=int)

    v = np.zeros((n, n), dtype=np.float32)
    half = int(np.around(k1 / 2.0))
    for i in range(n):
        own = reciprocal(i, k1)
        expansion = own
        for c in own:
            cand = reciprocal(c, half)
            if len(np.intersect1d(cand, own)) > 2.0 / 3.0 * len(cand):
                expansion = np.append(expansion, cand)
        expansion = np.unique(expansion)
        weight = np.exp(-orig[i, expansion])
        v[i, expansion] = weight / weight.sum()
    if k2 != 1:
        v = np.stack([v[rank[i, :k2]].mean(axis=0) for i in range(n)]).astype(np.float32)
    jaccard = np.zeros((num_q, n), dtype=np.float32)
    for i in range(num_q):
        shared = np.zeros(n, dtype=np.float64)
        for j in range(n):
            shared[j] = np.minimum(v[i], v[j]).sum()
        jaccard[i] = 1.0 - shared / (2.0 - shared)
    final = jaccard * (1 - lam) + orig[:num_q] * lam
    return final[:, num_q:]
