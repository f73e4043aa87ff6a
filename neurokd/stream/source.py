"""Event sources for streaming: a file or an array, delivered as validated, time-sorted chunks.

Files are opened and checked before the first window (missing, not a regular file, wrong format, truncated
``.bin``/``.npy``); each chunk is then read (``.npy``: from the file, now) and checked as it is consumed
(coordinates inside the sensor, polarity, timestamps never going back, the file not cut short meanwhile), so a
file corrupt in the middle stops the stream at that chunk with the windows before it intact.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from neurokd.data.events.core import EVENT_DTYPE, SensorSize, as_events, check_events
from neurokd.data.events.formats import NpyEvents, open_event_file

CHUNK_EVENTS = 1 << 16


class EventSource:
    """Iterate ``events`` (a structured array, or :class:`NpyEvents` read from its file slice by slice) in
    checked chunks of ``chunk`` events."""

    def __init__(self, events: np.ndarray | NpyEvents, sensor_size: SensorSize, name: str = "event stream",
                 chunk: int = CHUNK_EVENTS):
        self.events, self.sensor_size, self.name, self.chunk = events, sensor_size, name, chunk

    def __len__(self) -> int:
        return len(self.events)

    @property
    def first_t(self) -> int | None:
        return int(self.events[0:1]["t"][0]) if len(self.events) else None

    @property
    def last_t(self) -> int | None:
        """The last event's timestamp (us): with :attr:`first_t`, how long the stream is."""
        n = len(self.events)
        return int(self.events[n - 1:n]["t"][0]) if n else None

    def __iter__(self) -> Iterator[np.ndarray]:
        last = None
        for lo in range(0, len(self.events), self.chunk):
            c = as_events(np.asarray(self.events[lo:lo + self.chunk]), self.name)
            check_events(c, self.sensor_size, self.name, offset=lo, t_floor=last)
            if len(c):
                last = int(c["t"][-1])
            yield c


def open_events(path: str | Path, sensor_size: SensorSize, chunk: int = CHUNK_EVENTS) -> EventSource:
    """An :class:`EventSource` over an event file (``.npy`` is read chunk by chunk as the stream consumes it,
    so a file truncated meanwhile stops the stream with an error; other formats are read whole)."""
    return EventSource(open_event_file(path), sensor_size, f"event file {path}", chunk)


def concat_recordings(recordings: list[np.ndarray], segment_us: int) -> np.ndarray:
    """One stream of recordings back to back: recording ``i`` shifted to ``[i*segment_us, (i+1)*segment_us)``
    (events at or after ``segment_us`` in a recording are dropped)."""
    parts = []
    for i, rec in enumerate(recordings):
        rec = as_events(rec, "recording")
        rec = rec[rec["t"] < segment_us].copy()
        rec["t"] += i * segment_us
        parts.append(rec)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=EVENT_DTYPE)
