"""Stream files: the recordings of a dataset split written back to back as one event stream, plus its labels.

A stream file is a structured ``(x, y, t, p)`` ``.npy`` (:func:`neurokd.data.events.write_events_npy`) in which
recording ``i`` occupies ``[i*D, (i+1)*D)`` microseconds (``D``: the segment length, by default the dataset's
nominal recording length; recordings with absolute timestamps start their clock at their first event, events
at or after ``D`` are dropped). Its labels file is a JSON list, one class label per segment, what
``neurokd stream --labels`` scores the last window of every segment against.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from neurokd.data.base import DataSplits
from neurokd.data.events import INFO, FromFirstEvent, write_events_npy
from neurokd.data.events.datasets import EventDatasetInfo
from neurokd.errors import UserError
from neurokd.io import read_text, write_text
from neurokd.parsing import load_json_text
from neurokd.stream.source import concat_recordings

SPLITS: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class StreamFile:
    """What :func:`write_stream_file` wrote: the event and labels files and the stream's layout."""

    events: Path
    labels: Path
    recordings: int
    n_events: int
    segment_us: int


def labels_path_for(events: str | Path) -> Path:
    """The labels file that goes with a stream file: ``test_stream.npy`` -> ``test_stream.labels.json``."""
    events = Path(events)
    return events.with_name(f"{events.stem}.labels.json")


def event_dataset_info(name: str) -> EventDatasetInfo:
    """The event dataset ``name``'s sensor and recording length; a one-line error for any other dataset."""
    info = INFO.get(name)
    if info is None:
        raise UserError(f"dataset {name!r} is not an event dataset; stream files are written from "
                        f"{', '.join(INFO)}")
    return info


def write_stream_file(splits: DataSplits, split: str, path: str | Path, labels: str | Path | None = None,
                      segment_us: int | None = None, limit: int | None = None) -> StreamFile:
    """Write split ``split`` of the event dataset ``splits`` as one stream file at ``path`` and its labels at
    ``labels`` (default: :func:`labels_path_for`). ``segment_us``: microseconds per recording (default: the
    dataset's recording length); ``limit``: only the first ``limit`` recordings."""
    info = event_dataset_info(splits.name)
    if split not in SPLITS:
        raise UserError(f"split {split!r}: choose one of {', '.join(SPLITS)}")
    if segment_us is not None and segment_us < 1:
        raise UserError(f"segment length must be at least 1 us, got {segment_us}")
    if limit is not None and limit < 1:
        raise UserError(f"limit must be at least 1 recording, got {limit}")
    data = getattr(splits, split)
    n = len(data) if limit is None else min(limit, len(data))
    if n == 0:
        raise UserError(f"dataset {splits.name}: the {split} split holds no recordings")
    segment_us = segment_us or info.duration_us
    recordings = [data.events(i) for i in range(n)]
    if info.from_first_event:  # absolute clocks: each recording's segment starts at its first event
        recordings = [FromFirstEvent()(ev) for ev in recordings]
    events = concat_recordings(recordings, segment_us)
    path = Path(path)
    labels = labels_path_for(path) if labels is None else Path(labels)
    write_events_npy(path, events)
    write_text(labels, json.dumps(data.y[:n].tolist()) + "\n")
    return StreamFile(path, labels, n, len(events), segment_us)


def read_labels(path: str | Path, num_classes: int | None = None) -> list[int]:
    """A labels file: a JSON list of integer class labels, one per segment (each in ``0..num_classes-1`` when
    given). Read as a regular file within the text size and nesting limits (:mod:`neurokd.parsing`)."""
    labels = load_json_text(read_text(path, "labels file"), f"labels file {path}")
    if not isinstance(labels, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        raise UserError(f"labels file {path}: expected a JSON list of integer class labels")
    bad = next((i for i, v in enumerate(labels) if num_classes is not None and not 0 <= v < num_classes), None)
    if bad is not None:
        raise UserError(f"labels file {path}: label {bad} is {labels[bad]}, outside the model's classes "
                        f"0..{num_classes - 1}")
    return labels
