"""Shared test hooks: say which random order a run used, so an order-dependent failure can be
replayed (pytest-randomly shuffles the tests; its header line is hidden under -q)."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    seed = getattr(config.option, "randomly_seed", None)
    if isinstance(seed, int):
        terminalreporter.write_line(
            f"test order: random, seed {seed} (replay it with -p randomly --randomly-seed={seed})"
        )
