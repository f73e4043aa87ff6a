"""neurokd: distill trained ANNs into rate-aligned spiking networks and deploy them.

Import packages of the distribution: ``neurokd`` (this trainer), ``exporters`` (NIR, Lava/Loihi 2) and
``hardware`` (SynOps, energy, chip fit). ``neurokd`` never imports the other two at module level.
"""

from __future__ import annotations

__version__ = "0.1.0"


def load_model(path, map_location: str = "cpu"):
    """Load an ANN or SNN twin from a run folder, ``model.safetensors`` or a checkpoint file."""
    from neurokd.loading import load_model as _load

    return _load(path, map_location)


__all__ = ["__version__", "load_model"]
