"""Whole-body controls: the control splits and the occlusion cost table, by hand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmark.loading.controls import CONTROL, whole_body_control
from benchmark.reporting.table_controls import cost_frame, render_costs
from reid_datasets.base import Sample, Splits


def test_the_control_is_the_gallery_at_its_own_cameras(tmp_path: Path) -> None:
    paths = [tmp_path / f"g{i}.jpg" for i in range(4)]
    gallery = tuple(Sample(p, pid, 1) for p, pid in zip(paths, (1, 1, 2, 2), strict=True))
    splits = Splits("some_set", query=gallery[:1], gallery=gallery)
    cameras = {"g0.jpg": 0, "g1.jpg": 3, "g2.jpg": 1, "g3.jpg": 1}
    control = whole_body_control(splits, tmp_path, cameras)
    assert control is not None and control.query == control.gallery
    assert [s.camid for s in control.query] == [0, 3, 1, 1], "each image at its own camera"
    assert control.info == {"query_folder": CONTROL}
    one_camera = {name: 1 for name in cameras}
    assert whole_body_control(splits, tmp_path, one_camera) is None, "no cross-camera pair"


def _rows(method: str, dataset: str, query_set: str, values: list[float]) -> list[dict]:
    return [
        {"data": "synthetic", "distance": "paper", "method": method, "dataset": dataset}
        | {"query_set": query_set, "mode": "multi", "vis": True, "metric": "rank1"}
        | {"seed": seed, "value": v}
        for seed, v in enumerate(values)
    ]


def test_cost_is_control_minus_occluded_and_shift_is_holistic_minus_control() -> None:
    rows = _rows("baseline", "occluded_reid", CONTROL, [0.80, 0.70])  # mean 75
    rows += _rows("baseline", "occluded_reid", "query", [0.30, 0.40])  # mean 35
    rows += _rows("baseline", "market1501", "query", [0.90, 0.90])  # 90
    rows += _rows("baseline", "partial_ilids_2018", "query", [0.2, 0.2])  # no control: no row
    frame = cost_frame(pd.DataFrame(rows))
    assert len(frame) == 1
    row = frame.iloc[0]
    assert (row.control, row.occluded) == pytest.approx((75.0, 35.0))
    assert row.cost == pytest.approx(40.0) and row.camera_shift == pytest.approx(15.0)
    text = render_costs(pd.DataFrame(rows), "md")
    assert "| Baseline | Occluded-REID (query) | 75.0 | 35.0 | +40.0 | - | +15.0 |" in text, text
    assert "\\begin{table}" in render_costs(pd.DataFrame(rows), "latex")
    assert render_costs(pd.DataFrame(rows[2:]), "md") == "", "no control: no table"


def test_the_cost_interval_pairs_identities() -> None:
    rows = _rows("baseline", "occluded_reid", CONTROL, [0.9]) + _rows(
        "baseline", "occluded_reid", "query", [0.3]
    )
    per_query = []
    for query_set, hits in ((CONTROL, [1, 1, 1, 1, 1, 1]), ("query", [0, 0, 1, 0, 1, 0])):
        for i, hit in enumerate(hits):
            per_query.append(
                {"data": "synthetic", "distance": "paper", "method": "baseline"}
                | {"dataset": "occluded_reid", "query_set": query_set, "mode": "multi"}
                | {"vis": True, "valid": True, "occlusion": None, "pid": i % 3, "query": i}
                | {"first_match_rank": 1 if hit else 3}
            )
    text = render_costs(pd.DataFrame(rows), "md", pd.DataFrame(per_query), n_resamples=999)
    line = next(t for t in text.splitlines() if t.startswith("| Baseline"))
    low, high = (float(v) for v in line.split("|")[6].strip(" []").split(","))
    assert low <= 66.7 <= high and high <= 100.0, line  # per identity: 1 - 1/3, 1 - 1/3, 1 - 1/3
