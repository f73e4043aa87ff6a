"""Fixed-window streaming: cut a time-sorted event stream into windows, bin each, run the backend statefully.

Window ``k`` holds the events with ``origin + k*window_us <= t < origin + (k+1)*window_us`` and is binned into
``steps`` frames (the SNN runs ``steps`` time steps per window; ``steps=1`` and ``window_us`` = the training
bin length reproduce the training frames). Network state carries across windows and is cleared every
``reset_every`` windows (0: never). The prediction of a window is the argmax of the mean logits since the last
reset. Latency of a window: from the moment it is available (its last event read; or, when replaying in real
time, its end time on the wall clock) to its prediction (binning + inference, plus any wait behind earlier
windows). A source that turns out corrupt mid-stream ends the stream cleanly: the report keeps the windows
processed so far and says why it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurokd.data.events.core import EVENT_DTYPE, SensorSize
from neurokd.data.events.transforms import to_frames
from neurokd.errors import UserError


@dataclass
class WindowResult:
    index: int
    t_start_us: int
    events: int
    pred: int
    latency_ms: float


@dataclass
class StreamReport:
    backend: str
    window_us: int
    steps: int
    reset_every: int
    windows: list[WindowResult] = field(default_factory=list)
    wall_s: float = 0.0
    stopped: str | None = None  # why the stream ended early (corrupt input), None when it ran to the end

    @property
    def events(self) -> int:
        return sum(w.events for w in self.windows)

    def summary(self) -> dict[str, Any]:
        lat = np.array([w.latency_ms for w in self.windows]) if self.windows else np.zeros(1)
        span_s = len(self.windows) * self.window_us * 1e-6
        return {
            "backend": self.backend, "window_ms": self.window_us / 1000, "steps_per_window": self.steps,
            "reset_every": self.reset_every, "windows": len(self.windows), "events": self.events,
            "stream_seconds": round(span_s, 6), "wall_seconds": round(self.wall_s, 6),
            "events_per_s": self.events / self.wall_s if self.wall_s > 0 else 0.0,
            "realtime_factor": span_s / self.wall_s if self.wall_s > 0 else 0.0,
            "p50_window_ms": float(np.percentile(lat, 50)), "p95_window_ms": float(np.percentile(lat, 95)),
            "max_window_ms": float(lat.max()), "stopped": self.stopped,
        }

    def predictions(self) -> np.ndarray:
        return np.array([w.pred for w in self.windows], dtype=np.int64)


def split_windows(chunks: Iterable[np.ndarray], window_us: int, origin_us: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(k, events of window k)`` for every window from ``origin`` to the last event, empty ones included."""
    pending: list[np.ndarray] = []
    k = 0
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        pending.append(chunk)
        buf = np.concatenate(pending) if len(pending) > 1 else pending[0]
        t = buf["t"]
        last = int(t[-1])
        lo = 0
        # a window is complete once an event at or after its end has arrived (events are sorted)
        while last >= origin_us + (k + 1) * window_us:
            hi = int(np.searchsorted(t, origin_us + (k + 1) * window_us, side="left"))
            yield k, buf[lo:hi]
            lo, k = hi, k + 1
        pending = [buf[lo:]]
    buf = np.concatenate(pending) if pending else None
    if buf is not None and len(buf):
        yield k, buf


def run_stream(chunks: Iterable[np.ndarray], backend, sensor_size: SensorSize, window_us: int, steps: int = 1,
               reset_every: int = 0, origin_us: int = 0,
               on_window: Callable[[WindowResult], None] | None = None, pace: bool = False,
               max_batch: int = 1) -> StreamReport:
    """Stream ``chunks`` through ``backend``; see the module docstring for the semantics.

    ``pace``: replay in real time (window ``k`` becomes available ``(k+1) * window`` after the start, as from a
    live sensor) instead of as fast as possible. ``max_batch``: when several windows are already available
    (the stream is ahead of the network), run up to this many in one backend call (their ``steps`` follow each
    other; state and predictions are exactly as one by one); latency is still measured per window, from its
    availability to its prediction.
    """
    if window_us < steps or steps < 1:
        raise UserError(f"stream window of {window_us} us cannot hold {steps} time steps")
    if max_batch < 1:
        raise UserError(f"max_batch must be >= 1, got {max_batch}")
    bin_us = window_us // steps
    report = StreamReport(getattr(backend, "name", type(backend).__name__), window_us, steps, reset_every)
    # warm-up outside the clock: the first binning (imports tonic) and backend call pay one-off set-up costs
    backend.step(to_frames(np.zeros(0, EVENT_DTYPE), sensor_size, steps, bin_us))
    backend.reset()
    acc = np.zeros(backend.num_classes, dtype=np.float64)
    t_begin = time.perf_counter()
    windows = split_windows(chunks, window_us, origin_us)
    ahead: tuple[int, np.ndarray, float] | None = None

    def next_window() -> tuple[int, np.ndarray, float] | None:
        item = next(windows, None)
        if item is None:
            return None
        k, ev = item
        return k, ev, (t_begin + (k + 1) * window_us * 1e-6) if pace else time.perf_counter()

    try:
        while True:
            first = ahead or next_window()
            ahead = None
            if first is None:
                break
            if pace:
                _sleep_until(first[2])
            batch = [first]
            while len(batch) < max_batch and not (reset_every and (batch[-1][0] + 1) % reset_every == 0):
                ahead = next_window()
                if ahead is None or ahead[0] != batch[-1][0] + 1 or ahead[2] > time.perf_counter():
                    break
                batch.append(ahead)
                ahead = None
            k0 = batch[0][0]
            ev = batch[0][1] if len(batch) == 1 else np.concatenate([b[1] for b in batch])
            frames = to_frames(ev, sensor_size, steps * len(batch), bin_us, origin_us + k0 * window_us)
            logits = backend.step(frames)
            preds = []
            for i, (k, _ev, _avail) in enumerate(batch):
                acc += logits[i * steps:(i + 1) * steps].sum(0)
                preds.append(int(np.argmax(acc)))
                if reset_every and (k + 1) % reset_every == 0:
                    acc[:] = 0
            done = time.perf_counter()
            for (k, wev, avail), pred in zip(batch, preds):
                res = WindowResult(k, origin_us + k * window_us, len(wev), pred, (done - avail) * 1e3)
                report.windows.append(res)
                if on_window is not None:
                    on_window(res)
            if reset_every and (batch[-1][0] + 1) % reset_every == 0:
                backend.reset()
    except UserError as e:
        report.stopped = str(e)
    report.wall_s = time.perf_counter() - t_begin
    return report


def _sleep_until(t: float) -> None:
    delay = t - time.perf_counter()
    if delay > 0:
        time.sleep(delay)


def segment_accuracy(report: StreamReport, labels: list[int] | np.ndarray, windows_per_segment: int) -> float | None:
    """Accuracy of the prediction at the last window of each segment (a segment = one labelled recording)."""
    preds = report.predictions()
    ends = np.arange(windows_per_segment - 1, len(preds), windows_per_segment)
    labels = np.asarray(labels)[: len(ends)]
    if len(labels) == 0:
        return None
    return float((preds[ends[: len(labels)]] == labels).mean())
