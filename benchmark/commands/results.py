"""``tables``, ``figures`` and ``check``: reports and the regression gate from stored results."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmark.errors import UserError
from benchmark.reporting.figure_data import write_example_figures
from benchmark.reporting.figures import write_claims_figures, write_figures
from benchmark.reporting.regress import check, format_check, shared_rows
from benchmark.reporting.tables import render_report, write_report
from benchmark.store.per_query import load_per_query
from benchmark.store.results import load_results, load_zoom
from benchmark.store.run_folder import check_out_dir

RUN_DIR_HELP = "a run folder, a sweep store or a results.csv"


def add_report_parsers(sub) -> None:
    tables = sub.add_parser(
        "tables",
        help="paper-style tables, claims with bootstrap intervals, from stored results",
        description="Regenerate every table from stored rows (results.csv and, beside it, "
        "per_query.csv.gz): print FORMAT and write tables.md and tables.tex atomically.",
    )
    tables.add_argument("dir", type=Path, metavar="RUN_DIR", help=RUN_DIR_HELP)
    tables.add_argument(
        "--format",
        choices=["md", "latex", "csv"],
        default="md",
        help="what to print (default: md)",
    )
    tables.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="folder for tables.md and tables.tex (default: RUN_DIR, or the folder of a "
        "results.csv)",
    )
    tables.set_defaults(func=cmd_tables)
    figures = sub.add_parser("figures", help="figures from stored results")
    figures.add_argument("dir", type=Path, metavar="RUN_DIR", help=RUN_DIR_HELP)
    figures.add_argument(
        "--out", type=Path, metavar="DIR", help="output folder (default: RUN_DIR/figures)"
    )
    figures.set_defaults(func=cmd_figures)
    check = sub.add_parser(
        "check",
        help="compare results with reference results",
        description="Compare results with reference results (see benchmark.reporting.regress). "
        "Exit status: 0 passed; 1 a metric regressed, is missing or a count changed; 2 unusable "
        "input (a missing, unreadable or malformed file, or no result row in common), so CI can "
        "tell a regression from a broken setup.",
    )
    check.add_argument(
        "dir", type=Path, metavar="RUN_DIR", help=RUN_DIR_HELP + ": the results to check"
    )
    check.add_argument(
        "--reference",
        type=Path,
        required=True,
        metavar="REF",
        help="reference results: a run folder or a results.csv (required)",
    )
    check.add_argument(
        "--tolerance",
        type=float,
        default=0.02,
        help="largest allowed drop of a metric, as a fraction (default: 0.02)",
    )
    check.set_defaults(func=cmd_check)


def cmd_tables(args) -> int:
    out = args.out or (args.dir if args.dir.is_dir() else args.dir.parent)
    check_out_dir(out)  # a file or an unwritable place: one line, before the bootstrap
    df, per_query = load_results(args.dir), load_per_query(args.dir)
    written = write_report(df, per_query, out)
    text = written[args.format].read_text(encoding="utf-8") if args.format in written else None
    print(text if text is not None else render_report(df, per_query, args.format))
    return 0


def cmd_figures(args) -> int:
    out = args.out or args.dir / "figures"
    check_out_dir(out)  # a file or an unwritable place: one line, before any work
    paths = write_figures(load_results(args.dir), out, load_zoom(args.dir))
    paths += write_example_figures(args.dir, out)
    paths += write_claims_figures(load_per_query(args.dir), out)
    print("\n".join(str(p) for p in paths))
    return 0


def cmd_check(args) -> int:
    table, ok = check(args.reference, args.dir, args.tolerance)
    if not shared_rows(table):
        raise UserError(
            f"{args.reference} and {args.dir} share no result row (other methods, data, "
            "labels or protocol); compare results of the same benchmark"
        )
    print(format_check(table))
    print(
        "check passed" if ok else "check FAILED: a metric regressed or is missing", file=sys.stderr
    )
    return 0 if ok else 1
