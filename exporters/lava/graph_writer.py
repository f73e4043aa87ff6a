"""Write a :class:`~neurokd.exporters.lava.graph.LavaGraph` as a ``.lava`` HDF5 file (h5py only).

Layout (all integers; shapes and weights in PyTorch's (C, H, W) order, as in netx files)::

    attrs           format = "neurokd-lava-graph/1", neurokd's metadata (T, encoder, input/readout scales, ...)
    input/shape     (C, H, W) or (N,)
    population/<i>  in topological order (sources first), the last one the readout:
                    name, shape, bias (optional: per channel, or per neuron when flat),
                    neuron/ type 'CUBA', iDecay, vDecay (12-bit, 4096 = 1.0), vThMant (as netx layers)
    projection/<j>  name, source (a population name or 'input'), target, type 'conv' | 'dense',
                    weight (8-bit mantissas: conv (out, in/groups, kH, kW), dense (out, in)), weightExp
                    (effective weight = weight << weightExp), delay (extra steps), and for conv: stride,
                    padding, dilation (H, W), groups

Attributes on the groups (``role``, ``scale``, ``kind``) are notes for people; readers need only the datasets.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from neurokd.exporters.lava.graph import FORMAT, LavaGraph
from neurokd.exporters.lava.netx_writer import _attrs
from neurokd.io import write_bytes


def _string(group, key: str, value: str) -> None:
    group.create_dataset(key, data=value.encode("utf8"))


def write_graph(graph: LavaGraph, path: str | Path) -> Path:
    """Write ``graph`` to ``path`` atomically (temp file + rename); returns the path. Built in memory first, as
    :func:`~neurokd.exporters.lava.netx_writer.write_netx` does: libhdf5 on a full disk can crash the process."""
    import h5py

    path = Path(path)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["format"] = FORMAT
        _attrs(f, graph.meta)
        f.create_dataset("input/shape", data=np.asarray(graph.input_shape, np.int64))
        pops = f.create_group("population")
        for i, pop in enumerate(graph.populations):
            g = pops.create_group(str(i))
            _string(g, "name", pop.name)
            g.create_dataset("shape", data=np.asarray(pop.shape, np.int64))
            if pop.bias is not None:
                g.create_dataset("bias", data=np.asarray(pop.bias).astype(np.int16))
            n = g.create_group("neuron")
            n.create_dataset("type", data="CUBA")
            n.create_dataset("iDecay", data=int(pop.neuron.i_decay))
            n.create_dataset("vDecay", data=int(pop.neuron.v_decay))
            n.create_dataset("vThMant", data=int(pop.neuron.v_th_mant))
            _attrs(g, pop.attrs)
        projs = f.create_group("projection")
        for j, pr in enumerate(graph.projections):
            g = projs.create_group(str(j))
            for key in ("name", "source", "target", "kind"):
                _string(g, "type" if key == "kind" else key, getattr(pr, key))
            g.create_dataset("weight", data=np.asarray(pr.weight).astype(np.int16))
            g.create_dataset("weightExp", data=int(pr.weight_exp))
            g.create_dataset("delay", data=int(pr.delay))
            if pr.kind == "conv":
                for key in ("stride", "padding", "dilation"):
                    g.create_dataset(key, data=np.asarray(getattr(pr, key), np.int64))
                g.create_dataset("groups", data=int(pr.groups))
            _attrs(g, pr.attrs)
    write_bytes(path, buffer.getvalue())
    return path
