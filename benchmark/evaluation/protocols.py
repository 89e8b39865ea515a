"""Protocols: multi-gallery-shot, seeded single-gallery-shot trials, "test w/o vis"."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from benchmark.errors import UserError
from benchmark.evaluation.checks import BLOCK_BUDGET, check_finite, check_pair
from benchmark.evaluation.distance import CHUNK_SIZE, DISTANCES, iter_distance_blocks
from benchmark.evaluation.features import FeatureBank
from benchmark.evaluation.identities import GalleryIndex, own_group
from benchmark.evaluation.ranking import PerQuery, RankMetrics, cmc_curve, rank_block, summarise
from benchmark.evaluation.rerank import RerankParams, rerank_blocks
from benchmark.registry import Registry

log = logging.getLogger(__name__)

MODES: Registry[str] = Registry("evaluation mode")
MODES.register("multi", "multi-gallery-shot: the whole gallery")
MODES.register("single", "single-gallery-shot: one random gallery image per identity, per query")

RANKS = (1, 3, 5, 10)


@dataclass(frozen=True)
class EvalResult:
    """Rank-k, mAP and mAP_zzd of one protocol (fractions in [0, 1]) and its tie counts.

    In single-gallery-shot mode rank-k is the mean over trials and ``rank*_std`` the population
    standard deviation over trials (numpy's default, ddof=0); they are None in multi mode. mAP,
    mAP_zzd and the counts are always computed on the full gallery.

    Attributes:
        rank1: Rank-1.
        rank3: Rank-3.
        rank5: Rank-5.
        rank10: Rank-10.
        mAP: mean average precision (torchreid's non-interpolated AP).
        mAP_zzd: mean of the official HPNet code's trapezoid AP (``ap_zzd``).
        mINP: mean inverse negative penalty (Ye et al., TPAMI 2021), multi-gallery-shot like mAP.
        queries: valid (counted) queries.
        skipped: queries without a match in the gallery.
        queries_no_visible: queries with no visible part (0 when visibility is ignored); their
            distances are all +inf (paper) or all equal (official), so ties decide their ranks.
        first_match_tied: valid queries whose first match shares its distance with a non-match.
        rank1_std: std of Rank-1 over single-shot trials.
        rank3_std: std of Rank-3 over single-shot trials.
        rank5_std: std of Rank-5 over single-shot trials.
        rank10_std: std of Rank-10 over single-shot trials.
        cmc: [max_rank] CMC curve (mean over trials in single mode), cmc[k - 1] = Rank-k.
        per_query: multi-gallery-shot per-query results (first-match rank, AP, AP_zzd, valid
            mask, tie flag), in query order.
    """

    rank1: float
    rank3: float
    rank5: float
    rank10: float
    mAP: float
    mAP_zzd: float
    queries: int
    skipped: int
    queries_no_visible: int
    first_match_tied: int
    mINP: float = float("nan")
    rank1_std: float | None = None
    rank3_std: float | None = None
    rank5_std: float | None = None
    rank10_std: float | None = None
    cmc: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False, repr=False)
    per_query: PerQuery | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready metrics; the ``*_std`` keys only in single-gallery-shot mode."""
        out: dict[str, float | int] = {f"rank{k}": getattr(self, f"rank{k}") for k in RANKS}
        out.update(mAP=self.mAP, mAP_zzd=self.mAP_zzd, mINP=self.mINP)
        out.update(queries=self.queries, skipped=self.skipped)
        out.update(queries_no_visible=self.queries_no_visible)
        out.update(first_match_tied=self.first_match_tied)
        if self.rank1_std is not None:
            out.update({f"rank{k}_std": getattr(self, f"rank{k}_std") for k in RANKS})
        return out


def single_shot_first_rank(
    dist: Tensor, query_pids: Tensor, query_camids: Tensor, index: GalleryIndex, u: Tensor
) -> Tensor:
    """First-match rank of one single-gallery-shot trial, per query row.

    For each query and each gallery identity (pid >= 0; all distractors, pid 0, form one group as
    in open-reid/torchreid and the HPNet code) one image is kept: image ``floor(u * n)`` of the
    identity's n images in gallery order; for the query's own identity, of its images from other
    cameras. Ties are broken pessimistically, as in multi-shot: an identity's image at the
    match's distance ranks before the match.

    Args:
        dist: [B, G] distances.
        query_pids: [B] query identities.
        query_camids: [B] query cameras.
        index: the gallery's identity groups.
        u: [B, K] uniform draws in [0, 1), one per query and identity group.

    Returns:
        [B] int64 0-based rank of the kept match; -1 where the query has no match.
    """
    dist = dist.to("cpu", torch.float32)
    sizes = index.offsets[1:] - index.offsets[:-1]  # [K]
    pick = (u * sizes[None, :]).to(torch.int64).minimum(sizes[None, :] - 1)
    chosen = index.order[index.offsets[:-1][None, :] + pick]  # [B, K] one image per identity
    grp = own_group(index, query_pids, query_camids)
    rows = torch.arange(dist.shape[0])
    num_pos = grp.positive.sum(1)
    k = grp.group
    if k.numel() and len(sizes):
        j = (u[rows, k] * num_pos).to(torch.int64).minimum((num_pos - 1).clamp(min=0))
    else:
        j = torch.zeros_like(num_pos)
    nth = torch.cumsum(grp.positive.to(torch.int64), 1) - 1
    sel = grp.positive & (nth == j[:, None])
    if sel.shape[1] == 0:
        return torch.full((dist.shape[0],), -1, dtype=torch.int64)
    match = grp.slots.gather(1, sel.to(torch.int8).argmax(1, keepdim=True))  # [B, 1]
    d, dm = dist.gather(1, chosen), dist.gather(1, match)
    beats = d <= dm  # [B, K] pessimistic: a non-match at the same distance ranks first
    if len(sizes):
        beats[rows, k] = False  # the query's own identity is represented by the match
    return torch.where(num_pos > 0, beats.sum(1), -1)


def _check_args(mode: str, distance: str, trials: int, max_rank: int) -> None:
    MODES.get(mode)
    DISTANCES.get(distance)
    if trials < 1:
        raise UserError(f"trials must be at least 1, got {trials}")
    if max_rank < 10:
        raise UserError(f"max_rank must be at least 10 (Rank-10 is reported), got {max_rank}")


def _result(
    multi: RankMetrics, curves: list[np.ndarray] | None, per: PerQuery, no_visible: int
) -> EvalResult:
    if curves is None:
        cmc, std = multi.cmc, None
    else:
        stack = np.stack(curves)  # [T, max_rank]
        cmc, std = stack.mean(0), stack.std(0)  # population std over trials (ddof=0)
    ranks = {f"rank{k}": float(cmc[k - 1]) for k in RANKS}
    std1, std3, std5, std10 = (None if std is None else float(std[k - 1]) for k in RANKS)
    return EvalResult(
        **ranks,
        mAP=multi.mAP,
        mAP_zzd=multi.mAP_zzd,
        queries=multi.queries,
        skipped=multi.skipped,
        queries_no_visible=no_visible,
        first_match_tied=multi.first_match_tied,
        mINP=multi.mINP,
        rank1_std=std1,
        rank3_std=std3,
        rank5_std=std5,
        rank10_std=std10,
        cmc=cmc,
        per_query=per,
    )


def evaluate(
    query: FeatureBank,
    gallery: FeatureBank,
    *,
    mode: str = "multi",
    trials: int = 10,
    seed: int = 0,
    use_visibility: bool = True,
    distance: str = "paper",
    chunk_size: int = CHUNK_SIZE,
    max_rank: int = 50,
    market_ids: bool = False,
    budget: int = BLOCK_BUDGET,
    rerank: RerankParams | None = None,
) -> EvalResult:
    """Score query against gallery under one protocol.

    Args:
        query: query bank.
        gallery: gallery bank.
        mode: "multi" (whole gallery) or "single" (one image per identity, per query and trial).
        trials: single-shot trials; trial t draws from ``np.random.default_rng(seed + t)``
            (the official HPNet code used 100; default 10).
        seed: base seed of the trials.
        use_visibility: False forces every visibility to 1 ("test w/o vis").
        distance: "paper" (eq. 1) or "official" (the authors' code) (evaluation.distance).
        chunk_size: gallery columns per matrix product.
        max_rank: length of the CMC curve (at least 10).
        market_ids: Market-1501's pid codes (0 distractor, < 0 junk); else every pid is an
            ordinary identity (see ``identities``).
        budget: most distance values held at once (query rows per block = budget // G).
        rerank: rank by k-reciprocal re-ranked distances (its own protocol, never the
            default; ``benchmark.evaluation.rerank``) instead of the plain ones.

    Returns:
        EvalResult; metrics are NaN (with a warning) when no query has a match.
    """
    _check_args(mode, distance, trials, max_rank)
    check_pair(query, gallery)
    check_finite(query, "query", budget)
    check_finite(gallery, "gallery", budget)
    index = GalleryIndex.build(gallery.pids, gallery.camids, market_ids)
    rngs = [np.random.default_rng(seed + t) for t in range(trials)] if mode == "single" else []
    blocks: list[PerQuery] = []
    single: list[list[Tensor]] = [[] for _ in rngs]
    if rerank is None:
        distances = iter_distance_blocks(
            query,
            gallery,
            use_visibility=use_visibility,
            distance=distance,
            chunk_size=chunk_size,
            budget=budget,
        )
    else:
        distances = rerank_blocks(
            query, gallery, rerank, use_visibility=use_visibility, distance=distance
        )
    for block in distances:
        qp, qc = query.pids[block.start : block.stop], query.camids[block.start : block.stop]
        blocks.append(rank_block(block.values, qp, qc, index))
        for rng, out in zip(rngs, single, strict=True):
            u = torch.from_numpy(rng.random((len(qp), len(index.group_pids))))  # query order
            out.append(single_shot_first_rank(block.values, qp, qc, index, u))
        del block  # free this block before the next one is computed
    per = PerQuery.cat(blocks)
    multi = summarise(per, max_rank)
    if multi.queries == 0:
        log.warning(
            "no query has a match in the gallery (%d skipped); metrics are NaN", multi.skipped
        )
    curves = [cmc_curve(torch.cat(o), max_rank) for o in single]
    no_visible = int((query.visibility.sum(1) == 0).sum()) if use_visibility else 0
    return _result(multi, curves if mode == "single" else None, per, no_visible)
