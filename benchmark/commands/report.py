"""``ranklist`` and ``report``: a rank list with parts, and one self-contained HTML page per run."""

from __future__ import annotations

from pathlib import Path


def add_ranklist_parsers(sub) -> None:
    ranklist = sub.add_parser(
        "ranklist",
        help="rank lists with part masks and eq. (1) part distances from a run's stored data",
    )
    ranklist.add_argument("dir", type=Path, metavar="RUN_DIR")
    ranklist.add_argument(
        "--method", required=True, help="method name (its lowest seed) or a job, e.g. hpnet-seed1"
    )
    ranklist.add_argument("--dataset", required=True, help="test set, e.g. occluded_reid")
    ranklist.add_argument(
        "--rule",
        default="random",
        help="which queries: random (seeded), worst (lowest AP) or pattern:BITS, e.g. "
        "pattern:1011 = parts 1, 3, 4 visible (default: random)",
    )
    ranklist.add_argument("--queries", type=int, default=4, help="number of queries (default 4)")
    ranklist.add_argument("--topk", type=int, default=5, help="gallery images per query (5)")
    ranklist.add_argument("--seed", type=int, default=0, help="seed of the random draw (0)")
    ranklist.add_argument(
        "--out", type=Path, help="PNG path (default: RUN_DIR/figures/ranklist_<job>_<set>_<rule>)"
    )
    ranklist.set_defaults(func=cmd_ranklist)
    report = sub.add_parser("report", help="one self-contained HTML report of a run")
    report.add_argument("dir", type=Path, metavar="RUN_DIR")
    report.add_argument("--out", type=Path, help="HTML path (default: RUN_DIR/report.html)")
    report.set_defaults(func=cmd_report)


def cmd_ranklist(args) -> int:
    from benchmark.reporting.ranklist import parse_rule
    from benchmark.reporting.ranklist_figure import write_ranklist

    rule = parse_rule(args.rule, args.seed)
    png, csv = write_ranklist(
        args.dir, args.method, args.dataset, rule, args.queries, args.topk, args.out
    )
    print(f"{png}\n{csv}")
    return 0


def cmd_report(args) -> int:
    from benchmark.reporting.report import write_html

    print(write_html(args.dir, args.out))
    return 0
