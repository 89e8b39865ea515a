"""End to end through the CLI as a user runs it: smoke profile, errors, resume, tables."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmark", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env or ENV,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def smoke_run(smoke_session) -> tuple[Path, subprocess.CompletedProcess]:
    """The session's smoke run (tests/integration/conftest.py), shared with the report tests."""
    return smoke_session


def test_smoke_run_writes_rows_for_both_methods_on_both_sets(smoke_run) -> None:
    work, proc = smoke_run
    (run_dir,) = (work / "runs").iterdir()
    df = pd.read_csv(run_dir / "results.csv")
    for method in ("hpnet", "baseline"):
        for dataset in ("market1501", "occluded_reid"):
            sel = df[(df.method == method) & (df.dataset == dataset) & (df.metric == "rank1")]
            assert len(sel), f"no rank1 row for {method} on {dataset}"
            assert sel.value.between(0, 1).all(), "metrics are fractions"
    assert {"config.json", "env.json"} <= {p.name for p in run_dir.iterdir()}
    assert (df.data == "synthetic").all(), "rows must say which data produced them"
    assert (df["init"] == "scratch").all(), "every row says how the trunk started"
    assert (df["test_cameras"] == "own").all(), "and whose cameras the occluded sets have"
    assert (df["checkpoint"] == "last").all(), "and which weights it reports"
    assert "mINP" in set(df.metric), "mINP beside mAP"
    assert "Checkpoint: the last epoch's weights" in (run_dir / "tables.md").read_text()
    controls = df[df.query_set == "whole_body_control"]
    assert {"occluded_reid", "partial_reid"} <= set(controls.dataset), "whole-body controls"
    partial = set(df[df.dataset == "partial_reid"].query_set)
    assert {"partial_body_images", "occluded_body_images"} <= partial, "both query folders"
    tables = (run_dir / "tables.md").read_text(encoding="utf-8")
    assert "**occlusion-cost**" in tables, "the occlusion cost table from the controls"
    assert tables in proc.stdout, "the printed tables are the run folder's tables.md"
    assert "\\begin{table}" in (run_dir / "tables.tex").read_text(encoding="utf-8")
    assert "HPNet" in proc.stdout and "Baseline" in proc.stdout, "the table is printed"
    assert "summary:" in proc.stdout, "the run ends with a short summary"
    assert (run_dir / "methods" / "hpnet-seed0" / "train_log.csv").exists()


def test_resume_of_a_finished_run_trains_nothing(smoke_run) -> None:
    work, _ = smoke_run
    (run_dir,) = (work / "runs").iterdir()
    before = pd.read_csv(run_dir / "results.csv")
    proc = cli("run", "--resume", str(run_dir), cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "already finished" in proc.stderr
    pd.testing.assert_frame_equal(before, pd.read_csv(run_dir / "results.csv"))


def test_list_shows_every_registry(tmp_path) -> None:
    proc = cli("list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in (
        "hpnet",
        "hpnet_wo_coco",
        "pcb",
        "baseline",
        "occluded_reid",
        "partial_ilids_2019",
    ):
        assert name in proc.stdout, f"{name} missing from list"


@pytest.mark.parametrize(
    "args,message",
    [
        (["run", "--methods", "hpnett"], "unknown method 'hpnett'"),
        (
            ["run", "--profile", "smoke", "--root", "no/such/dir"],
            "data root no/such/dir does not exist",
        ),
        (["run", "--profile", "gpu"], "unknown profile 'gpu'"),
        (["run", "--set", "train.epoch=2"], "unknown setting 'train.epoch'"),
    ],
)
def test_bad_input_is_one_line_error(tmp_path, args: list[str], message: str) -> None:
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 2, f"expected exit 2, got {proc.returncode}: {proc.stderr[-500:]}"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr


def test_tables_and_figures_from_stored_results(smoke_run) -> None:
    work, _ = smoke_run
    (run_dir,) = (work / "runs").iterdir()
    latex = cli("tables", str(run_dir), "--format", "latex", cwd=work)
    assert latex.returncode == 0 and "\\toprule" in latex.stdout, latex.stderr[-1000:]
    figs = cli("figures", str(run_dir), cwd=work)
    assert figs.returncode == 0, figs.stderr[-2000:]
    names = {p.name for p in (run_dir / "figures").iterdir()}
    for expected in (
        "ranking_hpnet-seed0.png",
        "parts_hpnet-seed0.png",
        "cmc_curve_occluded_reid.png",
        "claims_synthetic.png",  # from per_query.csv.gz
    ):
        assert expected in names, f"{expected} not among {sorted(names)}"


def test_per_query_rows_reproduce_the_metrics_and_feed_the_claims(smoke_run, tmp_path) -> None:
    work, proc = smoke_run
    (run_dir,) = (work / "runs").iterdir()
    pq = pd.read_csv(run_dir / "per_query.csv.gz", dtype={"visible_parts": str})
    df = pd.read_csv(run_dir / "results.csv")
    multi = df[(df["mode"] == "multi") & df["metric"].isin(["rank1", "mAP"])]
    assert len(multi), "multi-shot rows to compare with"
    keys = ["method", "dataset", "query_set", "vis"]  # Partial-REID: two query sets, controls
    for key, group in pq[pq["valid"]].groupby(keys):
        want = multi.set_index([*keys, "metric"])["value"]
        assert (group["first_match_rank"] == 1).mean() == pytest.approx(want[(*key, "rank1")])
        assert group["ap"].mean() == pytest.approx(want[(*key, "mAP")]), f"mAP of {key}"
    hp = pq[pq["method"] == "hpnet"]
    assert hp["visible_parts"].str.fullmatch("[01]{4}").all(), "4-part pattern for HPNet"
    assert (hp["visible_parts"].str.count("1") == hp["n_visible"]).all()
    assert pq.loc[pq["method"] == "baseline", "visible_parts"].isna().all(), "none for baseline"
    assert "(a) HPNet > baseline under occlusion" in proc.stdout, "the run prints the claims"
    copy = tmp_path / "old"
    shutil.copytree(run_dir, copy)
    made = cli("tables", str(copy), cwd=work)
    assert made.returncode == 0 and "paired bootstrap" in made.stdout, made.stderr[-1000:]
    assert "holds" in made.stdout or "inconclusive" in made.stdout or "reversed" in made.stdout
    assert (copy / "tables.md").read_text(encoding="utf-8") == made.stdout.rstrip("\n") + "\n"
    assert "\\caption{Paper claims" in (copy / "tables.tex").read_text(encoding="utf-8")
    assert "| HPNet | Baseline | Occluded-REID (query) |" in made.stdout, "the differences table"
    (copy / "per_query.csv.gz").unlink()  # a run from before per-query results
    old = cli("tables", str(copy), cwd=work)
    assert old.returncode == 0 and "visible-part tables skipped" in old.stdout


REFERENCE = Path(__file__).resolve().parents[2] / "results" / "ci_gate" / "smoke.csv"


def test_smoke_metrics_match_committed_reference(smoke_run) -> None:
    """The CI regression gate: the smoke run must not fall below results/ci_gate/smoke.csv."""
    work, _ = smoke_run
    (run_dir,) = (work / "runs").iterdir()
    env = json.loads((run_dir / "env.json").read_text())
    assert env["cpu_capability"] == "DEFAULT", "the smoke profile pins portable CPU kernels"
    proc = cli(
        "check",
        str(run_dir),
        "--reference",
        str(REFERENCE),
        "--tolerance",
        "0.05",
        cwd=work,
    )
    assert proc.returncode == 0, f"metrics regressed:\n{proc.stdout[-3000:]}"


def test_occlusion_sweep_rows_and_robustness_curve(tmp_path) -> None:
    proc = cli(
        "run",
        "--methods",
        "baseline",
        "--profile",
        "smoke",
        "--occlusion-sweep",
        "0.2",
        "0.5",
        "--set",
        "eval.datasets=market1501",
        "--out",
        "runs",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    df = pd.read_csv(run_dir / "results.csv")
    swept = df[df.occlusion.notna()]
    assert set(swept.occlusion) == {0.2, 0.5} and set(swept.dataset) == {
        "occluded_reid",
        "partial_reid",
    }
    figs = cli("figures", str(run_dir), cwd=tmp_path)
    assert figs.returncode == 0 and (run_dir / "figures" / "robustness.png").exists(), figs.stderr


def test_resume_adds_a_method_and_reevaluates_under_new_eval_settings(smoke_run, tmp_path):
    work, _ = smoke_run
    (original,) = (work / "runs").iterdir()
    run = tmp_path / "resumed"
    shutil.copytree(original, run)
    env = (run / "env.json").read_bytes()
    timing = json.loads((run / "methods" / "hpnet-seed0" / "timings.json").read_text())
    sets = ("--set", "eval.modes=multi", "--set", 'eval.datasets=["occluded_reid"]')
    proc = cli(
        "run", "--resume", str(run), "--methods", "hpnet", "baseline", "pcb", *sets, cwd=work
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "re-evaluating its final checkpoint" in proc.stderr, "finished jobs are re-evaluated"
    df = pd.read_csv(run / "results.csv")
    assert set(df["method"]) == {"hpnet", "baseline", "pcb"}, "the added method ran"
    # single-shot rows go; parsing rows (HPNet's masks) stay, as eval.parsing is still on
    assert set(df["mode"]) == {"multi", "parsing"}, "old single-shot rows go"
    assert set(df["dataset"]) == {"occluded_reid"}, "old rows of other test sets go"
    assert set(df.loc[df["mode"] == "parsing", "method"]) == {"hpnet"}, "only HPNet has masks"
    key = ["method", "dataset", "query_set", "mode", "distance", "vis", "seed", "metric"]
    before = pd.read_csv(original / "results.csv").drop(columns="run")
    again = before.merge(df.drop(columns="run"), on=key, suffixes=("", "_again"))
    assert len(again) == (df["method"] != "pcb").sum(), "every re-evaluated row has its original"
    pd.testing.assert_series_equal(again["value"], again["value_again"], check_names=False)
    *earlier, record = json.loads((run / "resume_log.json").read_text())
    assert all(r["changes"] == {} for r in earlier), "a plain resume records no change"
    assert set(record["changes"]) == {"methods", "eval.datasets", "eval.modes"}, record
    assert record["changes"]["eval.modes"] == {"old": ["multi", "single"], "new": ["multi"]}
    assert record["finished"] == ["baseline-seed0", "hpnet-seed0"] and record["env"]["torch"]
    assert (run / "env.json").read_bytes() == env, "env.json keeps the original environment"
    assert json.loads((run / "config.json").read_text())["methods"] == ["hpnet", "baseline", "pcb"]
    kept = json.loads((run / "methods" / "hpnet-seed0" / "timings.json").read_text())["train_s"]
    assert kept == timing["train_s"], "a re-evaluation keeps the recorded training time"
    assert not list(run.rglob("*.tmp*")), "no temp file left"


def test_smoke_run_scores_parsing_and_validates_on_held_out_ids(smoke_run) -> None:
    work, _ = smoke_run
    (run_dir,) = (work / "runs").iterdir()
    df = pd.read_csv(run_dir / "results.csv")
    parsing = df[df["mode"] == "parsing"]
    assert set(parsing["method"]) == {"hpnet"}, "only a method with masks gets parsing rows"
    assert (parsing["distance"] == "-").all(), "parsing rows have no distance"
    assert {"miou_grid", "miou_image", "vis_recall_head"} <= set(parsing["metric"])
    assert not parsing["metric"].isin(["rank1", "mAP"]).any(), "no rank metrics"
    hpnet = run_dir / "methods" / "hpnet-seed0"
    stored = dict(np.load(hpnet / "parsing_occluded_reid.npz"))
    assert len(stored["paths"]) == len(stored["probs"]) > 0, "masks stored per image"
    held = json.loads((run_dir / "validation.json").read_text())["pids"]
    assert held, "the smoke profile holds out training identities"
    log = pd.read_csv(hpnet / "train_log.csv")
    cols = {"val_rank1", "val_mAP", "val_parsing_miou", "val_vis_recall"}
    assert cols <= set(log.columns), "per-epoch validation columns"


def test_stored_masks_rescore_to_the_image_size_rows(smoke_run) -> None:
    """An independent scorer: the npz's probabilities vs the label PNGs give the stored rows."""
    import torch
    from PIL import Image

    from reid_datasets.parts import part7_to_4

    work, _ = smoke_run
    (run_dir,) = (work / "runs").iterdir()
    stored = np.load(run_dir / "methods" / "hpnet-seed0" / "parsing_occluded_reid.npz")
    inter, union = np.zeros(4), np.zeros(4)
    for probs, label_path in zip(stored["probs"], stored["label_paths"], strict=True):
        label = part7_to_4(np.asarray(Image.open(work / str(label_path))))
        up = torch.nn.functional.interpolate(
            torch.from_numpy(probs)[None], size=label.shape, mode="bilinear", align_corners=False
        )[0].numpy()
        for j in range(4):
            pred, truth = up[j] > 0.5, label == j + 1
            inter[j] += (pred & truth).sum()
            union[j] += (pred | truth).sum()
    df = pd.read_csv(run_dir / "results.csv")
    rows = df[(df["mode"] == "parsing") & (df["dataset"] == "occluded_reid")]
    got = rows.set_index("metric")["value"]
    for j, part in enumerate(stored["parts"]):
        if not union[j]:  # 0/0: no row rather than a made-up value
            assert f"iou_image_{part}" not in got.index, part
            continue
        assert np.isclose(got[f"iou_image_{part}"], inter[j] / union[j]), part
