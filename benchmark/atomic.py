"""The one atomic writer: write a temp file beside the target, fsync, then ``os.replace``.

``atomic_path`` is the core; the helpers write text, bytes, JSON and CSV through it. A reader
never sees half a file, and a write that fails leaves the old file as it was and no temp file.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.errors import storage_error

if TYPE_CHECKING:
    import pandas as pd

TEMP_MARK = ".tmp-"  # temp names are <stem>.tmp-<random><suffix>, e.g. masks.tmp-1a2b3c4d.npz


def temp_path(path: Path) -> Path:
    """A fresh temp path beside ``path`` that keeps its suffix (libraries infer formats from it)."""
    path = Path(path)
    return path.with_name(f"{path.stem}{TEMP_MARK}{secrets.token_hex(4)}{path.suffix}")


@contextmanager
def atomic_path(path: Path, durable: bool = True) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces ``path``, on any error it is removed.

    Example: ``with atomic_path(out) as tmp: fig.savefig(tmp)``. The parent folder is created.
    ``durable=False`` skips the fsync (bulk files such as a generated data tree, whose
    completeness a marker file records): still never half a file under the final name.
    A disk-full, quota, read-only or permission error becomes a one-line ``StorageError``
    naming ``path``.
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        with suppress(FileNotFoundError, NotADirectoryError):
            tmp.unlink()
        storage = storage_error(e, path) if isinstance(e, OSError) else None
        if storage is not None:
            raise storage from e
        raise


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(data: bytes | memoryview, path: Path) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(text: str, path: Path) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically; returns the path."""
    return write_bytes_atomic(text.encode("utf-8"), path)


def write_json_atomic(
    obj: Any, path: Path, indent: int | None = 2, sort_keys: bool = False
) -> Path:
    """Write ``obj`` as JSON plus a final newline (non-JSON values via ``str``) atomically."""
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, default=str) + "\n"
    return write_text_atomic(text, path)


def write_csv_atomic(df: pd.DataFrame, path: Path) -> Path:
    """Write ``df`` as CSV without its index atomically."""
    return write_text_atomic(df.to_csv(index=False), path)
