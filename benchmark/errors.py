"""User-facing errors: one line that says what is wrong and what to do."""

from __future__ import annotations


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
