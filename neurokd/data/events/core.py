"""Event arrays: the tonic-style structured ``(x, y, t, p)`` layout and its checks.

An event recording is a 1-D numpy structured array with fields ``x``, ``y`` (pixel column and row),
``t`` (timestamp, microseconds, non-decreasing) and ``p`` (polarity: 1 = ON / brighter, 0 = OFF). Sensor sizes
follow tonic's convention ``(W, H, P)``.
"""

from __future__ import annotations

import numpy as np

from neurokd.errors import DatasetError

EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
FIELDS = ("x", "y", "t", "p")

SensorSize = tuple[int, int, int]


def make_events(x, y, t, p, where: str = "events") -> np.ndarray:
    """A structured event array from four equally long 1-D sequences.

    Values are checked before the cast to :data:`EVENT_DTYPE`: one that does not fit its field (``x = 65539``
    in an ``int16``) would wrap silently, a NaN or a fractional coordinate would be truncated; each raises a
    one-line :class:`DatasetError` naming ``where`` and the first bad event. Timestamps may be fractional
    (converted from milliseconds, say) and are truncated, as tonic does.
    """
    n = len(t)
    ev = np.empty(n, dtype=EVENT_DTYPE)
    for name, values in zip(FIELDS, (x, y, t, p)):
        ev[name] = _checked(np.asarray(values), name, EVENT_DTYPE[name], where)
    return ev


def _checked(a: np.ndarray, name: str, dtype: np.dtype, where: str) -> np.ndarray:
    if a.dtype == dtype or a.size == 0 or a.dtype.kind == "b":
        return a
    if a.dtype.kind not in "iuf":
        raise DatasetError(f"{where}: field {name} has dtype {a.dtype}; expected integers")
    info = np.iinfo(dtype)
    bad = ~np.isfinite(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)
    if a.dtype.kind == "f" and name != "t":
        bad |= a != np.trunc(np.nan_to_num(a))
    bad |= (a < info.min) | (a > info.max)  # compared in a's own dtype: no wrap before the test
    if bad.any():
        i = int(np.argmax(bad))
        raise DatasetError(f"{where}: event {i} has {name} = {a[i]!r}, which does not fit {name}'s {dtype} "
                           f"(integers in [{info.min}, {info.max}]); corrupt file or wrong format")
    return a


def as_events(arr: np.ndarray, where: str) -> np.ndarray:
    """Any structured array with ``x, y, t, p`` fields (tonic's various dtypes) as :data:`EVENT_DTYPE`."""
    names = arr.dtype.names or ()
    missing = [f for f in FIELDS if f not in names]
    if missing:
        raise DatasetError(f"{where}: events need fields x, y, t, p; missing {', '.join(missing)} (has {names})")
    if arr.dtype == EVENT_DTYPE:
        return arr
    return make_events(arr["x"], arr["y"], arr["t"], arr["p"], where)


def check_events(ev: np.ndarray, sensor_size: SensorSize, where: str, offset: int = 0,
                 t_floor: int | None = None) -> None:
    """Raise a one-line DatasetError naming the first bad event (index ``offset + i``) of ``ev``.

    Checks: coordinates inside the sensor, polarity 0/1, timestamps non-negative and non-decreasing (and not
    below ``t_floor``, the last timestamp of the previous chunk when validating a stream chunk by chunk).
    """
    if len(ev) == 0:
        return
    w, h, _ = sensor_size
    bad = (ev["x"] < 0) | (ev["x"] >= w) | (ev["y"] < 0) | (ev["y"] >= h)
    if bad.any():
        i = int(np.argmax(bad))
        raise DatasetError(f"{where}: event {offset + i} at (x={ev['x'][i]}, y={ev['y'][i]}) lies outside the "
                           f"{w}x{h} sensor; wrong sensor size or corrupt file")
    badp = (ev["p"] != 0) & (ev["p"] != 1)
    if badp.any():
        i = int(np.argmax(badp))
        raise DatasetError(f"{where}: event {offset + i} has polarity {ev['p'][i]}, expected 0 or 1; corrupt file")
    t = ev["t"]
    if t[0] < 0 or (t_floor is not None and t[0] < t_floor):
        raise DatasetError(f"{where}: event {offset} has timestamp {t[0]} us, before the previous event "
                           f"({t_floor}); timestamps must not decrease (corrupt or unsorted file)")
    back = np.diff(t) < 0
    if back.any():
        i = int(np.argmax(back)) + 1
        raise DatasetError(f"{where}: event {offset + i} has timestamp {t[i]} us, before the previous event "
                           f"({t[i - 1]}); timestamps must not decrease (corrupt or unsorted file)")
