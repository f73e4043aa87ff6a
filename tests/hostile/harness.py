"""Feed one hostile input through the real CLI (``neurokd.cli.main`` in-process) and check how it ends.

A case passes when the command ends with exit code 2 and exactly one line ``neurokd...: error: ...`` on stderr,
no traceback, and no new file or folder in the watched folders (nothing partial left behind). An exception out
of ``main`` is a crash: the test fails with its traceback. Every case is counted (see conftest.py).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
from collections import Counter
from pathlib import Path

import numpy as np

from neurokd.cli import main

COUNTS: Counter[str] = Counter()  # kind of input -> cases tried
ACCEPTED: Counter[str] = Counter()  # kind of input -> cases that turned out valid (may_succeed, exit 0)


def _snapshot(folders: list[Path]) -> set[str]:
    found = set()
    for folder in folders:
        if folder.exists():
            for root, dirs, files in os.walk(folder):
                found.update(os.path.join(root, n) for n in dirs + files)
    return found


class Hung(Exception):
    """A case ran past its time limit (a read that blocks for ever, an endless loop)."""


@contextlib.contextmanager
def time_limit(seconds: int | None):
    """Raise :class:`Hung` in the main thread after ``seconds`` (None: no limit)."""
    if not seconds:
        yield
        return

    def alarm(_signum, _frame):
        raise Hung(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def feed(kind: str, argv: list[str], watch: list[Path], *, may_succeed: bool = False,
         timeout: int | None = None) -> tuple[int, str]:
    """Run ``neurokd argv``; returns ``(exit code, stderr)`` after the checks above.

    ``may_succeed``: the input may happen to be valid (e.g. a random byte flip inside tensor data); then exit 0 is
    accepted too (still without a traceback), and new files are allowed. ``timeout``: seconds after which the
    case fails as hung (for inputs that could block a read for ever).
    """
    COUNTS[kind] += 1
    before = _snapshot(watch)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), time_limit(timeout):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse's own usage errors
            code = e.code if isinstance(e.code, int) else 2
    text = err.getvalue()
    assert "Traceback" not in text, text
    if may_succeed and code == 0:
        ACCEPTED[kind] += 1
        return code, text
    assert code == 2, f"neurokd {' '.join(map(str, argv))}: exit code {code}, stderr: {text!r}"
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("neurokd: skipping unreadable")]
    assert len(lines) == 1 and ": error: " in lines[0], f"not one error line: {text!r}"
    assert len(lines[0]) < 600, lines[0]
    new = _snapshot(watch) - before
    assert not new, f"neurokd {' '.join(map(str, argv))} left {sorted(new)} behind after: {lines[0]}"
    return code, text


def event_file(path: Path, n: int = 20, step_us: int = 100, last_t: int | None = None) -> Path:
    """A valid structured event ``.npy`` (uint16 x/y, uint8 p) of ``n`` events ``step_us`` apart, x cycling over
    the good SNN's 8 columns; ``last_t`` moves the last event."""
    ev = np.zeros(n, np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")]))
    ev["x"], ev["t"] = np.arange(n) % 8, np.arange(n) * step_us
    if last_t is not None:
        ev["t"][-1] = last_t
    np.save(path, ev)
    return path
