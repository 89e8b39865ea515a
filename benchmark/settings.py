"""Typed ``KEY=VALUE`` settings of frozen dataclasses: parse, check type and range, replace.

A leaf module: it imports only ``benchmark.errors``, so ``datasets/`` and ``methods/`` may use it.
One checker serves every configuration (the run, the part parser, the synthetic generator), so
every ``--set`` has one grammar and one kind of one-line error. A value is read as JSON, else as
the text itself; it must match the field's type annotation (bool, int, float, str, ``X | None``,
``tuple[T, ...]``, ``Literal[...]``), with two safe coercions: an integer where a float is due,
and a single value where a tuple is due. Ranges and choices are field metadata, declared next to
the field with a why-comment::

    epochs: int = field(default=300, metadata={"min": 1})  # paper 4.1

Metadata keys: ``min``/``max`` (inclusive), ``gt``/``lt`` (exclusive), ``choices`` (a tuple, or a
callable returning the valid names, e.g. a registry's ``names``; resolved when checked, so plug-ins
count), ``min_items`` (tuples) and ``fixed`` (not settable; the text says how to set it instead).
Bounds and choices apply to each item of a tuple; None passes them.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import operator
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from benchmark.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

_SCALARS = {
    bool: ("true or false", "true/false values"),
    int: ("an integer", "integers"),
    float: ("a finite number", "finite numbers"),
    str: ("a string", "strings"),
    type(None): ("null", "nulls"),
}
_BOUNDS = (
    ("min", ">=", operator.ge),
    ("max", "<=", operator.le),
    ("gt", ">", operator.gt),
    ("lt", "<", operator.lt),
)


@dataclass(frozen=True)
class Scope:
    """How messages name the keys of one configuration.

    Attributes:
        kind: word put before a key in messages ("parse", "synthetic"; "" for the run config).
        noun: what a key is called in the unknown-key message ("setting", "option").
        example: a valid assignment, shown when one is malformed.
        extra_keys: keys handled outside this module, listed among the valid ones.
    """

    kind: str = ""
    noun: str = "setting"
    example: str = "KEY=VALUE"
    extra_keys: tuple[str, ...] = ()

    def name(self, key: str) -> str:
        """``key`` as messages show it."""
        return f"{self.kind} {key}" if self.kind else key


class _Mismatch(Exception):
    """A value that does not fit a type annotation (turned into one ConfigError)."""


def parse_value(raw: str) -> Any:
    """JSON (``5``, ``true``, ``null``, ``[1, 2]``, ``"x"``), else the text itself."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def split_assignment(item: str, scope: Scope) -> tuple[str, Any]:
    """``"key=value"`` -> ``(key, parsed value)``; anything else is a ConfigError."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set needs KEY=VALUE, got {item!r}; e.g. --set {scope.example}")
    return key.strip(), parse_value(raw.strip())


def apply_assignments(obj: T, assignments: Iterable[str], scope: Scope) -> T:
    """``obj`` with each ``KEY=VALUE`` string (dotted keys reach nested dataclasses) applied."""
    for item in assignments:
        key, value = split_assignment(item, scope)
        obj = replace_key(obj, key, value, scope)
    return obj


def replace_fields(obj: T, values: Mapping[str, Any], scope: Scope) -> T:
    """``obj`` with the (already parsed) ``values`` applied, each checked like a ``--set``."""
    for key, value in values.items():
        obj = replace_key(obj, key, value, scope)
    return obj


def replace_key(obj: T, key: str, value: Any, scope: Scope, where: str = "") -> T:
    """``obj`` with the dotted ``key`` set to ``value``, checked against the field it names."""
    head, _, rest = key.partition(".")
    full = join_key(where, head)
    f = {spec.name: spec for spec in dataclasses.fields(obj)}.get(head)
    if f is None:
        raise unknown_key(join_key(where, key), leaf_keys(type(obj), where), scope)
    if "fixed" in f.metadata:
        raise ConfigError(f"{scope.name(full)} cannot be set; {f.metadata['fixed']}")
    current = getattr(obj, head)
    if dataclasses.is_dataclass(current) and rest:
        assert not isinstance(current, type), f"{full} holds a dataclass class, not a value"
        new = replace_key(current, rest, value, scope, full)
    elif dataclasses.is_dataclass(current):
        keys = ", ".join(leaf_keys(type(current), full))
        raise ConfigError(f"{scope.name(full)} is a section; set one of its keys: {keys}")
    elif rest:
        raise unknown_key(join_key(where, key), leaf_keys(type(obj), where), scope)
    else:
        new = check_value(value, type_hints(type(obj))[head], f.metadata, scope.name(full))
    return dataclasses.replace(obj, **{head: new})


def cache_key_fields(values: Mapping[str, Any], later: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without the fields added after caches were named (``later``: field -> the
    value they had before) that still hold that value, so an old cache keeps its name."""
    return {k: v for k, v in values.items() if k not in later or v != later[k]}


def check_fields(obj: DataclassInstance, scope: Scope, where: str = "") -> None:
    """Check every field of the dataclass value ``obj`` (nested ones too) against its type."""
    hints = type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value, key = getattr(obj, f.name), join_key(where, f.name)
        if dataclasses.is_dataclass(value):
            assert not isinstance(value, type), f"{key} holds a dataclass class, not a value"
            check_fields(value, scope, key)
        else:
            check_value(value, hints[f.name], f.metadata, scope.name(key))


def check_value(value: Any, hint: Any, meta: Mapping[str, Any], name: str) -> Any:
    """``value`` checked against the annotation ``hint`` and the range/choice ``meta``.

    Returns:
        The value, coerced where that is safe (int -> float, a single value -> a 1-tuple).
    """
    try:
        value = _coerce(value, hint)
    except _Mismatch:
        raise ConfigError(f"{name} must be {describe(hint)}, got {value!r}") from None
    items = value if isinstance(value, tuple) else (value,)
    if len(items) < meta.get("min_items", 0):
        raise ConfigError(f"{name} needs at least {meta['min_items']} item(s), got {value!r}")
    for item in items:
        if item is not None:
            _check_item(item, meta, name)
    return value


def _check_item(item: Any, meta: Mapping[str, Any], name: str) -> None:
    for key, sign, holds in _BOUNDS:
        if key in meta and not holds(item, meta[key]):  # NaN fails every bound
            raise ConfigError(f"{name} must be {sign} {meta[key]:g}, got {item:g}")
    if "choices" in meta:
        choices = meta["choices"]
        valid = list(choices() if callable(choices) else choices)
        if item not in valid:
            close = difflib.get_close_matches(str(item), [str(c) for c in valid], n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            names = ", ".join(str(c) for c in valid)
            raise ConfigError(f"{name} must be one of {names}, got {item!r}{hint}")


def _coerce(value: Any, hint: Any) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        for option in args:
            try:
                return _coerce(value, option)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        if value in args and type(value) in {type(a) for a in args}:
            return value
        raise _Mismatch
    if origin is tuple:
        items = value if isinstance(value, list | tuple) else [value]
        return tuple(_coerce(v, args[0]) for v in items)
    if origin is dict or hint is dict:
        if isinstance(value, dict):
            return value
        raise _Mismatch
    return _coerce_scalar(value, hint)


def _coerce_scalar(value: Any, hint: Any) -> Any:
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)  # an integer is a safe float
        raise _Mismatch
    if hint is int and isinstance(value, bool):
        raise _Mismatch
    if isinstance(hint, type) and isinstance(value, hint):
        return value
    raise _Mismatch


def describe(hint: Any) -> str:
    """What a value of annotation ``hint`` must be, in words ("an integer or null")."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin is tuple:
        plural = _SCALARS.get(args[0], (None, f"{describe(args[0])} values"))[1]
        return f"a list of {plural}"
    if origin is dict or hint is dict:
        return "a mapping"
    if hint in _SCALARS:
        return _SCALARS[hint][0]
    return f"a {getattr(hint, '__name__', hint)}"


def unknown_key(key: str, valid: list[str], scope: Scope) -> ConfigError:
    """The one-line error for an unknown ``key``: the closest match and the valid keys."""
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    what = f"{scope.kind} {scope.noun}" if scope.kind else scope.noun
    return ConfigError(
        f"unknown {what} {key!r}{hint}; valid: {', '.join([*valid, *scope.extra_keys])}"
    )


def leaf_keys(cls: type, where: str = "") -> list[str]:
    """The settable dotted keys of dataclass ``cls`` (nested dataclass fields expanded)."""
    hints, keys = type_hints(cls), []
    for f in dataclasses.fields(cls):
        if "fixed" in f.metadata:
            continue
        key = join_key(where, f.name)
        nested = dataclasses.is_dataclass(hints[f.name])
        keys += leaf_keys(hints[f.name], key) if nested else [key]
    return keys


def from_mapping(cls: type[T], data: Any, scope: Scope, where: str = "") -> T:
    """Rebuild ``cls`` from ``dataclasses.asdict``-style data read back from JSON.

    JSON lists become tuples and nested sections are rebuilt; an unknown or missing key is a
    one-line ConfigError. Values are not range-checked here (see ``check_fields``).
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{scope.name(where or 'config')} must be a JSON object, got {data!r}")
    hints, fields = type_hints(cls), {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise unknown_key(join_key(where, key), leaf_keys(cls, where), scope)
    missing = [k for k, f in fields.items() if k not in data and _required(f)]
    if missing:
        raise ConfigError(f"{scope.name(where or 'config')} lacks {', '.join(missing)}")
    kwargs = {
        key: from_mapping(hints[key], value, scope, join_key(where, key))
        if dataclasses.is_dataclass(hints[key])
        else _tuples(value)
        for key, value in data.items()
    }
    return cls(**kwargs)


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _tuples(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def join_key(where: str, key: str) -> str:
    """``where.key``, or ``key`` at the top level."""
    return f"{where}.{key}" if where else key


@functools.cache
def type_hints(cls: type) -> dict[str, Any]:
    """The resolved field annotations of dataclass ``cls`` (postponed annotations evaluated).

    An annotation that cannot be resolved (e.g. a name imported only for type checkers) is
    taken as ``Any``, so a plug-in's config still works; its values are then not type-checked.
    """
    try:
        return get_type_hints(cls)
    except (NameError, TypeError):
        return {f.name: Any for f in dataclasses.fields(cls)}
