"""``python -m benchmark pretrain``: build (or find) the cached synthetic trunk of a profile."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.commands.values import add_set_option
from benchmark.profiles import get_profile
from benchmark.provenance import pick_device
from benchmark.settings import apply_assignments
from benchmark.store.run_folder import check_out_dir
from benchmark.training.pretrain import (
    DEFAULT_DIR,
    SCOPE,
    benchmark_people,
    ensure_pretrained,
    pretrain_profile,
    trunk_spec,
)
from reid_datasets.synthetic.config import synth_config


def add_pretrain_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``pretrain`` subcommand to the CLI's subparsers."""
    p = sub.add_parser(
        "pretrain",
        help="pretrain the trunk once on a disjoint synthetic task (method.pretrained=synthetic)",
    )
    p.add_argument(
        "--profile", default="cpu", help="run profile whose trunk to pretrain (default: cpu)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_DIR,
        metavar="DIR",
        help=f"folder of the cached trunks (default: {DEFAULT_DIR})",
    )
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    add_set_option(
        p,
        "a pretraining option, e.g. epochs=4 (then pass the printed path as --pretrained "
        "PATH: run uses the profile's options)",
    )
    p.set_defaults(func=run_pretrain)


def run_pretrain(args: argparse.Namespace) -> int:
    """``python -m benchmark pretrain``: build (or find) the cached trunk; print its path."""
    cfg = get_profile(args.profile)
    check_out_dir(args.out)  # a file there: one line, before minutes of pretraining
    pcfg = apply_assignments(pretrain_profile(cfg.profile), args.overrides, SCOPE)
    avoid = benchmark_people(synth_config(cfg.data.synth_profile))
    specs = {trunk_spec(cfg, m) for m in cfg.methods}
    device = pick_device(args.device)
    for spec in sorted(specs, key=str):
        path = ensure_pretrained(spec, pcfg, avoid, args.out, device)
        print(f"synthetic pretrained trunk: {path}  (card: {path.with_suffix('.json')})")
    return 0
