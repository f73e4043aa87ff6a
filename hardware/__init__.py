"""Hardware estimates for neurokd SNNs (SynOps, energy, chip mapping). Depends on ``neurokd``, never the reverse.

- :mod:`hardware.activity`: forward hooks recording per-layer inputs/outputs per time step.
- :mod:`hardware.counting`: ``count(model, inputs) -> Counts`` (effective ACs/MACs, dense ops, neuron updates,
  spikes, firing rates, parameters, memory).
- :mod:`hardware.chips`: cited chip profiles (one YAML file per chip; add your own).
- :mod:`hardware.energy`: energy per inference per chip, with the kinds of the constants used.
- :mod:`hardware.mapping`: core allocation (Loihi, Loihi 2, TrueNorth) and whether the network fits.
- :mod:`hardware.report`: Markdown, LaTeX, JSON and PNG reports; :mod:`hardware.analyse` builds one.

Names are imported lazily so that the ``neurokd`` command stays quick to start.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "count": "hardware.counting", "Counts": "hardware.counting", "LayerCounts": "hardware.counting",
    "record_activity": "hardware.activity", "ActivityHooks": "hardware.activity",
    "load_profile": "hardware.chips", "resolve_chip": "hardware.chips", "builtin_chips": "hardware.chips",
    "estimate_energy": "hardware.energy", "map_network": "hardware.mapping", "analyse": "hardware.analyse",
    "HardwareReport": "hardware.report", "write_report": "hardware.report",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hardware' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
