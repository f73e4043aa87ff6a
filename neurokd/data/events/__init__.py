"""Event-camera (DVS) data: tonic-style event arrays, file formats, transforms, datasets and the frame cache.

``load(cfg, T)`` returns :class:`neurokd.data.DataSplits` whose batches are time-major event frames
``[T, B, 2, H, W]`` (see :mod:`neurokd.data.events.datasets`).
"""

from neurokd.data.events.core import EVENT_DTYPE, check_events, make_events
from neurokd.data.events.datasets import INFO, EventFrameDataset, load
from neurokd.data.events.formats import read_event_file, write_events_npy, write_nmnist_bin
from neurokd.data.events.transforms import Compose, Denoise, FromFirstEvent, ToFrames, to_frames
from neurokd.data.names import EVENT_DATASETS

__all__ = [
    "EVENT_DATASETS", "EVENT_DTYPE", "INFO", "Compose", "Denoise", "EventFrameDataset", "FromFirstEvent",
    "ToFrames", "check_events", "load", "make_events", "read_event_file", "to_frames", "write_events_npy",
    "write_nmnist_bin",
]
