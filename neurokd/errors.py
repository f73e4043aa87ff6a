"""User-facing errors.

Anything a user can cause (bad config, missing dataset, unreadable file) raises :class:`UserError` with a
one-line message that names the file or key and says how to fix it. The CLI prints it and exits with code 2;
any other exception is a bug and keeps its traceback.

A message is one bounded line whatever a file puts into it: whitespace runs (newlines included) become one
space, other control characters are escaped, and a message longer than :data:`MAX_MESSAGE` characters keeps
its start (what and where) and its end (the fix) around a note of how much was cut. So a 100 KB tensor name
from a hostile file cannot turn an error into a 100 KB "line".
"""

from __future__ import annotations

MAX_MESSAGE = 400  # characters; long enough for a path, a key and a fix, short enough to read in a terminal
_HEAD, _TAIL = 250, 120  # of a longer message: its start and its end, kept around the cut


def one_line(message: object, limit: int = MAX_MESSAGE) -> str:
    """``message`` as one printable line of at most about ``limit`` characters (see the module docstring)."""
    text = " ".join(str(message).split())
    if not text.isprintable():
        text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    if len(text) <= limit:
        return text
    head, tail = limit * _HEAD // MAX_MESSAGE, limit * _TAIL // MAX_MESSAGE
    return f"{text[:head]} [... {len(text) - head - tail} characters cut ...] {text[-tail:]}"


class UserError(Exception):
    """A problem with the user's input; ``str(err)`` is a complete one-line message."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(one_line(message))


class ConfigError(UserError):
    """Invalid configuration value, key or file."""


class DatasetError(UserError):
    """Dataset files missing or malformed."""


class CheckpointError(UserError):
    """Checkpoint or model file missing, unreadable or inconsistent."""


class ResourceError(UserError):
    """A request that cannot fit in memory or would run for too long (see :mod:`neurokd.limits`)."""


class OutputError(UserError, OSError):
    """An output path that cannot be written: read-only, full disk, permission denied, a folder in the way.
    Also an ``OSError``, so code that tolerates a failed write (a cache) still does."""
