"""One process at a time per run folder: an exclusive ``flock`` on ``<run folder>/.lock``, held for the whole run.

A ``flock`` belongs to the open file, so the kernel drops it when its process ends, however it ends (``kill -9``
included): a lock can never go stale, and a lock file left by a killed process is simply locked again. The
holder writes its pid and host into the file just after it locks it; they serve only to name the holder when
another process is refused, which waits up to ``HOLDER_WAIT_S`` for them (a refusal that lands between the
holder's lock and its write would otherwise name nobody). On release the file is unlinked while still locked, so
a finished run folder holds no ``.lock``; a process that opened the old file just before it was unlinked notices,
once it has the lock, that the path no longer names that file and starts over, so two processes never hold locks
on two files of one folder.

The lock file is opened with ``O_NOFOLLOW``: a symbolic link in its place is refused, never followed.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from neurokd.errors import UserError

LOCK_NAME = ".lock"
HOLDER_WAIT_S = 1.0  # how long a refusal waits for a just-started holder to write its pid (s)


class RunFolderInUse(UserError):
    """Another live process holds the run folder's lock."""


class FolderLock:
    """The lock of run folder ``folder`` (which must exist): :meth:`acquire`, then :meth:`release`."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock without waiting: :class:`RunFolderInUse` (naming the holder) when another process holds
        it; an ``OSError`` when the file cannot be created (read-only, full, no permission, a link in the way)."""
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _wait_for_holder(fd)
                os.close(fd)
                raise RunFolderInUse(f"run folder {self.folder} is in use by another neurokd process{holder}; "
                                     "wait for it to finish (or stop it), or choose another --name") from None
            except BaseException:
                os.close(fd)
                raise
            if _same_file(fd, self.path):
                self._fd = fd
            else:  # released (and unlinked) by its last holder between our open and our lock: open it afresh
                os.close(fd)
        try:
            _write_holder(self._fd)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Unlink the lock file (while still holding it) and let go; a no-op when not held."""
        if self._fd is None:
            return
        try:
            if _same_file(self._fd, self.path):
                os.unlink(self.path)
        except OSError:
            pass  # a read-only or vanished folder: the lock goes with the descriptor all the same
        finally:
            os.close(self._fd)
            self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _write_holder(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)


def _wait_for_holder(fd: int) -> str:
    """:func:`_holder`, polled until the holder has written itself or ``HOLDER_WAIT_S`` has passed."""
    deadline = time.monotonic() + HOLDER_WAIT_S
    while not (holder := _holder(fd)) and time.monotonic() < deadline:
        time.sleep(0.01)
    return holder


def _holder(fd: int) -> str:
    """`` (pid N)`` (`` on HOST`` when it is another machine's) from a lock file, or "" if it holds none yet."""
    try:
        text = os.pread(fd, 300, 0).decode("utf-8", "replace").split()
    except OSError:
        return ""
    if not text or not text[0].isdigit():
        return ""
    host = text[1] if len(text) > 1 else ""
    where = f" on {host[:64]}" if host and host != socket.gethostname() else ""
    return f" (pid {text[0]}{where})"
