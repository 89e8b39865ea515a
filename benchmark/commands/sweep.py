"""``python -m benchmark sweep``: methods x seeds as jobs through joblib (loky) or a Dask cluster.

Each job is a ``run`` of one method with one seed into the sweep store (``benchmark.run.sweep``);
``--print-jobs`` prints the missing ones as plain ``run --store`` command lines instead, for
any other scheduler (a Slurm job array, GNU parallel).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmark.commands.run_options import add_run_options, resolve_run_config, run_option_words
from benchmark.commands.values import positive
from benchmark.errors import DataError, UserError
from benchmark.reporting.tables import render_all
from benchmark.run.data import prepare_data
from benchmark.run.sweep import (
    JOBS,
    Job,
    format_record,
    job_status,
    merge_results,
    plan_jobs,
    run_job,
    write_status,
)
from benchmark.store.results import load_results

BACKENDS = ("loky", "dask")


SWEEP_HINT = "the same sweep command (finished jobs are skipped, killed ones resume)"


def add_sweep_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to the CLI's subparsers."""
    sweep = sub.add_parser(
        "sweep",
        help="train and evaluate methods x seeds as parallel jobs into one sweep store",
        description="Each (method, seed) run is one job keyed by the hash of its configuration: "
        "finished jobs are skipped, killed ones resume from their last checkpoint, failed ones "
        "are reported in one line without stopping the others. Exit status 1 when a job failed.",
    )
    add_run_options(sweep)
    sweep.add_argument(
        "--store",
        type=Path,
        required=True,
        metavar="STORE",
        help="sweep store: a folder holding jobs/, sweep.csv and sweep_status.json (required)",
    )
    sweep.add_argument("--jobs", type=positive, default=1, help="jobs at a time (default: 1)")
    sweep.add_argument(
        "--backend", choices=BACKENDS, default="loky", help="joblib backend (default: loky)"
    )
    sweep.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler address, with --backend dask (default: a local cluster)",
    )
    sweep.add_argument(
        "--threads",
        type=positive,
        help="compute threads per job (default: this machine's cores // --jobs)",
    )
    sweep.add_argument(
        "--print-jobs",
        action="store_true",
        help="print one 'python -m benchmark run ... --store STORE' line per missing job "
        "instead of running them (for Slurm arrays, GNU parallel)",
    )
    sweep.set_defaults(resume=None, out=None, func=cmd_sweep, resume_hint=SWEEP_HINT)
    return sweep


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def job_threads(args: argparse.Namespace) -> int | None:
    """Threads per job: ``--threads``, else this machine's cores shared among ``--jobs``.

    On a remote Dask cluster this machine's core count means nothing: torch's default there.
    """
    if args.threads is not None:
        return args.threads
    if args.scheduler is not None:
        return None
    return max(1, cores() // args.jobs)


def check_args(args: argparse.Namespace) -> None:
    if args.jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {args.jobs}")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be at least 1, got {args.threads}")
    if args.scheduler and args.backend != "dask":
        raise UserError("--scheduler needs --backend dask")


def cmd_sweep(args: argparse.Namespace) -> int:
    """Plan the jobs, print them or run the missing ones, then print one line each and tables."""
    check_args(args)
    cfg = resolve_run_config(args)
    store = args.store
    jobs = plan_jobs(cfg)
    if args.print_jobs:
        for job in jobs:
            if job_status(store, job) != "done":
                print(job_command(job, args))
        return 0
    prepare_data(cfg)  # bad data fails once, before any job; synthetic data generated once
    todo = [job for job in jobs if job_status(store, job) != "done"]
    skipped = [{"job": j.name, "status": "skipped", "error": ""} for j in jobs if j not in todo]
    records = skipped + dispatch(todo, args) if todo else skipped
    merge_results(store)
    write_status(store, records)
    return report(store, records)


def dispatch(todo: list[Job], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run ``todo`` through joblib on the chosen backend; one record per job."""
    from joblib import Parallel, delayed, parallel_config

    threads = job_threads(args)
    plugins = tuple(getattr(args, "plugin", ()) or ())
    here = Path.cwd()
    calls = [delayed(run_job)(job, args.store, args.device, threads, plugins, here) for job in todo]
    if args.backend == "dask":
        with dask_client(args.scheduler, args.jobs), parallel_config(backend="dask"):
            return Parallel(n_jobs=args.jobs)(calls)
    # inner_max_num_threads caps OpenMP/MKL in each worker (threadpoolctl): no oversubscription
    with parallel_config(backend="loky", inner_max_num_threads=threads):
        return Parallel(n_jobs=args.jobs)(calls)


@contextlib.contextmanager
def dask_client(address: str | None, workers: int) -> Iterator[Any]:
    """A Dask client of the scheduler at ``address``, or of a local cluster of ``workers``."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as e:
        raise UserError(
            "--backend dask needs dask.distributed: pip install 'occluded-reid-benchmark[dask]'"
        ) from e
    if address is None:
        with (
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as e:
        raise UserError(
            f"cannot reach the Dask scheduler at {address} ({e}); check --scheduler"
        ) from e
    with client:
        yield client


def job_command(job: Job, args: argparse.Namespace) -> str:
    """The plain ``python -m benchmark run`` line that runs ``job`` into the same store."""
    words = ["python", "-m", "benchmark"]
    for plugin in getattr(args, "plugin", ()) or ():
        words += ["--plugin", plugin]
    words += ["run", *run_option_words(args, job.method, job.seed, job.config.profile)]
    words += ["--store", str(Path(args.store).resolve())]
    return shlex.join(words)


def report(store: Path, records: list[dict[str, Any]]) -> int:
    """Print one line per job and the summary tables; 1 when a job failed."""
    try:
        print(render_all(load_results(Path(store) / JOBS), "md"))
    except DataError:
        pass  # no job has results yet: the job lines below say why
    for record in records:
        print(format_record(record))
    failed = sum(r["status"] == "failed" for r in records)
    done = sum(r["status"] == "done" for r in records)
    skipped = len(records) - failed - done
    print(f"\nsweep: {done} run, {skipped} skipped (finished before), {failed} failed; {store}")
    if failed:
        print("rerun the same command to retry only the failed and missing jobs", file=sys.stderr)
    return 1 if failed else 0


def run_in_store(args: argparse.Namespace, cfg) -> int:
    """``run --store STORE``: each method x seed of ``cfg`` as a sweep job into STORE; 1 when
    a job failed."""
    if args.resume is not None or args.out is not None:
        raise UserError("--store does not combine with --resume or --out (the job's key decides)")
    plugins = tuple(getattr(args, "plugin", ()) or ())
    records = [run_job(job, args.store, args.device, None, plugins) for job in plan_jobs(cfg)]
    for record in records:
        print(format_record(record))
    failed = [r for r in records if r["status"] == "failed"]
    if failed:  # the work ran and failed: exit 1, as sweep does
        print(f"error: job {failed[0]['job']} failed: {failed[0]['error']}", file=sys.stderr)
        return 1
    return 0
