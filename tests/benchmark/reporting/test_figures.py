"""Tests of the figures: each is written as a non-empty PNG; bad inputs fail clearly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benchmark.errors import DataError
from benchmark.reporting.figures import (
    bar_chart,
    cmc_curves,
    overlay,
    part_overlays,
    ranking_list,
    ranking_lists,
    robustness_curve,
    write_figures,
)
from tests.benchmark.reporting.result_rows import frame, rows

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path):
    assert path.is_file() and path.stat().st_size > 1000, f"{path} is missing or tiny"
    assert path.read_bytes()[:8] == PNG_MAGIC, f"{path} is not a PNG"
    with Image.open(path) as img:
        assert img.width > 50 and img.height > 50, f"{path} is {img.size}"
    assert not list(path.parent.glob("*.tmp*")), "no temporary file is left behind"


def _results():
    groups = []
    for seed in (0, 1):
        for method, base in (("hpnet", 0.8), ("baseline", 0.6)):
            groups.append(
                rows(
                    method,
                    "occluded_reid",
                    seed=seed,
                    rank1=base + 0.01 * seed,
                    rank3=base + 0.1,
                    rank5=base + 0.12,
                    rank10=base + 0.15,
                    mAP=base - 0.1,
                )
            )
            for occlusion in (0.0, 0.3, 0.6):
                groups.append(
                    rows(
                        method,
                        "occluded_reid",
                        seed=seed,
                        extra={"occlusion": occlusion},
                        rank1=base - occlusion / 2,
                        mAP=base - 0.1 - occlusion / 2,
                    )
                )
    groups.append(rows("hpnet", "market1501", rank1=0.95, mAP=0.85))
    return frame(*groups)


def _images(tmp_path, n):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = tmp_path / f"img{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (32, 16, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_bar_chart_and_cmc(tmp_path):
    _assert_png(bar_chart(_results(), "occluded_reid", tmp_path / "bars.png"))
    curves = {"HPNet": np.linspace(0.5, 1.0, 20), "Baseline": np.array([[1, 0.4], [5, 0.7]])}
    _assert_png(cmc_curves(curves, tmp_path / "cmc.png", "CMC"))
    with pytest.raises(DataError, match="partial_reid"):
        bar_chart(_results(), "partial_reid", tmp_path / "none.png")


def test_ranking_lists_of_tiny_images(tmp_path):
    paths = _images(tmp_path, 11)
    correct = [i % 2 == 0 for i in range(10)]
    _assert_png(ranking_list(paths[0], paths[1:], correct, tmp_path / "out" / "one.png"))
    many = [(paths[0], paths[1:], correct), (paths[1], paths[2:7], [True] * 5)]
    _assert_png(ranking_lists(many, tmp_path / "out" / "many.png"))
    with pytest.raises(DataError, match="cannot read image"):
        ranking_list(tmp_path / "missing.jpg", paths[1:3], [True, False], tmp_path / "x.png")
    with pytest.raises(ValueError, match="correct flags"):
        ranking_list(paths[0], paths[1:3], [True], tmp_path / "x.png")


def test_part_overlays_colours_parts_only(tmp_path):
    image = np.full((48, 24, 3), 100, dtype=np.uint8)
    mask = np.zeros((48, 24), dtype=np.int64)
    mask[:12], mask[12:24], mask[24:36], mask[36:] = 1, 2, 3, 4
    mask[:, :4] = 0
    blended = overlay(image, mask)
    assert (blended[:, :4] == 100).all(), "background pixels keep the image"
    assert not (blended[:12, 4:] == 100).all(), "head pixels are coloured"
    _assert_png(part_overlays([image, image], [mask, mask], tmp_path / "parts.png"))
    with pytest.raises(ValueError, match="codes"):
        overlay(image, mask + 4)
    with pytest.raises(ValueError, match="must be"):
        overlay(image, mask[:10])


def test_robustness_curve_and_write_figures(tmp_path):
    df = _results()
    _assert_png(robustness_curve(df, tmp_path / "rob.png"))
    written = write_figures(df, tmp_path / "figs")
    names = sorted(p.name for p in written)
    assert names == [
        "bars_market1501.png",
        "bars_occluded_reid.png",
        "cmc_occluded_reid.png",
        "robustness.png",
    ], f"figures the data supports: {names}"
    for path in written:
        _assert_png(path)
    with pytest.raises(DataError, match="occlusion"):
        robustness_curve(df.drop(columns="occlusion"), tmp_path / "none.png")
