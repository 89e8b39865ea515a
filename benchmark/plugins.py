"""The registries: importing the built-ins registers them; ``--plugin MODULE`` adds others."""

from __future__ import annotations

import importlib

import reid_datasets  # noqa: F401  (registers the built-in data sets)
import reid_methods  # noqa: F401  (registers the built-in methods)
from benchmark.errors import UserError


def import_plugins(modules: list[str] | tuple[str, ...] = ()) -> None:
    """Import each plug-in module (``--plugin``); it registers its methods and data sets."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise UserError(f"cannot import plug-in {name!r}: {e}; check the module path") from e
