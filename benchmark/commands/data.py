"""``list``, ``synth`` and ``datasets check/export-labels``: what is registered and on disk."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmark.commands.values import add_set_option, seed
from benchmark.profiles import PROFILES
from benchmark.store.run_folder import check_out_dir
from reid_datasets import check as datacheck
from reid_datasets.base import DATASETS, dataset_info, datasets_with_role, default_test_sets
from reid_datasets.export import export_labels
from reid_datasets.synthetic import generate
from reid_datasets.synthetic.config import synth_profile
from reid_methods.base import METHODS, method_row

NEED_DEFAULT = "default"  # datasets check --need default: every set a default run reads


def add_data_parsers(sub) -> None:
    """The ``list``, ``synth`` and ``datasets`` subcommands."""
    sub.add_parser("list", help="list registered methods, data sets and profiles").set_defaults(
        func=cmd_list
    )
    synth = sub.add_parser("synth", help="write the synthetic data sets in their real formats")
    synth.add_argument(
        "--profile", default="cpu", help="synthetic size: smoke or cpu (default: cpu)"
    )
    synth.add_argument(
        "--root", type=Path, required=True, metavar="DIR", help="data root to write (required)"
    )
    synth.add_argument(
        "--occlusion",
        type=float,
        help="fraction of the body the occluders cover, 0-1 (default: the profile's)",
    )
    synth.add_argument("--seed", type=seed, default=None, help="seed (default: the profile's)")
    add_set_option(synth, "a generator setting, e.g. train_ids=50")
    synth.set_defaults(func=cmd_synth)
    add_datasets_parser(sub)


def add_datasets_parser(sub) -> None:
    ds = sub.add_parser("datasets", help="check a data root against the real releases")
    ds.set_defaults(func=cmd_datasets)
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
    check.add_argument(
        "--root", type=Path, required=True, metavar="DIR", help="the data root (required)"
    )
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
        "parsing sets) (default: every data set found must be usable)",
    )
    export = dsub.add_parser("export-labels", help="write the 7-part label PNG of each instance")
    export.add_argument("dataset", choices=["coco_densepose"], help="the data set to export")
    export.add_argument(
        "--root", type=Path, required=True, metavar="DIR", help="the data root (required)"
    )
    export.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder for the PNGs (required)"
    )


def cmd_list(args) -> int:
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


def cmd_synth(args) -> int:
    check_out_dir(args.root, "--root")  # a file there: one line, before any drawing
    flags = {"occlusion": args.occlusion, "seed": args.seed}  # the flags win over --set
    sets = args.overrides + [f"{k}={json.dumps(v)}" for k, v in flags.items() if v is not None]
    wrote = generate(args.root, synth_profile(args.profile, sets))
    print(f"{'wrote' if wrote else 'up to date:'} synthetic data under {args.root}")
    return 0


def cmd_datasets(args) -> int:
    if args.datasets_command == "check":
        need = needed_datasets(args.need)
        report = datacheck.check_root(args.root, verify_images=not args.no_verify)
        print(
            json.dumps(report, indent=2)
            if args.json
            else datacheck.format_report(report, args.root)
        )
        failed = datacheck.failures(report, args.root, need)
        if failed:
            print(f"datasets check FAILED: {'; '.join(failed)}", file=sys.stderr)
            return 1
        return 0

    check_out_dir(args.out)
    n = export_labels(args.root, args.out, args.dataset)
    print(f"wrote {n} label PNGs to {args.out}")
    return 0


def needed_datasets(names: list[str] | None) -> list[str] | None:
    """``--need``'s data sets (``default``: a default run's), each checked to be registered."""

    if names is None:
        return None
    wanted = []
    for name in names:
        if name == NEED_DEFAULT:
            # a default run's: Market-1501, the sets tested after it, the parsing sets
            wanted += ["market1501", *default_test_sets("market1501")]
            wanted += datasets_with_role("parsing")
        else:
            DATASETS.get(name)  # one-line error listing the registered names
            wanted.append(name)
    return list(dict.fromkeys(wanted))
