"""Event file formats, read with tonic's readers where tonic has one.

- N-MNIST ``.bin`` (Orchard 2015; also N-Caltech101): 5 bytes per event, ``x`` (u8), ``y`` (u8), then bit 23 =
  polarity and bits 22..0 = timestamp (us), big-endian; ``y == 240`` marks a timestamp-overflow record. Read
  with ``tonic.io.read_mnist_file``; written by :func:`write_nmnist_bin`.
- DVS Gesture as tonic distributes it (``ibmGestureTrain/userNN_lighting/<label>.npy``): an ``[N, 4]`` array of
  ``x, y, p, t`` with ``t`` in milliseconds, converted exactly as ``tonic.datasets.DVSGesture`` does.
- CIFAR10-DVS as tonic distributes it (``<class>/*.aedat4``): AEDAT 4 files, read with ``tonic.io.read_aedat4``
  (needs the ``aedat`` package).
- ``.npy`` holding a structured ``(x, y, t, p)`` array (neurokd's stream files): memory-mapped, never unpickled.

Every reader turns a malformed file into a one-line :class:`DatasetError` naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurokd.data.events.core import EVENT_DTYPE, as_events, make_events
from neurokd.errors import DatasetError
from neurokd.io import atomic_path

NMNIST_MAX_T = (1 << 23) - 1
NMNIST_OVERFLOW_Y = 240


def write_nmnist_bin(path: str | Path, events: np.ndarray) -> None:
    """Write events in the N-MNIST binary format (atomically); needs ``t < 2**23`` us and ``x, y < 240``."""
    ev = as_events(events, str(path))
    if len(ev) and (ev["t"].min() < 0 or ev["t"].max() > NMNIST_MAX_T):
        raise DatasetError(f"{path}: N-MNIST timestamps are 23-bit microseconds (< 8.39 s); got t up to {ev['t'].max()}")
    if len(ev) and (ev["x"].min() < 0 or ev["y"].min() < 0 or max(ev["x"].max(), ev["y"].max()) >= NMNIST_OVERFLOW_Y):
        raise DatasetError(f"{path}: N-MNIST coordinates must be 0..239")
    t = ev["t"].astype(np.uint32)
    raw = np.empty((len(ev), 5), dtype=np.uint8)
    raw[:, 0] = ev["x"]
    raw[:, 1] = ev["y"]
    raw[:, 2] = (ev["p"].astype(np.uint32) << 7) | ((t >> 16) & 0x7F)
    raw[:, 3] = (t >> 8) & 0xFF
    raw[:, 4] = t & 0xFF
    with atomic_path(path) as tmp:
        raw.tofile(tmp)


def read_nmnist_bin(path: str | Path) -> np.ndarray:
    """Events of one N-MNIST ``.bin`` file (tonic's reader), after checking the file is whole."""
    from tonic.io import read_mnist_file

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise DatasetError(f"event file {path}: cannot read ({e.strerror})") from None
    if size % 5:
        raise DatasetError(f"event file {path}: {size} bytes is not a whole number of 5-byte N-MNIST events "
                           "(truncated or not an N-MNIST .bin file)")
    dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])  # tonic.datasets.NMNIST.dtype
    return as_events(read_mnist_file(str(path), dtype=dtype), str(path))


def read_gesture_npy(path: str | Path) -> np.ndarray:
    """One DVS Gesture sample in tonic's ``.npy`` layout (``[N, 4]``: x, y, p, t in ms) as events (t in us)."""
    arr = _load_npy(path)
    if arr.dtype.names is not None or arr.ndim != 2 or arr.shape[1] != 4:
        raise DatasetError(f"event file {path}: expected an N x 4 array (x, y, p, t_ms) as in tonic's DVSGesture, "
                           f"got {arr.dtype} {arr.shape}")
    arr = arr.copy()
    arr[:, 3] *= 1000  # ms -> us, as tonic.datasets.DVSGesture.__getitem__
    return make_events(arr[:, 0], arr[:, 1], arr[:, 3], arr[:, 2] != 0)


def read_aedat4(path: str | Path) -> np.ndarray:
    """Polarity events of an AEDAT 4 file (tonic's reader; needs the ``aedat`` package)."""
    try:
        import aedat  # noqa: F401
    except ImportError:
        raise DatasetError(f"event file {path}: reading AEDAT 4 needs the 'aedat' package (pip install aedat)") from None
    from tonic.io import read_aedat4 as tonic_read_aedat4

    try:
        ev = tonic_read_aedat4(str(path))
    except Exception as e:  # the Rust decoder raises plain Exceptions for malformed files
        raise DatasetError(f"event file {path}: not a readable AEDAT 4 file ({e})") from None
    ev = ev.copy()
    ev.dtype.names = ["t", "x", "y", "p"]  # as tonic.datasets.CIFAR10DVS
    return as_events(ev, str(path))


def write_events_npy(path: str | Path, events: np.ndarray) -> None:
    """Save events as a structured ``.npy`` (atomically): neurokd's stream file format."""
    ev = as_events(events, str(path))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, ev, allow_pickle=False)


def read_events_npy(path: str | Path, mmap: bool = True) -> np.ndarray:
    """A structured ``(x, y, t, p)`` ``.npy`` (memory-mapped by default, so long streams are read lazily)."""
    arr = _load_npy(path, mmap)
    if arr.dtype.names is None or arr.ndim != 1:
        raise DatasetError(f"event file {path}: expected a 1-D structured array with fields x, y, t, p, "
                           f"got {arr.dtype} {arr.shape}")
    return arr if arr.dtype == EVENT_DTYPE else as_events(arr, str(path))


def _load_npy(path: str | Path, mmap: bool = False) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise DatasetError(f"event file {path}: not found") from None
    except (ValueError, OSError, EOFError) as e:
        msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        raise DatasetError(f"event file {path}: not a readable .npy array, truncated or corrupt ({msg})") from None


READERS = {".bin": read_nmnist_bin, ".aedat4": read_aedat4, ".npy": read_events_npy}


def read_event_file(path: str | Path) -> np.ndarray:
    """Events of any supported file, chosen by extension (``.bin``, ``.aedat4``, structured ``.npy``)."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DatasetError(f"event file {path}: unknown format {path.suffix!r}; use .bin (N-MNIST), .aedat4 or .npy "
                           "(structured x, y, t, p)")
    if not path.is_file():
        raise DatasetError(f"event file {path}: not found")
    return reader(path)
