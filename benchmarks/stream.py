"""Streaming throughput and latency: the digits-size SNN over a dense saccade-digits event stream on CPU.

The saccade-digits test recordings are concatenated (one recording per 300 ms, ~15k events/s) and the clock is
compressed so the stream arrives at ``rate`` events/s (1e6 and 4e6). The stream is cut into fixed windows
(1 ms and 10 ms), each binned into one frame and run through the ``cnn`` SNN (width 16, 2x34x34 input,
BatchNorm folded, state carried across windows) with the ``torch`` backend (float) and the ``loihi-fixed``
backend (the same network quantized to Loihi 2's fixed point, calibrated on the stream's first 100 windows, run by
the bit-accurate NumPy model). Two runs per case:

- as fast as possible, one window per call: ``max ev/s`` (events / wall time of the whole loop: reading,
  windowing, binning, inference) and the per-window processing time p50/p95;
- live: replayed in real time (window k is available at its end time on the wall clock, as from a sensor),
  windows that queued up while the network was busy run together (up to 16): latency p50/p95 from a window's
  availability to its prediction, and the backlog (how long after the stream's end the last prediction came).
  ``keeps_up`` = backlog <= 0.1 s.

Each case runs with 1 and 2 threads (torch's, or BLAS's for loihi-fixed; the machine's 2 cores); the load average
is recorded, since a shared machine inflates tail latencies. The weights are a seeded random init:
throughput does not depend on them (dense CPU kernels). Writes ``benchmarks/results/stream.json``.

    python benchmarks/stream.py [--quick] [--threads 2] [--backends torch loihi-fixed]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from neurokd.config import DataConfig
from neurokd.data import load_dataset
from neurokd.data.events import INFO
from neurokd.data.events.transforms import to_frames
from neurokd.io import write_json
from neurokd.models import ModelSpec, build_model
from neurokd.registry import make_backend
from neurokd.stream import EventSource, run_stream
from neurokd.stream.source import concat_recordings
from neurokd.tables import markdown_table

RESULTS = Path(__file__).parent / "results" / "stream.json"
MAX_BATCH = 16  # live replay: windows that queued up while the network was busy run in one call
BACKLOG_S = 0.1  # keeps up: the last prediction comes at most this long after the stream ends
CALIBRATION_WINDOWS = 100


def dense_stream(n_recordings: int, rate: float) -> np.ndarray:
    """Saccade-digits test recordings back to back, clock compressed to ``rate`` events/s."""
    splits = load_dataset(DataConfig(name="saccade-digits", frame_cache=False), T=1)
    test = splits.test
    duration = INFO["saccade-digits"].duration_us
    ev = concat_recordings([test.events(i % len(test)) for i in range(n_recordings)], duration)
    natural = len(ev) / (n_recordings * duration * 1e-6)
    ev = ev.copy()
    ev["t"] = (ev["t"] * (natural / rate)).astype(np.int64)
    return ev


def make_stream_backend(name: str, model, threads: int, ev: np.ndarray, sensor, window_us: int):
    """The backend ``name`` for ``model``; loihi-fixed is calibrated on the first ``CALIBRATION_WINDOWS`` windows."""
    if name != "loihi-fixed":
        return make_backend(name, model, threads=threads)
    calibration = to_frames(ev, sensor, CALIBRATION_WINDOWS, window_us).astype(np.float32)
    return make_backend(name, model, threads=threads, calibration=calibration)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter streams")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to compare")
    ap.add_argument("--backends", nargs="+", choices=["torch", "loihi-fixed"], default=["torch", "loihi-fixed"])
    args = ap.parse_args()
    torch.manual_seed(0)
    sensor = INFO["saccade-digits"].sensor_size
    spec = ModelSpec(arch="cnn", kind="snn", T=1, width=16, num_classes=10, input_shape=[2, sensor[1], sensor[0]])
    model = build_model(spec).eval()
    n_rec = 60 if args.quick else 360
    rows, cases = [], []
    streams = {rate: dense_stream(n_rec, rate) for rate in (1e6, 4e6)}
    for name, rate, window_ms, threads in itertools.product(args.backends, streams, (1.0, 10.0), args.threads):
        ev = streams[rate]
        window_us = int(window_ms * 1000)
        with threadpool_limits(None):  # restores the BLAS threads loihi-fixed sets
            backend = make_stream_backend(name, model, threads, ev, sensor, window_us)
            run_stream(EventSource(ev[: len(ev) // 20], sensor), backend, sensor, window_us)  # warm-up
            fast = run_stream(EventSource(ev, sensor), backend, sensor, window_us).summary()
            live = run_stream(EventSource(ev, sensor), backend, sensor, window_us, pace=True,
                              max_batch=MAX_BATCH).summary()
            backlog_s = live["wall_seconds"] - live["stream_seconds"]
            keeps_up = backlog_s <= BACKLOG_S
            cases.append({
                "backend": name, "input_rate": rate, "window_ms": window_ms, "threads": threads, "events": fast["events"],
                "windows": fast["windows"], "events_per_s": fast["events_per_s"],
                "window_ms_p50": fast["p50_window_ms"], "window_ms_p95": fast["p95_window_ms"],
                "live_latency_ms_p50": live["p50_window_ms"], "live_latency_ms_p95": live["p95_window_ms"],
                "live_latency_ms_max": live["max_window_ms"], "live_backlog_s": backlog_s, "keeps_up": keeps_up,
            })
            rows.append([name, f"{rate:.0e}", window_ms, threads, fast["events_per_s"], fast["p50_window_ms"],
                         fast["p95_window_ms"], live["p50_window_ms"], live["p95_window_ms"], backlog_s,
                         keeps_up])
    print(markdown_table(["backend", "input ev/s", "window ms", "threads", "max ev/s", "p50 ms", "p95 ms", "live p50 ms",
                          "live p95 ms", "backlog s", "keeps up"], rows))
    write_json(RESULTS, {
        "benchmark": "stream", "model": "cnn width 16, 2x34x34, T=1 step per window, BN folded",
        "backends": args.backends, "threads": args.threads, "load_average": list(os.getloadavg()),
        "torch": torch.__version__, "machine": platform.machine(), "quick": args.quick, "cases": cases,
        "keeps_up_1e6": {b: {t: all(c["keeps_up"] for c in cases
                                    if c["backend"] == b and c["input_rate"] == 1e6 and c["threads"] == t)
                             for t in args.threads} for b in args.backends},
    })
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
