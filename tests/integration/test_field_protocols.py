"""The field's other protocols from the command line: Occluded-Duke trained and tested on
itself (its synthetic stand-in), and re-ranking rows beside the plain ones."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.integration.conftest import run_cli


def test_occluded_duke_protocol_with_reranking_on_the_synthetic_stand_in(tmp_path) -> None:
    args = ["run", "--profile", "smoke", "--methods", "baseline", "--train-set", "occluded_duke"]
    proc = run_cli(*args, "--set", "eval.rerank=true", "--out", "runs", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    df = pd.read_csv(run_dir / "results.csv")
    assert set(df.dataset) == {"occluded_duke"}, "tested on itself only"
    assert (df.train_set == "occluded_duke").all(), "every row names its training set"
    assert set(df.distance) == {"paper", "paper+rerank"}, "re-ranked rows beside the plain ones"
    rank1 = df[(df.metric == "rank1") & (df["mode"] == "multi")].set_index("distance").value
    assert rank1.between(0, 1).all() and len(rank1) == 2
    tables = (run_dir / "tables.md").read_text(encoding="utf-8")
    assert "Trained on: Occluded-Duke (Duke-derived)." in tables
    assert "Duke-derived: DukeMTMC was withdrawn by its owners" in tables
    assert "k-reciprocal re-ranking (Zhong et al., CVPR 2017; k1 20, k2 6, lambda 0.3" in tables
    assert (tmp_path / "data" / "synthetic-smoke-occluded_duke+coco_densepose").is_dir()


@pytest.mark.parametrize(
    ("backbone", "method"),
    [("timm:deit_small_patch16_224", "bpbreid"), ("timm:swin_tiny_patch4_window7_224", "baseline")],
)
def test_transformer_backbones_train_and_evaluate_from_the_command_line(
    tmp_path, backbone, method
) -> None:
    args = [
        "run",
        "--profile",
        "smoke",
        "--methods",
        method,
        "--set",
        f"method.backbone={backbone}",
    ]
    proc = run_cli(
        *args,
        "--set",
        'eval.datasets=["market1501","occluded_reid"]',
        "--out",
        "runs",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    df = pd.read_csv(run_dir / "results.csv")
    rank1 = df[(df.metric == "rank1") & (df["mode"] == "multi") & df.vis]
    assert set(rank1.dataset) == {"market1501", "occluded_reid"}
    assert rank1.value.between(0, 1).all()
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    assert config["method"]["backbone"] == backbone, "the run records its backbone"
    assert (df.backbone == backbone).all(), "and every row names it"
    assert f"Backbone: {backbone}." in (run_dir / "tables.md").read_text(encoding="utf-8")
