"""File I/O with guarantees: atomic writes that fail as one line, reads that open regular files only.

Writes. Every artifact neurokd writes goes through :func:`atomic_paths` (or the helpers built on it): data goes
to a temporary sibling ``.<name>.<pid>-<random>.tmp``, is flushed and fsync'ed, then renamed over the target
(``os.replace`` is atomic on POSIX), so a crash never leaves a half-written file behind. Several files written
together (a report's ``.md``, ``.tex``, ``.json`` and ``.png``) are renamed only once all of them are written:
all or nothing. When the environment refuses a write (read-only file system, full disk, permission denied, a
parent path that is a file, a target that is a folder) the temporary files and any folder the write created
are removed and an :class:`~neurokd.errors.OutputError` names the path and the cause. A process killed while
writing leaves its temporary file behind; the next write of the same target removes the ones whose process is
gone (the pid in the name says whose it is).

Reads. :func:`open_regular` opens only a regular file (a folder, a FIFO, a device or a socket is one error line,
never a hang or an endless read), and :func:`read_bytes` / :func:`read_text` refuse files over a size limit
before reading them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

import yaml

from neurokd.errors import OutputError, UserError
from neurokd.limits import ENV, fmt_bytes, limits

# ----------------------------------------------------------------------------------------------- writes

_CAUSES = {  # errno -> (cause, fix) for the faults a user's environment can cause
    errno.ENOSPC: ("no space left on the device", "free some space or write elsewhere"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write elsewhere"),
    errno.EFBIG: ("file too large for the file system", "write elsewhere"),
    errno.EROFS: ("read-only file system", "write elsewhere"),
    errno.EACCES: ("permission denied", "check the folder's permissions or write elsewhere"),
    errno.EPERM: ("operation not permitted", "check the folder's permissions or write elsewhere"),
    errno.ENOTDIR: ("a parent path is a file, not a folder", "choose another path"),
    errno.EISDIR: ("it is a folder", "give a file name"),
    errno.ENAMETOOLONG: ("file name too long", "choose a shorter path"),
    errno.ELOOP: ("too many levels of symbolic links", "check the path's links"),
}
# libraries that write through C (h5py, safetensors) report errno inside their message
_ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\]|errno = (\d+)|code: (\d+)")


def _errno(e: BaseException) -> int | None:
    if isinstance(e, OSError) and e.errno:
        return e.errno
    m = _ERRNO_IN_TEXT.search(str(e))
    return int(next(g for g in m.groups() if g)) if m else None


def output_error(path: str | os.PathLike, e: BaseException) -> OutputError | None:
    """The one-line error for an environment fault ``e`` while writing ``path``; None if ``e`` is not one."""
    code = _errno(e)
    if code is None:
        return None
    cause, fix = _CAUSES.get(code, (os.strerror(code), "check the path and write elsewhere"))
    return OutputError(f"cannot write {path}: {cause}; {fix}")


# faults of the user's environment that may surface from any read or write (not bugs): the CLI reports them
ENVIRONMENT_ERRNOS = (errno.ENAMETOOLONG, errno.ELOOP, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC,
                      errno.EDQUOT, errno.EFBIG)


def environment_error(e: OSError) -> UserError | None:
    """``e`` as a one-line error naming its path, if it is an environment fault (:data:`ENVIRONMENT_ERRNOS`)
    on a named file; else None (a bug, which keeps its traceback)."""
    if e.errno not in ENVIRONMENT_ERRNOS or not e.filename:
        return None
    cause, fix = _CAUSES.get(e.errno, (os.strerror(e.errno), "check the path"))
    return UserError(f"{e.filename}: {cause}; {fix}")


def _tmp_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(name)}\.(\d+)-[^.]+\.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_temps(path: Path) -> None:
    """Delete temporary files of ``path`` left by writers that were killed (their process is gone)."""
    pattern = _tmp_pattern(path.name)
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            m = pattern.fullmatch(entry.name)
            if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _make_parents(folder: Path, created: list[Path], target: Path) -> None:
    """Create ``folder`` and its missing parents, recording each one created (outermost first)."""
    missing = []
    p = folder
    while not p.exists():
        if p.is_symlink():  # a dangling link: mkdir would fail obscurely
            raise OutputError(f"cannot write {target}: {p} is a broken symbolic link; choose another path")
        missing.append(p)
        p = p.parent
    if not p.is_dir():
        raise OutputError(f"cannot write {target}: {p} is a file, not a folder; choose another path")
    for d in reversed(missing):
        d.mkdir()
        created.append(d)


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike) -> Iterator[list[Path]]:
    """Temporary names for ``paths``; all are renamed into place only when the block succeeds (see the module
    docstring). On failure the temporary files and the folders created for them are removed, and an
    environment fault is raised as :class:`~neurokd.errors.OutputError`."""
    targets = [Path(p) for p in paths]
    created: list[Path] = []
    tmps: list[Path] = []
    current = targets[0] if targets else Path()
    try:
        for target in targets:
            current = target
            if target.is_dir():
                raise OutputError(f"cannot write {target}: it is a folder; give a file name")
            _make_parents(target.parent, created, target)
            remove_stale_temps(target)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp", dir=target.parent)
            os.close(fd)
            tmps.append(Path(tmp))
        yield list(tmps)
        for tmp, target in zip(tmps, targets):
            current = target
            with open(tmp, "rb") as fh:
                _follow_umask(fh.fileno())  # here, not at mkstemp: a writer (safetensors) may have replaced it
                os.fsync(fh.fileno())
        for tmp, target in zip(tmps, targets):
            current = target
            os.replace(tmp, target)
            _fsync_dir(target.parent)
    except BaseException as e:
        for tmp in tmps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        for d in reversed(created):
            with contextlib.suppress(OSError):
                d.rmdir()  # only if still empty
        err = None if isinstance(e, UserError) else output_error(current, e)
        if err is not None:
            raise err from None
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary filename; on success it is renamed to ``path`` (see :func:`atomic_paths`)."""
    with atomic_paths(path) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it to ``path`` only on success."""
    with atomic_path(path) as tmp, open(tmp, mode) as fh:
        yield fh


def _follow_umask(fd: int) -> None:
    """Give a mkstemp file the mode ``open()`` would under the current umask (0644 under 022): mkstemp's private
    0600 would make every artefact unreadable to the user's group and others."""
    umask = os.umask(0o022)
    os.umask(umask)
    with contextlib.suppress(OSError):  # a filesystem without modes keeps mkstemp's
        os.fchmod(fd, 0o666 & ~umask)


def _fsync_dir(folder: Path) -> None:
    """Persist a rename (the folder entry) too, so a power loss right after cannot undo it (POSIX only)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on folders; the rename itself is still atomic
    finally:
        os.close(fd)


def write_files(contents: dict[str | os.PathLike, str | bytes]) -> None:
    """Write several files all or nothing (text as UTF-8)."""
    with atomic_paths(*contents) as tmps:
        for tmp, data in zip(tmps, contents.values()):
            tmp.write_bytes(data.encode() if isinstance(data, str) else data)


def json_text(obj: Any) -> str:
    """``obj`` as neurokd writes JSON files: indented, key order kept, a final newline."""
    return json.dumps(obj, indent=2, sort_keys=False) + "\n"


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    write_files({path: data})


def write_text(path: str | os.PathLike, text: str) -> None:
    write_files({path: text})


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_files({path: json_text(obj)})


def write_yaml(path: str | os.PathLike, obj: Any) -> None:
    write_files({path: yaml.safe_dump(obj, sort_keys=False)})


# ------------------------------------------------------------------------------------------------ reads

_NOT_REGULAR = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind_problem(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    kind = next((k for test, k in _NOT_REGULAR if test(mode)), "not a file")
    return f"is {kind}, not a regular file"


def check_regular(path: str | os.PathLike, what: str, error: type[UserError] = UserError) -> Path:
    """``path`` if it names a regular file (symbolic links followed), else a one-line ``error``. For libraries
    that open files by name themselves; prefer :func:`open_regular`, which cannot be raced."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise error(f"{what} {path}: not found") from None
    except OSError as e:
        raise error(f"{what} {path}: cannot read ({e.strerror})") from None
    problem = _kind_problem(st.st_mode)
    if problem:
        raise error(f"{what} {path}: {problem}")
    return path


def open_regular(path: str | os.PathLike, what: str, error: type[UserError] = UserError) -> BinaryIO:
    """Open a regular file for binary reading. Opened without blocking, so a FIFO cannot hang the open, and
    checked on the open descriptor, so the file cannot be swapped for something else after the check."""
    path = check_regular(path, what, error)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise error(f"{what} {path}: cannot open ({e.strerror})") from None
    problem = _kind_problem(os.fstat(fd).st_mode)
    if problem:
        os.close(fd)
        raise error(f"{what} {path}: {problem}")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_bytes(path: str | os.PathLike, what: str, error: type[UserError] = UserError,
               limit: int | None = None) -> bytes:
    """The contents of a regular file, refused when larger than ``limit`` bytes (default: the text limit)."""
    raise_with = "" if limit is not None else f" (or raise {ENV['text_bytes'][0]})"
    limit = limits().text_bytes if limit is None else limit
    with open_regular(path, what, error) as fh:
        size = os.fstat(fh.fileno()).st_size
        data = fh.read(limit + 1) if size <= limit else b""
    if size > limit or len(data) > limit:
        raise error(f"{what} {path}: {fmt_bytes(max(size, len(data)))} is over the {fmt_bytes(limit)} limit for "
                    f"such files; is it the right file?{raise_with}")
    return data


def read_text(path: str | os.PathLike, what: str, error: type[UserError] = UserError) -> str:
    """A UTF-8 text file (configs, chip profiles, label lists) within the text size limit."""
    data = read_bytes(path, what, error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{what} {path}: not UTF-8 text (byte {e.start}); is it the right file?") from None
