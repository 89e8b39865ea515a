"""Gallery identities grouped by pid, the two identity rules, and each query's own group.

Two rules say which pids are identities:

- plain (the default of ``score`` and of every non-Market data set): every pid is an ordinary
  identity, 0 and negative pids included; a query matches the gallery items of its pid.
- Market-1501 (``market_ids=True``): pid < 0 is junk, removed from every query's ranking; pid 0
  is a distractor, kept as a negative and never a match (a query with pid <= 0 has no match).

Under both rules a gallery item with the query's pid and camera is removed from that query's
ranking (the same view of the same person is not a retrieval).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class GalleryIndex:
    """Gallery identities grouped by pid (CSR), built once per evaluation.

    Attributes:
        pids: [G] int64 gallery pids.
        camids: [G] int64 gallery cameras.
        group_pids: [K] sorted distinct pids that are not junk (Market: 0 = distractors, one group).
        order: [G - J] non-junk gallery indices sorted by (pid, index).
        offsets: [K + 1] start of each group in ``order``.
        junk: [J] indices of junk items (Market rule: pid < 0; none under the plain rule).
        market_ids: whether the Market-1501 rule applies.
    """

    pids: Tensor
    camids: Tensor
    group_pids: Tensor
    order: Tensor
    offsets: Tensor
    junk: Tensor
    market_ids: bool = False

    @classmethod
    def build(cls, pids: Tensor, camids: Tensor, market_ids: bool = False) -> GalleryIndex:
        """Group gallery items by pid (junk set apart under the Market rule)."""
        pids = pids.to("cpu", torch.int64).reshape(-1)
        camids = camids.to("cpu", torch.int64).reshape(-1)
        is_junk = pids < 0 if market_ids else torch.zeros_like(pids, dtype=torch.bool)
        junk = torch.nonzero(is_junk).reshape(-1)
        sorted_pids, order = torch.sort(pids, stable=True)
        keep = ~is_junk[order]
        sorted_pids, order = sorted_pids[keep], order[keep]
        group_pids, counts = torch.unique_consecutive(sorted_pids, return_counts=True)
        offsets = torch.zeros(len(counts) + 1, dtype=torch.int64)
        offsets[1:] = torch.cumsum(counts, 0)
        return cls(pids, camids, group_pids, order, offsets, junk, market_ids)

    def can_match(self, query_pids: Tensor) -> Tensor:
        """[B] whether a query pid may have matches under the rule (Market: pid > 0)."""
        if self.market_ids:
            return query_pids > 0
        return torch.ones_like(query_pids, dtype=torch.bool)


@dataclass(frozen=True)
class OwnGroup:
    """Each query's own-identity gallery items, padded to S columns, in gallery order.

    Attributes:
        group: [B] index into ``group_pids`` (valid only where ``found``).
        found: [B] the query pid can match and is present in the gallery.
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
    if num_k:
        found = index.can_match(qp) & (index.group_pids[k] == qp)
    else:
        found = torch.zeros_like(qp, dtype=torch.bool)
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


def own_mask(index: GalleryIndex, query_pids: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """Whether gallery item ``cols[i]`` belongs to query ``rows[i]``'s own group (broadcast)."""
    qp = query_pids.to("cpu", torch.int64)[rows]
    return (index.pids[cols] == qp) & index.can_match(qp)
