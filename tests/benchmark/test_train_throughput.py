"""The training-throughput script: one step of a tiny backbone, its table and its refusals."""

from __future__ import annotations

import torch

from benchmark.perf.train_throughput import Spec, forward_gflop, main, measure


def test_one_step_of_a_coco_method_is_measured() -> None:
    row = measure(Spec("hpnet", "smoke", size=(64, 32), batch=8, steps=1, device="cpu"))
    assert (row["method"], row["backbone"], row["input"]) == ("hpnet", "resnet18_quarter", "64x32")
    assert (row["batch"], row["coco_batch"]) == (8, 4), "smoke's coco_batch beside the ReID batch"
    assert row["images_per_s"] > 0, row
    # both rates are rounded to 0.1 image/s: half the batch, half the rate
    assert abs(row["coco_per_s"] - row["images_per_s"] / 2) <= 0.051, row
    # ru_maxrss is the process's lifetime peak: in a test process that already peaked higher the
    # growth reads 0 (the script measures each method in a fresh process for that reason)
    assert row["memory"] == "ru_maxrss" and row["peak_mem_mb"] >= row["mem_above_start_mb"] >= 0
    assert row["precision"] == "fp32", "smoke trains without amp"


def test_forward_flops_per_image_by_hand() -> None:
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    # each of the 8 x 16 x 8 outputs: 3 x 3 x 3 multiply-adds, 2 FLOPs each
    assert forward_gflop(conv, torch.randn(2, 3, 16, 8)) * 1e9 == 2 * 8 * 16 * 8 * 27


def test_hpnet_costs_more_than_twice_the_baseline_per_image() -> None:
    rows = {
        m: measure(Spec(m, "smoke", size=(64, 32), batch=8, steps=1, device="cpu"))
        for m in ("baseline", "hpnet")
    }
    assert rows["hpnet"]["fwd_gflop_per_image"] > 2 * rows["baseline"]["fwd_gflop_per_image"] > 0


def test_the_table_has_a_row_per_method_from_fresh_processes(capsys) -> None:
    args = ["--profile", "smoke", "--methods", "baseline", "--steps", "1", "--batch", "4"]
    assert main([*args, "--size", "64", "32", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    header, rule, row = out.strip().splitlines()
    assert "images_per_s" in header and "peak_mem_mb" in header, header
    assert row.startswith("| baseline ") and "| 64x32 " in row, row


def test_unknown_names_are_one_line_errors(capsys) -> None:
    assert main(["--methods", "hpnett"]) == 2
    assert main(["--profile", "fast"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err), err
