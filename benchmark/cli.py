"""Command line: run, list, synth, datasets check/export-labels, score, tables, figures, check."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import logging
import sys
import time
from pathlib import Path

from benchmark.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_PROFILE = "cpu"
DEFAULT_OUT = Path("results/runs")
NEED_DEFAULT = "default"  # datasets check --need default: every set a default run reads

# The smoke profile is the CI regression gate: its numbers must not depend on the CPU family.
PORTABLE_PROFILES = ("smoke",)
# Environment read by the libraries: generic ATen kernels, SSE4.1 oneDNN, MKL's compatible path.
PORTABLE_NUMERICS = {
    "ATEN_CPU_CAPABILITY": "default",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "MKL_CBWR": "COMPATIBLE",
}


def pin_portable_numerics() -> None:
    """Use kernels that give the same numbers on any x86-64 CPU (before the first torch op).

    Generic ATen kernels, SSE4.1 oneDNN kernels, MKL's compatible code path and two threads:
    AVX2 vs AVX-512 kernels alone moved a third of the smoke metrics by up to 29 points.
    """
    import os

    import torch

    os.environ.update(PORTABLE_NUMERICS)
    torch.set_num_threads(2)


def import_registries(plugins: list[str] | None = None) -> None:
    """Import the built-in registries (checking ``datasets`` is ours) and any plug-in modules."""
    import datasets

    if not getattr(datasets, "__reid_benchmark__", False):
        where = getattr(datasets, "__file__", "?")
        raise UserError(
            f"the imported 'datasets' package ({where}) is not this project's; run from the "
            "repository root or reinstall with 'pip install -e .' "
            "(an unrelated 'datasets' package shadows it)"
        )
    import methods  # noqa: F401

    for name in plugins or []:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise UserError(f"cannot import plug-in {name!r}: {e}; check the module path") from e


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark", description=__doc__)
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a third-party method/dataset plug-in module (repeatable)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)
    sub.add_parser("list", help="list registered methods, datasets and profiles")
    synth = sub.add_parser("synth", help="write the synthetic data sets in their real formats")
    synth.add_argument("--profile", default="cpu", help="synthetic size: smoke or cpu")
    synth.add_argument("--root", type=Path, required=True)
    synth.add_argument("--occlusion", type=float, help="fraction of the body covered (0-1)")
    synth.add_argument("--seed", type=int, default=None)
    synth.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a generator setting, e.g. train_ids=50 or occlusion=0.3",
    )
    add_datasets_parser(sub)
    from benchmark.evaluation.score import add_score_parser

    add_score_parser(sub)
    from benchmark.sweep_cli import add_sweep_parser

    add_sweep_parser(sub)
    add_report_parsers(sub)
    from benchmark.human_parsing import add_parse_parser

    add_parse_parser(sub)
    return parser


def add_run_parser(sub) -> None:
    run = sub.add_parser("run", help="train and evaluate methods, write results and tables")
    run.add_argument(
        "--methods",
        nargs="+",
        help="method names, or 'all' for the paper's ablation and comparison (default: "
        "hpnet baseline); with --resume: the run's methods plus any to add",
    )
    run.add_argument("--profile", help="smoke, cpu (default), paper or official")
    run.add_argument("--out", type=Path, help=f"folder for run folders (default: {DEFAULT_OUT})")
    run.add_argument("--root", type=Path, help="data root with real data sets (default: synthetic)")
    run.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        help="training seeds (default: 0); with --resume: the run's seeds plus any to add",
    )
    run.add_argument("--pretrained", help="local ResNet state dict to start the backbone from")
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


def add_datasets_parser(sub) -> None:
    ds = sub.add_parser("datasets", help="inspect data sets under a root")
    dsub = ds.add_subparsers(dest="datasets_command", required=True)
    check = dsub.add_parser(
        "check",
        help="report what was found against the expected counts",
        description="Report every data set found under the root against its release's counts, "
        "decoding every image and DensePose mask. Exit status: 0 usable; 1 a needed data set "
        "is missing or a checked one has problems (unreadable images or annotations, missing "
        "folders, bad labels; counts that differ from the full release are shown but do not "
        "fail); 2 unusable input (no such root, an unknown name).",
    )
    check.add_argument("--root", type=Path, required=True)
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.add_argument(
        "--no-verify", action="store_true", help="do not decode every image (masks still are)"
    )
    check.add_argument(
        "--need",
        nargs="+",
        metavar="NAME",
        help="data sets the command to come needs: fail when one is missing or broken (others "
        f"are reported only); '{NEED_DEFAULT}' = those of a default run (train, test and "
        "parsing sets); without --need every data set found must be usable",
    )
    export = dsub.add_parser("export-labels", help="write the 7-part label PNG of each instance")
    export.add_argument("dataset", choices=["coco_densepose"])
    export.add_argument("--root", type=Path, required=True)
    export.add_argument("--out", type=Path, required=True)


def add_report_parsers(sub) -> None:
    tables = sub.add_parser("tables", help="paper-style tables from stored results")
    tables.add_argument("dir", type=Path)
    tables.add_argument("--format", choices=["md", "latex", "csv"], default="md")
    figures = sub.add_parser("figures", help="figures from stored results")
    figures.add_argument("dir", type=Path)
    figures.add_argument("--out", type=Path, help="output folder (default: DIR/figures)")
    check = sub.add_parser(
        "check",
        help="compare results with reference results",
        description="Compare results with reference results (see benchmark.reporting.regress). "
        "Exit status: 0 passed; 1 a metric regressed, is missing or a count changed; 2 unusable "
        "input (a missing, unreadable or malformed file, or no result row in common), so CI can "
        "tell a regression from a broken setup.",
    )
    check.add_argument("--reference", type=Path, required=True)
    check.add_argument("--current", type=Path, required=True)
    check.add_argument("--tolerance", type=float, default=0.02)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    import_registries(args.plugin)
    handler = {
        "run": cmd_run,
        "list": cmd_list,
        "synth": cmd_synth,
        "datasets": cmd_datasets,
        "tables": cmd_tables,
        "figures": cmd_figures,
        "check": cmd_check,
        "parse": cmd_parse,
    }.get(args.command, getattr(args, "func", None))
    if handler is None:
        from benchmark.evaluation.score import run_score

        return run_score(args)
    return handler(args)


def cmd_parse(args) -> int:
    from benchmark.human_parsing import run_parse

    return run_parse(args)


def cmd_list(args) -> int:
    from benchmark.profiles import PROFILES
    from datasets.base import DATASETS, dataset_info
    from methods.base import METHODS, method_row

    width = max(map(len, [*METHODS, *DATASETS]))
    print("methods:")
    for name in METHODS:
        base = METHODS.meta(name)["base"]
        variant = f"  (variant of {base})" if base != name else ""
        print(f"  {name:<{width}}  {method_row(name).label}{variant}")
    print("datasets:")
    for name in DATASETS:
        info = dataset_info(name)
        print(f"  {name:<{width}}  {info.display}  ({', '.join(info.roles)})")
    print("profiles:\n  " + "\n  ".join(PROFILES))
    return 0


def resolve_run_config(args):
    """The fully resolved, checked RunConfig of ``run``'s arguments, before any work starts.

    With ``--resume`` the run's config.json is the base; the flags and ``--set`` may change it
    only as ``benchmark.run_folder`` allows (a one-line refusal otherwise, never ignored).
    """
    from benchmark.config import apply_overrides, check_run_config
    from benchmark.profiles import get_profile
    from benchmark.run_folder import check_resume, read_run_config
    from datasets.base import datasets_with_role
    from methods.base import METHODS, all_methods

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
    from benchmark.reporting.tables import render_all
    from benchmark.runner import run_benchmark

    cfg = resolve_run_config(args)
    if args.store is not None:
        from benchmark.sweep_cli import run_in_store

        return run_in_store(args, cfg)
    if cfg.profile in PORTABLE_PROFILES:
        pin_portable_numerics()
    start = time.perf_counter()
    run_dir, df = run_benchmark(cfg, args.out or DEFAULT_OUT, args.resume, args.device)
    print(render_all(df, "md"))
    sets = df["dataset"].nunique()
    print(
        f"\nsummary: {len(cfg.methods)} method(s) x {len(cfg.seeds)} seed(s), {sets} test set(s), "
        f"{len(df)} result rows in {time.perf_counter() - start:.0f} s (profile {cfg.profile})"
    )
    print(f"results: {run_dir}  (tables: python -m benchmark tables {run_dir})")
    return 0


def cmd_synth(args) -> int:
    from datasets.synthetic import generate
    from datasets.synthetic.config import synth_profile

    flags = {"occlusion": args.occlusion, "seed": args.seed}  # the flags win over --set
    sets = args.overrides + [f"{k}={json.dumps(v)}" for k, v in flags.items() if v is not None]
    wrote = generate(args.root, synth_profile(args.profile, sets))
    print(f"{'wrote' if wrote else 'up to date:'} synthetic data under {args.root}")
    return 0


def cmd_datasets(args) -> int:
    from datasets import check as datacheck

    if args.datasets_command == "check":
        need = needed_datasets(args.need)
        report = datacheck.check_root(args.root, verify_images=not args.no_verify)
        print(json.dumps(report, indent=2) if args.json else datacheck.format_report(report))
        failed = datacheck.failures(report, args.root, need)
        if failed:
            print(f"datasets check FAILED: {'; '.join(failed)}", file=sys.stderr)
            return 1
        return 0
    n = datacheck.export_labels(args.root, args.out, args.dataset)
    print(f"wrote {n} label PNGs to {args.out}")
    return 0


def needed_datasets(names: list[str] | None) -> list[str] | None:
    """``--need``'s data sets (``default``: a default run's), each checked to be registered."""
    from datasets.base import DATASETS
    from datasets.check import checked_datasets

    if names is None:
        return None
    wanted = []
    for name in names:
        if name == NEED_DEFAULT:
            wanted += checked_datasets()  # every registered train, test and parsing set
        else:
            DATASETS.get(name)  # one-line error listing the registered names
            wanted.append(name)
    return list(dict.fromkeys(wanted))


def cmd_tables(args) -> int:
    from benchmark.reporting.store import load_results
    from benchmark.reporting.tables import render_all

    print(render_all(load_results(args.dir), args.format))
    return 0


def cmd_figures(args) -> int:
    from benchmark.reporting.figure_data import write_example_figures
    from benchmark.reporting.figures import write_figures
    from benchmark.reporting.store import load_results

    out = args.out or args.dir / "figures"
    paths = write_figures(load_results(args.dir), out) + write_example_figures(args.dir, out)
    print("\n".join(str(p) for p in paths))
    return 0


def cmd_check(args) -> int:
    from benchmark.reporting.regress import check, format_check, shared_rows

    table, ok = check(args.reference, args.current, args.tolerance)
    if not shared_rows(table):
        raise UserError(
            f"{args.reference} and {args.current} share no result row (other methods, data, "
            "labels or protocol); compare results of the same benchmark"
        )
    print(format_check(table))
    print(
        "check passed" if ok else "check FAILED: a metric regressed or is missing", file=sys.stderr
    )
    return 0 if ok else 1
