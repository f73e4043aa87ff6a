"""Write a :class:`~neurokd.exporters.lava.netx.NetxNetwork` as a netx ``.net`` HDF5 file (h5py only).

The layout is described in :mod:`neurokd.exporters.lava.netx`. neurokd's metadata goes into HDF5 attributes,
which netx never reads.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from neurokd.exporters.lava.netx import FORMAT, ConvLayer, DenseLayer, NetxNetwork
from neurokd.io import write_bytes


def _type(group, name: str) -> None:
    group.create_dataset("type", (1,), "S10", [name.encode("ascii")])


def _attrs(obj, attrs: dict[str, Any]) -> None:
    for k, v in attrs.items():
        obj.attrs[k] = json.dumps(v) if isinstance(v, dict | list) else v


def write_netx(net: NetxNetwork, path: str | Path) -> Path:
    """Write ``net`` to ``path`` atomically (temp file + rename); returns the path.

    The HDF5 file is built in memory and then written with :func:`neurokd.io.write_bytes`: libhdf5 writing to a
    full disk can crash the process, a plain write fails cleanly (one error line, nothing left behind).
    """
    import h5py

    path = Path(path)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["format"] = FORMAT
        _attrs(f, net.meta)
        layers = f.create_group("layer")
        for i, la in enumerate(net.layers):
            g = layers.create_group(str(i))
            _type(g, la.kind)
            g.create_dataset("shape", data=np.asarray(la.shape, dtype=np.int64))
            if isinstance(la, ConvLayer):
                out_c, in_per_group, kh, kw = la.weight.shape
                g.create_dataset("inChannels", data=in_per_group * la.groups)
                g.create_dataset("outChannels", data=out_c)
                g.create_dataset("kernelSize", data=np.array([kh, kw]))
                g.create_dataset("stride", data=np.array(la.stride))
                g.create_dataset("padding", data=np.array(la.padding))
                g.create_dataset("dilation", data=np.array(la.dilation))
                g.create_dataset("groups", data=la.groups)
            elif isinstance(la, DenseLayer):
                g.create_dataset("inFeatures", data=la.weight.shape[1])
                g.create_dataset("outFeatures", data=la.weight.shape[0])
            if isinstance(la, ConvLayer | DenseLayer):
                g.create_dataset("weight", data=la.weight.astype(np.int16))
                if la.bias is not None:
                    g.create_dataset("bias", data=la.bias.astype(np.int16))
                n = g.create_group("neuron")
                n.create_dataset("type", data="CUBA")
                n.create_dataset("iDecay", data=int(la.neuron.i_decay))
                n.create_dataset("vDecay", data=int(la.neuron.v_decay))
                n.create_dataset("vThMant", data=int(la.neuron.v_th_mant))
                n.create_dataset("refDelay", data=1)
                n.create_dataset("gradedSpike", data=False)
                _attrs(g, la.attrs)
    write_bytes(path, buffer.getvalue())
    return path
