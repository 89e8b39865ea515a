"""Losses of eqs. (2)-(10) against slow per-sample/per-pair loops and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from reid_methods.losses import (
    batch_hard_triplet,
    focal_parsing_loss,
    id_loss,
    nearest_targets,
    part_distance,
    part_targets,
    part_triplet_loss,
)

SEEDS = (0, 1, 2, 3)
INF = float("inf")


def _case(seed: int, n: int = 9, p: int = 3, d: int = 5) -> tuple[Tensor, Tensor, Tensor]:
    """Features, visibility (with all-invisible rows and a part visible nowhere), pids."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, p, d, generator=g, dtype=torch.float64)
    vis = (torch.rand(n, p, generator=g) < 0.5).double()
    vis[0] = 0.0  # an image with no visible part: shares nothing with anyone
    vis[:, p - 1] = 0.0  # a part visible nowhere
    vis[1, 0] = vis[2, 0] = 1.0  # at least one shared pair
    pids = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 4])[:n]  # 3 and 4: no positive
    return h, vis, pids


# ---------------------------------------------------------------- slow references


def _slow_id(logits: Tensor, pids: Tensor, vis: Tensor, normalize: str) -> float:
    n, p, _ = logits.shape
    per_part = [0.0] * p
    counts = [0.0] * p
    for i in range(n):
        for j in range(p):
            logp = torch.log_softmax(logits[i, j], dim=0)[pids[i]].item()
            per_part[j] += -logp * vis[i, j].item()
            counts[j] += vis[i, j].item()
    if normalize == "batch":
        return sum(per_part) / n
    return sum(s / c if c > 0 else 0.0 for s, c in zip(per_part, counts, strict=True))


def _slow_distance(h: Tensor, vis: Tensor, pids: Tensor) -> Tensor:
    n, p, _ = h.shape
    out = torch.empty(n, n, dtype=h.dtype)
    for a in range(n):
        for b in range(n):
            shared = [j for j in range(p) if vis[a, j] > 0 and vis[b, j] > 0]
            if shared:
                norms = [torch.linalg.norm(h[a, j] - h[b, j]).item() for j in shared]
                out[a, b] = sum(norms) / len(shared)
            else:
                out[a, b] = -INF if pids[a] == pids[b] else INF
    return out


def _slow_batch_hard(dist: Tensor, pids: Tensor, margin: float) -> float:
    n = len(pids)
    total = 0.0
    for i in range(n):
        pos = [dist[i, j].item() for j in range(n) if j != i and pids[j] == pids[i]]
        neg = [dist[i, k].item() for k in range(n) if pids[k] != pids[i]]
        d_ap = max(pos) if pos else -INF
        d_an = min(neg) if neg else INF
        if math.isfinite(d_ap) and math.isfinite(d_an):
            total += max(0.0, margin + d_ap - d_an)
    return total / n


def _slow_focal(
    probs: Tensor, targets: Tensor, alpha: float, gamma: float, normalize: str = "image"
) -> float:
    n, p, hh, ww = probs.shape
    sums = [[0.0] * p for _ in range(n)]  # per (image, part): sum over pixels of eta * L
    for i in range(n):
        for j in range(p):
            for m in range(hh):
                for k in range(ww):
                    r, t = probs[i, j, m, k].item(), targets[i, j, m, k].item()
                    bce = -(t * math.log(r) + (1 - t) * math.log(1 - r))  # eq. (6)
                    psi = (1 - r) * t + r * (1 - t)  # eq. (7)
                    eta = (alpha * t + (1 - alpha) * (1 - t)) * psi**gamma  # eq. (8)
                    sums[i][j] += eta * bce
    count = [[targets[i, j].sum().item() for j in range(p)] for i in range(n)]
    batch = [max(sum(count[i][j] for i in range(n)), 1.0) for j in range(p)]  # ps_loss.py
    if normalize == "batch":  # official: sum over the batch / the batch's positives, per part
        return sum(sum(sums[i][j] for i in range(n)) / batch[j] for j in range(p))
    total = 0.0
    for i in range(n):
        for j in range(p):  # eq. (9); an empty label takes the batch's count of that part
            total += sums[i][j] / (count[i][j] if count[i][j] > 0 else batch[j])
    return total / n


def _slow_targets(labels: Tensor, num_parts: int, size: tuple[int, int]) -> Tensor:
    """The documented rule, cell by cell (label size a multiple of ``size``)."""
    n, hi, wi = labels.shape
    bh, bw = hi // size[0], wi // size[1]
    out = torch.zeros(n, num_parts, *size)
    for i in range(n):
        for j in range(num_parts):
            cov = torch.zeros(size, dtype=torch.float64)
            for y in range(size[0]):
                for x in range(size[1]):
                    block = labels[i, y * bh : (y + 1) * bh, x * bw : (x + 1) * bw]
                    cov[y, x] = (block == j + 1).double().mean()
            need = min(0.5, cov.max().item())
            out[i, j] = ((cov >= need - 1e-9) & (cov > 0)).float()
    return out


# ---------------------------------------------------------------- eq. (2)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("normalize", ["batch", "visible"])
def test_id_loss_matches_loop(seed: int, normalize: str) -> None:
    _, vis, pids = _case(seed)
    g = torch.Generator().manual_seed(100 + seed)
    logits = torch.randn(len(pids), vis.shape[1], 6, generator=g, dtype=torch.float64)
    got = id_loss(logits, pids, vis, normalize=normalize)
    want = _slow_id(logits, pids, vis, normalize)
    torch.testing.assert_close(got.item(), want, msg=f"id_loss({normalize}) != loop")


def test_id_loss_normalisations_differ_as_documented() -> None:
    logits = torch.zeros(4, 2, 3)  # uniform: each visible (image, part) costs log 3
    pids = torch.tensor([0, 1, 2, 0])
    vis = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])  # part 2 never visible
    batch = id_loss(logits, pids, vis, "batch")
    visible = id_loss(logits, pids, vis, "visible")
    torch.testing.assert_close(batch.item(), 3 * math.log(3) / 4, msg="paper: sum / N")
    torch.testing.assert_close(visible.item(), math.log(3), msg="code: per-part mean, 0 if unseen")


def test_id_loss_rejects_unknown_normalize() -> None:
    with pytest.raises(ValueError, match="normalize"):
        id_loss(torch.zeros(2, 1, 3), torch.tensor([0, 1]), torch.ones(2, 1), "mean")


# ---------------------------------------------------------------- eqs. (3)-(5)


@pytest.mark.parametrize("seed", SEEDS)
def test_part_distance_matches_loop(seed: int) -> None:
    h, vis, pids = _case(seed)
    got = part_distance(h, vis, pids)
    want = _slow_distance(h, vis, pids)
    assert torch.isneginf(got[0, 1]) and torch.isposinf(got[0, 2]), "no shared part -> -inf/+inf"
    torch.testing.assert_close(got, want, msg="part_distance != loop (eq. 4)")


@pytest.mark.parametrize("seed", SEEDS)
def test_part_triplet_matches_loop(seed: int) -> None:
    h, vis, pids = _case(seed)
    got = part_triplet_loss(h, vis, pids, margin=0.3)
    want = _slow_batch_hard(_slow_distance(h, vis, pids), pids, 0.3)
    torch.testing.assert_close(got.item(), want, msg="part_triplet_loss != loop (eqs. 3-5)")


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_hard_on_random_matrix_with_infinities(seed: int) -> None:
    g = torch.Generator().manual_seed(200 + seed)
    n = 8
    pids = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3])
    dist = torch.rand(n, n, generator=g, dtype=torch.float64) * 2
    same = pids[:, None] == pids[None, :]
    drop = torch.rand(n, n, generator=g) < 0.35
    dist = torch.where(drop & same, torch.full_like(dist, -INF), dist)
    dist = torch.where(drop & ~same, torch.full_like(dist, INF), dist)
    dist[5, 6] = -INF  # anchor 5: its only positive has no shared part
    dist[0, pids != 0] = INF  # anchor 0: no usable negative
    got = batch_hard_triplet(dist, pids, margin=0.5)
    torch.testing.assert_close(got.item(), _slow_batch_hard(dist, pids, 0.5), msg="batch-hard")


def test_anchor_without_usable_pair_contributes_zero_but_counts_in_mean() -> None:
    pids = torch.tensor([0, 0, 1])
    dist = torch.tensor([[0.0, 1.0, 0.5], [1.0, 0.0, INF], [0.5, INF, 0.0]])
    # anchor 0: relu(0.3 + 1.0 - 0.5) = 0.8; anchor 1: negative +inf; anchor 2: no positive.
    got = batch_hard_triplet(dist, pids, margin=0.3)
    torch.testing.assert_close(got.item(), 0.8 / 3, msg="mean over all N anchors (eq. 5)")


def test_p1_reduces_to_ordinary_batch_hard() -> None:
    g = torch.Generator().manual_seed(7)
    pids = torch.arange(4).repeat_interleave(3)  # PK batch: 4 ids x 3 images
    x = torch.randn(len(pids), 16, generator=g, dtype=torch.float64)
    dist = torch.cdist(x, x)
    same = pids[:, None] == pids[None, :]
    d_ap = torch.where(same, dist, torch.zeros_like(dist)).amax(dim=1)
    d_an = torch.where(same, torch.full_like(dist, INF), dist).amin(dim=1)
    want = F.relu(0.3 + d_ap - d_an).mean()
    got = part_triplet_loss(x.unsqueeze(1), torch.ones(len(pids), 1), pids, 0.3)
    torch.testing.assert_close(got, want, msg="P=1, visibility 1 must be plain batch-hard")


def test_triplet_gradients_finite_with_infinities() -> None:
    h, vis, pids = _case(0)
    h = h.clone().requires_grad_(True)
    h.data[4] = h.data[3]  # a zero off-diagonal distance too
    dist = part_distance(h, vis, pids)
    assert torch.isinf(dist).any(), "the case must contain +-inf distances"
    loss = batch_hard_triplet(dist, pids, margin=5.0)  # large margin: every valid anchor active
    loss.backward()
    assert torch.isfinite(loss) and loss > 0, f"loss {loss}"
    assert torch.isfinite(h.grad).all(), "NaN/inf gradient through -inf/+inf distances"
    assert h.grad[0].abs().sum() == 0, "an image sharing no part must receive no gradient"


# ---------------------------------------------------------------- eqs. (6)-(9)


def test_focal_hand_computed_2x2() -> None:
    probs = torch.tensor([[[[0.9, 0.2], [0.6, 0.1]]]])
    targets = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    # per pixel eta * L with eta = [alpha t + (1 - alpha)(1 - t)] psi^2, alpha = 0.25
    pixels = [
        0.25 * 0.1**2 * -math.log(0.9),  # r = 0.9, t = 1: psi = 0.1
        0.75 * 0.2**2 * -math.log(0.8),  # r = 0.2, t = 0: psi = 0.2
        0.25 * 0.4**2 * -math.log(0.6),  # r = 0.6, t = 1: psi = 0.4
        0.75 * 0.1**2 * -math.log(0.9),  # r = 0.1, t = 0: psi = 0.1
    ]
    want = sum(pixels) / 2  # two positive pixels
    assert abs(want - 0.0140905) < 1e-6, "hand computation"
    got = focal_parsing_loss(probs, targets)
    torch.testing.assert_close(got.item(), want, msg="focal loss 2x2")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("normalize", ["image", "batch"])
def test_focal_matches_loop_with_empty_labels(seed: int, normalize: str) -> None:
    g = torch.Generator().manual_seed(300 + seed)
    logits = torch.randn(3, 4, 5, 3, generator=g, dtype=torch.float64) * 2
    targets = (torch.rand(3, 4, 5, 3, generator=g) < 0.3).double()
    targets[0, 1] = 0.0  # an empty label: divided by the batch's count of part 2
    targets[2] = 0.0  # an image with no part at all
    targets[:, 3] = 0.0  # a part absent from the whole batch: divided by 1
    probs = torch.sigmoid(logits)
    want = _slow_focal(probs, targets, 0.25, 2.0, normalize)
    got = focal_parsing_loss(probs, targets, normalize=normalize).item()
    torch.testing.assert_close(got, want, msg=f"{normalize} normalisation")
    want = _slow_focal(probs, targets, 0.5, 1.0, normalize)
    got = focal_parsing_loss(probs, targets, 0.5, 1.0, normalize=normalize).item()
    torch.testing.assert_close(got, want, msg=f"{normalize}, alpha 0.5, gamma 1")


def test_focal_normalisations_hand_computed() -> None:
    """Two images, one part: eq. (9) divides each by its own positives, ps_loss.py by the sum."""
    probs = torch.tensor([[[[0.9, 0.2]]], [[[0.6, 0.3]]]])
    targets = torch.tensor([[[[1.0, 1.0]]], [[[0.0, 0.0]]]])  # image 2: an empty label
    a = 0.25 * 0.1**2 * -math.log(0.9) + 0.25 * 0.8**2 * -math.log(0.2)  # image 1, 2 positives
    b = 0.75 * 0.6**2 * -math.log(0.4) + 0.75 * 0.3**2 * -math.log(0.7)  # image 2, 0 positives
    image = (a / 2 + b / 2) / 2  # the empty label takes the batch's count (2), then 1 / N_b
    batch = (a + b) / 2  # official: one sum over the batch / its 2 positives
    assert abs(image - 0.13231) < 1e-5 and abs(batch - 0.26462) < 1e-5, "hand computation"
    got = focal_parsing_loss(probs, targets).item()
    torch.testing.assert_close(got, image, msg="eq. (9)")
    got = focal_parsing_loss(probs, targets, normalize="batch").item()
    torch.testing.assert_close(got, batch, msg="ps_loss.py")
    with pytest.raises(ValueError, match="normalize"):
        focal_parsing_loss(probs, targets, normalize="pixels")


def test_focal_finite_at_saturation() -> None:
    targets = torch.tensor([[[[1.0, 0.0, 1.0, 0.0]]]])
    probs = torch.tensor([[[[1.0, 0.0, 0.0, 1.0]]]], requires_grad=True)
    loss = focal_parsing_loss(probs, targets)
    loss.backward()
    assert torch.isfinite(loss) and loss > 0, f"focal_parsing_loss = {loss}"
    assert torch.isfinite(probs.grad).all(), "focal_parsing_loss gradient not finite"


# ---------------------------------------------------------------- label resizing


def test_part_targets_matches_rule_loop() -> None:
    g = torch.Generator().manual_seed(11)
    labels = torch.randint(0, 5, (3, 8, 4), generator=g, dtype=torch.uint8)
    labels = torch.where(torch.rand(3, 8, 4, generator=g) < 0.5, labels, torch.zeros_like(labels))
    labels[1][labels[1] == 3] = 0  # part 3 absent from image 1
    targets, vis = part_targets(labels, 4, (4, 2))
    torch.testing.assert_close(targets, _slow_targets(labels, 4, (4, 2)), msg="coverage rule")
    present = torch.stack([(labels == j).flatten(1).any(1) for j in range(1, 5)], 1).float()
    torch.testing.assert_close(vis, present, msg="visibility = part present in the label")
    assert vis[1, 2] == 0, "an absent part is invisible"


def test_part_targets_keeps_one_pixel_head_row() -> None:
    labels = torch.zeros(1, 16, 8, dtype=torch.uint8)
    labels[0, 1, 2:6] = 1  # a 1-pixel-tall head row: 2/16 of each top cell
    labels[0, 2:9, 1:7] = 2  # torso
    labels[0, 9:16, 2:6] = 3  # legs
    nearest = F.interpolate(labels[:, None].float(), size=(4, 2), mode="nearest")
    assert not (nearest == 1).any(), "nearest resizing erases the head (why the rule exists)"
    targets, vis = part_targets(labels, 4, (4, 2))
    assert vis.tolist() == [[1.0, 1.0, 1.0, 0.0]], f"visibility {vis.tolist()}"
    assert targets[0, 0].tolist() == [[1.0, 1.0], [0, 0], [0, 0], [0, 0]], "head keeps its row"
    assert targets[0, 1, 1].tolist() == [1.0, 1.0], "torso majority cells"
    assert targets[0, 1, 0].tolist() == [0.0, 0.0], "torso at 7/16 of top cells is below 0.5"


def test_part_targets_non_multiple_size_and_bad_codes() -> None:
    labels = torch.zeros(2, 13, 7, dtype=torch.long)
    labels[0, 0, 0] = 2  # a single pixel still keeps a cell
    labels[1, 3:10, 2:5] = 1
    targets, vis = part_targets(labels, 2, (4, 2))
    assert targets.shape == (2, 2, 4, 2), f"shape {tuple(targets.shape)}"
    assert vis.tolist() == [[0.0, 1.0], [1.0, 0.0]], f"visibility {vis.tolist()}"
    with pytest.raises(ValueError, match="num_parts"):
        part_targets(labels + 5, 2, (4, 2))


@pytest.mark.parametrize("size", [(384, 128), (128, 64), (100, 37)])
def test_nearest_targets_match_pil_nearest(size: tuple[int, int]) -> None:
    """The official transform: PIL NEAREST of the label image to the grid (24x8 at 384x128)."""
    g = torch.Generator().manual_seed(size[0])
    labels = torch.randint(0, 5, (2, *size), generator=g, dtype=torch.uint8)
    grid = (size[0] // 16, size[1] // 16)
    targets, vis = nearest_targets(labels, 4, grid)
    for i in range(2):
        small = Image.fromarray(labels[i].numpy()).resize(grid[::-1], Image.NEAREST)
        want = torch.from_numpy(np.asarray(small).copy())
        for j in range(4):
            torch.testing.assert_close(targets[i, j], (want == j + 1).float(), msg=f"{i},{j}")
            assert vis[i, j] == float((want == j + 1).any()), f"visibility {i},{j}"


def test_nearest_targets_can_drop_a_small_part() -> None:
    """Why coverage is the default elsewhere: nearest misses a head between sampled rows."""
    labels = torch.zeros(1, 16, 8, dtype=torch.uint8)
    labels[0, 1, 2:6] = 1  # 1-pixel head row, between the sampled rows 2, 6, 10, 14
    labels[0, 2:16, 1:7] = 2
    _, vis = nearest_targets(labels, 2, (4, 2))
    assert vis.tolist() == [[0.0, 1.0]], f"visibility {vis.tolist()}"
    assert part_targets(labels, 2, (4, 2))[1].tolist() == [[1.0, 1.0]], "coverage keeps it"
