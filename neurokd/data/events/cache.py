"""Frame cache: binned frames of each sample, kept in memory and on disk, so only the first epoch bins.

Entries live at ``<cache_dir>/frames/<key>/<index>.npy`` where ``key`` hashes the sample source and the
transform; each file is written atomically (temp file + rename), and an entry that cannot be read back, or
has the wrong shape, is rebuilt. Splits small enough (``max_memory_bytes``) are also held in RAM after the
first read.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from neurokd.data.cache import cache_dir
from neurokd.io import atomic_path

MAX_MEMORY_BYTES = 1 << 30


class FrameCache:
    """``get(i, build)``: the frames of sample ``i``, from RAM, disk, or ``build()`` (then stored)."""

    def __init__(self, key: str, n: int, frame_shape: tuple[int, ...], disk: bool = True,
                 max_memory_bytes: int = MAX_MEMORY_BYTES):
        self.key, self.n, self.frame_shape = key, n, tuple(frame_shape)
        self.folder: Path | None = cache_dir() / "frames" / hashlib.sha1(key.encode()).hexdigest()[:20] if disk else None
        nbytes = n * int(np.prod(self.frame_shape)) * 2
        self._mem = np.zeros((n, *self.frame_shape), np.int16) if nbytes <= max_memory_bytes else None
        self._have = np.zeros(n, bool)
        self.built = 0  # samples binned by this process (the test of "epochs after the first don't re-bin")

    def path(self, i: int) -> Path:
        assert self.folder is not None
        return self.folder / f"{i}.npy"

    def get(self, i: int, build: Callable[[], np.ndarray]) -> np.ndarray:
        if self._mem is not None and self._have[i]:
            return self._mem[i]
        frames = self._read(i) if self.folder is not None else None
        if frames is None:
            frames = np.asarray(build(), dtype=np.int16)
            self.built += 1
            if self.folder is not None:
                self._write(i, frames)
        if self._mem is not None:
            self._mem[i] = frames
            self._have[i] = True
        return frames

    def _read(self, i: int) -> np.ndarray | None:
        try:
            arr = np.load(self.path(i), allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            return None  # absent or damaged: rebuilt by the caller
        if arr.shape != self.frame_shape or arr.dtype != np.int16:
            return None
        return arr

    def _write(self, i: int, frames: np.ndarray) -> None:
        try:
            with atomic_path(self.path(i)) as tmp, open(tmp, "wb") as fh:
                np.save(fh, frames, allow_pickle=False)
        except OSError:
            pass  # a read-only cache only costs re-binning next run
