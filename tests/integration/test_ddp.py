"""torchrun: a 2-process gloo smoke training writes its rows once, and resumes on every rank."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
KEY = ["method", "dataset", "query_set", "mode", "distance", "vis", "seed", "trial", "metric"]


def torchrun(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=path)  # this checkout's code
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    cmd += ["--standalone", "-m", "benchmark", "run", *args]  # standalone: a free port
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def smoke_run(tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    args = ["--profile", "smoke", "--methods", "baseline", "--out", str(tmp_path / "runs")]
    args += ["--set", 'eval.datasets=["market1501", "occluded_reid"]', "--set", "eval.modes=multi"]
    done = torchrun(tmp_path, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    return done, run_dir


def assert_rows_once(run_dir: Path) -> pd.DataFrame:
    rows = pd.read_csv(run_dir / "results.csv")
    assert len(rows) > 0 and not rows.duplicated(KEY).any(), "a result row written twice"
    assert len(json.loads((run_dir / "results.json").read_text())) == len(rows)
    assert set(rows["method"]) == {"baseline"} and set(rows["seed"]) == {0}
    return rows


def test_two_process_smoke_training_writes_its_rows_once(tmp_path) -> None:
    done, run_dir = smoke_run(tmp_path)
    assert done.stdout.count("summary: 1 method(s)") == 1, "only rank 0 prints the tables"
    assert done.stderr.count("rank 0 of 2 processes (gloo, cpu)") == 1, done.stderr[-2000:]
    rows = assert_rows_once(run_dir)
    assert {"market1501", "occluded_reid"} <= set(rows["dataset"]), "rank 0 evaluated"
    env = json.loads((run_dir / "env.json").read_text())
    assert (env["world_size"], env["backend"]) == (2, "gloo"), env
    log = pd.read_csv(run_dir / "methods" / "baseline-seed0" / "train_log.csv")
    assert list(log["epoch"]) == [1, 2] and log["loss_total"].notna().all(), log
    leftovers = [p.name for p in run_dir.rglob("*") if ".tmp" in p.name]
    assert not leftovers, f"two writers left temporary files: {leftovers}"


@pytest.mark.slow
def test_two_process_run_resumes_from_its_checkpoint(tmp_path) -> None:
    """A job stopped after epoch 1 (checkpoint and log cut back) trains epoch 2 on resume."""
    _, run_dir = smoke_run(tmp_path)
    job = run_dir / "methods" / "baseline-seed0"
    state = torch.load(job / "checkpoint.pt", weights_only=True)
    torch.save(state | {"epoch": 1}, job / "checkpoint.pt")
    log = pd.read_csv(job / "train_log.csv")
    log.iloc[:1].to_csv(job / "train_log.csv", index=False)
    (job / "done.json").unlink()
    before = pd.read_csv(run_dir / "results.csv")
    resumed = torchrun(tmp_path, "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stderr.count("resuming baseline-seed0 from epoch 1") == 1, resumed.stderr[-2000:]
    after = assert_rows_once(run_dir)
    assert len(after) == len(before), "the resumed job's rows replace its old ones"
    relog = pd.read_csv(job / "train_log.csv")
    assert list(relog["epoch"]) == [1, 2] and relog["loss_total"][0] == log["loss_total"][0]
    assert torch.load(job / "checkpoint.pt", weights_only=True)["epoch"] == 2
