"""A run killed with SIGKILL mid-training and resumed ends with the uninterrupted run's metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ARGS = [
    "--methods",
    "hpnet",
    "--profile",
    "smoke",
    "--set",
    "train.epochs=4",
    "--set",
    "eval.datasets=occluded_reid",
    "--set",
    "eval.modes=multi",
]


def run(cwd: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "benchmark", "run", *extra],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def results(out: Path) -> pd.DataFrame:
    (run_dir,) = out.iterdir()
    df = pd.read_csv(run_dir / "results.csv")
    return df.drop(columns=["run"]).sort_values(["metric", "vis"]).reset_index(drop=True)


def test_sigkill_mid_epoch_then_resume_matches(tmp_path) -> None:
    whole = run(tmp_path, *ARGS, "--out", "whole")
    assert whole.wait(timeout=600) == 0, whole.stderr.read()[-2000:]

    victim = run(tmp_path, *ARGS, "--out", "cut")
    ckpt = None
    deadline = time.monotonic() + 300
    while ckpt is None and time.monotonic() < deadline and victim.poll() is None:
        found = list((tmp_path / "cut").glob("*/methods/hpnet-seed0/checkpoint.pt"))
        ckpt = found[0] if found else None
        time.sleep(0.05)
    assert ckpt is not None, "no checkpoint appeared before the run ended"
    os.kill(victim.pid, signal.SIGKILL)  # during epoch 2 of 4: its progress is lost
    victim.wait()
    assert not list((tmp_path / "cut").glob("*/results.csv")), "killed before any result"

    (run_dir,) = (tmp_path / "cut").iterdir()
    resumed = run(tmp_path, "--resume", str(run_dir))
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()[-2000:]
    log = pd.read_csv(ckpt.parent / "train_log.csv")
    assert list(log["epoch"]) == [1, 2, 3, 4], "the resumed log continues the epochs"
    pd.testing.assert_frame_equal(results(tmp_path / "whole"), results(tmp_path / "cut"))
