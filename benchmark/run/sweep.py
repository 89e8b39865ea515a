"""Sweep jobs: one (method, seed) run each, keyed by the hash of its resolved configuration.

A sweep store is a folder:

- ``jobs/<method>-seed<k>-<key>/``: one run folder per job (``benchmark.store.run_folder``), named
  after the job's key, the first 12 hex digits of the SHA-256 of its resolved ``config.json``.
  A job whose folder holds ``done.json`` under the same evaluation settings is finished and
  skipped; a folder without it is resumed from its last checkpoint (``run --resume``).
- ``sweep.csv``: every job's result rows, merged under a file lock and written atomically after
  each job, so jobs finishing at the same moment never lose one another's rows.
- ``sweep_status.json``: each job's last state (done, skipped, failed with its one-line error).

``python -m benchmark run --store STORE`` runs the same jobs into the same folders, so jobs
started by any scheduler (``sweep --print-jobs``: a Slurm array, GNU parallel) land in the store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from filelock import FileLock

from benchmark.atomic import write_csv_atomic, write_json_atomic
from benchmark.config import RunConfig
from benchmark.errors import DataError, UserError
from benchmark.plugins import import_plugins
from benchmark.profiles import PORTABLE_PROFILES
from benchmark.provenance import pin_portable_numerics
from benchmark.run.data import prepare_data
from benchmark.run.runner import run_benchmark
from benchmark.store.rows import rows_frame
from benchmark.store.run_folder import CONFIG, job_dir, job_state

log = logging.getLogger(__name__)

JOBS = "jobs"
MERGED = "sweep.csv"
STATUS = "sweep_status.json"
LOCK = ".sweep.lock"
DATA_LOCK = ".data.lock"
KEY_DIGITS = 12  # 48 bits: a clash among a sweep's jobs is out of reach


@dataclass(frozen=True)
class Job:
    """One training run (one method, one seed) of a sweep and the key of its configuration."""

    method: str
    seed: int
    key: str
    config: RunConfig

    @property
    def name(self) -> str:
        """The job's folder name under ``STORE/jobs``: readable, and unique by its key."""
        return f"{self.method}-seed{self.seed}-{self.key}"


def config_key(cfg: RunConfig) -> str:
    """The hash of a resolved configuration: equal settings give equal keys on any machine."""
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_DIGITS]


def plan_jobs(cfg: RunConfig) -> list[Job]:
    """One job per seed x method of ``cfg`` (seeds outermost, as ``run`` orders them)."""
    jobs = []
    for seed in cfg.seeds:
        for method in cfg.methods:
            one = dataclasses.replace(cfg, methods=(method,), seeds=(seed,))
            jobs.append(Job(method, seed, config_key(one), one))
    return jobs


def job_folder(store: Path, job: Job) -> Path:
    """The run folder of ``job`` in ``store``."""
    return Path(store) / JOBS / job.name


def job_status(store: Path, job: Job) -> str:
    """``done`` (finished under these eval settings), ``partial`` (resumable) or ``todo``."""
    folder = job_folder(store, job)
    if not (folder / CONFIG).is_file():
        return "todo"
    state = job_state(job_dir(folder, job.method, job.seed), job.config)
    return "done" if state == "done" else "partial"


def set_threads(threads: int | None, portable: bool) -> None:
    """Pin this process's compute threads (N jobs on N cores: one thread each)."""
    if portable:
        pin_portable_numerics()
    if threads is not None:
        torch.set_num_threads(threads)


def run_job(
    job: Job,
    store: Path,
    device: str | None = None,
    threads: int | None = None,
    plugins: tuple[str, ...] = (),
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Run (or resume) ``job`` into ``store``; never raises for a failed job.

    ``workdir`` is the folder the sweep started in: a Dask worker started elsewhere moves
    there, so relative paths (the store, the default synthetic data root) mean the same.

    Returns:
        ``{"job", "status", "error"}``: status ``done``, ``skipped`` (finished before) or
        ``failed`` with the one-line error, so one failed job never stops the others.
    """
    record: dict[str, Any] = {"job": job.name, "status": "done", "error": ""}
    try:
        if workdir is not None and Path.cwd() != Path(workdir):
            os.chdir(workdir)  # a worker process runs one job at a time (threads_per_worker=1)
        import_plugins(plugins)  # a fresh worker process has imported nothing yet
        set_threads(threads, job.config.profile in PORTABLE_PROFILES)
        if job_status(store, job) == "done":
            return record | {"status": "skipped"}
        _train(job, store, device)
    except UserError as e:
        record |= {"status": "failed", "error": str(e)}
    except Exception as e:  # noqa: BLE001 - a crashed job is reported, the others go on
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        record |= {"status": "failed", "error": f"{type(e).__name__}: {first}"}
    finally:
        merge_results(store)
    return record


def _train(job: Job, store: Path, device: str | None) -> None:
    """``run`` of one job: a new run folder named after the job, or a resume of it."""
    folder = job_folder(store, job)
    with FileLock(Path(store) / DATA_LOCK):  # concurrent jobs generate the synthetic data once
        prepare_data(job.config)
    if (folder / CONFIG).is_file():
        log.info("resuming job %s", job.name)
        run_benchmark(job.config, folder.parent, resume=folder, device=device)
        return
    if folder.exists():  # killed before its config.json was written: nothing in it to keep
        shutil.rmtree(folder)
    run_benchmark(job.config, folder.parent, device=device, name=job.name)


def merge_results(store: Path) -> Path:
    """Rewrite ``STORE/sweep.csv`` from every job's results under a lock; returns its path."""
    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)
    with FileLock(store / LOCK):
        frames = []
        for path in sorted((store / JOBS).glob("*/results.csv")):
            try:
                frames.append(pd.read_csv(path))
            except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError) as e:
                raise DataError(f"{path} is not a readable results CSV ({e})") from e
        merged = pd.concat(frames, ignore_index=True) if frames else rows_frame([])
        return write_csv_atomic(merged, store / MERGED)


def write_status(store: Path, records: list[dict[str, Any]]) -> Path:
    """Record each job's state of this sweep in ``STORE/sweep_status.json``."""
    return write_json_atomic(records, Path(store) / STATUS)


def format_record(record: dict[str, Any]) -> str:
    """One line per job: its name, state and, for a failed job, its error."""
    error = f": {record['error']}" if record["error"] else ""
    return f"{record['status']:>7}  {record['job']}{error}"
