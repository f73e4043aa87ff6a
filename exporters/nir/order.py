"""Node order of a NIR graph: every node after all the nodes that feed it."""

from __future__ import annotations

import nir


def topological_order(graph: nir.NIRGraph) -> list[str]:
    """Nodes in topological order (Kahn's algorithm, first-ready first, roots in node order): a residual
    block's add comes after both of its inputs. Nodes on a cycle, or fed from one, are left out."""
    succ: dict[str, list[str]] = {n: [] for n in graph.nodes}
    indeg = dict.fromkeys(graph.nodes, 0)
    for a, b in graph.edges:
        if a in succ and b in indeg:
            succ[a].append(b)
            indeg[b] += 1
    ready = [n for n in graph.nodes if indeg[n] == 0]
    order: list[str] = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    return order
