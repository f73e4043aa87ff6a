"""PNG of a stream report: events per window and per-window latency over the stream."""

from __future__ import annotations

import numpy as np

from neurokd.io import figure_png
from neurokd.stream.runner import StreamReport


def report_png(report: StreamReport) -> bytes:
    """PNG of two panels over stream time (s): events per window, and latency (ms) with its p95 line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array([w.t_start_us for w in report.windows]) * 1e-6
    lat = np.array([w.latency_ms for w in report.windows])
    n = np.array([w.events for w in report.windows])
    fig, (a, b) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    a.plot(t, n, lw=0.8)
    a.set_ylabel("events / window")
    b.plot(t, lat, lw=0.8, label="latency")
    if len(lat):
        b.axhline(np.percentile(lat, 95), color="C3", ls="--", lw=1, label=f"p95 {np.percentile(lat, 95):.2f} ms")
    b.axhline(report.window_us / 1000, color="k", ls=":", lw=1, label="window length")
    b.set_ylabel("latency (ms)")
    b.set_xlabel("stream time (s)")
    b.legend(loc="upper right", fontsize=8)
    fig.suptitle(f"neurokd stream ({report.backend}, {report.window_us / 1000:g} ms windows)")
    fig.tight_layout()
    return figure_png(fig, dpi=110)
