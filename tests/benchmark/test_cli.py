"""CLI guards: a foreign 'datasets' package and unknown plug-ins are one-line user errors."""

from __future__ import annotations

import logging
import sys
import types

import pytest

from benchmark.cli import import_registries, main
from benchmark.errors import UserError


def test_foreign_datasets_package_is_a_clear_error(monkeypatch) -> None:
    fake = types.ModuleType("datasets")
    fake.__file__ = "/site-packages/datasets/__init__.py"  # e.g. Hugging Face's package
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.raises(UserError, match="is not this project's") as e:
        import_registries()
    assert "\n" not in str(e.value)


def test_unknown_plugin_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="cannot import plug-in 'no_such_pkg.mine'"):
        import_registries(["no_such_pkg.mine"])


@pytest.mark.parametrize(("flags", "level"), [(["-v"], logging.DEBUG), ([], logging.WARNING)])
def test_verbose_sets_debug_logging(monkeypatch, capsys, flags, level) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", logging.WARNING)  # restored after the test
    assert main([*flags, "list"]) == 0
    assert root.level == level, "--verbose turns on debug logging, and only it"
    assert "methods:" in capsys.readouterr().out
