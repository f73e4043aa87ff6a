"""Event file formats, read with tonic's readers where tonic has one.

- N-MNIST ``.bin`` (Orchard 2015; also N-Caltech101): 5 bytes per event, ``x`` (u8), ``y`` (u8), then bit 23 =
  polarity and bits 22..0 = timestamp (us), big-endian; ``y == 240`` marks a timestamp-overflow record. Read
  with ``tonic.io.read_mnist_file``; written by :func:`write_nmnist_bin`.
- DVS Gesture as tonic distributes it (``ibmGestureTrain/userNN_lighting/<label>.npy``): an ``[N, 4]`` array of
  ``x, y, p, t`` with ``t`` in milliseconds, converted exactly as ``tonic.datasets.DVSGesture`` does.
- CIFAR10-DVS as tonic distributes it (``<class>/*.aedat4``): AEDAT 4 files, read with ``tonic.io.read_aedat4``
  (needs the ``aedat`` package).
- ``.npy`` holding a structured ``(x, y, t, p)`` array (neurokd's stream files): read slice by slice with plain
  reads (:class:`NpyEvents`; no memory map, so a file truncated while it is streamed is an error, not a
  SIGBUS), never unpickled.

Every reader opens regular files only, checks what a file declares against the memory limit
(:mod:`neurokd.limits`) before decoding it, and turns a malformed file into a one-line :class:`DatasetError`
naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neurokd.data.events.core import EVENT_DTYPE, as_events, make_events
from neurokd.errors import DatasetError
from neurokd.io import atomic_path, check_regular, open_regular
from neurokd.limits import check_memory

NMNIST_MAX_T = (1 << 23) - 1
NMNIST_OVERFLOW_Y = 240
DECODED_BYTES_PER_NMNIST_EVENT = 64  # tonic's four int64 fields, then our EVENT_DTYPE copy, with headroom


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

    path = check_regular(path, "event file", DatasetError)
    size = path.stat().st_size
    check_memory(size // 5 * DECODED_BYTES_PER_NMNIST_EVENT, f"event file {path}", "is it the right file?")
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
    # ms -> us, as tonic.datasets.DVSGesture.__getitem__ (in float64: integer milliseconds could overflow)
    t_us = arr[:, 3].astype(np.float64) * 1000
    return make_events(arr[:, 0], arr[:, 1], t_us, arr[:, 2] != 0, f"event file {path}")


def read_aedat4(path: str | Path) -> np.ndarray:
    """Polarity events of an AEDAT 4 file (tonic's reader; needs the ``aedat`` package)."""
    try:
        import aedat  # noqa: F401
    except ImportError:
        raise DatasetError(f"event file {path}: reading AEDAT 4 needs the 'aedat' package (pip install aedat)") from None
    from tonic.io import read_aedat4 as tonic_read_aedat4

    path = check_regular(path, "event file", DatasetError)
    check_memory(path.stat().st_size, f"event file {path}", "is it the right file?")
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


def read_events_npy(path: str | Path) -> np.ndarray:
    """A structured ``(x, y, t, p)`` ``.npy`` as one array (see :class:`NpyEvents` for reading it in slices)."""
    events = NpyEvents(path)
    try:
        check_memory(len(events) * EVENT_DTYPE.itemsize, f"event file {path}", "stream it instead")
        return events[0:len(events)]
    finally:
        events.close()


def _load_npy(path: str | Path) -> np.ndarray:
    """A plain ``.npy`` array (no pickles), read from a regular file within the memory limit."""
    with open_regular(path, "event file", DatasetError) as fh:
        check_memory(os.fstat(fh.fileno()).st_size, f"event file {path}", "is it the right file?")
        try:
            return np.load(fh, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
            raise DatasetError(f"event file {path}: not a readable .npy array, truncated or corrupt ({msg})") from None


class NpyEvents:
    """A structured ``(x, y, t, p)`` ``.npy`` file read in slices (``events[lo:hi]``) with plain reads.

    Not a memory map: a file cut short while it is being read (a recording truncated mid-stream) is a one-line
    :class:`DatasetError` at the first slice that reaches past its end, never a SIGBUS. The header is checked
    on opening (1-D, structured, no Python objects, and the file holds every event it declares).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = open_regular(path, "event file", DatasetError)
        try:
            version = np.lib.format.read_magic(self._fh)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _fortran, dtype = read_header(self._fh)
        except (ValueError, OSError, EOFError, SyntaxError) as e:
            self.close()
            msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
            raise DatasetError(f"event file {path}: not a readable .npy array, truncated or corrupt ({msg})") from None
        if dtype.hasobject or dtype.names is None or len(shape) != 1:
            self.close()
            raise DatasetError(f"event file {path}: expected a 1-D structured array with fields x, y, t, p, "
                               f"got {dtype} {shape}")
        self.dtype, self._n, self._offset = dtype, int(shape[0]), self._fh.tell()
        self._check_size(self._n)

    def __len__(self) -> int:
        return self._n

    def _check_size(self, upto: int) -> None:
        need = self._offset + upto * self.dtype.itemsize
        size = os.fstat(self._fh.fileno()).st_size
        if size < need:
            raise DatasetError(f"event file {self.path}: truncated: {size} bytes, but its header declares "
                               f"{self._n} events ({self._offset + self._n * self.dtype.itemsize} bytes); event "
                               f"{(size - self._offset) // self.dtype.itemsize} is missing")

    def __getitem__(self, index: slice) -> np.ndarray:
        """Events ``index`` (a slice with step 1) as :data:`EVENT_DTYPE`, read from the file now."""
        lo, hi, _ = index.indices(self._n)
        if hi <= lo:
            return np.zeros(0, EVENT_DTYPE)
        self._check_size(hi)
        nbytes = (hi - lo) * self.dtype.itemsize
        data = os.pread(self._fh.fileno(), nbytes, self._offset + lo * self.dtype.itemsize)
        if len(data) < nbytes:  # cut between the size check and the read
            self._check_size(hi)
        return as_events(np.frombuffer(data, self.dtype), f"event file {self.path}")

    def close(self) -> None:
        self._fh.close()


READERS = {".bin": read_nmnist_bin, ".aedat4": read_aedat4, ".npy": read_events_npy}


def read_event_file(path: str | Path) -> np.ndarray:
    """Events of any supported file, chosen by extension (``.bin``, ``.aedat4``, structured ``.npy``)."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DatasetError(f"event file {path}: unknown format {path.suffix!r}; use .bin (N-MNIST), .aedat4 or .npy "
                           "(structured x, y, t, p)")
    return reader(path)


def open_event_file(path: str | Path) -> np.ndarray | NpyEvents:
    """Events to stream: a ``.npy`` file as :class:`NpyEvents` (read slice by slice as it is consumed), other
    formats read whole. Both give ``len()`` and ``events[lo:hi]``."""
    path = Path(path)
    return NpyEvents(path) if path.suffix.lower() == ".npy" else read_event_file(path)
