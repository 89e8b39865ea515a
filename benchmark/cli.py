"""Command line: run, sweep, list, synth, pretrain, datasets, score, tables, figures, check, parse,
export, ranklist, report.

The parsers and handlers live in ``benchmark.commands`` (run; data; results) and beside their
tools (score, parse); this module imports the registries and dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import logging

import reid_datasets  # noqa: F401  (registers the built-in data sets)
import reid_methods  # noqa: F401  (registers the built-in methods)
from benchmark.commands.data import add_data_parsers, cmd_datasets, cmd_list, cmd_synth
from benchmark.commands.export import add_export_parser
from benchmark.commands.report import add_ranklist_parsers
from benchmark.commands.results import add_report_parsers, cmd_check, cmd_figures, cmd_tables
from benchmark.commands.run import add_run_parser, cmd_run, resolve_run_config
from benchmark.errors import UserError

__all__ = ["build_parser", "import_registries", "main", "resolve_run_config"]

log = logging.getLogger(__name__)


def import_registries(plugins: list[str] | None = None) -> None:
    """Import the built-in registries and any plug-in modules (``--plugin``)."""
    for name in plugins or []:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise UserError(f"cannot import plug-in {name!r}: {e}; check the module path") from e


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark", description=__doc__)
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a third-party method/dataset plug-in module (repeatable)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)
    add_data_parsers(sub)
    from benchmark.evaluation.score import add_score_parser

    add_score_parser(sub)
    from benchmark.sweep_cli import add_sweep_parser

    add_sweep_parser(sub)
    from benchmark.training.pretrain import add_pretrain_parser

    add_pretrain_parser(sub)
    add_report_parsers(sub)
    add_ranklist_parsers(sub)
    from benchmark.human_parsing import add_parse_parser

    add_parse_parser(sub)
    add_export_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    import_registries(args.plugin)
    handler = {
        "run": cmd_run,
        "list": cmd_list,
        "synth": cmd_synth,
        "datasets": cmd_datasets,
        "tables": cmd_tables,
        "figures": cmd_figures,
        "check": cmd_check,
        "parse": cmd_parse,
        "pretrain": cmd_pretrain,
    }.get(args.command, getattr(args, "func", None))
    if handler is None:
        from benchmark.evaluation.score import run_score

        return run_score(args)
    return handler(args)


def cmd_parse(args) -> int:
    from benchmark.human_parsing import run_parse

    return run_parse(args)


def cmd_pretrain(args) -> int:
    from benchmark.training.pretrain import run_pretrain

    return run_pretrain(args)
