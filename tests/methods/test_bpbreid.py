"""The BPBReID-style head: each loss term against a slow loop, shapes, visibility, registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reid_methods import build_method, method_config
from reid_methods.base import METHODS, Batch
from reid_methods.bpbreid import (
    attention_targets,
    holistic_id_loss,
    part_averaged_triplet,
    weighted_average_pool,
)


def test_weighted_average_pool_is_the_weighted_mean_of_the_cells():
    g = torch.Generator().manual_seed(0)
    fmap, w = torch.rand(2, 3, 4, 2, generator=g), torch.rand(2, 5, 4, 2, generator=g)
    got = weighted_average_pool(fmap, w)
    for n in range(2):
        for m in range(5):
            want = sum(w[n, m, y, x] * fmap[n, :, y, x] for y in range(4) for x in range(2))
            torch.testing.assert_close(got[n, m], want / w[n, m].sum())


def _smoothed_ce(logits, target, eps):
    logp = logits.log_softmax(-1)
    c = logits.shape[-1]
    return float(-(1 - eps) * logp[target] - eps / c * logp.sum())


def test_holistic_id_loss_sums_the_smoothed_cross_entropy_of_each_embedding():
    g = torch.Generator().manual_seed(1)
    logits, pids = torch.randn(6, 3, 7, generator=g), torch.tensor([0, 0, 3, 3, 5, 5])
    want = sum(
        sum(_smoothed_ce(logits[i, m], int(pids[i]), 0.1) for i in range(6)) / 6 for m in range(3)
    )
    assert float(holistic_id_loss(logits, pids, 0.1)) == pytest.approx(want, rel=1e-5)


def _slow_triplet(h, vis, pids, margin):
    n, p, _ = h.shape
    losses = []
    for a in range(n):
        pos, neg = [], []
        for b in range(n):
            shared = [j for j in range(p) if vis[a, j] and vis[b, j]]
            if a == b or not shared:
                continue
            d = np.mean([float(torch.linalg.norm(h[a, j] - h[b, j])) for j in shared])
            (pos if pids[a] == pids[b] else neg).append(d)
        if pos and neg:
            losses.append(max(0.0, margin + max(pos) - min(neg)))
    return float(np.mean(losses)) if losses else 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_part_averaged_triplet_matches_a_loop_over_anchors(seed):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(8, 4, 5, generator=g)
    vis = (torch.rand(8, 4, generator=g) > 0.4).float()
    vis[0] = 0.0  # an anchor that shares nothing forms no triplet
    pids = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    got = float(part_averaged_triplet(h, vis, pids, 0.3))
    assert got == pytest.approx(_slow_triplet(h, vis, pids, 0.3), rel=1e-5, abs=1e-6)


def test_no_triplet_gives_a_zero_loss_with_a_graph():
    h = torch.randn(2, 4, 3, requires_grad=True)
    loss = part_averaged_triplet(h, torch.ones(2, 4), torch.tensor([0, 1]), 0.3)
    assert float(loss.detach()) == 0.0 and loss.requires_grad


def test_attention_targets_take_the_class_covering_most_of_each_cell():
    labels = torch.zeros(1, 8, 4, dtype=torch.uint8)
    labels[0, :2] = 1  # head on the top quarter
    labels[0, 2:5, :3] = 2  # torso on 9 of the 12 pixels of rows 2-4
    got = attention_targets(labels, 4, (4, 2))
    for y in range(4):
        for x in range(2):
            cell = labels[0, 2 * y : 2 * y + 2, 2 * x : 2 * x + 2].flatten().tolist()
            counts = [cell.count(c) for c in range(5)]
            assert int(got[0, y, x]) == counts.index(max(counts)), (y, x)


def test_forward_shapes_visibility_and_loss_terms():
    torch.manual_seed(0)
    model = build_method("bpbreid", 4, backbone="resnet18_quarter").train()
    images = torch.randn(6, 3, 128, 64)
    out = model(images)
    assert out.features.shape[:2] == (6, 5) and out.visibility.shape == (6, 5)
    assert (out.visibility[:, 0] == 1).all(), "the foreground embedding is always compared"
    assert out.masks.shape[:2] == (6, 4) and out.logits.shape == (6, 3, 4)
    winners = out.extras["part_scores"].argmax(dim=1)  # [N, H, W]
    for j in range(4):
        assert torch.equal(out.visibility[:, 1 + j].bool(), (winners == j + 1).flatten(1).any(1))
    labels = torch.randint(0, 5, (6, 128, 64), dtype=torch.uint8)
    batch = Batch(images, torch.tensor([0, 0, 1, 1, 2, 2]), labels)
    terms = model.loss(out, batch)
    assert set(terms) == {"id", "triplet", "attention"}
    scores = out.extras["part_scores"]
    targets = attention_targets(labels, 4, scores.shape[-2:])
    cells = [
        _smoothed_ce(scores[n, :, y, x], int(targets[n, y, x]), 0.1)
        for n in range(6)
        for y in range(scores.shape[2])
        for x in range(scores.shape[3])
    ]
    assert float(terms["attention"]) == pytest.approx(0.35 * np.mean(cells), rel=1e-4)
    assert math.isfinite(float(sum(terms.values())))


def test_registry_names_it_as_our_implementation_compared_with_hpnet():
    meta = METHODS.meta("bpbreid")
    assert meta["row"].label == "BPBReID-style (our implementation)"
    assert meta["row"].table is None, "not a row of the HPNet paper's tables"
    assert meta["in_all"] and meta["reference"] == "hpnet"
    cfg = method_config("bpbreid")
    assert cfg.needs_part_labels and not cfg.needs_coco
