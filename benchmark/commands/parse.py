"""The ``parse`` command: ``parse train``, ``parse label`` and ``parse eval``."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from benchmark.commands.values import add_set_option, positive, seed
from benchmark.errors import UserError, folder_problem
from benchmark.human_parsing.config import ParseConfig, parse_profile
from benchmark.human_parsing.evaluate import evaluate_labels, label_pairs, recorded_checkpoint
from benchmark.human_parsing.label import LABELLED, label_dataset, latest_checkpoint
from benchmark.human_parsing.train import train_parser, write_run_files
from benchmark.provenance import env_info, pick_device
from reid_datasets.base import load_dataset

log = logging.getLogger(__name__)

RESULTS = Path("results/parsing")


def add_parse_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``parse {train,label,eval}`` to the top-level sub-command ``subparsers``."""
    parse = subparsers.add_parser(
        "parse",
        help="human parsing: train on DensePose-COCO, pseudo-label Market-1501, score the labels",
    )
    sub = parse.add_subparsers(dest="parse_command", required=True)
    train = sub.add_parser("train", help="train the part-segmentation model on coco_densepose")
    train.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help="data root holding coco/ (required unless --resume)",
    )
    train.add_argument("--profile", default="cpu", help="smoke, cpu or paper (default: cpu)")
    train.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"the new parser run folder (default: {RESULTS}/<timestamp>)",
    )
    train.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue an interrupted parser run (default: a new run)",
    )
    train.add_argument(
        "--pretrained",
        metavar="PATH",
        help="local ResNet state dict to start the encoder from (default: none)",
    )
    train.add_argument("--seed", type=seed, help="training seed (default: the profile's, 0)")
    train.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    add_set_option(train, "a setting, e.g. iters=500 or backbone=resnet18")
    train.set_defaults(resume_hint="python -m benchmark parse train --resume RUN_DIR")
    label = sub.add_parser(
        "label",
        help="write the _ps_label tree of a training set (Market-1501, Occluded-Duke, "
        "P-DukeMTMC-reID, MSMT17)",
    )
    label.add_argument(
        "--root", type=Path, required=True, metavar="DIR", help="the data root (required)"
    )
    label.add_argument(
        "--dataset",
        default="market1501",
        choices=list(LABELLED),
        help="the data set to label (default: market1501)",
    )
    label.add_argument(
        "--checkpoint", type=Path, help=f"parser checkpoint (default: the newest under {RESULTS})"
    )
    label.add_argument("--overwrite", action="store_true", help="relabel images already labelled")
    label.add_argument(
        "--batch-size", type=positive, default=64, help="images per batch (default: 64)"
    )
    label.add_argument("--no-flip", action="store_true", help="no test-time flip averaging")
    label.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    label.set_defaults(resume_hint="the same command (labelled images are kept and skipped)")
    ev = sub.add_parser(
        "eval", help="score the _ps_label tree against the synthetic _gt_label tree"
    )
    ev.add_argument(
        "--root", type=Path, required=True, metavar="DIR", help="the data root (required)"
    )
    ev.add_argument(
        "--out",
        type=Path,
        help="folder for parsing_eval.csv/.md (default: the run "
        f"folder of the labelling checkpoint, else {RESULTS}/eval-<timestamp>)",
    )
    parse.set_defaults(func=run_parse)
    return parse


def run_parse(args: argparse.Namespace) -> int:
    """Run the ``parse`` sub-command in ``args``; returns the exit code."""
    handler = {"train": cmd_train, "label": cmd_label, "eval": cmd_eval}[args.parse_command]
    return handler(args)


def new_run_dir(base: Path, prefix: str = "") -> Path:
    """A fresh ``base/<prefix><timestamp>`` folder name (suffixed if taken)."""
    stamp = prefix + time.strftime("%Y%m%d-%H%M%S")
    path, n = base / stamp, 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{n}"
    return path


def resolve_train(args: argparse.Namespace):
    """(config, data root, run folder) of ``parse train`` from its arguments."""

    if args.resume is not None:
        cfg_path = args.resume / "config.json"
        if not cfg_path.is_file():
            raise UserError(f"{args.resume} is not a parse run folder (no config.json); pass one")
        saved = json.loads(cfg_path.read_text())
        root = Path(saved.pop("root"))
        return ParseConfig.from_dict(saved), args.root or root, args.resume
    if args.root is None:
        raise UserError("parse train needs --root DIR (the data root holding coco/)")
    sets = list(args.overrides)
    sets += [f"seed={args.seed}"] if args.seed is not None else []
    sets += [f"pretrained={json.dumps(args.pretrained)}"] if args.pretrained else []
    cfg = parse_profile(args.profile, sets)
    run_dir = args.out or new_run_dir(RESULTS)
    if (run_dir / "checkpoint.pt").exists():
        raise UserError(
            f"{run_dir} already holds a parser run; continue it with --resume {run_dir} "
            "or choose another --out"
        )
    return cfg, args.root, run_dir


def cmd_train(args: argparse.Namespace) -> int:
    cfg, root, run_dir = resolve_train(args)
    if problem := folder_problem(root):
        raise UserError(f"data root {root} {problem}; pass --root DIR holding coco/")
    instances = load_dataset("coco_densepose", Path(root), splits=cfg.coco_splits).train
    device = pick_device(args.device)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_run_files(run_dir, cfg, Path(root), env_info())
    log.info("training the parser on %d DensePose instances in %s", len(instances), run_dir)
    rows = train_parser(cfg, instances, run_dir, device)
    last = rows.iloc[-1]
    print(f"step {int(last['step'])}: loss {last['loss']:.4f}, train mIoU {last['miou']:.3f}")
    print(f"checkpoint: {run_dir / 'checkpoint.pt'}")
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    checkpoint = args.checkpoint or latest_checkpoint(RESULTS)
    if not checkpoint.is_file():
        raise UserError(f"checkpoint {checkpoint} not found; pass the checkpoint.pt of a parse run")
    report = label_dataset(
        args.root,
        checkpoint,
        pick_device(args.device),
        args.overwrite,
        args.batch_size,
        flip=not args.no_flip,
        dataset=args.dataset,
    )
    print(
        f"wrote {report.written} label PNGs under {report.tree} "
        f"({report.skipped} already labelled; --overwrite relabels them) using {checkpoint}"
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    out = args.out
    if out is None:
        _, _, ps_tree = label_pairs(args.root)
        ckpt = recorded_checkpoint(ps_tree)
        out = (
            ckpt.parent
            if ckpt is not None and ckpt.parent.is_dir()
            else new_run_dir(RESULTS, "eval-")
        )
    _, markdown = evaluate_labels(args.root, out)
    print(markdown)
    print(f"written: {out / 'parsing_eval.csv'}, {out / 'parsing_eval.md'}")
    return 0
