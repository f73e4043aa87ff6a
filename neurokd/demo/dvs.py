"""The event-camera pipeline, end to end: saccade-digits -> teacher -> distilled SNN -> stream -> NIR -> Loihi 2
fixed point -> energy. One code path for ``examples/dvs_end_to_end.py`` and ``neurokd demo --dvs``.

:func:`run_dvs_pipeline` generates ``saccade-digits`` (binned into ``T`` frames), trains an ANN teacher on the
accumulated frames and distils a spiking student from it on the event frames (``neurokd.distill``, response KD
by default), streams the test set window by window through the float SNN (state carried across windows, reset
per recording), then runs the demo's export stages on the student: NIR export + re-import checked spike for
spike (:mod:`neurokd.demo.nir_stage`), Loihi 2 netx export checked on the bit-accurate NumPy model
(:mod:`neurokd.demo.lava_stage`), SynOps / energy / chip-fit report (:mod:`neurokd.demo.hardware_stage`); last it
streams the test set through the exported fixed-point network (the ``loihi-fixed`` backend).

:func:`stage_dvs` is the demo stage (it does nothing unless ``ctx.dvs``): it runs the pipeline under
``<out>/dvs`` and records ``summary["dvs"]`` (:func:`dvs_summary`: ``test_acc``, ``events_per_s``,
``p95_window_ms``, NIR / fixed-point / energy results).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from neurokd.demo.context import TABLE_HEADERS, DemoContext
from neurokd.demo.hardware_stage import stage_hardware
from neurokd.demo.lava_stage import stage_lava
from neurokd.demo.nir_stage import stage_nir

DVS_T = 6
DVS_EPOCHS = 4
# A quick recipe (about a minute per model on 2 cores); T=10 and 8 epochs reach ~0.94.
DVS_RECIPE = {"model.arch": "cnn", "model.width": 16, "optim.epochs": DVS_EPOCHS, "optim.lr": 3e-3,
              "optim.weight_decay": 1e-4}
# Response KD with the digits demo's settings; "feature" / "response+feature" also work on event frames.
DVS_KD = {"distill.method": "response", "distill.alpha": 0.5, "distill.tau": 4.0}
EXPORT_STAGES: list[Callable[[DemoContext], None]] = [stage_nir, stage_lava, stage_hardware]


def stream_test_set(model, splits, folder: Path, backend: str = "torch", threads: int | None = 1) -> dict[str, Any]:
    """Stream the test split (one bin per window, reset per recording) through ``backend`` and return the
    stream summary plus ``stream_acc`` (the prediction at each recording's last window vs its label).

    ``model``: what the backend takes (a TwinNet; for ``loihi-fixed`` also a ``.net`` path). One thread by
    default: batch-one windows of a small SNN run fastest single-threaded (measured here).
    """
    import torch
    from threadpoolctl import threadpool_limits

    from neurokd.data.events import INFO
    from neurokd.registry import make_backend
    from neurokd.stream import open_events, run_stream, segment_accuracy, write_stream_file

    info = INFO[splits.name]
    T = splits.time_bins
    stream = folder / "test_stream.npy"
    if not stream.is_file():
        write_stream_file(splits, "test", stream)
    duration = info.duration_us
    before = torch.get_num_threads()
    try:
        with threadpool_limits(None):  # restores the BLAS threads a backend sets
            b = make_backend(backend, model, threads=threads)
            report = run_stream(open_events(stream, info.sensor_size), b, info.sensor_size, duration // T, 1, T)
    finally:
        torch.set_num_threads(before)
    summary = report.summary()
    summary["stream_acc"] = segment_accuracy(report, splits.test.y.numpy(), T)
    summary["stream_file"] = str(stream)
    return summary


def run_dvs_pipeline(out_dir: str | Path, seed: int = 0, T: int = DVS_T, epochs: int = DVS_EPOCHS,
                     width: int = 16, kd: dict[str, Any] | None = None, progress: bool = True):
    """Run the whole DVS pipeline under ``out_dir``; returns its :class:`~neurokd.demo.context.DemoContext`
    (``runs["teacher"]``, ``runs["snn_kd"]``, ``summary`` with ``teacher``, ``snn_kd``, ``stream``, ``nir``,
    ``lava``, ``hardware``, ``stream_fixed`` and the headline ``dvs`` = :func:`dvs_summary`; ``rows`` for the
    results table). ``summary.json`` (rewritten after every step) and ``results.md`` go to ``out_dir``."""
    from neurokd.data import load_dataset
    from neurokd.distill import distill
    from neurokd.io import write_text
    from neurokd.tables import markdown_table

    ctx = DemoContext(Path(out_dir), seed=seed, T=T, progress=progress, data={"data.name": "saccade-digits"})
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    recipe = {**DVS_RECIPE, "optim.epochs": epochs, "model.width": width}
    kd = {**DVS_KD, **(kd or {})}
    ctx.summary.update({"dataset": "saccade-digits", "T": T, "seed": seed})
    t0 = time.perf_counter()
    with _step(ctx, "data", f"saccade-digits, {T} frames per recording"):
        ctx.splits = load_dataset(ctx.config("dvs", recipe).data, seed, T=T, progress=progress)

    with _step(ctx, "teacher", "teacher ANN on accumulated frames"):
        teacher = ctx.train("teacher", {**recipe, "model.kind": "ann"})
    ctx.summary["teacher"] = _run_entry(teacher)
    ctx.rows.append(["teacher", "ann", "ce (accumulated frames)", "-", teacher.summary["test_acc"],
                     teacher.summary["train_seconds"]])

    with _step(ctx, "snn_kd", f"SNN student on event frames, KD {kd['distill.method']} from the teacher"):
        student = distill(ctx.config("snn_kd", {**recipe, "model.kind": "snn", **kd,
                                                "distill.teacher": str(teacher.run_dir)}),
                          splits=ctx.splits, overwrite=True)
    ctx.runs["snn_kd"] = student
    s = student.summary
    ctx.summary["snn_kd"] = {**_run_entry(student), "method": s["method"], "teacher_test_acc": s["teacher_test_acc"]}
    ctx.rows.append(["snn_kd", "snn", f"KD {s['method']} (events)", T, s["test_acc"], s["train_seconds"]])
    with _step(ctx, "stream", "streaming the test set through the float SNN"):
        ctx.summary["stream"] = stream_test_set(student.model, ctx.splits, ctx.out_dir)
    for stage in EXPORT_STAGES:
        with _step(ctx, stage.__name__.removeprefix("stage_"), stage.__module__):
            stage(ctx)
    with _step(ctx, "stream_fixed", "streaming the test set through the Loihi 2 fixed-point network"):
        ctx.summary["stream_fixed"] = stream_test_set(ctx.summary["lava"]["path"], ctx.splits, ctx.out_dir,
                                                      backend="loihi-fixed")
    ctx.rows.append(["snn_kd streamed (Loihi 2 fixed point)", "snn", "loihi-fixed backend", T,
                     ctx.summary["stream_fixed"]["stream_acc"], "-"])
    ctx.summary["total_seconds"] = round(time.perf_counter() - t0, 1)
    ctx.summary["dvs"] = dvs_summary(ctx)
    ctx.save()
    write_text(ctx.out_dir / "results.md", markdown_table(TABLE_HEADERS, ctx.rows) + "\n")
    return ctx


def _run_entry(r) -> dict[str, Any]:
    return {"test_acc": r.summary["test_acc"], "train_seconds": r.summary["train_seconds"], "path": str(r.run_dir)}


@contextmanager
def _step(ctx, key: str, what: str) -> Iterator[None]:
    """Log a pipeline step, time it into ``summary["seconds"][key]`` and save the summary after it."""
    print(f"== dvs: {what}", file=sys.stderr)
    t0 = time.perf_counter()
    yield
    ctx.summary.setdefault("seconds", {})[key] = round(time.perf_counter() - t0, 2)
    ctx.save()


def dvs_summary(ctx) -> dict[str, Any]:
    """The headline numbers of a pipeline run (what ``neurokd demo --dvs`` stores as ``summary["dvs"]``)."""
    s = ctx.summary
    stream, fixed, hw = s["stream"], s["stream_fixed"], s["hardware"]
    return {
        "dataset": s["dataset"], "T": s["T"], "test_acc": s["snn_kd"]["test_acc"], "method": s["snn_kd"]["method"],
        "teacher_test_acc": s["teacher"]["test_acc"], "stream_acc": stream["stream_acc"],
        "events_per_s": stream["events_per_s"], "p50_window_ms": stream["p50_window_ms"],
        "p95_window_ms": stream["p95_window_ms"], "window_ms": stream["window_ms"],
        "realtime_factor": stream["realtime_factor"], "stream_file": stream["stream_file"],
        "nir_spike_equal": s["nir"]["spike_equal"], "nir_test_acc": s["nir"]["test_acc"],
        "fixed_acc": s["lava"]["fixed_acc"], "fixed_agreement": s["lava"]["agreement"],
        "lava_spike_equal": s["lava"].get("lava_spike_equal"),
        "fixed_stream_acc": fixed["stream_acc"], "fixed_events_per_s": fixed["events_per_s"],
        "fixed_p95_window_ms": fixed["p95_window_ms"],
        "synops_per_sample": hw["synops_per_sample"], "energy_uj": hw["energy_uj"], "energy_report": hw["report"],
        "folder": str(ctx.out_dir), "seconds": s["total_seconds"],
    }


def stage_dvs(ctx) -> None:
    """Demo stage: the DVS pipeline under ``<out>/dvs`` (only with ``neurokd demo --dvs``)."""
    if not ctx.dvs:
        return
    sub = run_dvs_pipeline(ctx.out_dir / "dvs", seed=ctx.seed, progress=ctx.progress)
    ctx.summary["dvs"] = sub.summary["dvs"]
    ctx.runs.update({f"dvs_{k}": r for k, r in sub.runs.items()})
    ctx.rows.extend([f"dvs_{r[0]}", *r[1:]] for r in sub.rows)
