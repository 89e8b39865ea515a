"""CMC and mAP from [Q, G] distances: junk and same-camera filters, skipped queries, exact ties.

Rules (Market-1501 / torchreid ``eval_market1501``):

- Per query, gallery items with the same pid AND the same camid are removed; items with pid < 0
  are junk and removed for every query; pid 0 items are distractors: kept as negatives, never a
  match (a query with pid <= 0 has no match).
- A query with no remaining positive is skipped and counted.
- Ranking: ascending distance, ties broken by gallery index (a stable sort by distance), so
  +inf distances come last, in gallery order. Distances are compared as float32 values
  (-0.0 ties with +0.0); they must not be NaN.
- Rank-k = fraction of the valid queries whose first positive is within the top k; AP is
  torchreid's non-interpolated AP, the mean over positives of the precision at its rank.

No [Q, G] sort is made: for each positive we count the gallery items ranked before it. Items are
put in per-row histogram bins of their float bit pattern (monotone in the value) between the
smallest and the largest finite positive distance; a bin's prefix sum counts every item in lower
bins, and only the few items that share a bin with a positive are compared one by one (by
distance, then gallery index). Positives at +inf are counted with a direct comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from benchmark.evaluation.distance import BLOCK_BUDGET, block_rows

INNER_BINS = 4096  # histogram bins between the smallest and largest finite positive distance
NUM_BINS = INNER_BINS + 3  # plus one bin below every threshold and room above
INF_KEY = 0x7F800000  # bit pattern of float32 +inf; finite keys are below it
_PAIR_BUDGET = 1 << 22  # most candidate x positive comparisons at once


@dataclass(frozen=True)
class GalleryIndex:
    """Gallery identities grouped by pid (CSR), built once per evaluation.

    Attributes:
        pids: [G] int64 gallery pids.
        camids: [G] int64 gallery cameras.
        group_pids: [K] sorted distinct pids >= 0 (0 = distractors, one group).
        order: [G - J] non-junk gallery indices sorted by (pid, index).
        offsets: [K + 1] start of each group in ``order``.
        junk: [J] indices of junk items (pid < 0).
    """

    pids: Tensor
    camids: Tensor
    group_pids: Tensor
    order: Tensor
    offsets: Tensor
    junk: Tensor

    @classmethod
    def build(cls, pids: Tensor, camids: Tensor) -> GalleryIndex:
        """Group gallery items by pid."""
        pids = pids.to("cpu", torch.int64).reshape(-1)
        camids = camids.to("cpu", torch.int64).reshape(-1)
        junk = torch.nonzero(pids < 0).reshape(-1)
        sorted_pids, order = torch.sort(pids, stable=True)
        keep = sorted_pids >= 0
        sorted_pids, order = sorted_pids[keep], order[keep]
        group_pids, counts = torch.unique_consecutive(sorted_pids, return_counts=True)
        offsets = torch.zeros(len(counts) + 1, dtype=torch.int64)
        offsets[1:] = torch.cumsum(counts, 0)
        return cls(pids, camids, group_pids, order, offsets, junk)


@dataclass(frozen=True)
class OwnGroup:
    """Each query's own-identity gallery items, padded to S columns, in gallery order.

    Attributes:
        group: [B] index into ``group_pids`` (valid only where ``found``).
        found: [B] the query pid is > 0 and present in the gallery.
        slots: [B, S] gallery indices (0 in padding).
        positive: [B, S] another camera: a match.
        removed: [B, S] the same camera: removed from this query's ranking.
    """

    group: Tensor
    found: Tensor
    slots: Tensor
    positive: Tensor
    removed: Tensor


def own_group(index: GalleryIndex, query_pids: Tensor, query_camids: Tensor) -> OwnGroup:
    """Look up every query's identity in the gallery."""
    qp, qc = query_pids.to("cpu", torch.int64), query_camids.to("cpu", torch.int64)
    num_k = len(index.group_pids)
    k = torch.searchsorted(index.group_pids, qp).clamp(max=max(num_k - 1, 0))
    found = (qp > 0) & (index.group_pids[k] == qp) if num_k else torch.zeros_like(qp, dtype=bool)
    start = index.offsets[k] if num_k else torch.zeros_like(qp)
    size = torch.where(found, index.offsets[(k + 1).clamp(max=num_k)] - start, 0)
    width = int(size.max()) if len(size) else 0
    cols = torch.arange(width)
    member = cols[None, :] < size[:, None]  # [B, S]
    pos_in_order = (start[:, None] + cols).clamp(max=max(len(index.order) - 1, 0))
    slots = index.order[pos_in_order] if width else torch.zeros(len(qp), 0, dtype=torch.int64)
    slots = slots.masked_fill(~member, 0)
    same_cam = index.camids[slots] == qc[:, None]
    return OwnGroup(k, found, slots, member & ~same_cam, member & same_cam)


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


def _binned_counts(keys: Tensor, t: Tensor, p: Tensor, use: Tensor) -> Tensor:
    """Items ranked before each finite threshold, via per-row histograms of the keys."""
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
    counts = below.gather(1, t_bin).to(torch.int64)  # [B, S]
    lut = torch.zeros(rows, NUM_BINS, dtype=torch.bool)
    lut[torch.arange(rows)[:, None].expand_as(t_bin)[use], t_bin[use]] = True
    cand = torch.nonzero(lut.gather(1, bins))  # [N, 2] items sharing a bin with a threshold
    step = max(1, _PAIR_BUDGET // max(1, t.shape[1]))
    for s in range(0, len(cand), step):
        r, c = cand[s : s + step, 0], cand[s : s + step, 1]
        hit = use[r] & (t_bin[r] == bins[r, c][:, None])
        hit &= _before(keys[r, c][:, None], c[:, None], t[r], p[r])
        counts.index_add_(0, r, hit.to(torch.int64))
    return counts


def _direct_counts(keys: Tensor, t: Tensor, p: Tensor, use: Tensor, counts: Tensor) -> None:
    """Items ranked before each non-finite threshold, by direct comparison (in place)."""
    rows, cols = torch.nonzero(use, as_tuple=True)
    num_g = keys.shape[1]
    col_idx = torch.arange(num_g)
    step = max(1, _PAIR_BUDGET // max(1, num_g))
    for s in range(0, len(rows), step):
        r, c = rows[s : s + step], cols[s : s + step]
        tk, pk = t[r, c][:, None], p[r, c][:, None]
        counts[r, c] = _before(keys[r], col_idx[None, :], tk, pk).sum(1)


@dataclass(frozen=True)
class BlockRanks:
    """Per-query multi-shot results of one block.

    Attributes:
        first_rank: [B] 0-based rank of the first match among kept items; -1 = skipped query.
        ap: [B] float64 average precision (0 for skipped queries).
    """

    first_rank: Tensor
    ap: Tensor


def rank_block(
    dist: Tensor, query_pids: Tensor, query_camids: Tensor, index: GalleryIndex
) -> BlockRanks:
    """First-match rank and AP of each query row of ``dist`` [B, G] (exact, tie-aware)."""
    dist = dist.to("cpu", torch.float32)  # ranking runs on the CPU whatever the distance's device
    keys = ordered_keys(dist)  # [B, G]
    grp = own_group(index, query_pids, query_camids)
    rows, width = grp.slots.shape
    if width == 0:
        return BlockRanks(torch.full((rows,), -1), torch.zeros(rows, dtype=torch.float64))
    big = torch.iinfo(keys.dtype).max
    slot_keys = keys.gather(1, grp.slots)  # [B, S]
    t, perm = torch.sort(slot_keys.masked_fill(~grp.positive, big), dim=1, stable=True)
    p = grp.slots.gather(1, perm)  # positives by (distance, gallery index), padding last
    num_pos = grp.positive.sum(1)
    valid_t = torch.arange(width)[None, :] < num_pos[:, None]
    finite = valid_t & (t < INF_KEY)
    before = _binned_counts(keys, t, p, finite)  # every gallery item ranked before
    _direct_counts(keys, t, p, valid_t & ~finite, before)
    # keep only kept items: minus same-camera matches and junk ranked before
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
            jk, ji = junk_keys[:, None, j0 : j0 + 256], index.junk[None, None, j0 : j0 + 256]
            before -= _before(jk, ji, t[:, :, None], p[:, :, None]).sum(2)
    # AP: precision (i + 1) / (rank_i + 1) at the i-th positive, averaged over positives
    prec = (torch.arange(1, width + 1, dtype=torch.float64) / (before + 1)).masked_fill(~valid_t, 0)
    ap = prec.sum(1) / num_pos.clamp(min=1)
    first = torch.where(num_pos > 0, before[:, 0], -1)
    return BlockRanks(first.to(torch.int64), ap)


@dataclass(frozen=True)
class RankMetrics:
    """CMC curve and mAP over the valid queries.

    Attributes:
        cmc: [max_rank] float64, cmc[k - 1] = Rank-k (NaN if no query is valid).
        mAP: mean AP over valid queries (NaN if none).
        queries: valid (counted) queries.
        skipped: queries without any match in the gallery.
    """

    cmc: np.ndarray
    mAP: float
    queries: int
    skipped: int


def summarise(first_rank: Tensor, ap: Tensor, max_rank: int = 50) -> RankMetrics:
    """Rank-k curve and mAP from per-query first-match ranks (-1 = skipped) and APs."""
    valid = first_rank >= 0
    n = int(valid.sum())
    if n == 0:
        return RankMetrics(np.full(max_rank, np.nan), float("nan"), 0, len(first_rank))
    hist = torch.bincount(first_rank[valid].clamp(max=max_rank), minlength=max_rank + 1)
    cmc = (torch.cumsum(hist[:max_rank], 0).to(torch.float64) / n).numpy()
    return RankMetrics(cmc, float(ap[valid].mean()), n, len(first_rank) - n)


def cmc_map(
    dist: Tensor,
    query_pids: Tensor,
    query_camids: Tensor,
    gallery_pids: Tensor,
    gallery_camids: Tensor,
    *,
    max_rank: int = 50,
    budget: int = BLOCK_BUDGET,
) -> RankMetrics:
    """Multi-gallery-shot CMC and mAP of a full [Q, G] distance matrix.

    Args:
        dist: [Q, G] distances (compared as float32).
        query_pids: [Q] query identities.
        query_camids: [Q] query cameras.
        gallery_pids: [G] gallery identities (0 distractor, < 0 junk).
        gallery_camids: [G] gallery cameras.
        max_rank: length of the CMC curve.
        budget: most distance values processed per row block.

    Returns:
        RankMetrics.
    """
    index = GalleryIndex.build(gallery_pids, gallery_camids)
    rows = block_rows(dist.shape[1], budget)
    firsts, aps = [], []
    for r0 in range(0, dist.shape[0], rows):
        res = rank_block(
            dist[r0 : r0 + rows], query_pids[r0 : r0 + rows], query_camids[r0 : r0 + rows], index
        )
        firsts.append(res.first_rank)
        aps.append(res.ap)
    return summarise(torch.cat(firsts), torch.cat(aps), max_rank)
