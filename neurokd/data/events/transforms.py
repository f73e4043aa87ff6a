"""Event transforms: small frozen dataclasses over pure numpy functions (tonic's kernels where tonic has one).

``ToFrames`` bins a recording into ``n_bins`` frames of ``bin_us`` microseconds each, starting at the
recording's time origin, with tonic's ``to_frame_numpy`` (fixed time windows: every sample gets the same bin
length, which is what a stream cut into fixed windows later sees). ``Denoise`` is tonic's nearest-neighbour
filter. ``FromFirstEvent`` moves the time origin to the first event (recordings with absolute timestamps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurokd.data.events.core import SensorSize


def to_frames(events: np.ndarray, sensor_size: SensorSize, n_bins: int, bin_us: int, start_us: int = 0) -> np.ndarray:
    """Event counts ``int16 [n_bins, P, H, W]`` of the windows ``[start + k*bin, start + (k+1)*bin)``.

    ``events`` must be sorted by ``t``; events outside the ``n_bins`` windows are dropped.
    """
    from tonic.functional.to_frame import to_frame_numpy

    if n_bins < 1 or bin_us < 1:
        raise ValueError(f"need n_bins >= 1 and bin_us >= 1, got {n_bins}, {bin_us}")
    return to_frame_numpy(events, sensor_size, time_window=bin_us, start_time=start_us,
                          end_time=start_us + n_bins * bin_us)


def denoise(events: np.ndarray, filter_us: float) -> np.ndarray:
    """Drop events with no other event at a 4-neighbour pixel within ``filter_us`` before (tonic's filter)."""
    from tonic.functional.denoise import denoise_numpy

    if len(events) == 0:
        return events
    return denoise_numpy(events, filter_time=filter_us)


@dataclass(frozen=True)
class FromFirstEvent:
    """Shift timestamps so the first event is at t = 0."""

    def __call__(self, events: np.ndarray) -> np.ndarray:
        if len(events) == 0 or events["t"][0] == 0:
            return events
        out = events.copy()
        out["t"] -= events["t"][0]
        return out


@dataclass(frozen=True)
class Denoise:
    filter_us: float

    def __call__(self, events: np.ndarray) -> np.ndarray:
        return denoise(events, self.filter_us)


@dataclass(frozen=True)
class ToFrames:
    sensor_size: SensorSize
    n_bins: int
    bin_us: int

    def __call__(self, events: np.ndarray) -> np.ndarray:
        return to_frames(events, self.sensor_size, self.n_bins, self.bin_us)


@dataclass(frozen=True)
class Compose:
    transforms: tuple = ()

    def __call__(self, events: np.ndarray) -> np.ndarray:
        for t in self.transforms:
            events = t(events)
        return events
