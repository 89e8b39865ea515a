"""A flat name -> entry registry with one-line errors for unknown or duplicate names."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from benchmark.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps lowercase names to entries; registering a name twice is an error.

    Args:
        kind: what the entries are ("method", "dataset"), used in messages.
        plugin_hint: extra sentence appended to the unknown-name error.
    """

    def __init__(self, kind: str, plugin_hint: str = "") -> None:
        self.kind = kind
        self.plugin_hint = plugin_hint
        self._entries: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    def register(self, name: str, entry: T, **meta: Any) -> T:
        """Register ``entry`` under ``name`` with optional metadata."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        self._meta[name] = dict(meta)
        return entry

    def decorator(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Return a decorator that registers what it decorates under ``name``."""

        def wrap(entry: T) -> T:
            return self.register(name, entry, **meta)

        return wrap

    def get(self, name: str) -> T:
        """Return the entry for ``name`` or raise a one-line UnknownNameError."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def meta(self, name: str) -> dict[str, Any]:
        """Return the metadata registered with ``name``."""
        self.get(name)
        return self._meta[name]

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        return f"unknown {self.kind} {name!r}{hint}; valid names: {', '.join(self.names())}" + (
            f"; {self.plugin_hint}" if self.plugin_hint else ""
        )

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
