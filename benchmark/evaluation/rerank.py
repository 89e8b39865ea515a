"""k-reciprocal re-ranking (Zhong et al., CVPR 2017) in memory O(N k1) beyond the features.

The result equals the widely used distance-matrix form of the authors' code (``re_ranking(q_g,
q_q, g_g, k1, k2, lambda)`` as in open-reid, torchreid and the HPNet authors' repositories):

1. ``original``: the (Q+G) x (Q+G) matrix ``[[q_q, q_g], [q_g^T, g_g]]``, squared, each column
   divided by its maximum, transposed. Row ``i`` below is column ``i`` of that matrix.
2. ``R(i, k)``: the k-reciprocal neighbours of ``i`` among its k+1 nearest (itself included);
   ``R(i, k1)`` is expanded by each candidate's ``R(c, round(k1/2))`` that shares more than 2/3
   of its members with it (eq. 6 of the paper); ``V[i]`` holds ``exp(-original[i, j])``
   normalised over the expanded set (eq. 7-8).
3. Local query expansion: ``V[i]`` becomes the mean of the ``V`` rows of ``i``'s k2 nearest.
4. Jaccard distance of each query to each gallery image from the sparse ``V`` (eq. 10-11),
   and ``final = (1 - lambda) * jaccard + lambda * original`` (eq. 12).

Nothing here holds an N x N array: distances are computed in row blocks twice (neighbour lists,
then the weights of ``V``) and once more for the query rows; ``V`` is sparse (about
k2 x 2 k1 entries per row); the Jaccard distance exists only for the block of queries at hand.

Distances with "no common visible part" (eq. (1)'s +inf) have no place in step 1's maximum:
each becomes the largest finite distance of its row first, i.e. 1 after the normalisation, as
far as the farthest image that row can be compared with (a row with no finite entry is all 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from benchmark.errors import UserError
from benchmark.evaluation.distance import DistanceBlock, iter_distance_blocks
from benchmark.evaluation.features import FeatureBank

if TYPE_CHECKING:
    from scipy import sparse

# Defaults of the paper (section 4.1 there) and every toolkit.
K1, K2, LAMBDA = 20, 6, 0.3
ROW_BLOCK = 1024  # rows of the (Q+G) x (Q+G) matrix per block: 1024 x N float32 at a time
QUERY_BLOCK = 256  # queries per Jaccard block


@dataclass(frozen=True)
class RerankParams:
    """k1 (reciprocal neighbours), k2 (query expansion), lambda (weight of the original)."""

    k1: int = K1
    k2: int = K2
    lam: float = LAMBDA

    def __post_init__(self) -> None:
        if self.k1 < 1 or self.k2 < 1:
            raise UserError(f"re-ranking needs k1 >= 1 and k2 >= 1, got {self.k1} and {self.k2}")
        if not 0.0 <= self.lam <= 1.0:
            raise UserError(f"re-ranking's lambda must lie in [0, 1], got {self.lam}")

    def text(self) -> str:
        """As tables state it."""
        return f"k1 {self.k1}, k2 {self.k2}, lambda {self.lam:g}"

    def distance_name(self, distance: str) -> str:
        """The ``distance`` of a re-ranked row: its own row key, e.g. "paper+rerank" (the
        defaults) or "paper+rerank(k1=10,k2=3,lambda=0.5)"."""
        if (self.k1, self.k2, self.lam) == (K1, K2, LAMBDA):
            return f"{distance}{RERANK_TAG}"
        return f"{distance}{RERANK_TAG}(k1={self.k1},k2={self.k2},lambda={self.lam:g})"


RERANK_TAG = "+rerank"  # the suffix of a re-ranked row's distance


def describe(distance: str) -> tuple[str, str | None]:
    """A row's distance -> (the base distance, the re-ranking text or None)."""
    base, tag, rest = distance.partition(RERANK_TAG)
    if not tag:
        return distance, None
    if not rest:
        return base, RerankParams().text()
    return base, rest.strip("()").replace("=", " ").replace(",", ", ")


# rows(r0, r1) -> the raw distances of rows r0..r1 of step 1's matrix: [r1 - r0, N] float
Rows = Callable[[int, int], np.ndarray]


def _normalised(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared distances of a row block with non-finite ones at the row's finite maximum, and
    each row's maximum (step 1; see the module docstring for the sentinel)."""
    raw = np.asarray(raw, dtype=np.float32)
    finite = np.isfinite(raw)
    if not finite.all():
        top = np.where(finite, raw, -np.inf).max(axis=1, keepdims=True)
        top = np.where(np.isfinite(top), top, 1.0).astype(np.float32)
        raw = np.where(finite, raw, top)
    squared = np.square(raw, dtype=np.float32)
    peak = squared.max(axis=1, keepdims=True)
    peak = np.where(peak > 0, peak, np.float32(1.0))  # an all-zero row stays all zero
    return squared / peak, peak[:, 0]


def _nearest(block: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest columns of each row, nearest first (ties: lower index first)."""
    if k >= block.shape[1]:
        return np.argsort(block, axis=1, kind="stable").astype(np.int32)
    part = np.argpartition(block, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(block, part, axis=1)
    order = np.lexsort((part, vals), axis=1)
    return np.take_along_axis(part, order, axis=1).astype(np.int32)


def _reciprocal(rank: np.ndarray, k: int) -> list[np.ndarray]:
    """R(i, k) for every i: the j among i's k+1 nearest that have i among their k+1 nearest."""
    forward = rank[:, : k + 1]
    found: list[np.ndarray] = []
    for r0 in range(0, len(rank), ROW_BLOCK):
        fw = forward[r0 : r0 + ROW_BLOCK]
        back = forward[fw]  # [rows, k+1, k+1]
        own = np.arange(r0, r0 + len(fw))[:, None, None]
        mask = (back == own).any(axis=2)
        found.extend(row[m] for row, m in zip(fw, mask, strict=True))
    return found


def _expanded(rank: np.ndarray, k1: int) -> list[np.ndarray]:
    """The expanded k-reciprocal set of every row (eq. 6), sorted."""
    full = _reciprocal(rank, k1)
    half = _reciprocal(rank, int(np.around(k1 / 2.0)))
    sets = []
    for own in full:
        members = set(own.tolist())
        parts = [own]
        for c in own:
            cand = half[c]
            if len(members.intersection(cand.tolist())) > 2.0 / 3.0 * len(cand):
                parts.append(cand)
        sets.append(np.unique(np.concatenate(parts)))
    return sets


def k_reciprocal_blocks(
    rows: Rows, num_query: int, num_all: int, params: RerankParams = RerankParams()
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Re-ranked query x gallery distances, in blocks of query rows.

    Args:
        rows: ``rows(r0, r1)`` gives rows r0..r1 of step 1's raw (unsquared) matrix.
        num_query: Q; rows 0..Q-1 are the queries, Q..N-1 the gallery.
        num_all: N = Q + G.
        params: k1, k2, lambda.

    Yields:
        (q0, q1, [q1 - q0, G] float32 distances).
    """
    from scipy import sparse  # slow to import: loaded when re-ranking runs

    keep = max(params.k1 + 1, params.k2)
    rank = np.empty((num_all, min(keep, num_all)), dtype=np.int32)
    peaks = np.empty(num_all, dtype=np.float32)
    blocks = range(0, num_all, ROW_BLOCK)
    for r0 in tqdm(blocks, desc="re-ranking: neighbours", disable=None, leave=False):  # pass 1
        block, peak = _normalised(rows(r0, min(num_all, r0 + ROW_BLOCK)))
        rank[r0 : r0 + len(block)] = _nearest(block, rank.shape[1])
        peaks[r0 : r0 + len(block)] = peak
    sets = _expanded(rank, params.k1)
    indptr = np.zeros(num_all + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(s) for s in sets])
    indices = np.concatenate(sets).astype(np.int32) if num_all else np.zeros(0, np.int32)
    data = np.empty(len(indices), dtype=np.float32)
    for r0 in tqdm(blocks, desc="re-ranking: weights", disable=None, leave=False):  # pass 2: V
        block, _ = _normalised(rows(r0, min(num_all, r0 + ROW_BLOCK)))
        for i in range(len(block)):
            a, b = indptr[r0 + i], indptr[r0 + i + 1]
            weight = np.exp(-block[i, indices[a:b]])
            data[a:b] = weight / weight.sum()
    v = sparse.csr_matrix((data, indices, indptr), shape=(num_all, num_all))
    if params.k2 != 1:  # local query expansion: the mean of the k2 nearest rows' V
        k2 = min(params.k2, num_all)
        expand = sparse.csr_matrix(
            (
                np.full(num_all * k2, 1.0 / k2, dtype=np.float32),
                rank[:, :k2].reshape(-1),
                np.arange(0, num_all * k2 + 1, k2),
            ),
            shape=(num_all, num_all),
        )
        v = (expand @ v).tocsr()
        v.eliminate_zeros()
    columns = v.tocsc()
    num_gallery = num_all - num_query
    queries = range(0, num_query, QUERY_BLOCK)
    for q0 in tqdm(queries, desc="re-ranking: Jaccard", disable=None, leave=False):  # pass 3
        q1 = min(num_query, q0 + QUERY_BLOCK)
        shared = _shared_mass(v[q0:q1].tocoo(), columns, num_query, num_gallery)
        jaccard = 1.0 - shared / (2.0 - shared)
        original, _ = _normalised(rows(q0, q1))
        final = jaccard * (1.0 - params.lam) + original[:, num_query:] * params.lam
        yield q0, q1, final.astype(np.float32)


def _shared_mass(
    block: sparse.coo_matrix, columns: sparse.csc_matrix, num_query: int, num_gallery: int
) -> np.ndarray:
    """sum_k min(V[i, k], V[j, k]) for the block's queries i and every gallery image j."""
    col_start = columns.indptr[block.col]
    col_len = columns.indptr[block.col + 1] - col_start
    total = int(col_len.sum())
    pair = np.repeat(np.arange(len(block.col)), col_len)
    offset = np.arange(total) - np.repeat(np.cumsum(col_len) - col_len, col_len)
    position = col_start[pair] + offset
    other = columns.indices[position]
    mass = np.minimum(block.data[pair], columns.data[position])
    gallery = other >= num_query
    flat = block.row[pair][gallery].astype(np.int64) * num_gallery + (other[gallery] - num_query)
    rows = block.shape[0]
    summed = np.bincount(flat, weights=mass[gallery], minlength=rows * num_gallery)
    return summed.reshape(rows, num_gallery).astype(np.float32)


def rerank_matrices(
    q_g: np.ndarray, q_q: np.ndarray, g_g: np.ndarray, params: RerankParams = RerankParams()
) -> np.ndarray:
    """Re-ranked [Q, G] distances from the three distance matrices (the authors' signature)."""
    q_g, q_q, g_g = (np.asarray(m, dtype=np.float32) for m in (q_g, q_q, g_g))
    num_query = q_g.shape[0]

    def rows(r0: int, r1: int) -> np.ndarray:  # columns r0..r1 of [[q_q, q_g], [q_g^T, g_g]]
        top = np.concatenate([q_q, q_g], axis=1)[:, r0:r1]
        bottom = np.concatenate([q_g.T, g_g], axis=1)[:, r0:r1]
        return np.concatenate([top, bottom]).T

    n = num_query + q_g.shape[1]
    out = np.empty_like(q_g)
    for q0, q1, block in k_reciprocal_blocks(rows, num_query, n, params):
        out[q0:q1] = block
    return out


def feature_rows(
    query: FeatureBank, gallery: FeatureBank, *, use_visibility: bool, distance: str
) -> Rows:
    """Step 1's raw rows computed from features, a block at a time, with the run's distance.

    Column ``i`` of ``[[q_q, q_g], [q_g^T, g_g]]`` (q_g[a, b] = distance from query a to gallery
    b): its query part is the distances from every query to image i, its gallery part the
    distances from image i (a query) or from every gallery image (i in the gallery) to the
    gallery. For a symmetric distance (eq. (1)) that is simply row i of the all-pairs matrix.
    """
    num_query = len(query)

    def dist(a: FeatureBank, b: FeatureBank) -> Tensor:
        blocks = iter_distance_blocks(a, b, use_visibility=use_visibility, distance=distance)
        return torch.cat([blk.values for blk in blocks])

    def rows(r0: int, r1: int) -> np.ndarray:
        parts = []
        if r0 < num_query:  # query rows: to them from every query, from them to the gallery
            head = slice_bank(query, r0, min(r1, num_query))
            parts.append(torch.cat([dist(query, head).T, dist(head, gallery)], dim=1))
        if r1 > num_query:  # gallery rows: to them from every query and every gallery image
            tail = slice_bank(gallery, max(r0, num_query) - num_query, r1 - num_query)
            parts.append(torch.cat([dist(query, tail).T, dist(gallery, tail).T], dim=1))
        return torch.cat(parts).numpy()

    return rows


def slice_bank(bank: FeatureBank, r0: int, r1: int) -> FeatureBank:
    """Items r0..r1 of a bank (views, no copy)."""
    return FeatureBank(
        bank.features[r0:r1], bank.visibility[r0:r1], bank.pids[r0:r1], bank.camids[r0:r1]
    )


def rerank_blocks(
    query: FeatureBank,
    gallery: FeatureBank,
    params: RerankParams,
    *,
    use_visibility: bool = True,
    distance: str = "paper",
) -> Iterator[DistanceBlock]:
    """Re-ranked query x gallery distances as ``iter_distance_blocks`` yields plain ones."""
    rows = feature_rows(query, gallery, use_visibility=use_visibility, distance=distance)
    n = len(query) + len(gallery)
    for q0, q1, values in k_reciprocal_blocks(rows, len(query), n, params):
        yield DistanceBlock(q0, q1, torch.from_numpy(values))
