"""Tests of the figures: what each one plots (labels, order, values); bad inputs fail clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure
from PIL import Image

from benchmark.errors import DataError
from benchmark.reporting.figures import (
    RIGHT,
    WRONG,
    bar_chart,
    claims_chart,
    cmc_curves,
    overlay,
    part_overlays,
    ranking_lists,
    robustness_curve,
    write_claims_figures,
    write_figures,
)
from tests.benchmark.reporting.result_rows import frame, rows

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def plotted(monkeypatch) -> list[Figure]:
    """The figures saved during a test, in order (a spy on ``Figure.savefig``)."""
    figures: list[Figure] = []
    savefig = Figure.savefig

    def spy(self, *args, **kwargs):
        figures.append(self)
        return savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return figures


def _assert_png(path):
    assert path.is_file() and path.read_bytes()[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert not list(path.parent.glob("*.tmp*")), "no temporary file is left behind"


def _ticks(ax) -> list[str]:
    return [t.get_text() for t in ax.get_xticklabels()]


def _legend(legend) -> list[str]:
    return [t.get_text() for t in legend.get_texts()]


def _bar_heights(ax) -> list[list[float]]:
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    return [[round(p.get_height(), 6) for p in c.patches] for c in bars]


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


def test_bar_chart_plots_registered_labels_in_row_order(tmp_path, plotted):
    _assert_png(bar_chart(_results(), "occluded_reid", tmp_path / "bars.png"))
    (ax,) = plotted[0].axes
    assert _ticks(ax) == ["Baseline", "HPNet"], f"labels in the tables' order: {_ticks(ax)}"
    assert _legend(ax.get_legend()) == ["Rank-1", "mAP"], _legend(ax.get_legend())
    assert _bar_heights(ax) == [[60.5, 80.5], [50.0, 70.0]], "mean over seeds, in %"
    assert ax.get_title() == "Occluded-REID, multi-gallery-shot", ax.get_title()
    with pytest.raises(DataError, match="partial_reid"):
        bar_chart(_results(), "partial_reid", tmp_path / "none.png")


def test_cmc_curves_plot_full_and_sparse_curves(tmp_path, plotted):
    curves = {"HPNet": np.linspace(0.5, 1.0, 20), "Baseline": np.array([[1, 0.4], [5, 0.7]])}
    _assert_png(cmc_curves(curves, tmp_path / "cmc.png", "CMC"))
    (ax,) = plotted[0].axes
    assert _legend(ax.get_legend()) == ["HPNet", "Baseline"]
    full, sparse = ax.get_lines()
    np.testing.assert_allclose(full.get_xdata(), np.arange(1, 21))
    np.testing.assert_allclose(full.get_ydata(), np.linspace(50.0, 100.0, 20))
    np.testing.assert_allclose(sparse.get_xydata(), [[1, 40.0], [5, 70.0]])


def _frame_colour(ax) -> tuple[int, ...]:
    (image,) = ax.get_images()
    return tuple(int(v) for v in np.asarray(image.get_array())[0, 0])


def test_ranking_lists_of_tiny_images(tmp_path, plotted):
    paths = _images(tmp_path, 11)
    correct = [i % 2 == 0 for i in range(10)]
    many = [(paths[0], paths[1:], correct), (paths[1], paths[2:7], [True] * 5)]
    _assert_png(ranking_lists(many, tmp_path / "out" / "many.png"))
    axes = plotted[0].axes
    assert len(axes) == 2 * 11, "a row per query: the query and up to 10 gallery images"
    assert [ax.get_title() for ax in axes[:11]] == ["query"] + [str(k) for k in range(1, 11)]
    frames = [_frame_colour(ax) for ax in axes[1:11]]
    assert frames == [RIGHT if ok else WRONG for ok in correct], "green right, red wrong"
    assert [len(ax.get_images()) for ax in axes[11:]] == [1] * 6 + [0] * 5, "short row"
    with pytest.raises(DataError, match="cannot read image"):
        ranking_lists([(tmp_path / "missing.jpg", paths[1:3], [True, False])], tmp_path / "x.png")
    with pytest.raises(ValueError, match="correct flags"):
        ranking_lists([(paths[0], paths[1:3], [True])], tmp_path / "x.png")


def test_part_overlays_colours_parts_only(tmp_path, plotted):
    image = np.full((48, 24, 3), 100, dtype=np.uint8)
    mask = np.zeros((48, 24), dtype=np.int64)
    mask[:12], mask[12:24], mask[24:36], mask[36:] = 1, 2, 3, 4
    mask[:, :4] = 0
    blended = overlay(image, mask)
    assert (blended[:, :4] == 100).all(), "background pixels keep the image"
    assert not (blended[:12, 4:] == 100).all(), "head pixels are coloured"
    _assert_png(part_overlays([image, image], [mask, mask], tmp_path / "parts.png"))
    fig = plotted[0]
    shown = [np.asarray(ax.get_images()[0].get_array()) for ax in fig.axes]
    assert len(shown) == 2 and all((a == blended).all() for a in shown), "the blended images"
    parts = ["head", "torso arms", "upper legs", "lower legs feet"]
    assert _legend(fig.legends[0]) == parts, _legend(fig.legends[0])
    with pytest.raises(ValueError, match="codes"):
        overlay(image, mask + 4)
    with pytest.raises(ValueError, match="must be"):
        overlay(image, mask[:10])


def test_robustness_curve_plots_each_method_over_occlusion(tmp_path, plotted):
    _assert_png(robustness_curve(_results(), tmp_path / "rob.png"))
    rank1, m_ap = plotted[0].axes
    assert _legend(rank1.get_legend()) == ["Baseline", "HPNet"], _legend(rank1.get_legend())
    lines = {
        c.get_label(): c.lines[0] for c in rank1.containers if isinstance(c, ErrorbarContainer)
    }
    np.testing.assert_allclose(lines["HPNet"].get_xydata(), [[0.0, 80], [0.3, 65], [0.6, 50]])
    assert rank1.get_ylabel() == "Rank-1 (%)" and m_ap.get_ylabel() == "mAP (%)"
    with pytest.raises(DataError, match="occlusion"):
        robustness_curve(_results().drop(columns="occlusion"), tmp_path / "none.png")


def _zoom_rows() -> pd.DataFrame:
    """``benchmark zoom`` rows: two seeds of one method on one set, in place, zoomed, stretched."""
    rows = []
    for seed, shift in ((0, 0.0), (1, 0.1)):
        for presentation, zoom, r1 in (
            ("zoom", 1.0, 0.7),
            ("zoom", 2.0, 0.3),
            ("stretched", 2.2, 0.4),
        ):
            rows.append(
                {"method": "hpnet", "seed": seed, "dataset": "partial_reid", "query_set": "q"}
                | {"presentation": presentation, "zoom": zoom, "metric": "rank1"}
                | {"value": r1 + shift}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_robustness_figure_has_a_zoom_panel_per_set_of_crops(tmp_path, plotted):
    results = _results()
    _assert_png(robustness_curve(results, tmp_path / "rob.png", _zoom_rows()))
    rank1, m_ap, zoom = plotted[0].axes
    assert rank1.get_ylabel() == "Rank-1 (%)" and m_ap.get_ylabel() == "mAP (%)"
    assert "Partial-REID" in zoom.get_title() and "zoom" in zoom.get_xlabel()
    (bars,) = [c for c in zoom.containers if isinstance(c, ErrorbarContainer)]
    np.testing.assert_allclose(bars.lines[0].get_xydata(), [[1.0, 75], [2.0, 35]])  # seed mean
    star = [ln for ln in zoom.get_lines() if ln.get_marker() == "*"]
    np.testing.assert_allclose(star[0].get_xydata(), [[2.2, 45]])
    # zoom rows alone: one panel; neither sweep nor zoom rows: a one-line error
    robustness_curve(results.drop(columns="occlusion"), tmp_path / "z.png", _zoom_rows())
    assert len(plotted[1].axes) == 1
    with pytest.raises(DataError, match="zoom"):
        robustness_curve(results.drop(columns="occlusion"), tmp_path / "none.png", None)


def test_write_figures_plots_what_the_data_supports(tmp_path, plotted):
    written = write_figures(_results(), tmp_path / "figs")
    names = [p.name for p in written]
    assert names == [
        "bars_market1501.png",
        "bars_occluded_reid.png",
        "cmc_occluded_reid.png",
        "robustness.png",
    ], f"figures the data supports: {names}"
    for path in written:
        _assert_png(path)
    figures = dict(zip(names, plotted, strict=True))
    market = figures["bars_market1501.png"].axes[0]
    assert _ticks(market) == ["HPNet"] and "Market-1501 (holistic)" in market.get_title()
    cmc = figures["cmc_occluded_reid.png"].axes[0]
    assert _legend(cmc.get_legend()) == ["Baseline", "HPNet"], _legend(cmc.get_legend())
    hpnet = cmc.get_lines()[1]
    np.testing.assert_allclose(hpnet.get_xydata(), [[1, 80.5], [3, 90], [5, 92], [10, 95]])


def test_claims_chart_draws_each_interval_coloured_by_verdict(tmp_path, plotted):
    claim = {"claim": "a", "text": "HPNet > baseline under occlusion", "data": "synthetic"}
    table = pd.DataFrame(
        [
            claim
            | {"dataset": "occluded_reid", "metric": "rank1", "difference": 9.8}
            | {"low": 7.2, "high": 12.3, "verdict": "holds"},
            claim
            | {"dataset": "partial_reid", "metric": "mAP", "difference": -2.8}
            | {"low": -5.0, "high": -0.7, "verdict": "reversed"},
            claim
            | {"dataset": "partial_reid", "metric": "rank1", "difference": -2.0}
            | {"low": -5.3, "high": 1.3, "verdict": "inconclusive"},
        ]
    )
    _assert_png(claims_chart(table, tmp_path / "claims.png", "claims"))
    (ax,) = plotted[0].axes
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == [
        "(a) HPNet > baseline under occlusion | Partial-REID | R1",
        "(a) HPNet > baseline under occlusion | Partial-REID | mAP",
        "(a) HPNet > baseline under occlusion | Occluded-REID | R1",
    ], f"data sets in the registry's order, R1 before mAP, top down: {ticks}"
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert [c.get_label() for c in bars] == ["holds", "reversed", "inconclusive"]
    centre = {c.get_label(): c.lines[0].get_xydata()[0].tolist() for c in bars}
    assert centre == {"holds": [9.8, 0.0], "reversed": [-2.8, 1.0], "inconclusive": [-2.0, 2.0]}
    low, high = bars[0].lines[1][0].get_xdata()[0], bars[0].lines[1][1].get_xdata()[0]
    assert (low, high) == pytest.approx((7.2, 12.3)), "the interval's ends are the caps"
    with pytest.raises(DataError, match="no claim"):
        claims_chart(table.iloc[:0], tmp_path / "none.png", "claims")
    assert write_claims_figures(None, tmp_path) == [], "no per-query rows: no figure"
