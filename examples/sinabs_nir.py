"""Run a neurokd NIR file in Sinabs 3.1 with neurokd's neuron semantics, and save every spike.

Sinabs 3.1 pins nir 1.0.4, so it runs in its own environment (docs/nir.md, "Sinabs") and reads the file that
``neurokd export nir RUN --nir-version 1.0.4`` writes. Sinabs' own neuron defaults differ from neurokd's; each
spiking layer is set to what the node's metadata states (written by neurokd for every LIF/IF node):

- ``spikes_per_step = 1``  -> ``spike_fn = SingleSpike`` (Sinabs' default ``MultiSpike`` may emit several);
- ``reset = "zero"``       -> ``reset_fn = MembraneReset()`` (Sinabs' default subtracts the threshold);
- neurokd's membrane has no lower bound -> ``min_v_mem = None`` (Sinabs sets ``-threshold`` for IF nodes).

Usage (in that environment)::

    python examples/sinabs_nir.py model.nir inputs.npy spikes.npz

``inputs.npy``: static inputs ``[B, *input_shape]``, presented at each of the graph's ``T`` steps (direct
encoding, as neurokd does). ``spikes.npz``: ``output`` ``[T, B, ...]`` (the last layer's per-step values) and
one array ``[T, B, ...]`` per spiking node, named as in the graph.
"""

from __future__ import annotations

import argparse
import sys

import nir
import numpy as np
import sinabs
import sinabs.layers as sl
import torch
from sinabs.activation import MembraneReset, MembraneSubtract, SingleSpike

RESETS = {"zero": MembraneReset, "subtract": MembraneSubtract}


def spiking_layers(net: torch.nn.Module, graph: nir.NIRGraph) -> list[str]:
    """Names of the Sinabs spiking layers (IAF and LIF) that stand for LIF/IF nodes of ``graph``."""
    return [name for name, layer in net.named_modules() if isinstance(layer, sl.LIF) and name in graph.nodes]


def neurokd_settings(net: torch.nn.Module, graph: nir.NIRGraph) -> None:
    """Set every Sinabs spiking layer of ``net`` to the semantics its NIR node's metadata states."""
    for name in spiking_layers(net, graph):
        meta = graph.nodes[name].metadata or {}
        reset = meta.get("reset", "zero")
        reset = reset.decode() if isinstance(reset, bytes) else str(reset)
        if int(meta.get("spikes_per_step", 1)) != 1 or reset not in RESETS:
            raise SystemExit(f"{name}: metadata {dict(meta)} is not a neurokd neuron")
        layer = getattr(net, name)
        layer.spike_fn = SingleSpike
        layer.reset_fn = RESETS[reset]()
        layer.min_v_mem = None


def run(graph: nir.NIRGraph, x: np.ndarray, T: int, sinabs_defaults: bool = False) -> dict[str, np.ndarray]:
    """Sinabs' run of ``graph`` on static inputs ``x`` over ``T`` steps: output and spikes ``[T, B, ...]``.
    ``sinabs_defaults``: keep Sinabs' own neuron settings (to see what they change)."""
    batch = x.shape[0]
    net = sinabs.from_nir(graph, batch_size=batch)
    layers = spiking_layers(net, graph)
    if not layers:
        raise SystemExit("no spiking layer found in the Sinabs network")
    if not sinabs_defaults:
        neurokd_settings(net, graph)
    record: dict[str, torch.Tensor] = {}
    hooks = [getattr(net, name).register_forward_hook(lambda _m, _i, out, name=name: record.__setitem__(name, out))
             for name in layers]
    # Sinabs' *Squeeze layers take [B * T, ...] with each sample's T steps next to each other
    seq = torch.from_numpy(x).float().unsqueeze(1).expand(batch, T, *x.shape[1:]).reshape(batch * T, *x.shape[1:])
    with torch.no_grad():
        out, _state = net(seq)
    for h in hooks:
        h.remove()

    def time_major(t: torch.Tensor) -> np.ndarray:
        return t.reshape(batch, T, *t.shape[1:]).transpose(0, 1).numpy()

    return {"output": time_major(out), **{name: time_major(s) for name, s in record.items()}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="NIR file written with --nir-version 1.0.4")
    p.add_argument("inputs", help=".npy of static inputs [B, *input_shape]")
    p.add_argument("out", help=".npz to write (output and spikes, time-major)")
    p.add_argument("--T", type=int, default=None, help="time steps (default: the graph's metadata T)")
    p.add_argument("--sinabs-defaults", action="store_true",
                   help="keep Sinabs' neuron defaults (MultiSpike, MembraneSubtract, IF floor at -threshold)")
    args = p.parse_args(argv)
    graph = nir.read(args.model)
    T = args.T or int(graph.metadata["T"])
    result = run(graph, np.load(args.inputs), T, args.sinabs_defaults)
    np.savez(args.out, **result)
    print(f"nir {nir.version}, sinabs {sinabs.__version__}: {len(result) - 1} spiking layers, T={T}, "
          f"{int(sum(v.sum() for k, v in result.items() if k != 'output'))} spikes -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
