"""Eq. (1): visibility-aware part distance, one matmul per part over gallery chunks.

Two distances are registered in ``DISTANCES``:

- ``"paper"`` (default), eq. (1) of the paper: every part feature is L2-normalised
  (``x / ||x||`` with the norm in float64, whatever the scale; a zero vector stays zero), the
  part distance is
  ``||a - b|| = sqrt(max(|a|^2 + |b|^2 - 2 a.b, 0))`` (``sqrt(max(2 - 2 a.b, 0))`` for unit
  vectors; the clamp absorbs rounding; a zero feature is at distance 1 from any unit vector)
  and the image distance is
  ``sum_j v1_j v2_j ||f1_j - f2_j|| / sum_j v1_j v2_j``; ``+inf`` when no part is visible in both.
- ``"official"``, the distance of the authors' code (huanghoujing/HPNet,
  ``package/eval/np_distance.py``, ``vis_type='qvis+qgvis'``): part features are normalised as
  ``x / (||x|| + eps)`` with ``eps`` = float32 machine epsilon, the part distance is the cosine
  distance ``c_j = 1 - a.b``, and the image distance is
  ``sum_j vq_j c_j / (sum_j vq_j + 1e-8)`` (mean over the parts visible in the query, whatever the
  gallery's visibility) plus ``sum_j vq_j vg_j c_j / (sum_j vq_j vg_j + 1e-8)`` (mean over the
  commonly visible parts), where the second term is replaced by 10000 when no part is shared.
  Everything is float32, as there.

Both are computed on query blocks x gallery chunks: the normalisation is applied to the matmul
output (``a.b = (q . g) / (|q| |g|)``), so no normalised copy of the gallery is made, and the only
temporaries are ``[rows, chunk]`` matrices; a query block's distances to the whole gallery
(``[rows, G]``) are held at once, with ``rows = budget // G``, so memory does not grow with G.
A query's hidden parts (visibility 0) add nothing to either distance, so their products are
skipped (``ShownPart``): occluded and partial query sets cost less than holistic ones.

Accuracy (paper distance): ``sqrt(2 - 2 a.b)`` in float32 loses the small distances (exact
duplicates would get about 2e-4, and near-duplicates a value that depends on the chunk size),
so every part pair whose float32 distance is below ``EXACT_BELOW`` is recomputed directly as
``||a - b||`` in float64 from the raw features: duplicates get 0 and the ranking among
near-duplicates does not depend on the chunk or block size. Norms are always computed in
float64, and features whose part norms leave ``[2^-40, 2^40]`` (e.g. x1e20 or x1e-25) are
normalised in float64 into a float32 copy first, so any finite scale ranks as the unscaled
features do (eq. 1 normalises each part; the official distance's eps is not scale-free).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from benchmark.errors import UserError
from benchmark.evaluation.checks import BLOCK_BUDGET, check_pair
from benchmark.evaluation.features import FeatureBank
from benchmark.registry import Registry

CHUNK_SIZE = 2048  # gallery columns per matmul: BLAS-efficient, few parallel regions per block
OFFICIAL_NO_SHARED = 10000.0  # the official code's value for pairs without a shared part
_OFFICIAL_EPS = float(torch.finfo(torch.float32).eps)  # np.finfo(np.float32).eps in the code
# float32 sqrt(|a|^2 + |b|^2 - 2 a.b) has an absolute error of about 1e-6 / d: below d = 0.2 (a
# cosine above 0.98, rare between different images) pairs are recomputed exactly in float64
EXACT_BELOW = 0.2
_SAFE_NORM = (2.0**-40, 2.0**40)  # float32 products of such vectors neither overflow nor underflow
_EXACT_PAIRS = 4096  # pairs recomputed at once ([pairs, D] float64 temporaries)
_NORM_ROWS = 256  # rows whose float64 norms are computed at once


@dataclass(frozen=True)
class PreparedBank:
    """Features of one side, ready for chunked products.

    Attributes:
        features: [N, P, D] float32 features (the input itself when already float32 and of a
            safe scale, else a copy normalised in float64).
        inv_norm: [N, P] float32 factor that normalises each part of ``features``.
        visibility: [N, P] float32 visibility.
        sq_norm: [N, P] squared norm of the normalised features (1, or 0 for a zero feature).
        raw: [N, P, D] the input features (for the exact recomputation).
        inv_norm64: [N, P] float64 factor that normalises each part of ``raw``.
        parts: a query block's features split by part, for the rows that show each
            (``_query_block``); empty for a whole bank.
    """

    features: Tensor
    inv_norm: Tensor
    visibility: Tensor
    sq_norm: Tensor
    raw: Tensor
    inv_norm64: Tensor
    parts: tuple[ShownPart, ...] = ()


@dataclass(frozen=True)
class ShownPart:
    """Part j of a query block, restricted to the rows that show it (visibility > 0).

    A part a query does not show adds nothing to either distance (eq. 1 weighs it by v1 v2, the
    official terms by vq), so its products are skipped: with occluded or partial queries this
    saves the share of hidden query parts of the matmuls.

    Attributes:
        rows: the block's rows that show the part; None = every row.
        features: [n, D] unit part features of those rows (contiguous).
        sq_norm: [n, 1] their squared norms (1, or 0 for a zero feature).
        visibility: [n, 1] their visibility; None when all are 1 (nothing to weigh).
    """

    rows: Tensor | None
    features: Tensor
    sq_norm: Tensor
    visibility: Tensor | None


BlockFn = Callable[[PreparedBank, PreparedBank, Tensor, int, int], None]
DISTANCES: Registry[BlockFn] = Registry("distance")


@dataclass(frozen=True)
class DistanceBlock:
    """Distances of query rows ``start:stop`` to the whole gallery.

    Attributes:
        start: first query row.
        stop: one past the last query row.
        values: [stop - start, G] float32 distances.
    """

    start: int
    stop: int
    values: Tensor


def _norms64(feats: Tensor) -> Tensor:
    """[N, P] float64 part norms, a few rows at a time (no [N, P, D] float64 copy).

    One float64 buffer is reused and every norm is written in place: a fresh float64 block per
    step (``feats[rows].double()``) left the allocator's heap growing with N (9.9 GB of working
    memory for a 159k-image gallery, measured by ``benchmark.perf.eval_speed``).
    """
    out = torch.empty(feats.shape[:2], dtype=torch.float64, device=feats.device)
    buf = torch.empty(
        (min(_NORM_ROWS, len(feats)), *feats.shape[1:]), dtype=torch.float64, device=feats.device
    )
    for r0 in range(0, len(feats), _NORM_ROWS):
        rows = buf[: min(_NORM_ROWS, len(feats) - r0)]
        rows.copy_(feats[r0 : r0 + len(rows)])
        torch.linalg.vector_norm(rows, dim=-1, out=out[r0 : r0 + len(rows)])
    return out


def _normalised_copy(feats: Tensor, inv64: Tensor) -> Tensor:
    """[N, P, D] float32 unit part features, normalised in float64 a few rows at a time."""
    out = torch.empty(feats.shape, dtype=torch.float32, device=feats.device)
    for r0 in range(0, len(feats), _NORM_ROWS):
        sl = slice(r0, r0 + _NORM_ROWS)
        out[sl] = (feats[sl].double() * inv64[sl, :, None]).float()
    return out


def _factors(feats: Tensor, eps: float, add_eps: bool) -> tuple[Tensor, Tensor, float, float]:
    """Per-part normalising factors, computed a few rows at a time so that no [N, P] float64
    temporary beyond the kept ``inv64`` grows with N (flat working memory at any gallery size).

    Returns:
        inv64 [N, P] float64 factors, sq_norm [N, P] float32 squared norms of the normalised
        parts, and the smallest and largest nonzero part norm (inf and 0 when all are zero).
    """
    norm = _norms64(feats)  # [N, P] float64: no overflow at x1e20, no underflow at x1e-25
    inv64 = torch.empty_like(norm)
    sq_norm = torch.empty(norm.shape, dtype=torch.float32, device=norm.device)
    lo, hi = float("inf"), 0.0
    tiny = torch.finfo(norm.dtype).tiny
    for r0 in range(0, len(norm), _NORM_ROWS):
        n = norm[r0 : r0 + _NORM_ROWS]
        if add_eps:
            inv = 1.0 / (n + eps)  # the official code's x / (|x| + eps)
        else:  # eq. 1: exact unit vectors at any finite scale; a zero feature stays zero
            inv = torch.where(n > 0, 1.0 / n.clamp(min=tiny), 0.0)
        inv64[r0 : r0 + len(n)] = inv
        sq_norm[r0 : r0 + len(n)] = (n * inv).square()
        nonzero = n[n > 0]
        if len(nonzero):
            lo, hi = min(lo, float(nonzero.min())), max(hi, float(nonzero.max()))
    return inv64, sq_norm, lo, hi


def prepare(bank: FeatureBank, *, use_visibility: bool, eps: float, add_eps: bool) -> PreparedBank:
    """Cast to float32 (no copy when already float32) and compute the normalising factors."""
    feats = bank.features
    if feats.dtype != torch.float32 or feats.stride(-1) != 1:
        feats = feats.to(torch.float32).contiguous()
    inv64, sq_norm, lo, hi = _factors(feats, eps, add_eps)
    if lo < _SAFE_NORM[0] or hi > _SAFE_NORM[1]:
        fast, inv = _normalised_copy(feats, inv64), torch.ones_like(sq_norm)  # extreme scale
    else:
        fast, inv = feats, inv64.float()
    vis = bank.visibility.to(torch.float32)
    if not use_visibility:
        vis = torch.ones_like(vis)  # "test w/o vis"
    return PreparedBank(fast, inv, vis, sq_norm, feats, inv64)


def _exact_part(q: PreparedBank, g: PreparedBank, j: int, rows: Tensor, cols: Tensor) -> Tensor:
    """``||a - b||`` of part j for the pairs (rows, cols), in float64 from the raw features."""
    out = torch.empty(len(rows), dtype=torch.float64, device=rows.device)
    for s in range(0, len(rows), _EXACT_PAIRS):
        r, c = rows[s : s + _EXACT_PAIRS], cols[s : s + _EXACT_PAIRS]
        a = q.raw[r, j].double() * q.inv_norm64[r, j, None]  # [pairs, D]
        b = g.raw[c, j].double() * g.inv_norm64[c, j, None]
        out[s : s + _EXACT_PAIRS] = torch.linalg.vector_norm(a - b, dim=-1)
    return out.float()


def _refine_small(
    q: PreparedBank, g: PreparedBank, j: int, dist: Tensor, c0: int, shown: Tensor | None
) -> None:
    """Recompute in place the part-j distances of ``dist`` [rows, chunk] below EXACT_BELOW;
    ``dist``'s rows are the query rows ``shown`` (None: every row)."""
    if dist.numel() == 0 or float(dist.min()) >= EXACT_BELOW:
        return
    rows, cols = torch.nonzero(dist < EXACT_BELOW, as_tuple=True)
    q_rows = rows if shown is None else shown[rows]
    dist[rows, cols] = _exact_part(q, g, j, q_rows, cols + c0)


@DISTANCES.decorator("paper")
def _paper_chunk(q: PreparedBank, g: PreparedBank, out: Tensor, c0: int, c1: int) -> None:
    """Eq. (1) for gallery columns c0:c1, written into ``out`` [rows, chunk]."""
    assert q.parts, "the query side is a block from _query_block (split by part)"
    vg = g.visibility[c0:c1]  # [chunk, P]
    shared = q.visibility @ vg.T  # [rows, chunk] sum_j v1 v2
    num = torch.zeros_like(out)
    for j, part in enumerate(q.parts):
        if len(part.features) == 0:
            continue  # no query row shows part j
        # ||a - b||^2 = |a|^2 + |b|^2 - 2 a.b; |a| = 1 except for a zero feature (then 0)
        dot = part.features @ g.features[c0:c1, j, :].T  # one matmul, unit a x raw g
        sq = torch.addcmul(g.sq_norm[None, c0:c1, j], dot, g.inv_norm[None, c0:c1, j], value=-2.0)
        dist = sq.add_(part.sq_norm).clamp_(min=0.0).sqrt_()  # clamp: rounding < 0
        _refine_small(q, g, j, dist, c0, part.rows)  # exact small distances, chunk-size free
        _accumulate(num, _weighted(dist, part), part.rows, vg[:, j])  # eq. (1): + v1 v2 ||a - b||
    torch.div(num, shared, out=out)
    out.masked_fill_(shared <= 0, float("inf"))  # no shared visible part: +inf, ranked last


@DISTANCES.decorator("official")
def _official_chunk(q: PreparedBank, g: PreparedBank, out: Tensor, c0: int, c1: int) -> None:
    """The official code's qvis + qgvis cosine distance for gallery columns c0:c1."""
    assert q.parts, "the query side is a block from _query_block (split by part)"
    vg = g.visibility[c0:c1]  # [chunk, P]
    shared = q.visibility @ vg.T  # [rows, chunk]
    q_term = torch.zeros_like(out)
    qg_term = torch.zeros_like(out)
    for j, part in enumerate(q.parts):
        if len(part.features) == 0:
            continue  # no query row shows part j
        cos = (part.features @ g.features[c0:c1, j, :].T).mul_(g.inv_norm[None, c0:c1, j])
        cos_dist = _weighted(cos.neg_().add_(1.0), part)  # vq (1 - cos)
        _accumulate(q_term, cos_dist, part.rows, None)  # query-visible parts
        _accumulate(qg_term, cos_dist, part.rows, vg[:, j])  # commonly visible parts
    q_term.div_(q.visibility.sum(1, keepdim=True) + 1e-8)
    qg_term.div_(shared + 1e-8)
    qg_term.masked_fill_(shared == 0, OFFICIAL_NO_SHARED)
    torch.add(q_term, qg_term, out=out)


def _weighted(term: Tensor, part: ShownPart) -> Tensor:
    """``vq term`` in place (nothing to do when the rows' visibility is all 1)."""
    return term if part.visibility is None else term.mul_(part.visibility)


def _accumulate(total: Tensor, term: Tensor, rows: Tensor | None, vg: Tensor | None) -> None:
    """``total[rows] += term * vg`` ([rows, chunk]; vg over the columns; may scale ``term``)."""
    if rows is None:
        if vg is None:
            total.add_(term)
        else:
            total.addcmul_(term, vg[None, :])
    else:
        total.index_add_(0, rows, term if vg is None else term.mul_(vg[None, :]))


def _shown_part(feats: Tensor, vis: Tensor, sq_norm: Tensor, j: int) -> ShownPart:
    """Part j of a query block's unit features ``feats`` [rows, P, D], for the rows showing it."""
    visible = vis[:, j] > 0
    rows = None if bool(visible.all()) else torch.nonzero(visible)[:, 0]
    sel = slice(None) if rows is None else rows
    weight = vis[sel, j, None]
    return ShownPart(
        rows,
        feats[sel, j].contiguous(),
        sq_norm[sel, j, None],
        None if bool((weight == 1).all()) else weight,
    )


def _query_block(q: PreparedBank, r0: int, r1: int) -> PreparedBank:
    """Rows r0:r1 with unit part features (a small copy; inv_norm becomes 1), split by part."""
    feats = q.features[r0:r1] * q.inv_norm[r0:r1, :, None]  # [rows, P, D]
    ones = torch.ones_like(feats[:, :, 0])
    vis, sq_norm = q.visibility[r0:r1], q.sq_norm[r0:r1]
    parts = tuple(_shown_part(feats, vis, sq_norm, j) for j in range(feats.shape[1]))
    return PreparedBank(feats, ones, vis, sq_norm, q.raw[r0:r1], q.inv_norm64[r0:r1], parts)


def block_rows(num_gallery: int, budget: int = BLOCK_BUDGET) -> int:
    """Query rows per block so that a [rows, G] block holds at most ``budget`` values."""
    return max(1, budget // max(1, num_gallery))


def iter_distance_blocks(
    query: FeatureBank,
    gallery: FeatureBank,
    *,
    use_visibility: bool = True,
    distance: str = "paper",
    chunk_size: int = CHUNK_SIZE,
    budget: int = BLOCK_BUDGET,
) -> Iterator[DistanceBlock]:
    """Yield the distances of successive query blocks to the whole gallery.

    Args:
        query: query features, visibility, pids and camids.
        gallery: gallery features, visibility, pids and camids.
        use_visibility: False forces every visibility to 1 ("test w/o vis").
        distance: a name in ``DISTANCES`` ("paper" = eq. 1, "official" = the authors' code).
        chunk_size: gallery columns per matrix product.
        budget: most distance values per block; rows per block = ``budget // G``.

    Yields:
        DistanceBlock with a fresh [rows, G] float32 tensor, query rows in order.
    """
    chunk_fn = DISTANCES.get(distance)
    check_pair(query, gallery)
    if chunk_size < 1:
        raise UserError(f"chunk_size must be a positive number of gallery items, got {chunk_size}")
    official = distance == "official"
    eps = _OFFICIAL_EPS if official else 0.0  # eps: official only
    q = prepare(query, use_visibility=use_visibility, eps=eps, add_eps=official)
    g = prepare(gallery, use_visibility=use_visibility, eps=eps, add_eps=official)
    num_q, num_g = len(query), len(gallery)
    rows = block_rows(num_g, budget)
    with torch.no_grad():
        for r0 in range(0, num_q, rows):
            r1 = min(num_q, r0 + rows)
            qb = _query_block(q, r0, r1)
            values = torch.empty(r1 - r0, num_g, dtype=torch.float32, device=q.features.device)
            for c0 in range(0, num_g, chunk_size):
                c1 = min(num_g, c0 + chunk_size)
                chunk_fn(qb, g, values[:, c0:c1], c0, c1)  # written in place, no copy
            yield DistanceBlock(r0, r1, values)
            del values  # let the consumer free the block before the next one is allocated


def distance_matrix(
    query: FeatureBank,
    gallery: FeatureBank,
    *,
    use_visibility: bool = True,
    distance: str = "paper",
    chunk_size: int = CHUNK_SIZE,
) -> Tensor:
    """The full [Q, G] distance matrix (for small sets: figures need ranking lists).

    Args:
        query: query bank.
        gallery: gallery bank.
        use_visibility: False forces every visibility to 1 ("test w/o vis").
        distance: "paper" (eq. 1) or "official" (the authors' code); see the module docstring.
        chunk_size: gallery columns per matrix product.

    Returns:
        [Q, G] float32 distances; +inf (paper) or 10000 + query term (official) where the two
        images share no visible part.
    """
    blocks = iter_distance_blocks(
        query, gallery, use_visibility=use_visibility, distance=distance, chunk_size=chunk_size
    )
    return torch.cat([b.values for b in blocks])
