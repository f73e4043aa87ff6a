"""``nir.NIRGraph`` (ours or another framework's) -> :class:`neurokd.exporters.nir.network.NIRNetwork`.

Our own node mappings (nirtorch 2.6's defaults drop the Affine bias and flatten the batch):

| NIR                     | neurokd / torch                                                              |
|-------------------------|------------------------------------------------------------------------------|
| ``Affine`` / ``Linear`` | ``nn.Linear`` (with / without bias)                                          |
| ``Conv1d`` / ``Conv2d`` | ``nn.Conv1d`` / ``nn.Conv2d`` (with bias)                                    |
| ``AvgPool2d``           | ``nn.AvgPool2d`` (``nn.AdaptiveAvgPool2d`` when our metadata says so)        |
| ``SumPool2d``           | ``nn.AvgPool2d(divisor_override=1)`` (an exact sum)                          |
| ``Flatten``             | ``nn.Flatten``: a ``start_dim``/``end_dim >= 0`` gets +1 (NIR dims exclude   |
|                         | the batch), a negative one (our exports) is kept; both encodings import      |
| ``Scale``               | elementwise gain                                                             |
| ``LIF`` / ``IF``        | neurokd ``LIF`` / ``IF`` via the Euler convention (``convention``); an input |
|                         | gain ``!= 1`` becomes a gain module in front of the neuron; ``tau = r = inf``|
|                         | (snnTorch's ``Leaky(beta=1)``) is an ``IF`` with unit gain                   |

Conventions for graphs without our metadata: ``dt`` = 1e-4 s (override with ``dt=``), reset to zero (NIR
>= 1.0.6; ``v_reset`` must be 0), neuron parameters must be uniform within a node. Not runnable here, with a
one-line error naming the node: ``Delay``, ``Threshold``, ``I``, ``LI``, ``CubaLI``, ``CubaLIF`` (no synaptic
current state in neurokd neurons), nested ``NIRGraph`` subgraphs and cycles (recurrence), ``v_leak != 0``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from neurokd.errors import UserError
from neurokd.exporters.nir.convention import DEFAULT_DT, DiscreteNeuron, close_to, plain_metadata, torch_dim
from neurokd.exporters.nir.files import read
from neurokd.exporters.nir.network import Gain, NIRNetwork
from neurokd.exporters.nir.order import topological_order
from neurokd.exporters.nir.validate import check_graph, padding_text
from neurokd.guard import bound, measure
from neurokd.limits import check_memory, limits
from neurokd.snn.functional import RESETS
from neurokd.snn.neurons import IF, LIF

UNSUPPORTED = {
    "Delay": "neurokd has no synaptic delays",
    "Threshold": "a stateless threshold without integration is not a neurokd neuron",
    "I": "a non-spiking integrator is not a neurokd neuron",
    "LI": "a non-spiking leaky integrator is not a neurokd neuron",
    "CubaLI": "current-based synapses are not modelled by neurokd neurons",
    "CubaLIF": "current-based synapses (tau_syn) are not modelled by neurokd neurons",
    "NIRGraph": "nested subgraphs (recurrent layers) are not supported",
}


@dataclass
class _Ctx:
    source: str  # file path or "<graph>", for error messages
    dt_override: float | None
    graph_meta: dict[str, Any]
    dtype: torch.dtype

    def fail(self, name: str, node: nir.NIRNode, why: str) -> UserError:
        return UserError(f"NIR graph {self.source}: node '{name}' ({type(node).__name__}) {why}")

    def dt(self, node: nir.NIRNode) -> float:
        if self.dt_override is not None:
            return self.dt_override
        for meta in (node.metadata or {}, self.graph_meta):
            if "dt" in meta:
                return float(meta["dt"])
        return DEFAULT_DT

    def tensor(self, a: Any) -> torch.Tensor:
        return torch.from_numpy(np.array(a, dtype=np.float64 if self.dtype == torch.float64 else np.float32))


def from_nir(graph_or_path: nir.NIRGraph | str | os.PathLike, dt: float | None = None,
             dtype: torch.dtype = torch.float32) -> NIRNetwork:
    """A runnable neurokd SNN (``[T, B, ...]`` in, per-step outputs out) from a NIR graph or ``.nir`` file.

    Args:
        graph_or_path: a ``nir.NIRGraph`` or the path of a NIR HDF5 file.
        dt: time step (s) for the Euler mapping; default: the graph's metadata, else 1e-4.
        dtype: parameter dtype of the returned network.
    """
    if isinstance(graph_or_path, nir.NIRGraph):
        graph, source = graph_or_path, "<graph>"
        check_graph(graph, f"NIR graph {source}")  # read() checks the graphs it reads
    elif isinstance(graph_or_path, str | os.PathLike):
        graph, source = read(graph_or_path), str(Path(graph_or_path))
    else:
        raise UserError(f"from_nir expects a nir.NIRGraph or a file path, got {type(graph_or_path).__name__}")
    if dt is not None and not dt > 0:
        raise UserError(f"from_nir: dt must be > 0, got {dt}")
    meta = plain_metadata(graph.metadata)
    ctx = _Ctx(source, dt, meta, dtype)
    input_name, output_name, order = _structure(graph, ctx)
    key_of = _keys([input_name, *order])
    layers: dict[str, nn.Module] = {}
    sources: dict[str, list[str]] = {}
    node_names: dict[str, str] = {}
    preds = _predecessors(graph)
    for name in order:
        node = graph.nodes[name]
        mapper = NODE_MAP.get(type(node))
        if mapper is None:
            why = UNSUPPORTED.get(type(node).__name__, "is not a node type neurokd can run")
            raise ctx.fail(name, node, f"cannot be imported: {why}")
        srcs = [key_of[p] for p in preds[name]]
        try:
            modules = mapper(node, name, ctx)
        except (ValueError, RuntimeError, TypeError, OverflowError) as e:  # torch's checks of layer arguments
            raise ctx.fail(name, node, f"cannot be built ({str(e).splitlines()[0] if str(e) else e})") from None
        for i, module in enumerate(modules):  # a neuron with input gain maps to [Gain, LIF]
            key = key_of[name] if i == len(modules) - 1 else f"{key_of[name]}__pre{i}"
            layers[key], sources[key], node_names[key] = module, srcs, name
            srcs = [key]
    input_shape = _input_shape(graph.nodes[input_name], input_name, ctx)
    net = NIRNetwork(layers, sources, node_names, key_of[input_name],
                     [key_of[p] for p in preds[output_name]], input_shape, [], meta)
    net = net.to(dtype).eval()
    net.output_shape = _dry_run(net, ctx)
    return net


# ---------------------------------------------------------------------------------------------- structure
def _structure(graph: nir.NIRGraph, ctx: _Ctx) -> tuple[str, str, list[str]]:
    """(input node, output node, the other nodes in topological order); rejects what we cannot run."""
    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    outputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise UserError(f"NIR graph {ctx.source}: needs exactly one Input and one Output node, found "
                        f"{len(inputs)} Input ({', '.join(inputs) or '-'}) and {len(outputs)} Output "
                        f"({', '.join(outputs) or '-'})")
    for a, b in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                raise UserError(f"NIR graph {ctx.source}: edge ({a!r}, {b!r}) names node '{end}', which does "
                                "not exist")
    preds = _predecessors(graph)
    for n, p in preds.items():
        if not p and n != inputs[0]:
            raise ctx.fail(n, graph.nodes[n], "has no incoming edge (only the Input node may be a root)")
    order = topological_order(graph)
    if len(order) != len(graph.nodes):
        stuck = next(n for n in graph.nodes if n not in order)
        raise ctx.fail(stuck, graph.nodes[stuck], "is on a cycle: recurrent connections are not supported")
    if inputs[0] in [b for _, b in graph.edges]:
        raise ctx.fail(inputs[0], graph.nodes[inputs[0]], "has incoming edges")
    if any(a == outputs[0] for a, _ in graph.edges):
        raise ctx.fail(outputs[0], graph.nodes[outputs[0]], "has outgoing edges")
    return inputs[0], outputs[0], [n for n in order if n not in (inputs[0], outputs[0])]


def _predecessors(graph: nir.NIRGraph) -> dict[str, list[str]]:
    preds: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        if b in preds:
            preds[b].append(a)
    return preds


def _keys(names: list[str]) -> dict[str, str]:
    """Node name -> ModuleDict key (no dots, not a ModuleDict attribute, unique)."""
    reserved = set(dir(nn.ModuleDict()))
    out: dict[str, str] = {}
    for name in names:
        key = name.replace(".", "_") or "node"
        if key in reserved:
            key = f"node_{key}"
        base, i = key, 1
        while key in out.values():
            key, i = f"{base}_{i}", i + 1
        out[name] = key
    return out


def _input_shape(node: nir.Input, name: str, ctx: _Ctx) -> list[int]:
    shape = (node.input_type or {}).get("input")
    if shape is None:
        raise ctx.fail(name, node, "has no shape")
    return [int(d) for d in np.atleast_1d(shape)]


def _dry_run(net: NIRNetwork, ctx: _Ctx) -> list[int]:
    """One sample through every node: shape errors surface here, naming the node. The activations at the
    graph's T are checked against the memory limit first (:mod:`neurokd.guard`); a graph whose bound does not
    fit is measured and run on the meta device only, allocating nothing."""
    T = net.T or 1
    fp = bound(net, net.input_shape)
    meta = fp.inference_bytes(T, 1) > limits().memory_bytes
    x = torch.zeros(1, 1, *net.input_shape, dtype=ctx.dtype, device="meta" if meta else "cpu")
    try:
        if meta:
            fp, out = measure(net, x, after=net.reset_state)
        else:
            with torch.no_grad():
                out = net(x)
    except (RuntimeError, ValueError, IndexError) as e:
        raise UserError(f"NIR graph {ctx.source}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    finally:
        net.reset_state()
    check_memory(fp.inference_bytes(T, 1), f"NIR graph {ctx.source}: one sample of input "
                 f"{'x'.join(map(str, net.input_shape))} at T={T}", "is it the right file?")
    return [int(d) for d in out.shape[2:]]


# ---------------------------------------------------------------------------------------------- nodes
def _ints(v: Any, n: int) -> tuple[int, ...]:
    a = np.atleast_1d(np.asarray(v)).astype(np.int64)
    return tuple(int(x) for x in (np.repeat(a, n) if a.size == 1 else a))


def _padding(v: Any, n: int) -> str | tuple[int, ...]:
    text = padding_text(v)
    return text if text is not None else _ints(v, n)


def _linear(node: nir.Affine | nir.Linear, name: str, ctx: _Ctx) -> list[nn.Module]:
    w = np.asarray(node.weight)
    if w.ndim != 2:
        raise ctx.fail(name, node, f"has a weight of shape {list(w.shape)}; only 2-D weights are supported")
    bias = getattr(node, "bias", None)
    m = nn.utils.skip_init(nn.Linear, w.shape[1], w.shape[0], bias=bias is not None)  # no random init
    with torch.no_grad():
        m.weight.copy_(ctx.tensor(w))
        if bias is not None:
            m.bias.copy_(ctx.tensor(np.broadcast_to(bias, (w.shape[0],))))
    return [m]


def _conv(node: nir.Conv1d | nir.Conv2d, name: str, ctx: _Ctx) -> list[nn.Module]:
    w = np.asarray(node.weight)
    n = 1 if isinstance(node, nir.Conv1d) else 2
    if w.ndim != n + 2:
        raise ctx.fail(name, node, f"has a weight of shape {list(w.shape)}; expected {n + 2}-D")
    groups = int(np.asarray(node.groups).item())
    cls = nn.Conv1d if n == 1 else nn.Conv2d
    m = nn.utils.skip_init(cls, w.shape[1] * groups, w.shape[0], w.shape[2:], stride=_ints(node.stride, n),
                           padding=_padding(node.padding, n), dilation=_ints(node.dilation, n), groups=groups,
                           bias=True)
    with torch.no_grad():
        m.weight.copy_(ctx.tensor(w))
        bias = node.bias if node.bias is not None else np.zeros(w.shape[0])
        m.bias.copy_(ctx.tensor(np.broadcast_to(bias, (w.shape[0],))))
    return [m]


def _avgpool(node: nir.AvgPool2d, name: str, ctx: _Ctx) -> list[nn.Module]:
    # a NIR 1.0.4 file keeps an AvgPool2d's metadata in the graph's (its node type has none; nir/legacy.py)
    moved = ctx.graph_meta.get("node_metadata")
    meta = plain_metadata(node.metadata) or plain_metadata(moved.get(name) if isinstance(moved, dict) else None)
    if meta.get("torch_module") == "AdaptiveAvgPool2d":
        return [nn.AdaptiveAvgPool2d(tuple(int(d) for d in meta["output_size"]))]
    return [nn.AvgPool2d(_ints(node.kernel_size, 2), _ints(node.stride, 2), _ints(node.padding, 2))]


def _sumpool(node: nir.SumPool2d, name: str, ctx: _Ctx) -> list[nn.Module]:
    return [nn.AvgPool2d(_ints(node.kernel_size, 2), _ints(node.stride, 2), _ints(node.padding, 2),
                         divisor_override=1)]


def _flatten(node: nir.Flatten, name: str, ctx: _Ctx) -> list[nn.Module]:
    return [nn.Flatten(torch_dim(node.start_dim), torch_dim(node.end_dim))]  # NIR dims exclude the batch


def _scale(node: nir.Scale, name: str, ctx: _Ctx) -> list[nn.Module]:
    return [Gain(ctx.tensor(node.scale))]


def discrete_neuron(node: nir.LIF | nir.IF, name: str, ctx: _Ctx) -> DiscreteNeuron:
    """The discrete neuron a LIF/IF node describes (Euler convention; metadata preferred when consistent)."""
    dt = ctx.dt(node)
    thr = np.asarray(node.v_threshold, dtype=np.float64)
    v_reset = np.asarray(node.v_reset if node.v_reset is not None else 0.0, dtype=np.float64)
    if np.any(v_reset != 0):
        raise ctx.fail(name, node, "resets to a nonzero v_reset, which neurokd neurons cannot do (reset to 0)")
    if isinstance(node, nir.LIF):
        tau, r = np.asarray(node.tau, dtype=np.float64), np.asarray(node.r, dtype=np.float64)
        if np.any(np.asarray(node.v_leak) != 0):
            raise ctx.fail(name, node, "has v_leak != 0 (a resting potential), which neurokd neurons lack")
        if np.any(tau < dt):
            raise ctx.fail(name, node, f"has tau < dt = {dt:g} s (decay below 0); pass the graph's time "
                           "step with dt=")
        no_leak = np.isinf(tau)
        if np.any(no_leak != np.isinf(r)):
            raise ctx.fail(name, node, "has tau = inf with a finite r, or a finite tau with r = inf: its input "
                           "gain r*dt/tau is 0 or infinite (beta = 1 is written tau = r = inf)")
        # computed in float64, rounded once to the precision the arrays carry (exporter: convention.euler_tau)
        prec = np.result_type(np.asarray(node.tau).dtype, np.float32).type
        finite_tau = np.where(no_leak, 1.0, tau)
        betas = np.where(no_leak, 1.0, 1.0 - dt / finite_tau).astype(prec).astype(np.float64)
        # tau = r = inf (snnTorch's Leaky(beta=1)): the Euler convention r = tau/dt makes the gain exactly 1
        gain = np.where(no_leak, 1.0, r * dt / finite_tau)
    else:
        betas = np.ones(1)
        r = np.asarray(node.r, dtype=np.float64)
        gain = np.ones(1) if np.all(r == 1.0) else r * dt  # r == 1: per-step unit gain (snnTorch/Norse/sinabs)
    for what, arr in (("decay (tau)", betas), ("threshold", thr)):
        if np.unique(arr).size != 1:
            raise ctx.fail(name, node, f"has a {what} that differs between neurons; neurokd neurons share one "
                           "value per layer")
    beta, threshold = float(betas.flat[0]), float(thr.flat[0])
    if threshold <= 0:
        raise ctx.fail(name, node, f"has threshold {threshold:g}; neurokd needs a positive threshold")
    meta = plain_metadata(node.metadata)
    if "beta" in meta and close_to(beta, float(meta["beta"])):
        beta = float(meta["beta"])  # the exporter's exact value
    if "threshold" in meta and np.asarray(node.v_threshold).dtype.type(meta["threshold"]) == thr.flat[0]:
        threshold = float(meta["threshold"])
    reset = str(meta.get("reset", "zero"))
    if reset not in RESETS:
        raise ctx.fail(name, node, f"has reset metadata {reset!r}; expected one of {RESETS}")
    return DiscreteNeuron(beta, threshold, reset, None if close_to(gain, 1.0) else gain)


def _neuron(node: nir.LIF | nir.IF, name: str, ctx: _Ctx) -> list[nn.Module]:
    n = discrete_neuron(node, name, ctx)
    if n.beta == 1.0:
        neuron: LIF = IF(n.threshold, n.reset)  # type: ignore[arg-type]
    else:
        neuron = LIF(n.beta, n.threshold, n.reset)  # type: ignore[arg-type]
    return [neuron] if n.gain is None else [Gain(ctx.tensor(n.gain)), neuron]


NODE_MAP: dict[type, Callable[[Any, str, _Ctx], list[nn.Module]]] = {
    nir.Affine: _linear,
    nir.Linear: _linear,
    nir.Conv1d: _conv,
    nir.Conv2d: _conv,
    nir.AvgPool2d: _avgpool,
    nir.SumPool2d: _sumpool,
    nir.Flatten: _flatten,
    nir.Scale: _scale,
    nir.LIF: _neuron,
    nir.IF: _neuron,
}
