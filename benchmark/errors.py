"""User-facing errors: one line that says what is wrong and what to do."""

from __future__ import annotations

import errno


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


# errno -> what the user reads first; any other OSError is a bug or a transient fault.
STORAGE_ERRNOS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
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
    return StorageError(
        f"{what}{place} ({error.strerror or error}); free space or pick a writable place "
        "(e.g. --out on another disk) and run again"
    )
