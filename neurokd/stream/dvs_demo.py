"""The event-camera pipeline of ``neurokd demo --dvs``: saccade-digits -> teacher -> SNN -> streamed test set.

:func:`stage_dvs` is a demo stage (it does nothing unless ``ctx.dvs``): it generates ``saccade-digits``,
trains an ANN teacher on accumulated frames and an SNN on the event frames (``T`` = :data:`DVS_T`), writes the
test set as one event stream (``<out>/dvs/test_stream.npy`` + ``test_stream.labels.json``, one recording per
``T`` windows), streams it through the SNN with state carried across windows, and records
``summary["dvs"] = {"test_acc", "events_per_s", "p95_window_ms", ...}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DVS_T = 6
# A quick recipe (about a minute of training on 2 cores); T=10 and 8 epochs reach ~0.94.
DVS_RECIPE = {"data.name": "saccade-digits", "model.arch": "cnn", "model.width": 16, "optim.epochs": 4,
              "optim.lr": 3e-3, "optim.weight_decay": 1e-4, "model.T": DVS_T}


def write_test_stream(splits, folder: Path) -> tuple[Path, Path, int]:
    """The test split as one stream file (recording ``i`` at ``[i*D, (i+1)*D)``) plus its labels file."""
    from neurokd.data.events import INFO, write_events_npy
    from neurokd.io import write_text
    from neurokd.stream import concat_recordings

    test = splits.test
    duration = INFO[splits.name].duration_us
    events = concat_recordings([test.events(i) for i in range(len(test))], duration)
    stream, labels = folder / "test_stream.npy", folder / "test_stream.labels.json"
    write_events_npy(stream, events)
    write_text(labels, json.dumps(test.y.tolist()) + "\n")
    return stream, labels, duration


def stream_test_set(model, splits, folder: Path, threads: int | None = 1) -> dict[str, Any]:
    """Stream the test split (one bin per window, reset per recording) and return the stream summary.

    One thread by default: batch-one windows of a small SNN run fastest single-threaded (measured here).
    """
    from neurokd.data.events import INFO
    from neurokd.stream import make_backend, open_events, run_stream, segment_accuracy

    info = INFO[splits.name]
    T = splits.time_bins
    stream, _labels, duration = write_test_stream(splits, folder)
    import torch

    before = torch.get_num_threads()
    try:
        backend = make_backend("torch", model, threads=threads)
        report = run_stream(open_events(stream, info.sensor_size), backend, info.sensor_size, duration // T, 1, T)
    finally:
        torch.set_num_threads(before)
    summary = report.summary()
    summary["stream_acc"] = segment_accuracy(report, splits.test.y.numpy(), T)
    summary["stream_file"] = str(stream)
    return summary


def stage_dvs(ctx) -> None:
    """Demo stage: the DVS pipeline (only with ``neurokd demo --dvs``)."""
    if not ctx.dvs:
        return
    from neurokd.data import load_dataset

    overrides = {**DVS_RECIPE, "seed": ctx.seed}
    splits = load_dataset(ctx.config("dvs", overrides).data, ctx.seed, T=DVS_T)
    teacher = ctx.train("dvs_teacher", {**overrides, "model.kind": "ann"}, splits=splits)
    snn = ctx.train("dvs_snn", {**overrides, "model.kind": "snn"}, splits=splits)
    print("== dvs: streaming the test set", file=sys.stderr)
    s = stream_test_set(snn.model, splits, ctx.out_dir / "dvs")
    ctx.summary["dvs"] = {
        "dataset": "saccade-digits", "T": DVS_T, "test_acc": snn.summary["test_acc"],
        "teacher_test_acc": teacher.summary["test_acc"], "stream_acc": s["stream_acc"],
        "events_per_s": s["events_per_s"], "p50_window_ms": s["p50_window_ms"], "p95_window_ms": s["p95_window_ms"],
        "window_ms": s["window_ms"], "realtime_factor": s["realtime_factor"], "stream_file": s["stream_file"],
    }
    for key, kind, method in (("dvs_teacher", "ann", "ce (accumulated frames)"), ("dvs_snn", "snn", "bptt (events)")):
        r = ctx.runs[key].summary
        ctx.rows.append([key, kind, method, DVS_T if kind == "snn" else "-", r["test_acc"], r["train_seconds"]])
