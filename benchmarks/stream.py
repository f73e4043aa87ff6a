"""Streaming throughput and latency: the digits-size SNN over a dense saccade-digits event stream on CPU.

The saccade-digits test recordings are concatenated (one recording per 300 ms, ~15k events/s) and the clock is
compressed so the stream arrives at ``rate`` events/s (1e6 and 4e6 by default). The stream is cut into fixed
windows (1 ms and 10 ms), each binned into one frame and run through the ``cnn`` SNN (width 16, 2x34x34 input,
BatchNorm folded, state carried across windows) with the ``torch`` backend. Per case: processed events/s
(events / wall time of the whole loop, binning and inference included), realtime factor (stream time / wall
time; >= 1 keeps up), and p50/p95 window latency (ms, from the window's last event to its prediction).
``keeps_up`` = realtime factor >= 1 and p95 latency <= window length. The weights are a seeded random init:
throughput does not depend on them (dense CPU kernels). Writes ``benchmarks/results/stream.json``.

    python benchmarks/stream.py [--quick] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
import torch

from neurokd.config import DataConfig
from neurokd.data import load_dataset
from neurokd.data.events import INFO
from neurokd.io import write_json
from neurokd.models import ModelSpec, build_model
from neurokd.stream import EventSource, make_backend, run_stream
from neurokd.stream.source import concat_recordings
from neurokd.tables import markdown_table

RESULTS = Path(__file__).parent / "results" / "stream.json"


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter streams")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sensor = INFO["saccade-digits"].sensor_size
    spec = ModelSpec(arch="cnn", kind="snn", T=1, width=16, num_classes=10, input_shape=[2, sensor[1], sensor[0]])
    model = build_model(spec).eval()
    n_rec = 60 if args.quick else 360
    rows, cases = [], []
    for rate in (1e6, 4e6):
        ev = dense_stream(n_rec, rate)
        for window_ms in (1.0, 10.0):
            window_us = int(window_ms * 1000)
            backend = make_backend("torch", model, threads=args.threads)
            run_stream(EventSource(ev[: len(ev) // 20], sensor), backend, sensor, window_us)  # warm-up
            rep = run_stream(EventSource(ev, sensor), backend, sensor, window_us)
            s = rep.summary()
            keeps_up = s["realtime_factor"] >= 1.0 and s["p95_window_ms"] <= window_ms
            case = {"input_rate": rate, "window_ms": window_ms, "keeps_up": keeps_up,
                    **{k: s[k] for k in ("windows", "events", "events_per_s", "realtime_factor",
                                         "p50_window_ms", "p95_window_ms", "max_window_ms")}}
            cases.append(case)
            rows.append([f"{rate:.0e}", window_ms, s["windows"], s["events_per_s"], s["realtime_factor"],
                         s["p50_window_ms"], s["p95_window_ms"], keeps_up])
    print(markdown_table(["input ev/s", "window ms", "windows", "processed ev/s", "realtime x", "p50 ms",
                          "p95 ms", "keeps up"], rows))
    write_json(RESULTS, {
        "benchmark": "stream", "model": "cnn width 16, 2x34x34, T=1 step per window, BN folded",
        "backend": "torch", "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
        "quick": args.quick, "cases": cases,
        "keeps_up_1e6": all(c["keeps_up"] for c in cases if c["input_rate"] == 1e6),
    })
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
