"""``zoom``: the session's smoke models on the partial crops, stretched, in place and zoomed."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.integration.conftest import run_cli


def test_zoom_rows_and_the_stretched_rows_equal_the_runs_own(smoke_run_dir) -> None:
    proc = run_cli(
        "zoom", str(smoke_run_dir), "--zooms", "1", "2", "--methods", "baseline",
        cwd=smoke_run_dir.parent.parent,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    frame = pd.read_csv(smoke_run_dir / "zoom.csv")
    sets = set(frame["dataset"])
    assert {"partial_reid", "partial_ilids_2018", "partial_ilids_2019"} <= sets, sets
    assert "occluded_reid" not in sets and "market1501" not in sets, "whole images: no boxes"
    shown = frame.groupby(["dataset", "presentation"])["zoom"].unique()
    assert sorted(shown["partial_reid", "zoom"]) == [1.0, 2.0]
    assert shown["partial_reid", "stretched"][0] > 1.2, "the protocol zooms the crops in"
    rows = pd.read_csv(smoke_run_dir / "results.csv")
    for name in ("partial_reid", "partial_ilids_2019"):
        run = rows[(rows.method == "baseline") & (rows.dataset == name) & rows.vis]
        run_r1 = run[(run["mode"] == "multi") & (run.metric == "rank1")]["value"].iloc[0]
        mine = frame[(frame.dataset == name) & (frame.presentation == "stretched")]
        mine = mine[mine.metric == "rank1"]["value"].iloc[0]
        assert mine == pytest.approx(run_r1, abs=1e-9), f"{name}: stretched is the test protocol"
    assert (smoke_run_dir / "figures" / "zoom_partial_reid.png").is_file()
    assert (smoke_run_dir / "figures" / "robustness.png").is_file(), "zoom joins the figure"
    assert "Partial-REID, Rank-1 (%)" in proc.stdout and "zoom 2" in proc.stdout
