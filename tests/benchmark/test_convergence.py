"""The convergence study's pieces: decay placement and reading validation curves of a run."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmark.perf.convergence import collect, collect_test, decay_at


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
