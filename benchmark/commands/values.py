"""Value types of command-line options: a bad value is one line naming the option."""

from __future__ import annotations

import argparse


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def seed(text: str) -> int:
    """A random seed: numpy and torch take whole numbers >= 0."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed must be >= 0, got {value}")
    return value


def positive(text: str) -> int:
    """A count that must be at least 1 (jobs, threads, trials, queries, batch sizes)."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_set_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--set KEY=VALUE`` (repeatable, into ``args.overrides``): every command's one grammar
    for a setting; ``what`` says which settings and gives an example."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override {what}; repeatable (default: none)",
    )
