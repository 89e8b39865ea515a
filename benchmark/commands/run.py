"""``run``: resolve and check the configuration, train and evaluate, print the tables."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from benchmark.errors import UserError

DEFAULT_PROFILE = "cpu"
DEFAULT_OUT = Path("results/runs")

# The smoke profile is the CI regression gate: its numbers must not depend on the CPU family.
PORTABLE_PROFILES = ("smoke",)
# Environment read by the libraries: generic ATen kernels, SSE4.1 oneDNN, MKL's compatible path.
PORTABLE_NUMERICS = {
    "ATEN_CPU_CAPABILITY": "default",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "MKL_CBWR": "COMPATIBLE",
}


def pin_portable_numerics(threads: int = 2) -> None:
    """Use kernels that give the same numbers on any x86-64 CPU (before the first torch op).

    Generic ATen kernels, SSE4.1 oneDNN kernels, MKL's compatible code path and two threads:
    AVX2 vs AVX-512 kernels alone moved a third of the smoke metrics by up to 29 points.
    (``threads``: 1 per torchrun process, so N processes do not oversubscribe the cores.)
    """
    import os

    import torch

    os.environ.update(PORTABLE_NUMERICS)
    torch.set_num_threads(threads)


def add_run_parser(sub) -> None:
    run = sub.add_parser("run", help="train and evaluate methods, write results and tables")
    run.add_argument(
        "--methods",
        nargs="+",
        help="method names, or 'all' for the paper's ablation and comparison (default: "
        "hpnet baseline); with --resume: the run's methods plus any to add",
    )
    run.add_argument("--profile", help="smoke, cpu (default), cpu_long, paper or official")
    run.add_argument("--out", type=Path, help=f"folder for run folders (default: {DEFAULT_OUT})")
    run.add_argument("--root", type=Path, help="data root with real data sets (default: synthetic)")
    run.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        help="training seeds (default: 0); with --resume: the run's seeds plus any to add",
    )
    run.add_argument(
        "--pretrained",
        help="local ResNet state dict to start the backbone from, or 'synthetic' for the "
        "cached synthetic pretraining (python -m benchmark pretrain; built when missing)",
    )
    run.add_argument(
        "--resume",
        type=Path,
        metavar="RUN",
        help="continue run folder RUN; it may add methods or seeds, lower train.lr (unfinished "
        "jobs) or change eval.* (finished jobs are re-evaluated from their checkpoints), and "
        "records each change in RUN/resume_log.json; any other change is refused",
    )
    run.add_argument(
        "--occlusion-sweep",
        type=float,
        nargs="+",
        metavar="F",
        help="also test on synthetic occluded sets redrawn at these occlusion strengths",
    )
    run.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    run.add_argument(
        "--store",
        type=Path,
        help="run each method x seed as a sweep job into sweep store STORE (see sweep)",
    )
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, e.g. train.epochs=5 or method.share_conv5=true",
    )


def resolve_run_config(args):
    """The fully resolved, checked RunConfig of ``run``'s arguments, before any work starts.

    With ``--resume`` the run's config.json is the base; the flags and ``--set`` may change it
    only as ``benchmark.run_folder`` allows (a one-line refusal otherwise, never ignored).
    """
    from benchmark.config import apply_overrides, check_run_config
    from benchmark.profiles import get_profile
    from benchmark.run_folder import check_resume, read_run_config
    from reid_datasets.base import datasets_with_role
    from reid_methods.base import METHODS, all_methods

    if args.resume:
        base = read_run_config(args.resume)
        refuse_resume_flags(args, base)
    else:
        base = get_profile(args.profile or DEFAULT_PROFILE)
    cfg = base
    names = all_methods() if args.methods == ["all"] else args.methods
    for name in names or []:
        METHODS.get(name)  # one-line error for an unknown name, before any work
    sets = [f"methods={json.dumps(names)}"] if names else []
    sets += [f"seeds={json.dumps(args.seeds)}"] if args.seeds else []
    sets += [f"data.root={json.dumps(str(args.root))}"] if args.root else []
    sets += [f"method.pretrained={json.dumps(args.pretrained)}"] if args.pretrained else []
    if args.occlusion_sweep:
        sets += [f"eval.occlusion_sweep={json.dumps(args.occlusion_sweep)}"]
    cfg = apply_overrides(cfg, sets + args.overrides)
    if not cfg.eval.datasets:  # the default: every registered test set, plug-ins included
        tests = datasets_with_role("test")
        cfg = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, datasets=tuple(tests)))
    check_run_config(cfg)  # every section, eval included: a bad value fails before any work
    return check_resume(args.resume, base, cfg) if args.resume else cfg


def refuse_resume_flags(args, base) -> None:
    """Flags a resumed run cannot follow: one line each, never ignored."""
    if args.out is not None:
        raise UserError(f"--out does not apply to --resume (the run stays in {args.resume})")
    if args.profile not in (None, base.profile):
        raise UserError(
            f"run --resume cannot change the profile ({base.profile} -> {args.profile}): it "
            "defines results the run has; drop --profile or start a new run"
        )


def cmd_run(args) -> int:
    import os

    from benchmark.reporting.per_query import load_per_query
    from benchmark.reporting.tables import render_report
    from benchmark.runner import run_benchmark
    from benchmark.training import distributed

    cfg = resolve_run_config(args)
    group = distributed.group_from_env(os.environ)  # torchrun's RANK, WORLD_SIZE, LOCAL_RANK
    if args.store is not None:
        if group.distributed:
            raise UserError("--store runs sweep jobs one process each; drop it under torchrun")
        from benchmark.sweep_cli import run_in_store

        return run_in_store(args, cfg)
    if cfg.profile in PORTABLE_PROFILES:
        pin_portable_numerics(1 if group.distributed else 2)
    start = time.perf_counter()
    with distributed.process_group(group, args.device):
        out = args.out or DEFAULT_OUT
        run_dir, df = run_benchmark(cfg, out, args.resume, args.device, group=group)
    if not group.main:
        return 0  # rank 0 prints the tables
    print(render_report(df, load_per_query(run_dir), "md"))
    sets = df["dataset"].nunique()
    print(
        f"\nsummary: {len(cfg.methods)} method(s) x {len(cfg.seeds)} seed(s), {sets} test set(s), "
        f"{len(df)} result rows in {time.perf_counter() - start:.0f} s (profile {cfg.profile})"
    )
    print(f"results: {run_dir}  (tables: python -m benchmark tables {run_dir})")
    return 0
