"""Matplotlib figures through its object API: every plot neurokd draws is made and saved here.

A :class:`matplotlib.figure.Figure` with its own Agg canvas never touches pyplot's global state: the backend of
the user's session (a Jupyter inline or a GUI backend) stays what it was, and no figure is left open in
pyplot's registry. So plot code never calls ``matplotlib.use`` nor ``pyplot``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neurokd.io import atomic_path


def new_figure(**kwargs: Any):
    """A :class:`~matplotlib.figure.Figure` (``figsize=...`` etc.) drawn by its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path: str | Path, dpi: int = 110) -> None:
    """Write ``fig`` as a PNG at ``path`` (atomically)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)


__all__ = ["new_figure", "save_png"]
