"""The run options shared by ``run`` and ``sweep``, and by the job lines ``sweep --print-jobs``
prints: one definition, so the three never drift apart."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from benchmark.commands.values import add_set_option
from benchmark.config import RunConfig, apply_overrides, check_run_config
from benchmark.errors import UserError
from benchmark.profiles import DEFAULT_PROFILE, PROFILES, get_profile
from benchmark.store.run_folder import check_resume, read_run_config
from reid_datasets.base import default_test_sets
from reid_methods.base import METHODS, all_methods

DEFAULT_OUT = Path("results/runs")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """What to train and test: profile, methods, seeds, data, initialisation, device, settings."""
    parser.add_argument(
        "--profile",
        help=f"settings profile: {', '.join(PROFILES)} (default: {DEFAULT_PROFILE}, the "
        "synthetic benchmark; with --resume: the run's)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        metavar="NAME",
        help="method names, or 'all' for every registered method (default: the profile's, "
        "hpnet baseline; with --resume: the run's, plus any added here)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        metavar="N",
        help="training seeds, each >= 0 (default: 0; with --resume: the run's, plus any added)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help="data root holding the real data sets (default: the synthetic data, drawn under "
        "data/ on first use); check it with: python -m benchmark datasets check --root DIR",
    )
    parser.add_argument(
        "--train-set",
        metavar="NAME",
        help="ReID training set, tested by default on its protocol's sets: market1501 (the "
        "paper: Partial/Occluded sets), occluded_duke, p_dukemtmc or msmt17 (each on itself; "
        "occluded_duke has a synthetic stand-in) (default: market1501)",
    )
    parser.add_argument(
        "--pretrained",
        metavar="PATH",
        help="local ResNet state dict to start the backbone from, or 'synthetic' for the cached "
        "synthetic trunk (python -m benchmark pretrain; built when missing) (default: the "
        "profile's)",
    )
    parser.add_argument(
        "--occlusion-sweep",
        type=float,
        nargs="+",
        metavar="F",
        help="also test on synthetic occluded sets redrawn at these occlusion strengths, "
        "fractions of the body (default: none)",
    )
    parser.add_argument(
        "--device", help="torch device: cpu, cuda or cuda:N (default: cuda when available)"
    )
    add_set_option(parser, "one setting, e.g. train.epochs=5 or method.share_conv5=true")


def run_option_words(args: argparse.Namespace, method: str, seed: int, profile: str) -> list[str]:
    """``args``' run options as command-line words, for one job (``method``, ``seed``)."""
    words = ["--profile", profile, "--methods", method, "--seeds", str(seed)]
    flags = (("--root", args.root), ("--pretrained", args.pretrained))
    for flag, value in (*flags, ("--train-set", getattr(args, "train_set", None))):
        if value is not None:
            words += [flag, str(value)]
    if args.occlusion_sweep:
        words += ["--occlusion-sweep", *map(str, args.occlusion_sweep)]
    if args.device:
        words += ["--device", args.device]
    for assignment in args.overrides:
        words += ["--set", assignment]
    return words


def resolve_run_config(args: argparse.Namespace) -> RunConfig:
    """The fully resolved, checked RunConfig of the run options, before any work starts.

    With ``--resume`` the run's config.json is the base; the flags and ``--set`` may change it
    only as ``benchmark.store.run_folder`` allows (a one-line refusal otherwise, never ignored).
    """
    resume = getattr(args, "resume", None)
    if resume:
        base = read_run_config(resume)
        refuse_resume_flags(args, base)
    else:
        base = get_profile(args.profile or DEFAULT_PROFILE)
    names = all_methods() if args.methods == ["all"] else args.methods
    for name in names or []:
        METHODS.get(name)  # one-line error for an unknown name, before any work
    sets = [f"methods={json.dumps(names)}"] if names else []
    sets += [f"seeds={json.dumps(args.seeds)}"] if args.seeds else []
    sets += [f"data.root={json.dumps(str(args.root))}"] if args.root else []
    train_set = getattr(args, "train_set", None)
    sets += [f"data.train_set={json.dumps(train_set)}"] if train_set else []
    sets += [f"method.pretrained={json.dumps(args.pretrained)}"] if args.pretrained else []
    if args.occlusion_sweep:
        sets += [f"eval.occlusion_sweep={json.dumps(args.occlusion_sweep)}"]
    cfg = apply_overrides(base, sets + args.overrides)
    if not cfg.eval.datasets:  # the default: the training set's protocol, plug-ins included
        tests = default_test_sets(cfg.data.train_set)
        cfg = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, datasets=tuple(tests)))
    check_run_config(cfg)  # every section, eval included: a bad value fails before any work
    return check_resume(resume, base, cfg) if resume else cfg


def refuse_resume_flags(args: argparse.Namespace, base: RunConfig) -> None:
    """Flags a resumed run cannot follow: one line each, never ignored."""
    if getattr(args, "out", None) is not None:
        raise UserError(f"--out does not apply to --resume (the run stays in {args.resume})")
    if args.profile not in (None, base.profile):
        raise UserError(
            f"run --resume cannot change the profile ({base.profile} -> {args.profile}): it "
            "defines results the run has; drop --profile or start a new run"
        )
