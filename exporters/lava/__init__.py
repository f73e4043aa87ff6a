"""Lava / Loihi 2 export: netx ``.net`` files in Loihi 2 fixed point, a bit-accurate NumPy model of them, and
runs on Lava's CPU simulator through lava-dl's own loader.

- :func:`to_netx` writes a neurokd SNN as a netx file (h5py only; Lava need not be installed) and returns the
  per-layer quantization report.
- :func:`simulate` runs a file on float inputs with ``backend="numpy"`` (bit-accurate integer model) or
  ``backend="lava"`` (``netx.hdf5.Network`` on ``Loihi2SimCfg(select_tag="fixed_pt")``).

Modules: ``quantize`` (model -> integers), ``netx`` (the file format's typed layers), ``netx_writer`` /
``netx_reader`` (HDF5 out / in), ``numpy_sim`` (integer CUBA model), ``lava_run`` (Lava process network),
``compat`` (Python 3.11 / numpy 2 fixes for Lava), ``simulation`` (:func:`simulate`), ``stream`` (the
``loihi-fixed`` stream backend). Names are imported on first use, so importing the package costs nothing.
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
    "SimResult": "neurokd.exporters.lava.simulation", "simulate": "neurokd.exporters.lava.simulation",
}
__getattr__ = lazy_exports(__name__, _MEMBERS)[0]


def to_netx(model, path: str | Path, calibration=None, input_max: float | None = None, input_bits: int = 8,
            meta: dict[str, Any] | None = None):
    """Quantize ``model`` (a neurokd SNN TwinNet) to Loihi 2 fixed point and write the netx file ``path``.

    Direct-encoded models need the input range: ``calibration`` inputs ``[N, *input_shape]`` or ``input_max``.
    ``meta`` adds attributes to the file (e.g. the source run and dataset). The write is atomic. Returns the
    :class:`~neurokd.exporters.lava.quantize.QuantReport`.
    """
    from neurokd.exporters.lava.netx_writer import write_netx
    from neurokd.exporters.lava.quantize import quantize_model

    net, report = quantize_model(model, calibration, input_max, input_bits)
    net.meta.update(meta or {})
    write_netx(net, path)
    return report


__all__ = ["ExportError", "NetxFormatError", "NetxNetwork", "QuantReport", "SimResult", "quantize_model",
           "read_netx", "simulate", "to_netx", "write_netx"]
