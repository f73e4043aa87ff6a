"""Matplotlib figures through its object API: every plot neurokd draws is made and saved here.

A :class:`matplotlib.figure.Figure` with its own Agg canvas never touches pyplot's global state: the backend of
the user's session (a Jupyter inline or a GUI backend) stays what it was, and no figure is left open in
pyplot's registry. So plot code never calls ``matplotlib.use`` nor ``pyplot``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from neurokd.io import write_bytes


def new_figure(**kwargs: Any):
    """A :class:`~matplotlib.figure.Figure` (``figsize=...`` etc.) drawn by its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig, dpi: int = 110) -> bytes:
    """``fig`` as PNG bytes, for outputs written together (:func:`neurokd.io.write_files`)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def save_png(fig, path: str | Path, dpi: int = 110) -> None:
    """Write ``fig`` as a PNG at ``path`` (atomically)."""
    write_bytes(path, png_bytes(fig, dpi))


__all__ = ["new_figure", "png_bytes", "save_png"]
