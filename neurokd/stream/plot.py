"""PNG of a stream report: events per window and per-window latency over the stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurokd.plotting import new_figure, save_png
from neurokd.stream.runner import StreamReport


def report_figure(report: StreamReport):
    """Two panels over stream time (s): events per window, and latency (ms) with its p95 and the window length.

    The latency axis is logarithmic: a window is typically tens of ms and its latency well under one, so on a
    linear axis the window line would flatten the latency trace onto zero; on the log axis both stay readable
    and the gap between them is the real-time headroom.
    """
    t = np.array([w.t_start_us for w in report.windows]) * 1e-6
    lat = np.array([w.latency_ms for w in report.windows])
    n = np.array([w.events for w in report.windows])
    window_ms = report.window_us / 1000
    fig = new_figure(figsize=(8, 5))
    a, b = fig.subplots(2, 1, sharex=True)
    a.plot(t, n, lw=0.8)
    a.set_ylabel("events / window")
    b.plot(t, lat, lw=0.8, label="latency")
    if len(lat):
        p95 = float(np.percentile(lat, 95))
        b.axhline(p95, color="C3", ls="--", lw=1, label=f"p95 {p95:.3g} ms")
    b.axhline(window_ms, color="k", ls=":", lw=1, label=f"window length {window_ms:g} ms")
    b.set_yscale("log")
    positive = lat[lat > 0]
    low = float(positive.min()) if len(positive) else window_ms / 100
    # a decade of headroom above the highest line holds the legend clear of every line
    b.set_ylim(min(low, window_ms) / 2, max(float(lat.max(initial=0.0)), window_ms) * 10)
    b.set_ylabel("latency (ms, log)")
    b.set_xlabel("stream time (s)")
    b.legend(loc="upper right", fontsize=8, ncol=3)
    fig.suptitle(f"neurokd stream ({report.backend}, {window_ms:g} ms windows)")
    fig.tight_layout()
    return fig


def plot_report(report: StreamReport, path: str | Path) -> None:
    """Write :func:`report_figure` as a PNG (atomically)."""
    save_png(report_figure(report), path, dpi=110)
