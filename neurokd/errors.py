"""User-facing errors.

Anything a user can cause (bad config, missing dataset, unreadable file) raises :class:`UserError` with a
one-line message that names the file or key and says how to fix it. The CLI prints it and exits with code 2;
any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input; ``str(err)`` is a complete one-line message."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class ConfigError(UserError):
    """Invalid configuration value, key or file."""


class DatasetError(UserError):
    """Dataset files missing or malformed."""


class CheckpointError(UserError):
    """Checkpoint or model file missing, unreadable or inconsistent."""
