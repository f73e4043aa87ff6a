"""NIR files for readers that pin an older nir: ``nir_version="1.0.4"`` (Sinabs 3.1 and Rockpool 3.1 pin it).

nir 1.0.4's reader builds each node from exactly the keys its dataclass has (``cls(**node)``), so a file written
by nir 1.0.8 fails there on two keys, and only on those:

- ``v_reset`` of ``LIF`` / ``IF`` nodes (nir 1.0.6 added it: the membrane is set to ``v_reset`` after a spike);
- ``metadata`` of ``AvgPool2d`` nodes (its 1.0.4 dataclass has no metadata).

A 1.0.4 file leaves exactly those keys out and keeps what they said elsewhere: every LIF/IF node's metadata
records ``v_reset`` (the value it had), the ``reset`` mode (already there) and ``spikes_per_step = 1`` (a neurokd
neuron emits at most one spike per step), and an AvgPool2d's metadata moves to the graph's metadata under
``node_metadata/<node name>``, where neurokd's importer finds it. What an older reader may still do differently is
what its own neuron defaults say (:data:`DIFFERENCES`): without ``v_reset`` it may reset by subtraction (Sinabs'
``MembraneSubtract``) or let one step emit several spikes (Sinabs' ``MultiSpike``).
"""

from __future__ import annotations

import copy
from typing import Any

import h5py
import nir
import numpy as np

from neurokd.errors import UserError

CURRENT = "1.0.8"  # the nir this package writes with (pinned in pyproject.toml)
NIR_VERSIONS = (CURRENT, "1.0.4")
SPIKES_PER_STEP = 1
DIFFERENCES = ("reset (neurokd sets the membrane to v_reset after a spike; an older reader may subtract the "
               "threshold instead)", "spikes per step (neurokd emits at most one; an older reader may emit "
               "several)")


def check_version(version: str | None) -> str:
    """The version to write (``None``: the current one); a :class:`UserError` for one neurokd cannot write."""
    version = CURRENT if version is None else str(version)
    if version not in NIR_VERSIONS:
        raise UserError(f"nir_version {version!r}: neurokd writes NIR {' or '.join(NIR_VERSIONS)}")
    return version


def legacy_graph(graph: nir.NIRGraph) -> nir.NIRGraph:
    """A copy of ``graph`` whose metadata carries what the 1.0.4 file leaves out (module doc)."""
    graph = copy.deepcopy(graph)
    moved: dict[str, Any] = {}
    for name, node in graph.nodes.items():
        if isinstance(node, nir.LIF | nir.IF):
            v_reset = np.asarray(node.v_reset if node.v_reset is not None else 0.0, dtype=np.float64)
            node.metadata = {**(node.metadata or {}), "spikes_per_step": SPIKES_PER_STEP,
                             "v_reset": float(v_reset.flat[0]) if np.unique(v_reset).size == 1 else v_reset}
            node.metadata.setdefault("reset", "zero")
        elif isinstance(node, nir.AvgPool2d) and node.metadata:
            moved[name] = dict(node.metadata)
        elif isinstance(node, nir.NIRGraph):
            graph.nodes[name] = legacy_graph(node)
    if moved:
        graph.metadata = {**(graph.metadata or {}), "node_metadata": moved}
    return graph


def strip_to_legacy(f: h5py.File, version: str) -> None:
    """Remove from a file written by nir 1.0.8 the keys nir ``version``'s reader rejects, and record ``version``."""
    _strip(f["node"])
    del f["version"]
    f.create_dataset("version", data=version)


def _strip(group: h5py.Group) -> None:
    kind = group["type"][()]
    kind = kind.decode("utf8") if isinstance(kind, bytes) else str(kind)
    if kind in ("LIF", "IF") and "v_reset" in group:
        del group["v_reset"]
    elif kind == "AvgPool2d" and "metadata" in group:
        del group["metadata"]
    elif kind == "NIRGraph":
        for child in group["nodes"].values():
            _strip(child)


def warning(version: str) -> str:
    """The one-line notice a legacy file comes with."""
    return (f"NIR {version} file: LIF/IF nodes carry no v_reset, so an older reader may interpret "
            f"{'; '.join(DIFFERENCES)}; each neuron node's metadata states reset, v_reset and spikes_per_step")


__all__ = ["CURRENT", "DIFFERENCES", "NIR_VERSIONS", "check_version", "legacy_graph", "strip_to_legacy", "warning"]
