"""Our NIR files in other NIR readers, and the one rewrite Norse needs.

Checked spike for spike, batched, in ``tests/exporters/nir/test_readers.py``:

- snnTorch 1.0.0 ``snntorch.import_nir.import_from_nir`` and SpikingJelly 2.0.0
  ``spikingjelly.activation_based.nir_exchange.import_from_nir(path, dt=1e-4)``: our files as written (conv,
  pooling, residual fan-in). Both assume ``dt = 1e-4`` s (our default; SpikingJelly takes ``dt=``, snnTorch
  hard-codes it) and the Euler convention ``r = tau/dt`` that we export.
- Norse 1.1.0 ``norse.torch.from_nir``: after :func:`norse_graph`, with ``dt=`` the graph's ``dt``. Norse reads
  LIF as ``tau dv/dt = v_leak - v + I``: it drops ``r`` (a file with ``r = tau/dt`` runs with input gain
  ``dt/tau = 1 - beta`` instead of 1), and its default ``dt = 1e-3`` turns ``beta = 1 - dt/tau`` into
  ``1 - 10 (1 - beta)`` for our ``dt = 1e-4`` files. Norse's IF ignores ``r`` and ``dt`` and adds its input
  unchanged, which is what our IF (``r = 1/dt``) means; it logs a warning that ``r != 1`` (silence it with
  ``ignore_warnings=True``). Norse 1.1.0 has no ``AvgPool2d``, ``Conv1d`` or ``Scale`` mapping: it drops such
  nodes silently, so :func:`norse_graph` refuses them.
"""

from __future__ import annotations

import copy
import os

import nir
import numpy as np

from neurokd.errors import UserError
from neurokd.exporters.nir.files import read

# What Norse 1.1.0's ``_import_norse_module`` maps (Input/Output become nirtorch identities); it returns None
# for every other node type, which nirtorch then skips without a word.
NORSE_NODES: tuple[type, ...] = (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Conv2d, nir.Flatten,
                                 nir.SumPool2d, nir.IF, nir.LIF, nir.CubaLIF)


def norse_graph(graph_or_path: nir.NIRGraph | str | os.PathLike) -> nir.NIRGraph:
    """A copy of the graph that Norse 1.1's ``from_nir`` runs as the NIR equations say.

    Every LIF's membrane is expressed in units of ``1/r`` (``u = v / r``): ``r -> 1`` and ``v_threshold``,
    ``v_leak``, ``v_reset`` divided by ``r`` (elementwise, in the arrays' dtype). By the NIR LIF equation
    ``tau dv/dt = (v_leak - v) + r I`` this is the same network, spike for spike, and it is the form Norse
    reads (it assumes ``r = 1``). Other nodes are copied unchanged. Run it as
    ``norse.torch.from_nir(norse_graph(g), dt=g.metadata["dt"], ignore_warnings=True)`` (``dt``: 1e-4 s unless
    exported with another). Like NIR itself, Norse resets to ``v_reset``: its ``reset_method`` argument reaches
    only CubaLIF nodes, so a ``subtract``-reset model runs with reset to zero (only our importer honours it).

    Raises:
        UserError: a node Norse 1.1 cannot map (it would drop it silently), naming the node.
    """
    graph = read(graph_or_path) if isinstance(graph_or_path, str | os.PathLike) else graph_or_path
    if not isinstance(graph, nir.NIRGraph):
        raise UserError(f"norse_graph expects a nir.NIRGraph or a file path, got {type(graph).__name__}")
    for name, node in graph.nodes.items():
        if not isinstance(node, NORSE_NODES):
            raise UserError(f"NIR node '{name}' ({type(node).__name__}) has no mapping in Norse 1.1's from_nir "
                            "(it would be dropped silently); Norse maps Affine, Linear, Conv2d, Flatten, "
                            "SumPool2d, IF, LIF and CubaLIF")
    out = copy.deepcopy(graph)
    for node in out.nodes.values():
        if isinstance(node, nir.LIF):
            r = np.asarray(node.r)
            dtype = np.result_type(r.dtype, np.float32)
            v_reset = node.v_reset if node.v_reset is not None else np.zeros_like(r)
            node.v_threshold = (np.asarray(node.v_threshold) / r).astype(dtype)
            node.v_leak = (np.asarray(node.v_leak) / r).astype(dtype)
            node.v_reset = (np.asarray(v_reset) / r).astype(dtype)
            node.r = np.ones_like(r, dtype=dtype)
    out.metadata = {**(graph.metadata or {}), "membrane_scale": "1/r (LIF r folded into the membrane for Norse)"}
    return out
