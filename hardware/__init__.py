"""Hardware estimates for neurokd SNNs (SynOps, energy, chip mapping). Depends on ``neurokd``, never the reverse.

- :mod:`neurokd.hardware.activity`: forward hooks recording per-layer inputs/outputs per time step.
- :mod:`neurokd.hardware.counting`: ``count(model, inputs) -> Counts`` (effective ACs/MACs, dense ops, neuron updates,
  spikes, firing rates, parameters, memory).
- :mod:`neurokd.hardware.chips`: cited chip profiles (one YAML file per chip; add your own).
- :mod:`neurokd.hardware.energy`: energy per inference per chip, with the kinds of the constants used.
- :mod:`neurokd.hardware.mapping`: core allocation (Loihi, Loihi 2, TrueNorth) and whether the network fits.
- :mod:`neurokd.hardware.report`: Markdown, LaTeX, JSON and PNG reports; :mod:`neurokd.hardware.analyse` builds one.
- :mod:`neurokd.hardware.neurobench`: run NeuroBench's own ``Benchmark`` on a neurokd model (optional dependency).

Names are imported lazily so that the ``neurokd`` command stays quick to start.
"""

from neurokd.lazy import lazy_exports

_MEMBERS = {
    "count": "neurokd.hardware.counting", "Counts": "neurokd.hardware.counting",
    "LayerCounts": "neurokd.hardware.counting", "record_activity": "neurokd.hardware.activity",
    "ActivityHooks": "neurokd.hardware.activity", "load_profile": "neurokd.hardware.chips",
    "resolve_chip": "neurokd.hardware.chips", "builtin_chips": "neurokd.hardware.chips",
    "estimate_energy": "neurokd.hardware.energy", "map_network": "neurokd.hardware.mapping",
    "analyse": "neurokd.hardware.analyse", "HardwareReport": "neurokd.hardware.report",
    "write_report": "neurokd.hardware.report",
    "neurobench_model": "neurokd.hardware.neurobench", "run_neurobench": "neurokd.hardware.neurobench",
}
__getattr__, __dir__ = lazy_exports(__name__, _MEMBERS)
__all__ = sorted(_MEMBERS)
