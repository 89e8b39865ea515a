"""Sweep jobs: keys from the resolved config, the printed command lines, the merged store."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shlex
from pathlib import Path

import pandas as pd

from benchmark.atomic import write_csv_atomic
from benchmark.cli import build_parser
from benchmark.commands.run_options import resolve_run_config
from benchmark.commands.sweep import job_command, job_threads
from benchmark.run.sweep import (
    MERGED,
    job_folder,
    job_status,
    merge_results,
    plan_jobs,
    run_job,
)

SWEEP = ["sweep", "--profile", "smoke", "--methods", "baseline", "pcb", "--seeds", "0", "1"]


def sweep_args(*extra: str, out: str = "store"):
    return build_parser().parse_args([*SWEEP, "--store", out, *extra])


def test_one_job_per_method_and_seed_keyed_by_its_config_hash() -> None:
    cfg = resolve_run_config(sweep_args("--set", "train.epochs=1"))
    jobs = plan_jobs(cfg)
    assert [(j.method, j.seed) for j in jobs] == [
        ("baseline", 0),
        ("pcb", 0),
        ("baseline", 1),
        ("pcb", 1),
    ], "seeds outermost, as run orders them"
    one = jobs[0].config
    assert one.methods == ("baseline",) and one.seeds == (0,), "a job is one method, one seed"
    text = json.dumps(one.to_dict(), sort_keys=True, default=str)
    assert jobs[0].key == hashlib.sha256(text.encode()).hexdigest()[:12]
    assert len({j.key for j in jobs}) == 4, "every job has its own key"
    again = plan_jobs(resolve_run_config(sweep_args("--set", "train.epochs=1")))
    assert [j.key for j in again] == [j.key for j in jobs], "the key is stable"
    other = plan_jobs(resolve_run_config(sweep_args("--set", "train.epochs=2")))
    assert not {j.key for j in other} & {j.key for j in jobs}, "another setting, another key"


def test_printed_command_resolves_to_the_same_job(tmp_path) -> None:
    args = sweep_args("--set", "train.epochs=1", "--set", "eval.modes=multi", out=str(tmp_path))
    jobs = plan_jobs(resolve_run_config(args))
    line = job_command(jobs[3], args)
    words = shlex.split(line)
    assert words[:4] == ["python", "-m", "benchmark", "run"], line
    assert words[-2:] == ["--store", str(tmp_path.resolve())], line
    run_args = build_parser().parse_args(words[3:])
    (job,) = plan_jobs(resolve_run_config(run_args))
    assert job == jobs[3], "the printed line runs exactly the planned job"


def test_threads_share_the_cores_among_jobs(monkeypatch) -> None:
    monkeypatch.setattr("benchmark.commands.sweep.cores", lambda: 8)
    assert job_threads(sweep_args("--jobs", "2")) == 4
    assert job_threads(sweep_args("--jobs", "16")) == 1, "never below one thread"
    assert job_threads(sweep_args("--jobs", "2", "--threads", "3")) == 3


def test_failed_job_is_one_line_record_not_an_exception(tmp_path) -> None:
    args = sweep_args("--root", str(tmp_path / "no-data"), out=str(tmp_path / "store"))
    job = plan_jobs(resolve_run_config(args))[0]
    record = run_job(job, tmp_path / "store")
    assert record["status"] == "failed", record
    assert "does not exist" in record["error"] and "\n" not in record["error"], record
    assert job_status(tmp_path / "store", job) == "todo", "nothing of the failed job is kept"


def _write_job_rows(store: str, index: int) -> None:
    rows = pd.DataFrame(
        {
            "run": [f"job{index}"] * 50,
            "method": ["m"] * 50,
            "seed": [index] * 50,
            "metric": [f"r{i}" for i in range(50)],
            "value": [0.5] * 50,
        }
    )
    folder = Path(store) / "jobs" / f"job{index}"
    folder.mkdir(parents=True)
    write_csv_atomic(rows, folder / "results.csv")  # as a job writes it: never half a file
    merge_results(Path(store))


def test_jobs_finishing_together_lose_no_rows(tmp_path) -> None:
    ctx = multiprocessing.get_context("fork")  # fast: nothing to re-import
    procs = [ctx.Process(target=_write_job_rows, args=(str(tmp_path), i)) for i in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
        assert proc.exitcode == 0, "a merging process failed"
    merged = pd.read_csv(tmp_path / MERGED)
    assert sorted(merged["seed"].unique()) == [0, 1, 2, 3], "every job's rows are in the store"
    assert len(merged) == 200, "each row once"


def test_job_folder_is_named_after_method_seed_and_key(tmp_path) -> None:
    job = plan_jobs(resolve_run_config(sweep_args()))[1]
    assert job_folder(tmp_path, job) == tmp_path / "jobs" / f"pcb-seed0-{job.key}"
