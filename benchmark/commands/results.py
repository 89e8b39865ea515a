"""``tables``, ``figures`` and ``check``: reports and the regression gate from stored results."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmark.errors import UserError


def add_report_parsers(sub) -> None:
    tables = sub.add_parser(
        "tables",
        help="paper-style tables, claims with bootstrap intervals, from stored results",
        description="Regenerate every table from stored rows (results.csv and, beside it, "
        "per_query.csv.gz): print FORMAT and write tables.md and tables.tex atomically.",
    )
    tables.add_argument("dir", type=Path, help="run folder, results.csv or sweep store")
    tables.add_argument("--format", choices=["md", "latex", "csv"], default="md")
    tables.add_argument(
        "--out", type=Path, help="folder for tables.md and tables.tex (default: DIR or its folder)"
    )
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


def cmd_tables(args) -> int:
    from benchmark.reporting.per_query import load_per_query
    from benchmark.reporting.store import load_results
    from benchmark.reporting.tables import render_report, write_report

    df, per_query = load_results(args.dir), load_per_query(args.dir)
    out = args.out or (args.dir if args.dir.is_dir() else args.dir.parent)
    written = write_report(df, per_query, out)
    text = written[args.format].read_text(encoding="utf-8") if args.format in written else None
    print(text if text is not None else render_report(df, per_query, args.format))
    return 0


def cmd_figures(args) -> int:
    from benchmark.reporting.figure_data import write_example_figures
    from benchmark.reporting.figures import write_claims_figures, write_figures
    from benchmark.reporting.per_query import load_per_query
    from benchmark.reporting.store import load_results
    from benchmark.run_folder import check_out_dir

    out = args.out or args.dir / "figures"
    check_out_dir(out)  # a file or an unwritable place: one line, before any work
    paths = write_figures(load_results(args.dir), out) + write_example_figures(args.dir, out)
    paths += write_claims_figures(load_per_query(args.dir), out)
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
