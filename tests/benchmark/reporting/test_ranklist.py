"""Rank lists with parts on a hand-built case: part distances, used parts, rules, figure data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.colors import to_hex
from PIL import Image

from benchmark.errors import DataError, UserError
from benchmark.evaluation.distance import distance_matrix
from benchmark.evaluation.features import FeatureBank
from benchmark.reporting.ranklist import Rule, caption, parse_rule, ranklist_frame, top_k
from benchmark.reporting.ranklist_data import (
    MaskRecorder,
    RanklistData,
    load_ranklist_data,
    part_distances,
    query_aps,
    ranked_gallery,
    save_ranklist_data,
    stored_datasets,
)
from benchmark.reporting.ranklist_figure import RIGHT, WRONG, build_figure, part_names
from reid_methods.base import Output

S2 = math.sqrt(2.0)
# 3 parts, D = 2. Queries (camera 0): q0 pid 1 sees parts 1, 2; q1 pid 2 sees all; q2 pid 1 sees
# part 3 only; q3 pid 9 has no match in the gallery.
Q_FEATS = [
    [[1, 0], [0, 1], [1, 0]],
    [[0, 1], [0, 1], [-1, 0]],
    [[5, 5], [5, 5], [0, 1]],
    [[1, 0], [1, 0], [1, 0]],
]
Q_VIS = [[1, 1, 0], [1, 1, 1], [0, 0, 1], [1, 1, 1]]
# Gallery (camera 1): g3's part 1 is (3, 4), i.e. (0.6, 0.8) once normalised by eq. (1).
G_FEATS = [
    [[1, 0], [1, 0], [0, 1]],
    [[0, 1], [0, 2], [-1, 0]],
    [[1, 1], [1, 1], [-1, 0]],
    [[3, 4], [0, 2], [1, 0]],
]
G_VIS = [[1, 0, 1], [1, 1, 1], [0, 0, 1], [1, 1, 1]]
G_PIDS = [1, 2, 2, 1]


def tiny(tmp_path=None, maps: bool = False) -> RanklistData:
    query = FeatureBank(
        torch.tensor(Q_FEATS, dtype=torch.float32),
        torch.tensor(Q_VIS, dtype=torch.float32),
        torch.tensor([1, 2, 1, 9]),
        torch.zeros(4, dtype=torch.long),
    )
    gallery = FeatureBank(
        torch.tensor(G_FEATS, dtype=torch.float32),
        torch.tensor(G_VIS, dtype=torch.float32),
        torch.tensor(G_PIDS),
        torch.ones(4, dtype=torch.long),
    )
    paths = [], []
    if tmp_path is not None:
        rng = np.random.default_rng(0)
        for side, n in (("q", 4), ("g", 4)):
            for i in range(n):
                path = tmp_path / f"{side}{i}.png"
                Image.fromarray(rng.integers(0, 255, (32, 16, 3), dtype=np.uint8)).save(path)
                paths[0 if side == "q" else 1].append(str(path))
    else:
        paths = [f"q{i}.png" for i in range(4)], [f"g{i}.png" for i in range(4)]
    part_map = np.zeros((4, 4, 2), dtype=np.uint8)
    part_map[:, 0], part_map[:, 1:3] = 1, 2  # head row, two torso rows, background at the bottom
    qm, gm = (part_map, part_map.copy()) if maps else (None, None)
    return RanklistData("tiny", query, gallery, tuple(paths[0]), tuple(paths[1]), qm, gm)


def eq1_part(a, b) -> float:
    """The slow reference: ||a/|a| - b/|b||| in float64."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.linalg.norm(a / np.linalg.norm(a) - b / np.linalg.norm(b)))


def test_part_distances_equal_eq1_terms_and_their_used_mean_is_distance_matrix() -> None:
    data = tiny()
    parts = part_distances(data.query, data.gallery)  # [Q, G, P]
    slow = torch.tensor(
        [[[eq1_part(q[j], g[j]) for j in range(3)] for g in G_FEATS] for q in Q_FEATS]
    )
    torch.testing.assert_close(parts, slow.float(), atol=1e-6, rtol=0)
    assert parts[0, 3, 0] == pytest.approx(math.sqrt(0.8), abs=1e-6), "(1,0) vs (0.6,0.8)"
    used = data.query.visibility[:, None, :] * data.gallery.visibility[None, :, :]
    mean = (parts * used).sum(-1) / used.sum(-1)
    total = distance_matrix(data.query, data.gallery)
    torch.testing.assert_close(total[used.sum(-1) > 0], mean[used.sum(-1) > 0])
    assert torch.isinf(total[0, 2]), "q0 and g2 share no visible part"


def test_frame_shows_hand_computed_parts_used_flags_and_totals() -> None:
    frame, said = ranklist_frame(tiny(), Rule("pattern", "110"), count=1, k=3)
    assert set(frame["query"]) == {0} and "visible parts 110" in said
    tiles = frame.sort_values(["rank", "part"])
    assert tiles.groupby("rank")["gallery"].first().tolist() == [0, 3, 1], "eq. (1) order"
    assert tiles.groupby("rank")["correct"].first().tolist() == [True, True, False]
    expected = [[0.0, S2, S2], [math.sqrt(0.8), 0.0, 0.0], [S2, 0.0, 2.0]]
    got = tiles["part_distance"].to_numpy().reshape(3, 3)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    used = tiles["used"].to_numpy().reshape(3, 3)
    assert used.tolist() == [[True, False, False], [True, True, False], [True, True, False]]
    totals = tiles.groupby("rank")["total"].first().to_numpy()
    np.testing.assert_allclose(totals, [0.0, math.sqrt(0.8) / 2, S2 / 2], atol=1e-6)


def test_used_flags_follow_visibility_of_both_images() -> None:
    frame, _ = ranklist_frame(tiny(), Rule("random"), count=10, k=4)
    data = tiny()
    for row in frame.itertuples():
        qv = bool(data.query.visibility[row.query, row.part - 1])
        gv = bool(data.gallery.visibility[row.gallery, row.part - 1])
        assert (row.query_visible, row.gallery_visible, row.used) == (qv, gv, qv and gv), row


def test_top_k_breaks_ties_pessimistically_like_the_evaluation() -> None:
    lists, dist = top_k(tiny(), [2], k=4)
    # q2 sees part 3 only: g0 at 0 (match); g1, g2 and g3 all at sqrt(2), the match g3 last
    assert lists == [[0, 1, 2, 3]], lists
    assert float(dist[0, 1]) == float(dist[0, 3]), "a real tie"


def test_worst_rule_picks_the_lowest_ap_query() -> None:
    data = tiny()
    aps = query_aps(data)
    assert math.isnan(aps[3]), "q3 has no match in the gallery"
    np.testing.assert_allclose(aps[:3], [1.0, 1.0, (1 + 2 / 4) / 2])
    frame, said = ranklist_frame(data, Rule("worst"), count=1, k=2)
    assert set(frame["query"]) == {2} and "lowest-AP" in said
    assert frame["query_ap"].iloc[0] == pytest.approx(0.75)


def test_random_rule_is_seeded_and_never_picks_a_query_without_match() -> None:
    data = tiny()
    first, _ = ranklist_frame(data, Rule("random", seed=3), count=2, k=1)
    again, said = ranklist_frame(data, Rule("random", seed=3), count=2, k=1)
    assert list(first["query"].unique()) == list(again["query"].unique())
    assert len(first["query"].unique()) == 2 and "seed 3" in said
    every, _ = ranklist_frame(data, Rule("random", seed=1), count=10, k=1)
    assert sorted(every["query"].unique()) == [0, 1, 2], "q3 (no match) is never drawn"


def test_pattern_rule_and_its_errors() -> None:
    frame, _ = ranklist_frame(tiny(), Rule("pattern", "001"), count=5, k=1)
    assert set(frame["query"]) == {2}
    with pytest.raises(DataError, match="present: 111 \\(2\\), 110 \\(1\\), 001 \\(1\\)"):
        ranklist_frame(tiny(), Rule("pattern", "010"), count=1, k=1)
    with pytest.raises(UserError, match="has 2 parts but the method has 3"):
        ranklist_frame(tiny(), Rule("pattern", "11"), count=1, k=1)
    assert parse_rule("pattern:1011") == Rule("pattern", "1011")
    with pytest.raises(UserError, match="use random, worst or pattern"):
        parse_rule("best")


def test_caption_marks_used_parts_and_states_the_total() -> None:
    frame, _ = ranklist_frame(tiny(), Rule("pattern", "110"), count=1, k=3)
    tile = frame[frame["rank"] == 2]
    assert caption(tile, part_names(3)).splitlines() == [
        "● part 1 0.89",
        "● part 2 0.00",
        "○ part 3 0.00",
        "d = 0.447",
    ]
    assert part_names(4)[0] == "head", "HPNet's parts by name"


def test_figure_grid_frames_captions_and_title_follow_the_frame(tmp_path) -> None:
    data = tiny(tmp_path, maps=True)
    frame, said = ranklist_frame(data, Rule("worst"), count=2, k=3)
    fig = build_figure(frame, data, f"queries: {said}")
    axes = np.array(fig.axes).reshape(2, 4)
    names = part_names(3)
    for row, qi in zip(axes, dict.fromkeys(frame["query"]), strict=True):
        assert row[0].get_title() == f"query #{qi}"
        tiles = frame[frame["query"] == qi].groupby("rank")
        for ax, (rank, tile) in zip(row[1:], tiles, strict=True):
            assert ax.get_title() == str(rank)
            color = RIGHT if tile["correct"].iloc[0] else WRONG
            assert to_hex(ax.spines["left"].get_edgecolor()) == color
            assert ax.get_xlabel() == caption(tile, names)
            image = ax.get_images()[0].get_array()
            assert image.shape == (128, 64, 3), "every tile at the ReID aspect ratio"
    assert said in fig._suptitle.get_text(), "the rule is stated on the figure"


@pytest.mark.parametrize("maps", [True, False])
def test_tiles_carry_the_part_masks_only_when_the_method_has_them(tmp_path, maps) -> None:
    from benchmark.loading.data import read_image

    data = tiny(tmp_path, maps=maps)
    frame, _ = ranklist_frame(data, Rule("pattern", "110"), count=1, k=1)
    fig = build_figure(frame, data, "t")
    shown = np.asarray(fig.axes[1].get_images()[0].get_array())  # rank 1: gallery 0
    raw = read_image(tmp_path / "g0.png", (128, 64))
    # the 4x2 map: part 1 in the top quarter (rows 0-31 at 128x64), part 2 in the middle half,
    # background in the bottom quarter
    changed = (shown != raw).any(-1)
    if maps:
        assert changed[:96].all() and not changed[96:].any(), "parts blended, background left"
    else:
        assert not changed.any(), "no masks: the plain image"


def test_ranklist_data_round_trip_and_missing_set(tmp_path) -> None:
    data = tiny(maps=True)
    save_ranklist_data(data, tmp_path)
    assert stored_datasets(tmp_path) == ["tiny"]
    back = load_ranklist_data(tmp_path, "tiny")
    torch.testing.assert_close(back.query.features, data.query.features)
    assert back.gallery_paths == data.gallery_paths and back.market_ids is False
    np.testing.assert_array_equal(back.query_maps, data.query_maps)
    with pytest.raises(DataError, match="no rank-list data for occluded_reid .*stored: tiny"):
        load_ranklist_data(tmp_path, "occluded_reid")


class _Parser(torch.nn.Module):
    def __init__(self, with_masks: bool) -> None:
        super().__init__()
        self.with_masks = with_masks

    def forward(self, images: torch.Tensor) -> Output:
        n = len(images)
        masks = torch.zeros(n, 2, 2, 1)
        masks[:, 1, 0, 0] = 0.9  # part 2 in the top cell
        masks[:, 0, 1, 0] = 0.4  # below 0.5: background
        feats = torch.ones(n, 2, 3)
        return Output(feats, torch.ones(n, 2), masks=masks if self.with_masks else None)


def test_mask_recorder_keeps_the_part_maps_of_each_forward() -> None:
    model = _Parser(True)
    with MaskRecorder(model) as rec:
        model(torch.zeros(3, 3, 4, 2))
        model(torch.zeros(2, 3, 4, 2))
    model(torch.zeros(1, 3, 4, 2))  # after the block: not recorded
    qmaps, gmaps = rec.split(3, 2)
    assert qmaps.shape == (3, 2, 1) and gmaps.shape == (2, 2, 1)
    assert qmaps[0, :, 0].tolist() == [2, 0], "part 2 above 0.5, background below"
    plain = _Parser(False)
    with MaskRecorder(plain) as rec:
        plain(torch.zeros(2, 3, 4, 2))
    assert rec.split(1, 1) == (None, None), "a method without masks shows none"


def cos_part(a, b) -> float:
    """The slow reference of the official part term: 1 - cos(a, b) in float64."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(1.0 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_official_runs_rank_and_caption_by_the_official_distance() -> None:
    data = tiny()
    parts = part_distances(data.query, data.gallery, "official")
    slow = torch.tensor(
        [[[cos_part(q[j], g[j]) for j in range(3)] for g in G_FEATS] for q in Q_FEATS]
    )
    torch.testing.assert_close(parts, slow.float(), atol=1e-6, rtol=0)
    frame, _ = ranklist_frame(data, Rule("pattern", "111"), count=1, k=4, distance="official")
    official = distance_matrix(data.query, data.gallery, distance="official")
    ranks = frame.groupby("rank")[["query", "gallery", "total"]].first()
    q = int(ranks["query"].iloc[0])
    assert ranks["total"].tolist() == [float(official[q, g]) for g in ranks["gallery"]]
    assert ranks["total"].is_monotonic_increasing
    eq1, _ = ranklist_frame(data, Rule("pattern", "111"), count=1, k=4)
    assert not np.allclose(eq1["total"], frame["total"]), "the two distances differ here"


def test_ranked_gallery_leaves_out_same_camera_matches_and_puts_tied_matches_last() -> None:
    data = tiny()
    gallery = FeatureBank(
        data.gallery.features,
        data.gallery.visibility,
        data.gallery.pids,
        torch.tensor([1, 1, 1, 0]),
    )  # g3 (pid 1) shares camera 0 with the queries
    dist = torch.tensor([[0.5, 0.5, 0.2, 0.1], [0.3, 0.3, 0.3, 0.3]])
    q = FeatureBank(
        data.query.features[:2],
        data.query.visibility[:2],
        torch.tensor([1, 2]),
        torch.zeros(2, dtype=torch.long),
    )
    assert ranked_gallery(dist, q, gallery, False, 4) == [[2, 1, 0], [0, 3, 1, 2]]


def test_the_runs_example_rankings_follow_the_evaluation_rules(tmp_path) -> None:
    import json

    from benchmark.reporting.figure_data import EXAMPLES_JSON, save_rankings
    from reid_datasets.base import Sample, Splits

    data = tiny()
    q_pids = [1, 2, 1, 9]
    splits = Splits(
        "tiny",
        query=tuple(Sample(Path(p), q_pids[i], 0) for i, p in enumerate(data.query_paths)),
        gallery=tuple(Sample(Path(p), G_PIDS[i], 1) for i, p in enumerate(data.gallery_paths)),
    )
    save_rankings(splits, data.query, data.gallery, tmp_path, count=4, top=4)
    stored = json.loads((tmp_path / EXAMPLES_JSON).read_text())["rankings"]
    want, _ = top_k(data, [0, 1, 2, 3], k=4)
    assert [[data.gallery_paths.index(g) for g in r["gallery"]] for r in stored] == want
