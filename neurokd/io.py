"""Atomic file writes and safe readers.

Every artifact neurokd writes goes through these helpers: data is written to a temporary file in the same
folder, flushed and fsync'ed, then renamed over the target (``os.replace`` is atomic on POSIX), so a crash
never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import yaml


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it to ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    _follow_umask(fd)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_tmp_path(path: str | os.PathLike) -> Path:
    """A fresh temporary path next to ``path`` for writers that need a filename (h5py, safetensors).

    The caller writes to it and then calls :func:`commit_tmp`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def _follow_umask(fd: int) -> None:
    """Give a mkstemp file the mode ``open()`` would under the current umask (0644 under 022): mkstemp's private
    0600 would make every artefact unreadable to the user's group and others."""
    umask = os.umask(0o022)
    os.umask(umask)
    with contextlib.suppress(OSError):  # a filesystem without modes keeps mkstemp's
        os.fchmod(fd, 0o666 & ~umask)


def commit_tmp(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """fsync ``tmp`` and atomically rename it to ``path``."""
    with open(tmp, "rb") as fh:
        _follow_umask(fh.fileno())  # here, not at mkstemp: a writer (safetensors) may have replaced the file
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(Path(path).parent)


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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary filename; on success it is renamed to ``path``, on failure removed."""
    tmp = atomic_tmp_path(path)
    try:
        yield tmp
        commit_tmp(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_open(path) as fh:
        json.dump(obj, fh, indent=2, sort_keys=False)
        fh.write("\n")


def write_yaml(path: str | os.PathLike, obj: Any) -> None:
    with atomic_open(path) as fh:
        yaml.safe_dump(obj, fh, sort_keys=False)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)
