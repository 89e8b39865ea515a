"""ONNX export: a run folder's HPNet checkpoint -> ONNX, checked in onnxruntime, model card."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import torch
from torch import nn

from benchmark.atomic import write_json_atomic
from benchmark.cli import main
from benchmark.errors import UserError
from benchmark.export import onnx_export, onnx_graph
from benchmark.export.onnx_export import export_run
from benchmark.profiles import get_profile
from benchmark.store.rows import ROW_COLUMNS
from benchmark.store.run_folder import job_dir
from reid_datasets.synthetic import generate, synth_config
from reid_methods import build_method
from reid_methods.base import applicable_options

TINY_DATA = dict(
    train_ids=4,
    train_images_per_id=3,
    test_ids=3,
    query_per_id=2,
    gallery_per_id=3,
    distractors=2,
    junk=2,
    scale_occluded_sets=0.05,
    coco_images=3,
    sets=("market1501", "occluded_reid"),
)
CLASSES = 7


def result_rows() -> pd.DataFrame:
    """Two single-shot trials and one multi-shot row per metric; one other method's row."""
    base = dict(run="r", dataset="occluded_reid", query_set="query", distance="paper", vis=True)
    base |= dict(seed=0, data="synthetic", labels="gt", method="hpnet")
    rows = [
        base | dict(mode="multi", trial=-1, metric="rank1", value=0.5),
        base | dict(mode="multi", trial=-1, metric="mAP", value=0.25),
        base | dict(mode="single", trial=0, metric="rank1", value=0.6),
        base | dict(mode="single", trial=1, metric="rank1", value=0.8),
        base | dict(mode="multi", trial=-1, metric="rank5", value=0.9),
        base | dict(method="baseline", mode="multi", trial=-1, metric="rank1", value=0.1),
    ]
    return pd.DataFrame(rows)[list(ROW_COLUMNS)]


def hpnet_with_varied_masks(options: dict) -> nn.Module:
    """A random HPNet whose masks are away from 0.5: part 1 hidden, 4 seen, 2-3 image-dependent."""
    torch.manual_seed(0)
    model = build_method("hpnet", CLASSES, **options)
    for j, head in enumerate(model.parsers):
        nn.init.normal_(head.body[0].weight, std=0.1)
        nn.init.normal_(head.body[3].weight, std=(0.0, 0.1, 0.1, 0.0)[j])
        nn.init.constant_(head.body[3].bias, (-4.0, 0.0, -0.5, 4.0)[j])
    return model


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run folder as 'run' leaves it: config, env, results and HPNet's checkpoint only."""
    base = tmp_path_factory.mktemp("export")
    generate(base / "data", synth_config("smoke", **TINY_DATA), progress=False)
    smoke = get_profile("smoke")
    cfg = replace(
        smoke,
        methods=("hpnet", "baseline"),
        data=replace(smoke.data, root=str(base / "data")),
        eval=replace(smoke.eval, datasets=("occluded_reid",)),
    )
    run = base / "run"
    write_json_atomic(cfg.to_dict(), run / "config.json")
    write_json_atomic({"git_commit": "abc123"}, run / "env.json")
    result_rows().to_csv(run / "results.csv", index=False)
    model = hpnet_with_varied_masks(applicable_options("hpnet", cfg.method))
    job = job_dir(run, "hpnet", 0)
    job.mkdir(parents=True)
    torch.save({"model": model.state_dict(), "epoch": 2}, job / "checkpoint.pt")
    write_json_atomic({"rows": 6}, job / "done.json")
    return run


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("onnx")
    return export_run(run_dir, "hpnet", out_dir=out, exporter="torchscript")


def test_export_matches_pytorch_in_onnxruntime(exported) -> None:
    out, card = exported
    check = card["check"]
    assert [b["batch_size"] for b in check["batches"]] == [8, 3], "two batch sizes"
    assert [b["features_shape"] for b in check["batches"]] == [[8, 4, 128], [3, 4, 128]]
    assert check["max_abs_diff_features"] < 1e-4, f"features differ: {check}"
    assert check["visibility_equal"] and check["visibility_varies"], f"visibility: {check}"
    assert check["images"]["dataset"] == "occluded_reid", "occluded queries are preferred"
    assert all("occluded_body_images" in p for p in check["images"]["images"])


def test_dynamic_batch_axis_in_onnxruntime(exported, run_dir) -> None:
    out, _ = exported
    trained = onnx_export.load_trained(run_dir, "hpnet")
    x = torch.randn(5, 3, 128, 64, generator=torch.Generator().manual_seed(2))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    feats, vis = session.run(["features", "visibility"], {"images": x.numpy()})
    with torch.no_grad():
        ref = trained.model.eval()(x)
    assert feats.shape == (5, 4, 128) and vis.shape == (5, 4), "batch 5 through the batch axis"
    np.testing.assert_allclose(feats, ref.features.numpy(), atol=1e-4, rtol=0)
    np.testing.assert_array_equal(vis, ref.visibility.numpy())


def test_model_card_fields(exported) -> None:
    out, card = exported
    on_disk = json.loads(out.with_suffix(".card.json").read_text(encoding="utf-8"))
    assert on_disk["check"]["visibility_equal"] == card["check"]["visibility_equal"]
    assert (card["method"], card["label"], card["seed"]) == ("hpnet", "HPNet", 0)
    assert card["num_classes"] == CLASSES, "read off the checkpoint's classifiers"
    assert card["method_config"]["head_dim"] == 32 and card["method_config"]["num_parts"] == 4
    assert card["run"]["profile"] == "smoke" and card["run"]["config"]["methods"][0] == "hpnet"
    assert card["checkpoint"] == {"epoch": 2, "finished": True}
    assert card["training_data"]["data"] == "synthetic"
    assert card["training_data"]["part_labels"] == "gt", "as the result rows say"
    assert card["training_data"]["input_size"] == [128, 64]
    assert card["commit"]["trained"] == "abc123", "the commit of env.json"
    opset = next(o.version for o in onnx.load(str(out)).opset_import if o.domain == "")
    assert card["onnx"]["opset"] == opset and card["onnx"]["exporter"] == "torchscript"
    metrics = {(m["mode"], m["dataset"]): m for m in card["metrics"]}
    assert set(metrics) == {("multi", "occluded_reid"), ("single", "occluded_reid")}
    assert metrics["multi", "occluded_reid"]["rank1"] == 0.5
    assert metrics["multi", "occluded_reid"]["mAP"] == 0.25
    assert metrics["single", "occluded_reid"]["rank1"] == pytest.approx(0.7), "trial mean"
    text = out.with_suffix(".card.md").read_text(encoding="utf-8")
    assert "# HPNet (seed 0)" in text and "| occluded_reid" in text and "opset" in text


def test_failed_dynamo_export_falls_back_to_torchscript(run_dir, tmp_path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator\nlong trace")

    monkeypatch.setattr(onnx_graph, "_dynamo", broken)
    out, card = export_run(run_dir, "hpnet", out_dir=tmp_path, exporter="dynamo")
    assert card["onnx"]["exporter"] == "torchscript"
    assert card["onnx"]["fallback"] == "RuntimeError: unsupported operator"
    assert card["check"]["visibility_equal"], "the fallback file is checked too"
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == [], "no temp file left"


def test_cli_writes_the_default_file(run_dir, capsys) -> None:
    assert main(["export", str(run_dir), "--method", "hpnet", "--exporter", "torchscript"]) == 0
    out = run_dir / "export" / "hpnet-seed0.onnx"
    assert out.is_file() and out.with_suffix(".card.md").is_file()
    printed = capsys.readouterr().out
    assert "max |features diff|" in printed and "visibility equal: True" in printed


@pytest.mark.parametrize(
    "args,message",
    [
        (["--method", "hpnet"], "does not exist"),
        (["--method", "pcb"], "not in run"),
        (["--method", "baseline"], "no checkpoint of baseline"),
        (["--method", "hpnet", "--seed", "3"], "seed 3 is not in run"),
        (["--method", "hpnet", "--out", "FILE"], "is a file, not a folder"),
    ],
)
def test_bad_input_is_one_line_error(run_dir, tmp_path, args, message) -> None:
    folder = tmp_path / "nowhere" if message == "does not exist" else run_dir
    (tmp_path / "FILE").write_text("a regular file where the export folder should be")
    args = [str(tmp_path / "FILE") if a == "FILE" else a for a in args]
    with pytest.raises(UserError, match=message) as e:
        main(["export", str(folder), *args])
    assert "\n" not in str(e.value), f"not one line: {e.value}"


def test_corrupt_checkpoint_is_one_line_error(run_dir, tmp_path) -> None:
    run = tmp_path / "run"
    (run / "methods" / "hpnet-seed0").mkdir(parents=True)
    for name in ("config.json", "env.json"):
        (run / name).write_bytes((run_dir / name).read_bytes())
    (run / "methods" / "hpnet-seed0" / "checkpoint.pt").write_bytes(b"truncated")
    with pytest.raises(UserError, match="cannot read checkpoint") as e:
        export_run(run, "hpnet")
    assert "\n" not in str(e.value)


@pytest.mark.slow  # torch.export traces and optimises the graph: many times the TorchScript path
def test_dynamo_exporter_writes_a_checked_graph(run_dir, tmp_path) -> None:
    out, card = export_run(run_dir, "hpnet", out_dir=tmp_path, exporter="dynamo")
    assert card["onnx"]["exporter"] == "dynamo" and card["onnx"]["fallback"] is None
    assert card["check"]["max_abs_diff_features"] < 1e-4 and card["check"]["visibility_equal"]
    assert not list(tmp_path.glob("*.data")), "one self-contained file, no external data"


def test_checkpoint_of_another_architecture_is_one_line_error(run_dir, tmp_path) -> None:
    run = tmp_path / "run"
    job = run / "methods" / "hpnet-seed0"
    job.mkdir(parents=True)
    for name in ("config.json", "env.json"):
        (run / name).write_bytes((run_dir / name).read_bytes())
    other = build_method("hpnet", CLASSES, backbone="resnet18_half", head_dim=32)
    torch.save({"model": other.state_dict(), "epoch": 1}, job / "checkpoint.pt")
    with pytest.raises(UserError, match="does not fit method hpnet") as e:
        export_run(run, "hpnet")
    assert "\n" not in str(e.value)
