"""``run``: resolve and check the configuration, train and evaluate, write and print the tables."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from benchmark.commands.run_options import DEFAULT_OUT, add_run_options, resolve_run_config
from benchmark.commands.sweep import run_in_store
from benchmark.errors import UserError
from benchmark.profiles import PORTABLE_PROFILES
from benchmark.provenance import pin_portable_numerics
from benchmark.reporting.tables import write_report
from benchmark.run.runner import run_benchmark
from benchmark.store.per_query import load_per_query
from benchmark.training import distributed

RESUME_HINT = "python -m benchmark run --resume RUN_DIR (RUN_DIR: the run folder logged above)"


def add_run_parser(sub: argparse._SubParsersAction) -> None:
    """The ``run`` subcommand: the shared run options plus where the run goes."""
    run = sub.add_parser(
        "run",
        help="train and evaluate methods; write rows, tables and figure data into a run folder",
        description="Train each method x seed, evaluate it on every test set, and write the "
        "run folder (results.csv, per_query.csv.gz, tables.md, tables.tex, training logs, "
        "checkpoints). An interrupted run continues with --resume RUN_DIR.",
    )
    add_run_options(run)
    run.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"folder that receives the new run folder (default: {DEFAULT_OUT})",
    )
    run.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue run folder RUN_DIR; it may add methods or seeds, lower train.lr "
        "(unfinished jobs) or change eval.* (finished jobs are re-evaluated from their "
        "checkpoints), and records each change in RUN_DIR/resume_log.json; any other change "
        "is refused (default: a new run)",
    )
    run.add_argument(
        "--store",
        type=Path,
        metavar="STORE",
        help="run each method x seed as a sweep job into sweep store STORE, as sweep does "
        "(default: no store, one run folder)",
    )
    run.set_defaults(func=cmd_run, resume_hint=RESUME_HINT)


def cmd_run(args: argparse.Namespace) -> int:
    cfg = resolve_run_config(args)
    group = distributed.group_from_env(os.environ)  # torchrun's RANK, WORLD_SIZE, LOCAL_RANK
    if args.store is not None:
        if group.distributed:
            raise UserError("--store runs sweep jobs one process each; drop it under torchrun")
        return run_in_store(args, cfg)
    if cfg.profile in PORTABLE_PROFILES:
        pin_portable_numerics(1 if group.distributed else 2)
    start = time.perf_counter()
    with distributed.process_group(group, args.device):
        out = args.out or DEFAULT_OUT
        run_dir, df = run_benchmark(cfg, out, args.resume, args.device, group=group)
    if not group.main:
        return 0  # rank 0 writes and prints the tables
    per_query = load_per_query(run_dir)
    written = write_report(df, per_query, run_dir)  # tables.md and tables.tex, atomically
    print(written["md"].read_text(encoding="utf-8"))  # the bootstrap runs once
    sets = df["dataset"].nunique()
    print(
        f"\nsummary: {len(cfg.methods)} method(s) x {len(cfg.seeds)} seed(s), {sets} test set(s), "
        f"{len(df)} result rows in {time.perf_counter() - start:.0f} s (profile {cfg.profile})"
    )
    tables = ", ".join(str(p) for p in written.values())
    print(f"results: {run_dir}  (tables: {tables})")
    return 0
