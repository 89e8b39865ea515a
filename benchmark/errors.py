"""User-facing errors: one line that says what is wrong and what to do."""

from __future__ import annotations

import errno
from pathlib import Path


class UserError(Exception):
    """An error caused by the user's input; the CLI prints it as one line and exits 2."""


class DataError(UserError):
    """A data root, folder, file name, image or label that cannot be read as expected."""


class UnknownNameError(UserError):
    """A method, dataset, profile or option name that is not registered."""


class ConfigError(UserError):
    """A configuration key or value that is not valid."""


class NonFiniteError(UserError):
    """A loss or a feature that became NaN or infinite."""


class StorageError(UserError):
    """A write refused by the file system: disk full, quota, read-only or permission denied."""


def folder_problem(path: object) -> str | None:
    """Why ``path`` is not an existing folder ("does not exist", "is a file, not a folder"),
    or None when it is one."""
    p = Path(str(path))
    if p.is_dir():
        return None
    return "is a file, not a folder" if p.exists() else "does not exist"


# errno -> what the user reads first; any other OSError is a bug or a transient fault.
STORAGE_ERRNOS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file larger than the file-size limit",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


def storage_error(error: OSError, path: object = None) -> StorageError | None:
    """One line naming the failed write's cause and place, or None for another OSError."""
    what = STORAGE_ERRNOS.get(error.errno)  # type: ignore[arg-type]
    if what is None:
        return None
    where = path if path is not None else error.filename
    place = f" writing {where}" if where is not None else ""
    todo = (
        "raise the limit (ulimit -f) and run again"
        if error.errno == errno.EFBIG
        else "free space or pick a writable place (e.g. --out on another disk) and run again"
    )
    return StorageError(f"{what}{place} ({error.strerror or error}); {todo}")
