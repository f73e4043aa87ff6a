"""A hostile environment for the writers' cases: small tmpfs mounts (read-only, or filled to a chosen number of
free pages) and commands run as user nobody. Mounting and becoming another user need root; elsewhere the cases
that need them are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import shutil
import sys
import traceback
from pathlib import Path

import pytest

from neurokd.cli import main

_LIBC = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_REMOUNT, MNT_DETACH = 1, 32, 2


def mount_tmpfs(where: Path, options: str, read_only: bool = False) -> None:
    """Mount a tmpfs at ``where`` with the mount(2) call itself: no child process that a loaded machine could
    fail to fork, so a fixture can always undo it (:func:`unmount`)."""
    where.mkdir(parents=True, exist_ok=True)
    if _LIBC.mount(b"tmpfs", str(where).encode(), b"tmpfs", MS_RDONLY if read_only else 0, options.encode()):
        pytest.skip(f"cannot mount a tmpfs here ({os.strerror(ctypes.get_errno())}): needs root")


def remount_read_only(where: Path) -> None:
    """Make the tmpfs at ``where`` read-only, keeping what was put into it."""
    if _LIBC.mount(b"tmpfs", str(where).encode(), b"tmpfs", MS_REMOUNT | MS_RDONLY, None):
        pytest.skip(f"cannot remount a tmpfs read-only here ({os.strerror(ctypes.get_errno())})")


def unmount(where: Path) -> None:
    _LIBC.umount2(str(where).encode(), MNT_DETACH)


def fill(full: Path, free_pages: int) -> None:
    """Empty the tmpfs ``full``, then fill it so that ``free_pages`` pages stay free."""
    for p in full.iterdir():
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    st = os.statvfs(full)
    with open(full / "filler", "wb") as fh:
        fh.write(b"\0" * max(0, (st.f_bavail - free_pages) * st.f_frsize))
    assert os.statvfs(full).f_bavail <= free_pages


CAP_DAC_READ_SEARCH = 2
PR_SET_KEEPCAPS = 8
_CAPABILITY_VERSION_3 = 0x20080522


def _keep_only_reading() -> None:
    """After ``setuid``: make ``CAP_DAC_READ_SEARCH`` the process's only capability (needs ``PR_SET_KEEPCAPS``
    before the ``setuid``), so it reads and searches every file and folder but writes only where nobody may. Where
    the kernel refuses, the child stays plain nobody."""
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)(1 << CAP_DAC_READ_SEARCH, 1 << CAP_DAC_READ_SEARCH, 0, 0, 0, 0)
    _LIBC.capset(header, data)


def as_nobody(argv: list) -> tuple[int, str]:
    """``neurokd argv`` in a forked child that has dropped root for user nobody: ``(exit code, stderr)``. The child
    keeps the right to read everything (the checkout, its venv and pytest's folders may sit below a folder only
    root may enter, as with ``mktemp -d``) and nothing else: every write is checked as nobody's. Run the same kind
    of command once in this process first where it can, so the modules it needs are already imported."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 99
        try:
            os.close(r)
            _LIBC.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            _keep_only_reading()
            sys.stderr = os.fdopen(w, "w", buffering=1)
            with contextlib.redirect_stdout(io.StringIO()):
                code = main([str(a) for a in argv])
        except BaseException:  # noqa: BLE001 - reported through the pipe, as a crash
            traceback.print_exc(file=sys.stderr)
        finally:
            sys.stderr.flush()
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as fh:
        err = fh.read()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), err
