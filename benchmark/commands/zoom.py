"""``zoom``: a run's trained models on the synthetic partial crops shown at other scales.

The test protocol stretches each partial crop to the input; this diagnostic also shows the same
crops at their source position and native scale ("in place", zoom 1.0) and scaled by each zoom,
so a table can tell what zoom costs from what occlusion costs. Synthetic data only (it needs
each crop's source box); it writes ``zoom.csv`` (tidy rows) and ``figures/zoom_<set>.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmark.atomic import write_csv_atomic
from benchmark.commands.values import seed
from benchmark.config import loader_options
from benchmark.errors import UserError
from benchmark.evaluation.extract import evaluate_splits, query_set_name
from benchmark.export.onnx_export import load_trained
from benchmark.loading.presentations import presented_splits, source_boxes, stretch_zoom
from benchmark.loading.roots import data_root, load_test_set
from benchmark.precision import resolve_precision
from benchmark.reporting.figures import write_robustness_figures
from benchmark.reporting.labels import dataset_label
from benchmark.store.results import ZOOM_CSV, load_results
from benchmark.store.run_folder import read_run_config
from reid_datasets.base import Splits
from reid_datasets.synthetic import MARKER

ZOOMS = (1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5)


def add_zoom_parser(sub: argparse._SubParsersAction) -> None:
    """The ``zoom`` subcommand."""
    zoom = sub.add_parser(
        "zoom",
        help="synthetic diagnostic: a run's models on partial crops in place and at each zoom",
        description=__doc__,
    )
    zoom.add_argument("dir", type=Path, metavar="RUN_DIR", help="a run folder on synthetic data")
    zoom.add_argument(
        "--zooms",
        type=float,
        nargs="+",
        default=list(ZOOMS),
        metavar="Z",
        help=f"zooms to show the crops at (default: {' '.join(map(str, ZOOMS))})",
    )
    zoom.add_argument(
        "--methods", nargs="+", metavar="NAME", help="methods of the run (default: all of them)"
    )
    zoom.add_argument("--seed", type=seed, help="one training seed (default: every seed)")
    zoom.set_defaults(func=cmd_zoom)


def cmd_zoom(args: argparse.Namespace) -> int:
    if any(z <= 0 for z in args.zooms):
        raise UserError(f"--zooms must be > 0, got {args.zooms}")
    run_dir = Path(args.dir)
    cfg = read_run_config(run_dir)
    root, kind = data_root(cfg.data.root, cfg.data.synth_profile, cfg.data.synth_overrides())
    if kind != "synthetic":
        raise UserError(f"{run_dir} ran on real data; zoom needs the synthetic crops' boxes")
    generated = json.loads((root / MARKER).read_text(encoding="utf-8"))["config"]
    crops = source_boxes(root, (generated["height"], generated["width"]))
    sets = partial_sets(cfg, root, crops)
    if not sets:
        raise UserError(f"{run_dir} tested no set of partial crops (Partial-REID, Partial-iLIDS)")
    frames = []
    methods = args.methods or list(cfg.methods)
    seeds = [args.seed] if args.seed is not None else list(cfg.seeds)
    with tempfile.TemporaryDirectory(prefix="zoom-") as tmp:
        shown = {
            (name, z): presented_splits(splits, root, crops, z, Path(tmp) / f"z{z:g}")
            for name, splits in sets.items()
            for z in args.zooms
        }
        for method in methods:
            for s in seeds:
                frames.append(score_job(run_dir, cfg, method, s, sets, shown, crops, root))
    frame = pd.concat(frames, ignore_index=True)
    write_csv_atomic(frame, run_dir / ZOOM_CSV)
    write_robustness_figures(load_results(run_dir), run_dir / "figures", frame)
    print(summary_table(frame))
    figures = run_dir / "figures"
    print(f"\nrows: {run_dir / ZOOM_CSV}; figures: {figures}/robustness.png, zoom_<set>.png")
    return 0


def partial_sets(cfg, root: Path, crops) -> dict[str, Splits]:
    """The run's test sets whose every query is a synthetic partial crop with a source box."""
    sets = {}
    for name in cfg.eval.datasets:
        splits = load_test_set(name, root, loader_options(cfg, name))
        rels = [Path(s.path).resolve().relative_to(root.resolve()).as_posix() for s in splits.query]
        if rels and all(r in crops for r in rels):
            sets[name] = splits
    return sets


def score_job(run_dir, cfg, method, seed_, sets, shown, crops, root) -> pd.DataFrame:
    """Multi-shot Rank-1 and mAP of one trained job on every presentation of every set: each
    zoom is one more query set of the set (``Splits.extra_queries``), so the gallery's features
    are extracted once per set."""
    trained = load_trained(run_dir, method, seed_)
    device = torch.device("cpu")
    rows = []
    for name, splits in sets.items():
        rels = [Path(s.path).resolve().relative_to(root.resolve()).as_posix() for s in splits.query]
        zooms = {f"zoom{z:g}": z for (n, z) in shown if n == name}
        extra = {key: shown[(name, z)].query for key, z in zooms.items()}
        found = evaluate_splits(
            trained.model,
            dataclasses.replace(splits, extra_queries=extra),
            (cfg.data.height, cfg.data.width),
            device,
            modes=("multi",),
            distance=cfg.eval.distance,
            without_vis=False,
            batch_size=cfg.eval.batch_size,
            precision=resolve_precision(cfg.train.amp, device),  # the run's: stretched = its rows
        )
        stretched = float(np.mean([stretch_zoom(crops[r]) for r in rels]))
        main = query_set_name(splits)
        for result in found.results:
            shown_as = result.context["query_set"]
            presentation = "stretched" if shown_as == main else "zoom"
            zoom = stretched if shown_as == main else zooms[shown_as]
            for metric in ("rank1", "mAP"):
                rows.append(
                    {"method": method, "seed": trained.seed, "dataset": name, "query_set": main}
                    | {"presentation": presentation, "zoom": round(zoom, 4)}
                    | {"metric": metric, "value": float(result.metrics[metric])}
                )
    return pd.DataFrame(rows)


def summary_table(frame: pd.DataFrame) -> str:
    """Rank-1 (%) per method and presentation, one block per set (mean over seeds)."""
    r1 = frame[frame["metric"] == "rank1"].copy()
    r1["shown"] = np.where(
        r1["presentation"] == "stretched", "stretched", "zoom " + r1["zoom"].map("{:g}".format)
    )
    blocks = []
    for name, part in r1.groupby("dataset", sort=False):
        table = part.pivot_table(index="method", columns="shown", values="value", sort=False)
        blocks.append(
            f"{dataset_label(name)}, Rank-1 (%):\n" + (100 * table).round(1).to_markdown()
        )
    return "\n\n".join(blocks)
