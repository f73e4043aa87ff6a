"""Stream a DVS recording through a spiking network window by window, state carried across windows.

    python examples/python/stream_dvs.py [--epochs 4] [--window-ms 50]

Trains a small SNN on saccade-digits (the embedded DVS dataset: digits seen by a simulated event camera making
N-MNIST's three saccades), writes the test recordings as one event stream file (what a sensor would deliver) and
streams it: a prediction and its latency per window, the accuracy at the end of each recording.
"""

from __future__ import annotations

import argparse

import neurokd as nk
from neurokd.config import DataConfig
from neurokd.data import load_dataset
from neurokd.stream import read_labels, segment_accuracy, write_stream_file

T = 6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--out", default="runs")
    p.add_argument("--limit", type=int, default=60, help="test recordings to stream")
    args = p.parse_args()
    run = nk.train_snn(dataset="saccade-digits", arch="cnn", width=16, T=T, epochs=args.epochs, lr=3e-3,
                       name="ex-dvs", out_dir=args.out, overwrite=True)
    data = load_dataset(DataConfig(name="saccade-digits"), T=T)
    stream = write_stream_file(data, "test", run.run_dir / "test_stream.npy", limit=args.limit)
    report = nk.stream_events(run.model, stream.events, window_ms=stream.segment_us / T / 1000, reset_every=T)
    labels = read_labels(stream.labels)
    s = report.summary()
    print(f"{s['windows']} windows, {s['events']} events, {s['events_per_s']:.3g} events/s, "
          f"p95 window latency {s['p95_window_ms']:.2f} ms")
    print(f"accuracy at each recording's last window: {segment_accuracy(report, labels, T):.4f} "
          f"(offline test accuracy {run.summary['test_acc']:.4f} on all recordings)")


if __name__ == "__main__":
    main()
