"""``neurokd stream MODEL --events FILE``: run a trained SNN over an event stream in fixed time windows."""

from __future__ import annotations

import argparse
import json
import math
import os

from neurokd.cli.common import add_json_argument, emit_json


def register(sub) -> None:
    text = "stream an event file through a trained SNN in fixed time windows (prediction + latency per window)"
    p = sub.add_parser("stream", help=text, description=text)
    p.add_argument("model", metavar="MODEL",
                   help="SNN run folder, model.safetensors or checkpoint; or a Loihi 2 .net / .lava file (loihi-fixed)")
    p.add_argument("--events", required=True, metavar="FILE",
                   help="event file: .npy (structured x, y, t, p), .bin (N-MNIST) or .aedat4")
    p.add_argument("--window-ms", type=float, default=None,
                   help="window length (default: the model's training bin length, from its run folder)")
    p.add_argument("--steps-per-window", type=int, default=1, help="SNN time steps per window")
    p.add_argument("--reset-every", type=int, default=None,
                   help="clear the network state every N windows (default: the training T; 0 = never)")
    p.add_argument("--backend", default=None,
                   help="stream backend: torch (float SNN, the default) or loihi-fixed (the Loihi 2 fixed-point "
                        "network on the bit-accurate NumPy model; the default for a .net / .lava MODEL)")
    p.add_argument("--input-max", type=float, default=None,
                   help="loihi-fixed from a float model: largest event count per pixel and bin, sets the input "
                        "quantization (default: measured on the run folder's training split)")
    p.add_argument("--realtime", action="store_true",
                   help="replay the file in real time (windows arrive at their end time, as from a sensor)")
    p.add_argument("--max-batch", type=int, default=1,
                   help="run up to N windows that are already waiting in one call (catch-up; same predictions)")
    p.add_argument("--labels", metavar="FILE", default=None,
                   help="JSON list of labels, one per segment of --reset-every windows: reports accuracy")
    add_json_argument(p, "the full report (summary and every window)")
    p.add_argument("--plot", metavar="PNG", default=None, help="plot events and latency per window")
    p.add_argument("--print-windows", action="store_true", help="print one JSON line per window")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for inference (default 1: batch-one windows of a small SNN run fastest so)")
    p.set_defaults(func=run)


def _training_defaults(model_path: str) -> dict:
    """Sensor size, bin length and T the model was trained with, when its run folder says so."""
    from neurokd.data.events import INFO
    from neurokd.errors import UserError
    from neurokd.runs import Run

    try:
        run = Run.open(model_path)
        cfg = run.config if run.has_config else None
    except UserError:
        return {}
    if cfg is None:
        return {}
    info = INFO.get(cfg.data.name)
    if info is None:
        return {}
    T = cfg.data.time_bins or cfg.model.T
    bin_us = int(round(cfg.data.bin_ms * 1000)) if cfg.data.bin_ms else info.duration_us // T
    return {"sensor_size": info.sensor_size, "window_us": bin_us, "T": T}


def _training_input_max(model_path: str) -> float:
    """Largest event count in one pixel and bin over the training split of the model's run folder."""
    import numpy as np

    from neurokd.errors import UserError
    from neurokd.runs import Run

    if not _training_defaults(model_path):
        raise UserError(f"{model_path} is not a run folder trained on an event dataset: give --input-max (the "
                        "largest event count per pixel and bin) to quantize it for --backend loihi-fixed")
    run = Run.open(model_path)
    train = run.split("train", T=run.config.model.T).dataset
    return float(max(np.abs(train.frames(i)).max() for i in range(len(train))))


def run(args: argparse.Namespace) -> int:
    from neurokd.errors import UserError
    from neurokd.io import json_text, write_files
    from neurokd.registry import make_backend
    from neurokd.runs import Run
    from neurokd.stream import open_events, read_labels, run_stream, segment_accuracy
    from neurokd.tables import markdown_table

    if args.steps_per_window < 1 or args.max_batch < 1 or args.threads < 1:
        raise UserError("--steps-per-window, --max-batch and --threads must be >= 1")
    most = 4 * (os.cpu_count() or 1)  # beyond this, threads only wait (and torch may not survive a million)
    if args.threads > most:
        raise UserError(f"--threads {args.threads}: this machine has {os.cpu_count()} CPUs; use at most {most}")
    if args.window_ms is not None and not 0 < args.window_ms < float("inf"):
        raise UserError(f"--window-ms must be a positive number of milliseconds, got {args.window_ms}")
    if args.model.endswith((".net", ".lava")):
        if args.backend not in (None, "loihi-fixed"):
            raise UserError(f"{args.model} is a Loihi 2 network file: stream it with --backend loihi-fixed")
        backend = make_backend("loihi-fixed", args.model, threads=args.threads)
    else:
        name = args.backend or "torch"
        options = {"threads": args.threads}
        if name == "loihi-fixed":
            options["input_max"] = args.input_max if args.input_max is not None else _training_input_max(args.model)
        backend = make_backend(name, Run.open(args.model).model(), **options)
    defaults = _training_defaults(args.model)
    P, H, W = backend.input_shape
    sensor = defaults.get("sensor_size", (W, H, P))
    if args.window_ms is not None:
        window_us = int(round(args.window_ms * 1000))
    elif "window_us" in defaults:
        window_us = defaults["window_us"] * args.steps_per_window
    else:
        raise UserError(f"{args.model} is not a run folder trained on an event dataset; give --window-ms")
    trained_T = defaults.get("T", getattr(backend, "T", 0))  # a .net file records its T
    reset_every = args.reset_every if args.reset_every is not None else trained_T // args.steps_per_window
    if reset_every < 0 or args.steps_per_window < 1:
        raise UserError("--reset-every must be >= 0 and --steps-per-window >= 1")
    horizon = getattr(backend, "T", None)  # loihi-fixed: the readout membrane's range covers T steps
    if horizon and not 0 < reset_every * args.steps_per_window <= horizon:
        raise UserError(f"--backend loihi-fixed integrates its readout for at most the exported T={horizon} steps:"
                        f" give --reset-every between 1 and {horizon // args.steps_per_window}")
    labels = read_labels(args.labels, backend.num_classes) if args.labels else None
    source = open_events(args.events, sensor)
    first = source.first_t or 0
    origin = 0 if first < window_us else first  # recordings on their own clock start at 0; absolute clocks at t0
    _check_resources(args, backend, source, origin, window_us)

    def show(w):
        print(json.dumps(w.__dict__), flush=True)

    report = run_stream(source, backend, sensor, window_us, args.steps_per_window, reset_every, origin,
                        on_window=show if args.print_windows else None, pace=args.realtime,
                        max_batch=args.max_batch)
    summary = report.summary()
    if labels is not None and reset_every:
        summary["accuracy"] = segment_accuracy(report, labels, reset_every)
    keys = ["windows", "events", "events_per_s", "realtime_factor", "p50_window_ms", "p95_window_ms"]
    if args.realtime:
        summary["backlog_seconds"] = round(summary["wall_seconds"] - summary["stream_seconds"], 6)
        keys.append("backlog_seconds")
    keys += ["accuracy"] if "accuracy" in summary else []
    payload = {"summary": summary, "windows": [w.__dict__ for w in report.windows]}
    files: dict[str, str | bytes] = {}  # --plot and a --json FILE are written together, all or nothing
    if args.plot:
        from neurokd.plotting import png_bytes
        from neurokd.stream.plot import report_figure

        files[args.plot] = png_bytes(report_figure(report), dpi=110)
    if args.json not in (None, "-"):
        files[args.json] = json_text(payload)
    write_files(files)
    if not emit_json("-" if args.json == "-" else None, payload):
        print(markdown_table(keys, [[summary[k] for k in keys]]))
    if report.stopped:
        raise UserError(f"{report.stopped} (the stream stopped after {len(report.windows)} windows, reported above)")
    return 0


def _check_resources(args: argparse.Namespace, backend, source, origin: int, window_us: int) -> None:
    """Refuse up front a stream with more windows than the limit, or windows whose frames (``steps`` per
    window, up to ``max_batch`` windows per call) cannot fit in memory (:mod:`neurokd.limits`)."""
    from neurokd.limits import check_count, check_memory

    if len(source):
        windows = (source.last_t - origin) // window_us + 1
        check_count(windows, "windows", f"--events {args.events} in {window_us / 1000:g} ms windows: events from "
                    f"t={source.first_t} to {source.last_t} us make {windows:,} windows (at >= 0.1 ms each, "
                    f">= {windows * 1e-4 / 3600:.3g} hours)", "use longer windows (--window-ms) or a shorter "
                    "recording")
    steps = args.steps_per_window * args.max_batch
    frame_bytes = 4 * math.prod(int(d) for d in backend.input_shape)  # float32 frames: binned, then fed to the network
    check_memory(3 * steps * frame_bytes, f"--steps-per-window {args.steps_per_window} x --max-batch "
                 f"{args.max_batch} frames of {'x'.join(map(str, backend.input_shape))}", "use fewer steps per window")
    spec = getattr(getattr(backend, "model", None), "spec", None)
    if spec is not None:
        from neurokd.guard import check_inference

        check_inference(spec, steps, 1, f"--steps-per-window {args.steps_per_window} x --max-batch {args.max_batch}")

