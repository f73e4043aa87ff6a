"""Open a Loihi 2 network file of either form neurokd writes: a netx ``.net`` chain or a ``.lava`` graph.

The two are told apart by content (a graph file carries the ``neurokd-lava-graph/1`` format tag), not by the
file name, so a renamed file still reads as what it is.
"""

from __future__ import annotations

from pathlib import Path

from neurokd.errors import UserError
from neurokd.exporters.lava.graph import FORMAT, LavaGraph
from neurokd.exporters.lava.graph_reader import read_graph
from neurokd.exporters.lava.netx import NetxNetwork
from neurokd.exporters.lava.netx_reader import _decode_attr, read_netx
from neurokd.hdf5 import open_hdf5


def is_graph_file(path: str | Path) -> bool:
    """Whether ``path`` is a readable HDF5 file tagged as a neurokd Lava graph (opened with
    :func:`neurokd.hdf5.open_hdf5`: a FIFO or a hostile file is not one, and the reader then says why)."""
    try:
        with open_hdf5(path, "Lava file") as f:
            return _decode_attr(f.attrs.get("format", "")) == FORMAT
    except UserError:
        return False


def read_lava(path: str | Path) -> NetxNetwork | LavaGraph:
    """Read and validate either form (one-line :class:`~neurokd.exporters.lava.netx.NetxFormatError` on a bad
    file)."""
    return read_graph(path) if is_graph_file(path) else read_netx(path)


__all__ = ["is_graph_file", "read_lava"]
