"""Event files that lie about their events: coordinates or polarities stored in wider integers whose values wrap,
on the cast to neurokd's ``int16``/``int8`` fields, onto valid ones (x = 65539 would become 3, inside the
sensor), and recordings truncated while they are streamed. Each must end in one error line, never a silently
wrong stream or a SIGBUS."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.harness import feed

FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SENSOR = 8  # the good SNN's input is 1x8x8: events with x, y < 8 and p = 0 stream
WIDE = {"x": ["<i4", "<u4", "<i8", "<u8", "<f8"], "y": ["<i4", "<u4", "<i8", "<u8", "<f8"],
        "p": ["<i2", "<u2", "<i4", "<i8", "<f4"]}


def _events(n: int, dtypes: dict[str, str]) -> np.ndarray:
    dt = np.dtype([("x", dtypes.get("x", "<u2")), ("y", dtypes.get("y", "<u2")), ("t", "<i8"),
                   ("p", dtypes.get("p", "u1"))])
    ev = np.zeros(n, dt)
    ev["x"], ev["y"] = np.arange(n) % SENSOR, (np.arange(n) // SENSOR) % SENSOR
    ev["t"] = np.arange(n) * 10
    return ev


@FUZZ
@given(field=st.sampled_from(sorted(WIDE)), data=st.data())
def test_wide_integers_that_would_wrap_onto_valid_values(good, field, data):
    dtype = data.draw(st.sampled_from(WIDE[field]))
    ev = _events(200, {field: dtype})
    bits = 8 if field == "p" else 16
    land = data.draw(st.integers(0, 0 if field == "p" else SENSOR - 1))  # where the wrapped value would land
    hi = np.iinfo(dtype).max if np.dtype(dtype).kind in "iu" else 2**52
    m = data.draw(st.integers(1, max(1, (hi - land) >> bits)))
    i = data.draw(st.integers(0, len(ev) - 1))
    ev[field][i] = land + (m << bits)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        np.save(d / "ev.npy", ev)
        _code, err = feed("events", ["stream", good["snn"], "--events", d / "ev.npy", "--window-ms", "1"], [d])
        assert "does not fit" in err and f"event {i}" in err, err


@FUZZ
@given(after=st.integers(1, 5), cut=st.floats(0.0, 0.999), data=st.data())
def test_recordings_truncated_while_streaming(good, after, cut, data, monkeypatch):
    """The file shrinks after the ``after``-th window (as when a recorder or a sync rewrites it): the chunks not
    yet read are gone; the stream must stop with an error line, having reported the windows before."""
    import neurokd.registry

    ev = _events(200_000, {})  # several read chunks (65536 events each)
    with tempfile.TemporaryDirectory() as d, monkeypatch.context() as m:
        d = Path(d)
        path = d / "ev.npy"
        np.save(path, ev)
        size = path.stat().st_size
        make = neurokd.registry.make_backend

        def truncating_backend(*args, **kwargs):
            backend = make(*args, **kwargs)
            step, calls = backend.step, [0]

            def truncate_then_step(frames):
                calls[0] += 1
                if calls[0] == after + 1:  # the first call is the runner's warm-up
                    with open(path, "r+b") as fh:
                        fh.truncate(int(size * cut))
                return step(frames)

            backend.step = truncate_then_step
            return backend

        m.setattr(neurokd.registry, "make_backend", truncating_backend)
        _code, err = feed("events", ["stream", good["snn"], "--events", path, "--window-ms", "10"], [d],
                          timeout=300)
        assert "truncated" in err and "stream stopped after" in err, err
