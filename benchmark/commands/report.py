"""``ranklist`` and ``report``: a rank list with parts, and one self-contained HTML page per run."""

from __future__ import annotations

from pathlib import Path

from benchmark.commands.values import positive, seed
from benchmark.reporting.ranklist import parse_rule
from benchmark.reporting.ranklist_figure import write_ranklist
from benchmark.reporting.report import write_html
from benchmark.store.run_folder import check_out_dir


def add_ranklist_parsers(sub) -> None:
    ranklist = sub.add_parser(
        "ranklist",
        help="rank lists with part masks and eq. (1) part distances from a run's stored data",
    )
    ranklist.add_argument("dir", type=Path, metavar="RUN_DIR", help="a run folder")
    ranklist.add_argument("--method", required=True, help="a method of the run, e.g. hpnet")
    ranklist.add_argument(
        "--seed", type=seed, help="its training seed (default: the lowest seed of the run)"
    )
    ranklist.add_argument(
        "--dataset", required=True, help="test set, e.g. occluded_reid (required)"
    )
    ranklist.add_argument(
        "--rule",
        default="random",
        help="which queries: random (seeded), worst (lowest AP) or pattern:BITS, e.g. "
        "pattern:1011 = parts 1, 3, 4 visible (default: random)",
    )
    ranklist.add_argument(
        "--queries", type=positive, default=4, help="number of queries (default: 4)"
    )
    ranklist.add_argument(
        "--topk", type=positive, default=5, help="gallery images per query (default: 5)"
    )
    ranklist.add_argument(
        "--draw-seed", type=seed, default=0, help="seed of the random draw (default: 0)"
    )
    ranklist.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="folder for ranklist_<job>_<set>_<rule>.png and .csv (default: RUN_DIR/figures)",
    )
    ranklist.set_defaults(func=cmd_ranklist)
    report = sub.add_parser("report", help="one self-contained HTML report of a run")
    report.add_argument("dir", type=Path, metavar="RUN_DIR", help="a run folder")
    report.add_argument(
        "--out", type=Path, metavar="DIR", help="folder for report.html (default: RUN_DIR)"
    )
    report.set_defaults(func=cmd_report)


def cmd_ranklist(args) -> int:
    if args.out is not None:
        check_out_dir(args.out)
    rule = parse_rule(args.rule, args.draw_seed)
    job = args.method if args.seed is None else f"{args.method}-seed{args.seed}"
    png, csv = write_ranklist(args.dir, job, args.dataset, rule, args.queries, args.topk, args.out)
    print(f"{png}\n{csv}")
    return 0


def cmd_report(args) -> int:
    if args.out is not None:
        check_out_dir(args.out)
    print(write_html(args.dir, None if args.out is None else Path(args.out) / "report.html"))
    return 0
