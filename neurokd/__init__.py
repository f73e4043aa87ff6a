"""neurokd: distill trained ANNs into rate-aligned spiking networks and deploy them.

One installed namespace: the core (``neurokd.snn``, ``models``, ``data``, ``train``, ``distill``, ``eval``,
``stream``), the deployment packages built on it (``neurokd.exporters``: NIR, Lava/Loihi 2;
``neurokd.hardware``: SynOps, energy, chip fit) and the application on top (this package root, ``neurokd.cli``,
``neurokd.demo``). See docs/architecture.md.
"""

from __future__ import annotations

from neurokd.version import __version__


def load_model(path, map_location: str = "cpu"):
    """Load an ANN or SNN twin from a run folder, ``model.safetensors`` or a checkpoint file."""
    from neurokd.runs import load_model as _load

    return _load(path, map_location)


__all__ = ["__version__", "load_model"]
