"""Which form a model is written in (a netx ``.net`` chain or a ``.lava`` residual graph), and the writers.

A model whose modules all run in a chain (``nn.Sequential`` of conv / linear / neuron layers: ``cnn``, ``cnn1d``,
stride-downsampled ``vgg``) keeps the netx ``.net`` file that lava-dl's own loader runs. A model with a
module that combines its children itself (a ResNet ``BasicBlock``: residual add, downsample shortcut) cannot be a
chain, and is written as a graph (:mod:`~neurokd.exporters.lava.graph`). A path ending in ``.net`` or ``.lava``
asks for that form; any other path gets the model's own form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from neurokd.exporters.lava.graph import SUFFIX as GRAPH_SUFFIX
from neurokd.exporters.lava.graph import LavaGraph
from neurokd.exporters.lava.netx import NetxNetwork
from neurokd.exporters.lava.quantize import ExportError, QuantReport

NETX_SUFFIX = ".net"


def has_fan_in(model: nn.Module) -> bool:
    """Whether some module of the SNN combines its children in its own ``forward`` (a residual block), which a
    netx chain of layers cannot express."""
    parts = [model.stem, *(stage for _, stage in model.stages()), model.head] if hasattr(model, "stages") \
        else [model]
    return any(type(m) is not nn.Sequential and any(True for _ in m.children())
               for part in parts for m in part.modules())


def lava_form(model: nn.Module, path: str | Path | None = None) -> str:
    """``"netx"`` or ``"graph"``: what ``path``'s suffix asks for, else what the model needs (module doc)."""
    suffix = Path(path).suffix.lower() if path is not None else ""
    if suffix == GRAPH_SUFFIX:
        return "graph"
    if suffix == NETX_SUFFIX and has_fan_in(model):
        arch = getattr(getattr(model, "spec", None), "arch", type(model).__name__)
        raise ExportError(f"{path}: {arch} has residual connections, which a netx .net file (a chain of layers) "
                          f"cannot hold; write its Lava graph instead: a path ending in {GRAPH_SUFFIX}")
    if suffix == NETX_SUFFIX:
        return "netx"
    return "graph" if has_fan_in(model) else "netx"


def default_name(form: str) -> str:
    """The file name an export of ``form`` gets when none is given."""
    return "model" + (GRAPH_SUFFIX if form == "graph" else NETX_SUFFIX)


def quantize_lava(model, calibration=None, input_max: float | None = None, input_bits: int = 8,
                  form: str | None = None) -> tuple[NetxNetwork | LavaGraph, QuantReport]:
    """Quantize ``model`` in ``form`` (default: :func:`lava_form`'s choice for it); returns the network and the
    per-layer report. Arguments as :func:`~neurokd.exporters.lava.quantize.quantize_model`."""
    if (form or lava_form(model)) == "graph":
        from neurokd.exporters.lava.graph_quantize import quantize_graph

        return quantize_graph(model, calibration, input_max, input_bits)
    from neurokd.exporters.lava.quantize import quantize_model

    return quantize_model(model, calibration, input_max, input_bits)


def to_lava(model, path: str | Path, calibration=None, input_max: float | None = None, input_bits: int = 8,
            meta: dict[str, Any] | None = None) -> tuple[QuantReport, str]:
    """Quantize ``model`` (a neurokd SNN TwinNet) to Loihi 2 fixed point and write it to ``path`` atomically in the
    form :func:`lava_form` picks; returns ``(report, form)``. Direct-encoded models need the input range:
    ``calibration`` inputs ``[N, *input_shape]`` or ``input_max``. ``meta`` adds attributes to the file."""
    from neurokd.exporters.lava.graph_writer import write_graph
    from neurokd.exporters.lava.netx_writer import write_netx

    form = lava_form(model, path)
    net, report = quantize_lava(model, calibration, input_max, input_bits, form)
    net.meta.update(meta or {})
    (write_graph if form == "graph" else write_netx)(net, path)
    return report, form


def to_lava_graph(model, path: str | Path, calibration=None, input_max: float | None = None, input_bits: int = 8,
                  meta: dict[str, Any] | None = None) -> QuantReport:
    """Write any neurokd SNN as a ``.lava`` graph (whatever ``path``'s suffix); as :func:`to_lava` otherwise."""
    from neurokd.exporters.lava.graph_writer import write_graph

    net, report = quantize_lava(model, calibration, input_max, input_bits, "graph")
    net.meta.update(meta or {})
    write_graph(net, path)
    return report


__all__ = ["NETX_SUFFIX", "default_name", "has_fan_in", "lava_form", "quantize_lava", "to_lava",
           "to_lava_graph"]
