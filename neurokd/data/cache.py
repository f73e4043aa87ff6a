"""The on-disk cache of generated datasets (``$NEUROKD_CACHE`` or ``~/.cache/neurokd``)."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from neurokd.io import atomic_path


def cache_dir() -> Path:
    """Where generated datasets are cached (``$NEUROKD_CACHE`` or ``~/.cache/neurokd``)."""
    return Path(os.environ.get("NEUROKD_CACHE", Path.home() / ".cache" / "neurokd"))


def cached_arrays(name: str, keys: tuple[str, ...], make: Callable[[], dict[str, np.ndarray]],
                  valid: Callable[[dict[str, np.ndarray]], bool] | None = None) -> dict[str, np.ndarray]:
    """``make()``'s arrays, cached as ``<cache_dir>/<name>.npz`` (written atomically).

    A cache file that cannot be read (or fails ``valid``) is regenerated; a read-only cache only costs
    regeneration next time.
    """
    path = cache_dir() / f"{name}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in keys}
        if valid is None or valid(out):
            return out
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        pass
    out = make()
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **out)
    except OSError:
        pass
    return out
