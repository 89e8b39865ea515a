"""The convergence study's pieces: decay placement and reading validation curves of a run."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmark.perf.convergence import (
    collect,
    collect_test,
    collect_zoom,
    decay_at,
    merge,
    plot_test,
)


def test_decay_stays_at_the_same_fraction_of_the_schedule():
    assert decay_at(8, (6,), 16) == [12]
    assert decay_at(8, (6,), 4) == [3]
    assert decay_at(300, (240,), 1) == [1], "never epoch 0"


def test_collect_reads_validation_columns_only_and_marks_the_final_epoch(tmp_path):
    job = tmp_path / "methods" / "hpnet-seed0"
    job.mkdir(parents=True)
    log = pd.DataFrame(
        {
            "epoch": [1, 2],
            "step": [10, 20],
            "loss_id": [3.0, 2.0],
            "val_rank1": [0.2, 0.5],
            "val_mAP": [0.1, 0.4],
        }
    )
    log.to_csv(job / "train_log.csv", index=False)
    (job / "timings.json").write_text(json.dumps({"train_s": 12.5, "eval_s": 1.0}))
    rows, times = collect(tmp_path, ["hpnet"], budget=2, seed=0)
    frame = pd.DataFrame(rows)
    assert set(frame["metric"]) == {"val_rank1", "val_mAP"}, "losses are not metrics"
    final = frame[frame["final"]].set_index("metric")["value"]
    assert final.to_dict() == {"val_rank1": 0.5, "val_mAP": 0.4}
    assert frame["step"].max() == 20 and times == [
        {"method": "hpnet", "budget": 2, "train_s": 12.5}
    ]


def test_collect_refuses_a_run_without_validation(tmp_path):
    job = tmp_path / "methods" / "baseline-seed0"
    job.mkdir(parents=True)
    pd.DataFrame({"epoch": [1], "loss_id": [1.0]}).to_csv(job / "train_log.csv", index=False)
    (job / "timings.json").write_text(json.dumps({"train_s": 1.0}))
    with pytest.raises(SystemExit, match="train.val_ids"):
        collect(tmp_path, ["baseline"], budget=1, seed=0)


def test_collect_test_keeps_each_query_set_apart(tmp_path):
    rows = pd.DataFrame(
        [
            {"method": "hpnet", "dataset": "partial_reid", "query_set": q, "mode": "multi"}
            | {"vis": True, "metric": "rank1", "value": v}
            for q, v in (("partial_body_images", 0.2), ("whole_body_control", 0.9))
        ]
        + [
            {"method": "hpnet", "dataset": "partial_reid", "query_set": "partial_body_images"}
            | {"mode": "single", "vis": True, "metric": "rank1", "value": 0.5},  # not multi
        ]
    )
    rows.to_csv(tmp_path / "results.csv", index=False)
    found = collect_test(tmp_path, 16).set_index("query_set")["value"]
    assert found.to_dict() == {"partial_body_images": 0.2, "whole_body_control": 0.9}


def test_merge_keeps_earlier_budgets_and_replaces_the_ones_run_again(tmp_path):
    old = tmp_path / "timings.csv"
    pd.DataFrame(
        {"method": ["hpnet", "baseline", "hpnet"], "budget": [8, 8, 16], "train_s": [1.0, 2.0, 3.0]}
    ).to_csv(old, index=False)
    new = pd.DataFrame({"method": ["hpnet", "hpnet"], "budget": [16, 64], "train_s": [4.0, 5.0]})
    merged = merge(old, new)
    assert list(zip(merged["method"], merged["budget"], merged["train_s"], strict=True)) == [
        ("baseline", 8, 2.0),
        ("hpnet", 8, 1.0),
        ("hpnet", 16, 4.0),  # run again: the new row, not both
        ("hpnet", 64, 5.0),
    ]
    assert merge(tmp_path / "absent.csv", new) is new


def test_plot_test_draws_the_sets_it_has(tmp_path):
    test = pd.DataFrame(
        [
            {"method": m, "dataset": d, "query_set": q, "metric": k, "value": v, "budget": b}
            for m in ("hpnet", "baseline")
            for d, q in (("market1501", "query"), ("partial_reid", "partial_body_images"))
            for k, v in (("rank1", 0.5), ("miou_grid", 0.3), ("mAP", 0.4))
            for b in (8, 16)
        ]
    )
    plot_test(test, tmp_path / "test_by_budget.png")
    assert (tmp_path / "test_by_budget.png").stat().st_size > 1000
    plot_test(test[test["dataset"] == "coco"], tmp_path / "none.png")  # no panel, no file
    assert not (tmp_path / "none.png").exists()


def test_collect_zoom_gives_stretched_in_place_and_their_ratio(tmp_path):
    (tmp_path / "results.csv").write_text("method\n")  # a run folder, as the study reads it
    assert collect_zoom(tmp_path, 16).empty, "a run without zoom rows gives none"
    rows = [
        {
            "method": "hpnet",
            "seed": s,
            "dataset": "partial_reid",
            "query_set": "partial_body_images",
        }
        | {"presentation": p, "zoom": z, "metric": k, "value": v}
        for s, stretched, in_place in ((0, 0.4, 0.8), (1, 0.6, 0.8))
        for p, z, k, v in (
            ("stretched", 2.2, "rank1", stretched),
            ("zoom", 1.0, "rank1", in_place),
            ("zoom", 1.5, "rank1", 0.1),  # another zoom: not in place
            ("zoom", 1.0, "mAP", 0.05),  # another metric
        )
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "zoom.csv", index=False)
    found = collect_zoom(tmp_path, 16).set_index("metric")["value"]
    assert found["rank1_stretched"] == pytest.approx(0.5)  # mean over the seeds
    assert found["rank1_in_place"] == pytest.approx(0.8)
    assert found["stretched_over_in_place"] == pytest.approx(0.625)
    frame = pd.concat([collect_zoom(tmp_path, b) for b in (8, 16)], ignore_index=True)
    test = pd.DataFrame(
        [
            {"method": "hpnet", "dataset": "partial_reid", "query_set": "partial_body_images"}
            | {"metric": "rank1", "value": 0.5, "budget": b}
            for b in (8, 16)
        ]
    )
    plot_test(test, tmp_path / "with_zoom.png", frame)
    plot_test(test, tmp_path / "without.png")
    assert (tmp_path / "with_zoom.png").stat().st_size > (tmp_path / "without.png").stat().st_size
