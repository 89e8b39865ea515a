"""Occluded person re-identification benchmark: train, evaluate and compare methods under
occlusion, from the synthetic default to the real data sets.

The command line: one parser per subcommand in ``benchmark.commands``, one dispatch here (each
subparser sets ``func``); ``benchmark.__main__`` turns errors into one line and an exit code.
"""

from __future__ import annotations

import argparse
import logging
from typing import NoReturn

from benchmark.commands.data import add_data_parsers
from benchmark.commands.export import add_export_parser
from benchmark.commands.parse import add_parse_parser
from benchmark.commands.pretrain import add_pretrain_parser
from benchmark.commands.report import add_ranklist_parsers
from benchmark.commands.results import add_report_parsers
from benchmark.commands.run import add_run_parser
from benchmark.commands.score import add_score_parser
from benchmark.commands.sweep import add_sweep_parser
from benchmark.commands.zoom import add_zoom_parser
from benchmark.plugins import import_plugins

__all__ = ["EXIT_CODES", "build_parser", "main", "run_command"]

# One exit-code table for every command (README, docs/cli.md and tests/benchmark/test_cli.py).
EXIT_CODES = {
    0: "success",
    1: "a check, job or export ran and failed (a regression, a failed job, a bad export)",
    2: "usage error or bad input (one 'error: ...' line says what and what to do)",
    130: "interrupted (the line printed says which command continues the work)",
}
DESCRIPTION = (
    "Occluded person re-identification benchmark: train, evaluate and compare methods "
    "under occlusion (synthetic data by default, real data sets with --root)."
)
WORKFLOW = """\
workflow:
  run, sweep            train and evaluate (one run folder; or jobs into a sweep store)
  tables, figures,      read a run folder: tables, figures, rank lists, an HTML report,
  ranklist, report,     an ONNX export with its model card, the regression check, and the
  export, check, zoom   synthetic partial crops in place and at each zoom
  score                 score part features extracted by any model (.npz)
  list, datasets,       what is registered; data roots against the real releases; the
  synth, pretrain,      synthetic data; the synthetic trunk; the part parser
  parse
"""


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors, like every other error of the suite (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message}; see '{self.prog} --help'\n")


def exit_code_table() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:<4}{what}" for code, what in EXIT_CODES.items())


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m benchmark",
        description=DESCRIPTION,
        epilog=WORKFLOW + "\n" + exit_code_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a third-party method or data set plug-in module; repeatable (default: none)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (  # by workflow: train, read the results, score, data and tools
        add_run_parser,
        add_sweep_parser,
        add_report_parsers,
        add_ranklist_parsers,
        add_export_parser,
        add_zoom_parser,
        add_score_parser,
        add_data_parsers,
        add_pretrain_parser,
        add_parse_parser,
    ):
        add(sub)
    return parser


def run_command(args: argparse.Namespace) -> int:
    """Import the plug-ins and run the parsed subcommand; returns its exit code."""
    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    import_plugins(args.plugin)
    return args.func(args)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand; returns its exit code."""
    return run_command(build_parser().parse_args(argv))
