"""Sweeps end to end: loky and a Dask LocalCluster, skip on rerun, kill and resume, --print-jobs."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

TINY = ["--profile", "smoke", "--set", "train.epochs=1", "--set", "eval.datasets=occluded_reid"]
TINY += ["--set", "eval.modes=multi"]
PLUGIN = "broken_method_plugin"
PLUGIN_SOURCE = '''
"""A method that crashes in training, as a user's unfinished plug-in does."""

from reid_methods.base import register_method
from reid_methods.baseline import Baseline, BaselineConfig


@register_method("broken_net", BaselineConfig())
class BrokenNet(Baseline):
    def forward(self, images):
        raise RuntimeError("boom in forward")
'''


def env_with(path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(path), env.get("PYTHONPATH")) if p)
    return env


def sweep(cwd: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmark", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def merged(store: Path) -> pd.DataFrame:
    return pd.read_csv(store / "sweep.csv")


def test_loky_sweep_runs_every_job_once_and_a_rerun_skips_them(tmp_path) -> None:
    args = ["sweep", "--methods", "baseline", "pcb", "--seeds", "0", "1", *TINY]
    first = sweep(tmp_path, *args, "--jobs", "2", "--store", "store")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "sweep: 4 run, 0 skipped" in first.stdout, first.stdout[-1500:]
    rows = merged(tmp_path / "store")
    jobs = set(zip(rows["method"], rows["seed"], strict=True))
    assert jobs == {("baseline", 0), ("baseline", 1), ("pcb", 0), ("pcb", 1)}
    assert rows["run"].nunique() == 4, "one run folder per job"
    assert "| Baseline |" in first.stdout, "the sweep ends with the summary tables"
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "store").rglob("checkpoint.pt")}
    again = sweep(tmp_path, *args, "--jobs", "2", "--store", "store")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "sweep: 0 run, 4 skipped" in again.stdout, again.stdout[-1500:]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps, "nothing trained again"
    pd.testing.assert_frame_equal(merged(tmp_path / "store"), rows)


def test_dask_sweep_reports_a_failed_job_and_finishes_the_others(tmp_path, monkeypatch) -> None:
    distributed = pytest.importorskip("dask.distributed")
    (tmp_path / f"{PLUGIN}.py").write_text(PLUGIN_SOURCE)
    env = env_with(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # the workers start with this sys.path
    args = ["--plugin", PLUGIN, "sweep", "--methods", "baseline", "broken_net", "--seeds", "0"]
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        ran = sweep(
            tmp_path,
            *args,
            *TINY,
            "--backend",
            "dask",
            "--scheduler",
            cluster.scheduler_address,
            "--store",
            "store",
            env=env,
        )
    assert ran.returncode == 1, ran.stderr[-3000:]
    lines = [line for line in ran.stdout.splitlines() if "broken_net-seed0" in line]
    assert len(lines) == 1 and "failed" in lines[0], ran.stdout[-1500:]
    assert lines[0].endswith("RuntimeError: boom in forward"), lines[0]
    assert "sweep: 1 run, 0 skipped (finished before), 1 failed" in ran.stdout
    assert set(merged(tmp_path / "store")["method"]) == {"baseline"}
    assert (tmp_path / "data").is_dir(), "workers work in the sweep's folder, not their own"
    one = ["--plugin", PLUGIN, "run", "--methods", "broken_net", "--seeds", "0", *TINY]
    again = sweep(tmp_path, *one, "--store", "store2", env=env)
    assert again.returncode == 1, "a job that ran and failed exits 1, as in sweep"
    err = again.stderr.strip().splitlines()
    assert err[-1].startswith("error: job broken_net-seed0") and "boom" in err[-1], err[-3:]


def test_printed_jobs_run_by_hand_land_in_the_store(tmp_path) -> None:
    args = ["sweep", "--methods", "baseline", "--seeds", "0", "1", *TINY, "--store", "store"]
    printed = sweep(tmp_path, *args, "--print-jobs")
    assert printed.returncode == 0, printed.stderr[-3000:]
    lines = printed.stdout.strip().splitlines()
    assert len(lines) == 2 and all(" run " in line for line in lines), printed.stdout
    words = shlex.split(lines[0])
    assert words[:3] == ["python", "-m", "benchmark"]
    by_hand = sweep(tmp_path, *words[3:])
    assert by_hand.returncode == 0, by_hand.stderr[-3000:]
    assert set(merged(tmp_path / "store")["seed"]) == {0}, "the job's rows are in the store"
    left = sweep(tmp_path, *args, "--print-jobs").stdout.strip().splitlines()
    assert left == lines[1:], "only the missing job is printed again"


def test_killed_job_resumes_from_its_checkpoint(tmp_path) -> None:
    args = ["sweep", "--methods", "hpnet", "--seeds", "0", *TINY, "--set", "train.epochs=4"]
    victim = subprocess.Popen(
        [sys.executable, "-m", "benchmark", *args, "--store", "store"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the loky worker dies with it
    )
    ckpt, deadline = None, time.monotonic() + 300
    while ckpt is None and time.monotonic() < deadline and victim.poll() is None:
        found = list((tmp_path / "store").glob("jobs/*/methods/hpnet-seed0/checkpoint.pt"))
        ckpt = found[0] if found else None
        time.sleep(0.05)
    assert ckpt is not None, "no checkpoint appeared before the sweep ended"
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert not (ckpt.parent / "done.json").exists(), "killed before the job finished"
    resumed = sweep(tmp_path, *args, "--store", "store")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "sweep: 1 run" in resumed.stdout
    assert "resuming hpnet-seed0 from epoch" in resumed.stderr, resumed.stderr[-2000:]
    log = pd.read_csv(ckpt.parent / "train_log.csv")
    assert list(log["epoch"]) == [1, 2, 3, 4], "the resumed job continues its epochs"
