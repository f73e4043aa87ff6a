"""Streaming inference on event streams: fixed time windows, state carried across windows, pluggable backends.

``run_stream(EventSource, backend, ...)`` -> :class:`StreamReport` (a prediction, its latency and the event
count per window, plus events/s and latency percentiles). Backends: :data:`BACKENDS` (``torch`` = the float
SNN; ``loihi-fixed`` = the exported Loihi 2 fixed-point network, ``exporters.lava.stream``, imported on use).
"""

from neurokd.stream.backends import BACKENDS, StreamBackend, TorchSNNBackend, make_backend
from neurokd.stream.runner import StreamReport, WindowResult, run_stream, segment_accuracy, split_windows
from neurokd.stream.source import EventSource, concat_recordings, open_events

__all__ = [
    "BACKENDS", "EventSource", "StreamBackend", "StreamReport", "TorchSNNBackend", "WindowResult",
    "concat_recordings", "make_backend", "open_events", "run_stream", "segment_accuracy", "split_windows",
]
