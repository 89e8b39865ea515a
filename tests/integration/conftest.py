"""Shared integration fixtures: one smoke run per test session, reused read-only by its tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# the checkout under test comes first, whatever package an editable install points at
SESSION_ENV = {
    **os.environ,
    "PYTHONWARNINGS": "ignore",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
}


def run_cli(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python -m benchmark ARGS`` in ``cwd`` with this checkout's code."""
    return subprocess.run(
        [sys.executable, "-m", "benchmark", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=SESSION_ENV,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def smoke_session(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One smoke run of hpnet and baseline per test session: its working folder and process.
    Tests may add figures, reports and resume records to it, never change its results or
    checkpoints (copy it first for that)."""
    work = tmp_path_factory.mktemp("smoke-session")
    args = ("run", "--methods", "hpnet", "baseline", "--profile", "smoke", "--out", "runs")
    proc = run_cli(*args, cwd=work, timeout=1800)  # a guard only: about a minute on 2 idle cores
    assert proc.returncode == 0, f"smoke run failed:\n{proc.stderr[-3000:]}"
    return work, proc


@pytest.fixture(scope="session")
def smoke_run_dir(smoke_session) -> Path:
    """The run folder of the session's smoke run."""
    (run_dir,) = (smoke_session[0] / "runs").iterdir()
    return run_dir
