"""A readable description of a NIR graph: one row per node (type, shapes, parameters, neuron constants)."""

from __future__ import annotations

import copy
from typing import Any

import nir
import numpy as np

from neurokd.exporters.nir.convention import DEFAULT_DT, plain_metadata
from neurokd.exporters.nir.order import topological_order

NODE_HEADERS = ["node", "type", "input", "output", "params", "neuron"]
SYNAPTIC_FIELDS = ("weight", "bias", "scale")


def _shape(types: dict[str, Any] | None, key: str) -> str:
    v = (types or {}).get(key)
    return "?" if v is None else "x".join(str(int(d)) for d in np.atleast_1d(v)) or "scalar"


def _value(a: Any) -> str:
    """A uniform array as one number, else its range."""
    a = np.asarray(a, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    return f"{lo:.6g}" if lo == hi else f"{lo:.6g}..{hi:.6g}"


def _neuron(node: nir.NIRNode, dt: float) -> str:
    """Neuron constants, with the discrete decay ``beta = 1 - dt/tau`` for (Cuba)LIF."""
    reset = plain_metadata(node.metadata).get("reset", "zero")
    n = int(np.asarray(getattr(node, "v_threshold", getattr(node, "r", 0))).size)
    if isinstance(node, nir.LIF):
        beta = 1.0 - dt / np.asarray(node.tau, dtype=np.float64)
        return (f"{n} LIF: beta={_value(beta)} (tau={_value(node.tau)} s), thr={_value(node.v_threshold)}, "
                f"r={_value(node.r)}, reset={reset}")
    if isinstance(node, nir.IF):
        return f"{n} IF: thr={_value(node.v_threshold)}, r={_value(node.r)}, reset={reset}"
    if isinstance(node, nir.CubaLIF):
        return (f"{n} CubaLIF: tau_syn={_value(node.tau_syn)}, tau_mem={_value(node.tau_mem)}, "
                f"thr={_value(node.v_threshold)}")
    if isinstance(node, nir.LI | nir.CubaLI | nir.I):
        return f"{type(node).__name__} (non-spiking)"
    return ""


def node_rows(graph: nir.NIRGraph) -> list[list[Any]]:
    """Rows for :data:`NODE_HEADERS`, every node after the nodes that feed it. Shapes come from nir's type inference
    (on a copy; ``?`` where a legacy graph cannot be inferred)."""
    g = copy.deepcopy(graph)
    try:
        g.infer_types()
    except Exception:  # noqa: BLE001 - display only: show what is known
        g = graph
    dt = float(plain_metadata(g.metadata).get("dt", DEFAULT_DT))
    rows = []
    for name in _ordered(g):
        node = g.nodes[name]
        params = sum(int(np.asarray(getattr(node, f)).size) for f in SYNAPTIC_FIELDS
                     if getattr(node, f, None) is not None)
        node_dt = float(plain_metadata(node.metadata).get("dt", dt))
        rows.append([name, type(node).__name__, _shape(node.input_type, "input"),
                     _shape(node.output_type, "output"), params or "-", _neuron(node, node_dt) or "-"])
    return rows


def _ordered(graph: nir.NIRGraph) -> list[str]:
    """Topological order (every node after its inputs), then anything on a cycle, each node once."""
    order = topological_order(graph)
    return order + [n for n in graph.nodes if n not in order]


def graph_info(graph: nir.NIRGraph) -> dict[str, Any]:
    """Totals and metadata: nodes, edges, synaptic parameters, neurons, node-type counts."""
    rows = node_rows(graph)
    types: dict[str, int] = {}
    for r in rows:
        types[r[1]] = types.get(r[1], 0) + 1
    neurons = sum(int(np.asarray(n.v_threshold).size) for n in graph.nodes.values() if hasattr(n, "v_threshold"))
    return {"nodes": len(graph.nodes), "edges": len(graph.edges),
            "params": sum(r[4] for r in rows if isinstance(r[4], int)), "neurons": neurons, "types": types,
            "metadata": plain_metadata(graph.metadata)}
