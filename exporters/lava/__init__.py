"""Lava / Loihi 2 export: networks in Loihi 2 fixed point, a bit-accurate NumPy model of them, and runs on
Lava's CPU simulator.

Two file forms: a chain of layers is a netx ``.net`` file (lava-dl's own loader runs it); a residual network
(neurons that sum several inputs) is a ``.lava`` graph file of neurokd's design, run as a Lava process network.

- :func:`to_lava` writes a neurokd SNN in the form it needs (:func:`to_netx` / :func:`to_lava_graph` force one;
  h5py only, Lava need not be installed) and returns the per-layer quantization report.
- :func:`simulate` runs either file on float inputs with ``backend="numpy"`` (bit-accurate integer model) or
  ``backend="lava"`` (``Loihi2SimCfg(select_tag="fixed_pt")``).

Modules: ``quantize`` (chain model -> integers), ``graph_quantize`` (any model -> graph), ``netx`` / ``graph``
(the forms' types), ``netx_writer`` / ``netx_reader`` / ``graph_writer`` / ``graph_reader`` (HDF5 out / in),
``files`` (either form by content), ``export`` (which form), ``numpy_sim`` (integer CUBA model of both),
``lava_run`` + ``graph_processes`` (Lava process networks), ``compat`` (Python 3.11 / numpy 2 fixes for Lava),
``simulation`` (:func:`simulate`), ``stream`` (the ``loihi-fixed`` stream backend). Names are imported on first
use, so importing the package costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neurokd.lazy import lazy_exports

_MEMBERS = {
    "ExportError": "neurokd.exporters.lava.quantize", "QuantReport": "neurokd.exporters.lava.quantize",
    "quantize_model": "neurokd.exporters.lava.quantize", "NetxFormatError": "neurokd.exporters.lava.netx",
    "NetxNetwork": "neurokd.exporters.lava.netx", "read_netx": "neurokd.exporters.lava.netx_reader",
    "write_netx": "neurokd.exporters.lava.netx_writer",
    "LavaGraph": "neurokd.exporters.lava.graph", "quantize_graph": "neurokd.exporters.lava.graph_quantize",
    "read_graph": "neurokd.exporters.lava.graph_reader", "write_graph": "neurokd.exporters.lava.graph_writer",
    "read_lava": "neurokd.exporters.lava.files", "lava_form": "neurokd.exporters.lava.export",
    "to_lava": "neurokd.exporters.lava.export", "to_lava_graph": "neurokd.exporters.lava.export",
    "quantize_lava": "neurokd.exporters.lava.export",
    "SimResult": "neurokd.exporters.lava.simulation", "simulate": "neurokd.exporters.lava.simulation",
}
__getattr__ = lazy_exports(__name__, _MEMBERS)[0]


def to_netx(model, path: str | Path, calibration=None, input_max: float | None = None, input_bits: int = 8,
            meta: dict[str, Any] | None = None):
    """Quantize ``model`` (a neurokd SNN TwinNet without residual connections) to Loihi 2 fixed point and write the
    netx file ``path``; as :func:`~neurokd.exporters.lava.export.to_lava` otherwise. Returns the
    :class:`~neurokd.exporters.lava.quantize.QuantReport`.
    """
    from neurokd.exporters.lava.netx_writer import write_netx
    from neurokd.exporters.lava.quantize import quantize_model

    net, report = quantize_model(model, calibration, input_max, input_bits)
    net.meta.update(meta or {})
    write_netx(net, path)
    return report


__all__ = ["ExportError", "LavaGraph", "NetxFormatError", "NetxNetwork", "QuantReport", "SimResult", "lava_form",
           "quantize_graph", "quantize_lava", "quantize_model", "read_graph", "read_lava", "read_netx", "simulate", "to_lava",
           "to_lava_graph", "to_netx", "write_graph", "write_netx"]
