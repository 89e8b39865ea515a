"""The parsing-quality tables built from mode="parsing" rows."""

from __future__ import annotations

import pandas as pd

from benchmark.reporting.table_parsing import build_parsing
from benchmark.reporting.tables import render_all
from tests.benchmark.reporting.result_rows import frame, rows


def _parsing(method: str, dataset: str, seed: int, miou: float) -> list[dict]:
    metrics = {"miou_grid": miou, "miou_image": miou / 2, "vis_acc": 0.9, "vis_recall": 0.8}
    metrics |= {"iou_grid_head": 0.25, "vis_recall_head": 0.5, "images": 10.0}
    return rows(method, dataset, mode="parsing", distance="-", seed=seed, **metrics)


def _frame() -> pd.DataFrame:
    return frame(
        _parsing("hpnet", "market1501", 0, 0.6),
        _parsing("hpnet", "market1501", 1, 0.4),
        _parsing("hpnet", "occluded_reid", 0, 0.3),
        rows("hpnet", "occluded_reid", rank1=0.5, mAP=0.4),
    )


def test_summary_and_per_part_tables_from_parsing_rows_only() -> None:
    tables = build_parsing(_frame())
    names = [t.spec.name for t in tables]
    assert names == ["parsing", "parsing_market1501", "parsing_occluded_reid"], names
    summary = tables[0]
    cells = {(c.dataset, c.metric): v for (_, c), v in summary.cells.items()}
    assert cells["market1501", "miou_grid"].mean == 50.0, "mean of seeds 60 and 40, in %"
    assert cells["market1501", "miou_grid"].n_seeds == 2, "two seeds"
    assert ("occluded_reid", "rank1") not in cells, "rank metrics stay out"
    part_cols = [c.metric for c in tables[1].columns]
    assert part_cols == ["iou_grid_head", "vis_recall_head"], "only the parts present"


def test_parsing_tables_rendered_with_caption_saying_real_data_has_none() -> None:
    text = render_all(_frame(), "md")
    assert "**parsing** (synthetic)" in text, "summary table written with the others"
    assert "real data has no ground-truth part labels" in text, "caption says so"
    assert "mIoU grid" in text and "summed intersections / summed unions" in text, "defined"
    assert "(images: Market-1501 (holistic) 10, Occluded-REID 10)" in text, "image counts"
    latex = render_all(_frame(), "latex")
    assert r"\label{tab:parsing-synthetic}" in latex, "LaTeX table too"
    assert r"\label{tab:parsing_market1501-synthetic}" in latex, "per-part LaTeX table"


def test_no_parsing_rows_no_parsing_table() -> None:
    df = frame(rows("baseline", "occluded_reid", rank1=0.5, mAP=0.4))
    assert build_parsing(df) == [], "nothing to show without parsing rows"
