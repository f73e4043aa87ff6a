"""Faults of the environment while a run folder is written: one line naming the path and the cause.

A full disk, a read-only file system, a missing permission or a file where a folder should be are the user's
environment, not bugs: each ``OSError`` that carries an errno (and safetensors' errors, which carry the OS error in
their text) becomes a :class:`RunFolderError` that names the path and says what to do.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path

from neurokd.errors import UserError

# safetensors reports the I/O error of its Rust writer in its message: "... (os error 28)"
_OS_ERROR_IN_TEXT = re.compile(r"\(os error (\d+)\)")
_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class RunFolderError(UserError):
    """A run folder, or a file in it, that the environment does not let this process write."""


def fault_errno(e: BaseException) -> int | None:
    """The OS error number behind ``e`` (an ``OSError``, or a safetensors error naming one), else None."""
    if isinstance(e, OSError):
        return e.errno or None
    m = _OS_ERROR_IN_TEXT.search(str(e))
    return int(m.group(1)) if m else None


def fault_error(path: Path | str, e: BaseException, verb: str = "write") -> RunFolderError | None:
    """``e`` as the one-line error for ``verb``-ing ``path``, when it is a fault of the environment; else None."""
    if isinstance(e, UserError):
        return None
    code = fault_errno(e)
    if code is None:
        return None
    fix = "free some space or choose another --out-dir" if code in _SPACE else "choose another --out-dir"
    return RunFolderError(f"cannot {verb} {path}: {os.strerror(code).lower()}; {fix}")


def fault_in(e: BaseException, folder: Path) -> RunFolderError | None:
    """``e`` as :func:`fault_error`'s line when it is an ``OSError`` on a path inside ``folder`` (one that no
    :func:`writing` block named, e.g. listing a folder this process may not read); else None."""
    name = getattr(e, "filename", None)
    if not isinstance(e, OSError) or not isinstance(name, str):
        return None
    folder_abs = os.path.abspath(folder)
    inside = os.path.commonpath([os.path.abspath(name), folder_abs]) == folder_abs
    return fault_error(name, e) if inside else None


@contextlib.contextmanager
def writing(path: Path | str, verb: str = "write") -> Iterator[None]:
    """Raise an environment fault inside the block as :func:`fault_error`'s one line (anything else unchanged)."""
    try:
        yield
    except Exception as e:
        err = fault_error(path, e, verb)
        if err is None:
            raise
        raise err from None
