"""CMC, mAP and the official mAP_zzd from [Q, G] distances: pessimistic ties, per-query results.

Rules (torchreid ``eval_market1501`` for what is kept, see ``identities`` for the pid rules):

- Per query, gallery items with the same pid AND the same camid are removed (and, under the
  Market-1501 rule, junk, pid < 0, for every query). A query with no remaining match is skipped
  and counted.
- Ranking: ascending distance; ties (equal distances, +inf included, i.e. pairs sharing no
  visible part) are broken pessimistically: a true match ranks after every non-match at the same
  distance. Metrics therefore never depend on the gallery's order (the order among the query's
  own items at one distance changes no metric). Distances are compared as float32 values
  (-0.0 ties with +0.0); they must not be NaN.
- Rank-k = fraction of the valid queries whose first match is within the top k; AP is
  torchreid's non-interpolated AP, the mean over matches of the precision at its rank; AP_zzd is
  the official HPNet code's trapezoid AP (``package/eval/metric.py`` ``ap_zzd``): the mean over
  matches of (precision before + precision at the match) / 2, the precision before a match at
  rank 1 counting as 1.
- INP (Ye et al., TPAMI 2021, "Deep Learning for Person Re-identification: A Survey and
  Outlook", eq. 8): 1 - NP = (number of matches) / (rank of the hardest match, 1-based), the
  share of the ranked list a user must read to find every match; mINP is its mean over the valid
  queries. The hardest match's rank follows the same pessimistic tie rule.
- ``first_match_tied``: the first match shares its distance with at least one kept non-match,
  so the tie rule decided its rank.

No [Q, G] sort is made: for each match we count the kept gallery items ranked before it. Items
are put in per-row histogram bins of their float bit pattern (monotone in the value) between the
smallest and the largest finite match distance; a bin's prefix sum counts every item in lower
bins, and only the few items that share a bin with a match are compared one by one (by
distance, then non-match before match, then gallery index). Matches at +inf are counted with a
direct comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from benchmark.evaluation.distance import BLOCK_BUDGET, block_rows
from benchmark.evaluation.identities import GalleryIndex, own_group, own_mask

INNER_BINS = 4096  # histogram bins between the smallest and largest finite match distance
NUM_BINS = INNER_BINS + 3  # plus one bin below every threshold and room above
INF_KEY = 0x7F800000  # bit pattern of float32 +inf; finite keys are below it
_PAIR_BUDGET = 1 << 22  # most candidate x match comparisons at once


def ordered_keys(dist: Tensor) -> Tensor:
    """Integer keys that sort like the float32 distances (equal floats, equal keys)."""
    bits = dist.view(torch.int32)
    if len(bits) == 0 or bool(bits.min() >= 0):
        return bits  # no sign bit set: bit patterns of non-negative floats sort like values
    canon = torch.where(dist == 0, torch.zeros((), dtype=dist.dtype), dist)  # -0.0 -> +0.0
    wide = canon.view(torch.int32).to(torch.int64)
    return torch.where(wide < 0, wide ^ 0x7FFFFFFF, wide)  # negative floats in reverse order


def _before(keys: Tensor, idx: Tensor, t: Tensor, p: Tensor) -> Tensor:
    """Whether items (keys, idx) rank before thresholds (t, p), broadcast."""
    return (keys < t) | ((keys == t) & (idx < p))


def _binned_counts(
    keys: Tensor, t: Tensor, p: Tensor, use: Tensor, qp: Tensor, index: GalleryIndex
) -> Tensor:
    """Items ranked before each finite match (t, p), via per-row histograms of the keys."""
    rows, num_g = keys.shape
    has = use.any(1, keepdim=True)
    big = torch.iinfo(keys.dtype).max
    base = torch.where(has, t.masked_fill(~use, big).amin(1, keepdim=True), 0).to(torch.float32)
    top = torch.where(has, t.masked_fill(~use, -big).amax(1, keepdim=True), 0).to(torch.float32)
    scale = INNER_BINS / (top - base).clamp(min=1.0)  # keys are integers: span >= 1
    # bin = clamp((key - base) * scale + 1): IEEE-rounded steps keep it monotone in the key, so
    # an item in a lower bin than a threshold has a smaller key; bin 0 = below every threshold
    y = keys.to(torch.float32).sub_(base).mul_(scale).add_(1.0).clamp_(0.0, NUM_BINS - 1)
    bins = y.to(torch.int64)  # [B, G]
    del y
    ones = torch.ones((), dtype=torch.float32 if num_g < 1 << 24 else torch.float64)
    hist = torch.zeros(rows, NUM_BINS, dtype=ones.dtype).scatter_add_(
        1, bins, ones.expand(rows, num_g)
    )
    below = hist.cumsum(1).sub_(hist)  # items in strictly lower bins: all rank before
    t_bin = bins.gather(1, p)  # thresholds are gallery items: their own bins, no recomputation
    counts = below.gather(1, t_bin).to(torch.int64).masked_fill_(~use, 0)  # [B, S]
    lut = torch.zeros(rows, NUM_BINS, dtype=torch.bool)
    lut[torch.arange(rows)[:, None].expand_as(t_bin)[use], t_bin[use]] = True
    cand = torch.nonzero(lut.gather(1, bins))  # [N, 2] items sharing a bin with a threshold
    step = max(1, _PAIR_BUDGET // max(1, t.shape[1]))
    for s in range(0, len(cand), step):
        r, c = cand[s : s + step, 0], cand[s : s + step, 1]
        hit = use[r] & (t_bin[r] == bins[r, c][:, None])
        tie = c + num_g * own_mask(index, qp, r, c).to(torch.int64)  # non-matches first
        hit &= _before(keys[r, c][:, None], tie[:, None], t[r], p[r] + num_g)
        counts.index_add_(0, r, hit.to(torch.int64))
    return counts


def _direct_counts(
    keys: Tensor, t: Tensor, p: Tensor, use: Tensor, qp: Tensor, index: GalleryIndex
) -> Tensor:
    """Items ranked before each non-finite match, by direct comparison."""
    counts = torch.zeros(t.shape, dtype=torch.int64)
    rows, cols = torch.nonzero(use, as_tuple=True)
    num_g = keys.shape[1]
    col_idx = torch.arange(num_g)
    step = max(1, _PAIR_BUDGET // max(1, num_g))
    for s in range(0, len(rows), step):
        r, c = rows[s : s + step], cols[s : s + step]
        tk, pk = t[r, c][:, None], p[r, c][:, None] + num_g
        tie = col_idx[None, :] + num_g * own_mask(index, qp, r[:, None], col_idx[None, :]).long()
        counts[r, c] = _before(keys[r], tie, tk, pk).sum(1)
    return counts


@dataclass(frozen=True)
class PerQuery:
    """Per-query multi-gallery-shot results, in query order.

    Attributes:
        first_rank: [Q] int64 0-based rank of the first match among the kept items under the
            pessimistic tie rule; -1 = skipped query (no match in the gallery).
        ap: [Q] float64 torchreid AP (0 for skipped queries).
        ap_zzd: [Q] float64 official trapezoid AP (0 for skipped queries).
        valid: [Q] bool, the query has a match (is counted).
        first_tied: [Q] bool, the first match shares its distance with a kept non-match.
        inp: [Q] float64 inverse negative penalty (0 for skipped queries).
    """

    first_rank: Tensor
    ap: Tensor
    ap_zzd: Tensor
    valid: Tensor
    first_tied: Tensor
    inp: Tensor

    @classmethod
    def cat(cls, parts: list[PerQuery]) -> PerQuery:
        """Concatenate blocks of consecutive queries."""
        return cls(*(torch.cat([getattr(b, f) for b in parts]) for f in cls.__dataclass_fields__))


def _tied_first(keys: Tensor, t0: Tensor, grp, index: GalleryIndex) -> Tensor:
    """[B] number of kept non-matches at the first match's distance ``t0`` [B, 1]."""
    equal = (keys == t0).sum(1)
    own = (grp.positive | grp.removed) & (keys.gather(1, grp.slots) == t0)
    equal -= own.sum(1)
    if len(index.junk):
        equal -= (keys[:, index.junk] == t0).sum(1)
    return equal


def _inverse_negative_penalty(before: Tensor, num_pos: Tensor) -> Tensor:
    """INP = matches / (1-based rank of the hardest match) from the sorted 0-based ranks
    ``before`` [B, S] of the matches (0 where a query has none)."""
    last = (num_pos - 1).clamp(min=0)[:, None]  # the hardest match's slot
    hardest = before.gather(1, last)[:, 0].to(torch.float64) + 1
    return torch.where(num_pos > 0, num_pos.to(torch.float64) / hardest, 0.0)


def _average_precisions(before: Tensor, valid_t: Tensor, num_pos: Tensor) -> tuple[Tensor, Tensor]:
    """torchreid AP and the official trapezoid AP from the 0-based ranks of the matches [B, S]."""
    i = torch.arange(before.shape[1], dtype=torch.float64)[None, :]  # i-th match, 0-based
    r = before.to(torch.float64)
    prec = (i + 1) / (r + 1)  # precision at the match
    old = torch.where(r > 0, i / r.clamp(min=1), 1.0)  # precision just before it (ap_zzd)
    den = num_pos.clamp(min=1).to(torch.float64)
    ap = prec.masked_fill(~valid_t, 0).sum(1) / den
    ap_zzd = ((old + prec) / 2).masked_fill(~valid_t, 0).sum(1) / den
    return ap, ap_zzd


def rank_block(
    dist: Tensor, query_pids: Tensor, query_camids: Tensor, index: GalleryIndex
) -> PerQuery:
    """Per-query results of each row of ``dist`` [B, G] (exact, pessimistic ties)."""
    dist = dist.to("cpu", torch.float32)  # ranking runs on the CPU whatever the distance's device
    keys = ordered_keys(dist)  # [B, G]
    qp = query_pids.to("cpu", torch.int64)
    grp = own_group(index, qp, query_camids)
    rows, width = grp.slots.shape
    num_pos = grp.positive.sum(1)
    if width == 0 or not bool((num_pos > 0).any()):
        zero = torch.zeros(rows, dtype=torch.float64)
        none = torch.zeros(rows, dtype=torch.bool)
        return PerQuery(
            torch.full((rows,), -1), zero, zero.clone(), none, none.clone(), zero.clone()
        )
    big = torch.iinfo(keys.dtype).max
    slot_keys = keys.gather(1, grp.slots)  # [B, S]
    t, perm = torch.sort(slot_keys.masked_fill(~grp.positive, big), dim=1, stable=True)
    p = grp.slots.gather(1, perm)  # matches by (distance, gallery index), padding last
    valid_t = torch.arange(width)[None, :] < num_pos[:, None]
    finite = valid_t & (t < INF_KEY)
    before = _binned_counts(keys, t, p, finite, qp, index)  # every gallery item ranked before
    before += _direct_counts(keys, t, p, valid_t & ~finite, qp, index)
    # keep only kept items: minus same-camera own items and junk ranked before (own items
    # compare by gallery index at a tie; junk is a non-match, so it ranks before at a tie)
    step = max(1, _PAIR_BUDGET // (width * width))
    for r0 in range(0, rows, step):
        sl = slice(r0, r0 + step)
        rem = _before(
            slot_keys[sl, None, :], grp.slots[sl, None, :], t[sl, :, None], p[sl, :, None]
        )
        before[sl] -= (rem & grp.removed[sl, None, :]).sum(2)
    if len(index.junk):
        junk_keys = keys[:, index.junk]  # [B, J]
        for j0 in range(0, len(index.junk), 256):
            before -= (junk_keys[:, None, j0 : j0 + 256] <= t[:, :, None]).sum(2)
    ap, ap_zzd = _average_precisions(before, valid_t, num_pos)
    valid = num_pos > 0
    tied = valid & (_tied_first(keys, t[:, :1], grp, index) > 0)
    inp = _inverse_negative_penalty(before, num_pos)
    return PerQuery(torch.where(valid, before[:, 0], -1), ap, ap_zzd, valid, tied, inp)


@dataclass(frozen=True)
class RankMetrics:
    """CMC curve, mAP and mAP_zzd over the valid queries.

    Attributes:
        cmc: [max_rank] float64, cmc[k - 1] = Rank-k (NaN if no query is valid).
        mAP: mean torchreid AP over valid queries (NaN if none).
        mAP_zzd: mean official trapezoid AP over valid queries (NaN if none).
        queries: valid (counted) queries.
        skipped: queries without any match in the gallery.
        first_match_tied: valid queries whose first match was decided by a tie.
        mINP: mean inverse negative penalty over valid queries (NaN if none).
    """

    cmc: np.ndarray
    mAP: float
    mAP_zzd: float
    queries: int
    skipped: int
    first_match_tied: int
    mINP: float


def cmc_curve(first_rank: Tensor, max_rank: int = 50) -> np.ndarray:
    """[max_rank] Rank-k curve from 0-based first-match ranks (-1 = skipped; NaN if none valid)."""
    valid = first_rank >= 0
    n = int(valid.sum())
    if n == 0:
        return np.full(max_rank, np.nan)
    hist = torch.bincount(first_rank[valid].clamp(max=max_rank), minlength=max_rank + 1)
    return (torch.cumsum(hist[:max_rank], 0).to(torch.float64) / n).numpy()


def summarise(per: PerQuery, max_rank: int = 50) -> RankMetrics:
    """Rank-k curve, mAP, mAP_zzd and mINP from per-query results."""
    n = int(per.valid.sum())
    nan = float("nan")
    m_ap = float(per.ap[per.valid].mean()) if n else nan
    m_ap_zzd = float(per.ap_zzd[per.valid].mean()) if n else nan
    m_inp = float(per.inp[per.valid].mean()) if n else nan
    cmc = cmc_curve(per.first_rank, max_rank)
    tied = int(per.first_tied.sum())
    return RankMetrics(cmc, m_ap, m_ap_zzd, n, len(per.valid) - n, tied, m_inp)


def rank_queries(
    dist: Tensor,
    query_pids: Tensor,
    query_camids: Tensor,
    gallery_pids: Tensor,
    gallery_camids: Tensor,
    *,
    market_ids: bool = False,
    budget: int = BLOCK_BUDGET,
) -> PerQuery:
    """Per-query first-match rank, AP, AP_zzd, validity and tie flag of a [Q, G] matrix.

    Args:
        dist: [Q, G] distances (compared as float32).
        query_pids: [Q] query identities.
        query_camids: [Q] query cameras.
        gallery_pids: [G] gallery identities.
        gallery_camids: [G] gallery cameras.
        market_ids: apply Market-1501's codes (pid 0 distractor, pid < 0 junk); else every pid
            is an ordinary identity.
        budget: most distance values processed per row block.

    Returns:
        PerQuery, in query order.
    """
    index = GalleryIndex.build(gallery_pids, gallery_camids, market_ids)
    rows = block_rows(dist.shape[1], budget)
    blocks = [
        rank_block(
            dist[r0 : r0 + rows], query_pids[r0 : r0 + rows], query_camids[r0 : r0 + rows], index
        )
        for r0 in range(0, dist.shape[0], rows)
    ]
    return PerQuery.cat(blocks)


def cmc_map(
    dist: Tensor,
    query_pids: Tensor,
    query_camids: Tensor,
    gallery_pids: Tensor,
    gallery_camids: Tensor,
    *,
    max_rank: int = 50,
    market_ids: bool = False,
    budget: int = BLOCK_BUDGET,
) -> RankMetrics:
    """Multi-gallery-shot CMC, mAP and mAP_zzd of a full [Q, G] distance matrix.

    Arguments as ``rank_queries``; ``max_rank`` is the length of the CMC curve.
    """
    per = rank_queries(
        dist,
        query_pids,
        query_camids,
        gallery_pids,
        gallery_camids,
        market_ids=market_ids,
        budget=budget,
    )
    return summarise(per, max_rank)
