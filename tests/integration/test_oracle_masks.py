"""``benchmark.perf.oracle_masks`` on the session's smoke run: true-mask rows beside the run's."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmark.perf import oracle_masks as om


def test_model_rows_equal_the_runs_own_and_every_set_has_each_masking(
    smoke_run_dir, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(smoke_run_dir.parent.parent)  # where the session drew its data
    out = tmp_path / "oracle.csv"
    assert om.main([str(smoke_run_dir), "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    run = pd.read_csv(smoke_run_dir / "results.csv")
    run = run[
        (run.method == "hpnet") & (run["mode"] == "multi") & run.vis & (run.metric == "rank1")
    ]
    for name, rows in frame[frame.metric == "rank1"].groupby("dataset"):
        assert set(rows["masks"]) == set(om.MASKS), name
        own = run[(run.dataset == name) & (run.query_set == rows["query_set"].iloc[0])]
        mine = rows[rows["masks"] == "model"]["value"].iloc[0]
        assert mine == pytest.approx(own["value"].iloc[0], abs=1e-9), f"{name}: model = the run"
    assert "truth on queries" in capsys.readouterr().out


def test_a_method_without_masks_is_a_one_line_error(smoke_run_dir, monkeypatch, capsys) -> None:
    monkeypatch.chdir(smoke_run_dir.parent.parent)
    assert om.main([str(smoke_run_dir), "--method", "baseline"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "baseline" in err and "\n" not in err
