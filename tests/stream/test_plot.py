"""``stream.png``: the latency trace stays readable next to the window-length line."""

import numpy as np
import pytest

from neurokd.stream import StreamReport, WindowResult
from neurokd.stream.plot import plot_report, report_figure


def _report(latencies_ms, window_ms=50.0) -> StreamReport:
    rep = StreamReport("torch", int(window_ms * 1000), 1, 6)
    for k, lat in enumerate(latencies_ms):
        rep.windows.append(WindowResult(k, k * rep.window_us, 100 + k % 7, 0, float(lat)))
    return rep


def _lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


@pytest.mark.parametrize("latencies", [
    np.random.default_rng(0).lognormal(np.log(0.5), 0.6, 200),  # sub-ms latency, 50 ms windows: the usual case
    np.linspace(20, 120, 50),  # falling behind: latency grows past the window length
])
def test_latency_trace_spans_its_axes_and_every_line_is_inside(latencies):
    fig = report_figure(_report(latencies))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[1]
    box = ax.get_window_extent(renderer)
    lines = _lines(ax)
    ys = ax.transData.transform(lines["latency"].get_xydata())[:, 1]
    # a linear axis up to the 50 ms window line left sub-ms latencies on < 6% of the height, flat on zero
    assert (ys.max() - ys.min()) / box.height > 0.25
    for line in lines.values():
        y = ax.transData.transform(line.get_xydata())[:, 1]
        assert (y > box.y0).all() and (y < box.y1).all(), line.get_label()
    legend = ax.get_legend().get_window_extent(renderer)
    pts = ax.transData.transform(lines["latency"].get_xydata())
    covered = ((pts[:, 0] > legend.x0) & (pts[:, 0] < legend.x1) & (pts[:, 1] > legend.y0) & (pts[:, 1] < legend.y1))
    assert not covered.any()
    assert any(label.startswith("window length 50 ms") for label in lines)


def test_png_is_written(tmp_path):
    plot_report(_report([0.4, 0.5, 8.0]), tmp_path / "stream.png")
    assert (tmp_path / "stream.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot_report(_report([]), tmp_path / "empty.png")  # a stream that stopped before its first window
    assert (tmp_path / "empty.png").is_file()
