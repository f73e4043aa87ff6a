"""Streaming inference on event streams: fixed time windows, state carried across windows, pluggable backends.

``run_stream(EventSource, backend, ...)`` -> :class:`StreamReport` (a prediction, its latency and the event
count per window, plus events/s and latency percentiles). A backend is any :class:`StreamBackend`;
:class:`TorchSNNBackend` runs the float SNN. The named registry of every backend belongs to the application layer.
:func:`write_stream_file` writes a dataset split as one stream file plus its labels file.
"""

from neurokd.stream.backends import StreamBackend, TorchSNNBackend
from neurokd.stream.files import StreamFile, labels_path_for, read_labels, write_stream_file
from neurokd.stream.runner import StreamReport, WindowResult, run_stream, segment_accuracy, split_windows
from neurokd.stream.source import EventSource, concat_recordings, open_events

__all__ = [
    "EventSource", "StreamBackend", "StreamFile", "StreamReport", "TorchSNNBackend", "WindowResult",
    "concat_recordings", "labels_path_for", "open_events", "read_labels", "run_stream", "segment_accuracy",
    "split_windows", "write_stream_file",
]
