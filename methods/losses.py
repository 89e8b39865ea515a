"""Training losses of the paper (eqs. 2-10) as pure functions on tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

_ID_NORMALIZE = ("batch", "visible")


def id_loss(logits: Tensor, pids: Tensor, visibility: Tensor, normalize: str = "batch") -> Tensor:
    """Per-part identification loss, eq. (2).

    Args:
        logits: [N, P, C] per-part classifier logits.
        pids: [N] identity class indices (long).
        visibility: [N, P] part visibility in {0, 1}; invisible parts contribute nothing.
        normalize: "batch" (the paper: the visibility-weighted sum over parts and images divided
            by N) or "visible" (the official code: each part's sum divided by the number of
            images in which it is visible, 0 for a part visible nowhere, then summed over parts).

    Returns:
        Scalar loss.

    Raises:
        ValueError: unknown ``normalize`` or mismatched shapes.
    """
    if normalize not in _ID_NORMALIZE:
        raise ValueError(f"id_loss normalize={normalize!r} is unknown; use one of {_ID_NORMALIZE}")
    n, p, c = logits.shape
    if pids.shape != (n,) or visibility.shape != (n, p):
        raise ValueError(
            f"id_loss got logits {tuple(logits.shape)}, pids {tuple(pids.shape)}, visibility "
            f"{tuple(visibility.shape)}; expected [N,P,C], [N], [N,P]"
        )
    targets = pids.long().unsqueeze(1).expand(n, p).reshape(-1)  # [N*P]
    ce = F.cross_entropy(logits.reshape(n * p, c), targets, reduction="none").view(n, p)
    weighted = ce * visibility.to(ce.dtype)  # [N, P], eq. (2): -log p_{y_i}^j v_i^j
    if normalize == "batch":
        return weighted.sum() / n  # eq. (2): 1 / N_b
    count = visibility.to(ce.dtype).sum(dim=0)  # [P] visible images per part
    safe = torch.where(count > 0, count, torch.ones_like(count))
    per_part = torch.where(count > 0, weighted.sum(dim=0) / safe, torch.zeros_like(count))
    return per_part.sum()


def part_distance(h: Tensor, visibility: Tensor, pids: Tensor) -> Tensor:
    """Visibility-aware pairwise distance of the triplet loss, eq. (4).

    d(a, b) = sum_j v_a^j v_b^j ||h_a^j - h_b^j|| / sum_j v_a^j v_b^j on the unnormalised
    (pre-BN) part features; when the pair shares no visible part it is -inf for a positive pair
    (same pid, the diagonal included) and +inf for a negative pair, so batch-hard mining never
    picks it. Euclidean distances come from ``torch.cdist`` without the matrix-product shortcut:
    exact (no cancellation) and with a zero (finite) gradient at zero distance, e.g. the diagonal.

    Args:
        h: [N, P, D] part features before BN.
        visibility: [N, P] part visibility in {0, 1}.
        pids: [N] identity labels.

    Returns:
        [N, N] distances that may hold -inf and +inf.
    """
    n, p, _ = h.shape
    if visibility.shape != (n, p) or pids.shape != (n,):
        raise ValueError(
            f"part_distance got h {tuple(h.shape)}, visibility {tuple(visibility.shape)}, pids "
            f"{tuple(pids.shape)}; expected [N,P,D], [N,P], [N]"
        )
    hp = h.transpose(0, 1)  # [P, N, D]
    dist = torch.cdist(hp, hp, compute_mode="donot_use_mm_for_euclid_dist")  # [P, N, N]
    v = visibility.to(dist.dtype).t()  # [P, N]
    vv = v.unsqueeze(2) * v.unsqueeze(1)  # [P, N, N] v_a^j v_b^j
    num = (dist * vv).sum(dim=0)  # [N, N]
    den = vv.sum(dim=0)  # [N, N]
    shared = den > 0
    mean = num / torch.where(shared, den, torch.ones_like(den))  # guarded: no 0/0 in backward
    same = pids.unsqueeze(0) == pids.unsqueeze(1)  # [N, N]
    inf = torch.full_like(mean, float("inf"))
    return torch.where(shared, mean, torch.where(same, -inf, inf))  # eq. (4)


def batch_hard_triplet(dist: Tensor, pids: Tensor, margin: float = 0.3) -> Tensor:
    """Batch-hard triplet loss, eqs. (3) and (5).

    For each anchor i: the hardest positive is the largest d(i, j) over j != i with the same
    pid, the hardest negative the smallest d(i, k) over a different pid; the anchor's loss is
    relu(margin + d_ap - d_an). A -inf positive or +inf negative (no shared visible part) is
    never the hardest unless nothing else is left. Definition: an anchor whose hardest positive
    or hardest negative is not finite (no positive, or every positive -inf; no negative, or
    every negative +inf) forms no triplet and contributes 0. The sum is still divided by N
    (eq. 5: 1 / N_b), so such anchors dilute the loss rather than reweighting the others.

    Args:
        dist: [N, N] pairwise distances, possibly with -inf and +inf entries.
        pids: [N] identity labels.
        margin: M of eq. (3).

    Returns:
        Scalar loss; its gradient is finite even when ``dist`` holds infinities.
    """
    n = dist.shape[0]
    if dist.shape != (n, n) or pids.shape != (n,):
        raise ValueError(
            f"batch_hard_triplet got dist {tuple(dist.shape)}, pids {tuple(pids.shape)}; "
            "expected [N,N] and [N]"
        )
    same = pids.unsqueeze(0) == pids.unsqueeze(1)  # [N, N]
    eye = torch.eye(n, dtype=torch.bool, device=dist.device)
    inf = torch.full_like(dist, float("inf"))
    d_ap = torch.where(same & ~eye, dist, -inf).max(dim=1).values  # [N] hardest positive
    d_an = torch.where(~same, dist, inf).min(dim=1).values  # [N] hardest negative
    valid = torch.isfinite(d_ap) & torch.isfinite(d_an)
    zero = torch.zeros_like(d_ap)
    # Mask the infinities before any arithmetic so that no inf - inf (NaN) reaches backward.
    d_ap = torch.where(valid, d_ap, zero)
    d_an = torch.where(valid, d_an, zero)
    per_anchor = torch.where(valid, F.relu(margin + d_ap - d_an), zero)  # eq. (3)
    return per_anchor.sum() / n  # eq. (5)


def part_triplet_loss(h: Tensor, visibility: Tensor, pids: Tensor, margin: float = 0.3) -> Tensor:
    """Visibility-aware batch-hard triplet loss on part features, eqs. (3)-(5).

    With P = 1 and visibility 1 this is the ordinary batch-hard triplet loss on a global feature.

    Args:
        h: [N, P, D] part features before BN.
        visibility: [N, P] part visibility in {0, 1}.
        pids: [N] identity labels.
        margin: M of eq. (3).

    Returns:
        Scalar loss.
    """
    return batch_hard_triplet(part_distance(h, visibility, pids), pids, margin)


PARSING_NORMALIZE = ("image", "batch")


def _focal_reduce(
    bce: Tensor, psi: Tensor, targets: Tensor, alpha: float, gamma: float, normalize: str
) -> Tensor:
    """Weights per-pixel BCE by eta (eqs. 7-8) and reduces it as eq. (9) or ps_loss.py."""
    eta = (alpha * targets + (1.0 - alpha) * (1.0 - targets)) * psi.pow(gamma)  # eq. (8)
    per_map = (eta * bce).sum(dim=(2, 3))  # [N, P] sum over pixels
    positives = targets.sum(dim=(2, 3))  # [N, P] positive pixels of each label
    # The batch's positive count of each part (ps_loss.py: loss.sum() / target.sum()); at least
    # 1 so that a part absent from the whole batch gives a finite loss (the code divides by 0).
    batch_count = positives.sum(dim=0).clamp_min(1.0)  # [P]
    if normalize == "batch":
        return (per_map.sum(dim=0) / batch_count).sum()  # official: no 1 / N_b
    # eq. (9): each label by its own positive count. The paper leaves an empty label undefined;
    # it takes the code's denominator for every pair, the batch's count of that part. Present
    # pairs divide by their own, smaller count, so next to them an absent pair weighs about 1/n
    # (n: the batch's images showing the part) of what it weighs in the code. Dividing it by the
    # mean count of the present labels instead (the code's weighting) moved the masks by about a
    # point on one seed, inside the seed spread (README, "Why the masks lag"), so it stays.
    denom = torch.where(positives > 0, positives, batch_count.expand_as(positives))
    return (per_map / denom).sum(dim=1).mean()  # eq. (9): sum over parts, 1 / N_b


def _check_maps(maps: Tensor, targets: Tensor, name: str) -> None:
    if maps.dim() != 4 or maps.shape != targets.shape:
        raise ValueError(
            f"focal_parsing_loss got {name} {tuple(maps.shape)} and targets "
            f"{tuple(targets.shape)}; expected the same [N,P,H,W] shape"
        )


def focal_parsing_loss(
    probs: Tensor,
    targets: Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    eps: float = 1e-6,
    normalize: str = "image",
) -> Tensor:
    """Focal parsing loss on probabilities, eqs. (6)-(9).

    Per pixel: eta * L with L the binary cross-entropy of eq. (6) and eta of eqs. (7)-(8),
    summed over pixels, then normalised by positive-pixel counts:

    - "image" (eq. 9): each (image, part) sum divided by its label's positive pixels, summed
      over parts, averaged over the batch. An empty label (undefined in the paper) is divided
      by the batch's positive count of that part, as the official code divides every pair.
    - "batch" (official ps_loss.py): each part's sum over the batch divided by the batch's
      positive count of that part, summed over parts.

    Either way a part absent from the whole batch is divided by 1.

    Args:
        probs: [N, P, H, W] sigmoid probabilities G (clamped into [eps, 1 - eps]).
        targets: [N, P, H, W] binary part labels S as floats.
        alpha: class balance of eq. (8).
        gamma: focusing exponent of eq. (8).
        eps: clamp for the logarithms.
        normalize: "image" or "batch", as above.

    Returns:
        Scalar loss.

    Raises:
        ValueError: unknown ``normalize`` or mismatched shapes.
    """
    if normalize not in PARSING_NORMALIZE:
        raise ValueError(f"focal_parsing_loss normalize={normalize!r}; use {PARSING_NORMALIZE}")
    _check_maps(probs, targets, "probs")
    t = targets.to(probs.dtype)
    r = probs.clamp(eps, 1.0 - eps)
    bce = -(t * torch.log(r) + (1.0 - t) * torch.log1p(-r))  # eq. (6)
    psi = (1.0 - r) * t + r * (1.0 - t)  # eq. (7)
    return _focal_reduce(bce, psi, t, alpha, gamma, normalize)


def part_targets(
    labels: Tensor, num_parts: int, size: tuple[int, int], threshold: float = 0.5
) -> tuple[Tensor, Tensor]:
    """Resizes part-label maps to the Conv5 grid by area coverage.

    cov_j(cell) is the fraction of the cell's area covered by part j (average pooling of the
    one-hot map: exact when the label size is a multiple of ``size``). Rule: a cell is positive
    for part j when cov_j >= min(threshold, max over the image's cells of cov_j) and cov_j > 0.
    So the usual majority rule (cov >= 0.5) applies to parts big enough to dominate a cell, and
    a part too small to dominate any cell (a 1-pixel head row at 4x downsampling covers 25%)
    keeps the cells where it covers the most (all of them on ties) instead of vanishing. Hence a
    part present anywhere in the label keeps at least one cell, and a cell may be positive for
    several parts (each part's map is an independent binary target).

    Args:
        labels: [N, Hi, Wi] part codes (0 background, 1..num_parts) at image resolution.
        num_parts: P.
        size: (h, w) of the Conv5 map.
        threshold: coverage that always makes a cell positive.

    Returns:
        targets [N, P, h, w] float in {0, 1} and visibility [N, P] float in {0, 1}
        (1 when the part has any positive cell).
    """
    if labels.dim() != 3:
        raise ValueError(f"part_targets expects labels [N, H, W], got {tuple(labels.shape)}")
    codes = labels.long()
    if codes.numel() and (codes.min() < 0 or codes.max() > num_parts):
        raise ValueError(
            f"part_targets got label codes in [{int(codes.min())}, {int(codes.max())}] but "
            f"num_parts={num_parts}; map the labels to 0..{num_parts} first (datasets/parts.py)"
        )
    parts = torch.arange(1, num_parts + 1, device=labels.device).view(1, -1, 1, 1)
    onehot = (codes.unsqueeze(1) == parts).float()  # [N, P, Hi, Wi]
    cov = F.adaptive_avg_pool2d(onehot, size)  # [N, P, h, w] area fraction per cell
    best = cov.amax(dim=(2, 3), keepdim=True)  # [N, P, 1, 1]
    need = best.clamp(max=threshold) - 1e-6  # tolerance: equal areas pool to equal floats
    targets = ((cov >= need) & (cov > 0)).float()  # [N, P, h, w]
    visibility = targets.amax(dim=(2, 3))  # [N, P]
    return targets, visibility


def nearest_targets(labels: Tensor, num_parts: int, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Resizes part-label maps to the Conv5 grid by nearest neighbour, as the official code.

    The official transforms resize the label image with PIL's NEAREST (cell centres sampled,
    ``nearest-exact`` here), e.g. 384x128 -> 24x8. A part smaller than the sampling step can
    vanish (DESIGN: mind the Conv5 map at low resolution); ``part_targets`` keeps it.

    Args:
        labels: [N, Hi, Wi] part codes (0 background, 1..num_parts).
        num_parts: P.
        size: (h, w) of the Conv5 map.

    Returns:
        targets [N, P, h, w] float in {0, 1} and visibility [N, P] float in {0, 1}.
    """
    if labels.dim() != 3:
        raise ValueError(f"nearest_targets expects labels [N, H, W], got {tuple(labels.shape)}")
    codes = labels.float().unsqueeze(1)  # [N, 1, Hi, Wi]
    small = F.interpolate(codes, size=size, mode="nearest-exact").long()  # [N, 1, h, w]
    parts = torch.arange(1, num_parts + 1, device=labels.device).view(1, -1, 1, 1)
    targets = (small == parts).float()  # [N, P, h, w]
    return targets, targets.amax(dim=(2, 3))
