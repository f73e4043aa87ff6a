"""Progress bars and log lines that read well in a terminal and in a log file.

A bar is drawn only when it was asked for, standard error is a terminal and ``TQDM_DISABLE`` is not set, so
``neurokd train ... 2> log`` writes no bar frames; :func:`log` lines (one per epoch, per stage) are written
always, without breaking a bar that is being drawn.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def bars_enabled(requested: bool = True) -> bool:
    """Whether a bar is drawn: asked for, stderr is a terminal, and tqdm's ``TQDM_DISABLE`` is not set."""
    if not requested or os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    return sys.stderr.isatty()


def bar(iterable: Iterable[Any] | None = None, *, desc: str, enabled: bool = True, total: int | None = None,
        unit: str = "it", leave: bool = False) -> tqdm:
    """A tqdm bar on stderr, drawn only where :func:`bars_enabled`; otherwise a silent pass-through."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, file=sys.stderr, dynamic_ncols=True,
                disable=not bars_enabled(enabled))


def log(line: str) -> None:
    """One line on stderr (flushed), printed above a bar in progress instead of through it."""
    tqdm.write(line, file=sys.stderr)
    sys.stderr.flush()
