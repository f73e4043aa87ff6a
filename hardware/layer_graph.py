"""The layers a chip maps, traced from one forward pass: which neuron layer feeds which connection layer, and
which connection layers and identity shortcuts are added into which neuron layer (a residual ``out + identity``
is seen through a :class:`~torch.overrides.TorchFunctionMode`). Shapes are per sample (``[C, *spatial]``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from neurokd.hardware.activity import ActivityHooks, LayerEvent, model_device
from neurokd.hardware.counting import is_binary


@dataclass
class TracedNode:
    name: str
    module: nn.Module
    kind: str
    in_ptr: int
    out_ptr: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    binary_input: bool


@dataclass
class SynapseInput:
    """One synapse layer into a mapped layer: a connection layer (``node``), or an identity shortcut (``node``
    None: one synapse per neuron from the same position of ``source_neuron``)."""

    node: TracedNode | None
    source_neuron: str | None  # the neuron layer whose spikes are its input (None: external or pooled)
    source: str | None = None  # the mapped layer holding source_neuron's compartments (None: not traced)
    binary_input: bool = True
    pool: str | None = None  # the pooling layer whose output is its input, if any


@dataclass
class MappedLayer:
    """A mapped layer: the compartments that one neuron layer (or the readout) integrates, and its inputs."""

    name: str
    out_shape: tuple[int, ...]
    members: list[SynapseInput]
    dest_count: Tensor | None = None  # per compartment: number of consumer cores (filled by consumers)

    @property
    def type(self) -> str:
        return " + ".join(type(m.node.module).__name__ if m.node else "identity" for m in self.members)


_ADDS = {torch.add, torch.Tensor.add, torch.Tensor.add_, torch.Tensor.__add__, torch.Tensor.__radd__,
         torch.Tensor.__iadd__}


class _AddTracer(TorchFunctionMode):
    """Calls ``on_add(output, inputs)`` for every tensor addition (a residual ``out + identity``)."""

    def __init__(self, on_add):
        super().__init__()
        self.on_add = on_add

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in _ADDS and isinstance(out, Tensor):
            self.on_add(out, [a for a in args[:2] if isinstance(a, Tensor)])
        return out


def _trace_events(model: nn.Module, example: Tensor) -> tuple[list[tuple[str, Any]], list[Tensor]]:
    """Layer events and additions of one forward pass, in execution order: ``("node", TracedNode)`` and
    ``("add", (out_ptr, in_ptrs))``. The returned tensors keep every traced address from being reused."""
    events: list[tuple[str, Any]] = []
    alive: list[Tensor] = []

    def keep(ev: LayerEvent) -> None:
        alive.extend((ev.x, ev.y))
        events.append(("node", TracedNode(ev.name, ev.module, ev.kind, ev.x.data_ptr(), ev.y.data_ptr(),
                                     tuple(ev.x.shape[2:]), tuple(ev.y.shape[2:]), is_binary(ev.x))))

    def add(out: Tensor, ins: list[Tensor]) -> None:
        alive.extend([out, *ins])
        events.append(("add", (out.data_ptr(), [a.data_ptr() for a in ins])))

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), ActivityHooks(model, keep, kinds=("synapse", "neuron", "pool")), _AddTracer(add):
            model(example.to(model_device(model)))
    finally:
        model.train(was_training)
    return events, alive


def trace_layers(model: nn.Module, example: Tensor) -> list[MappedLayer]:
    """Mapped layers in execution order: each neuron layer's compartments with every synapse layer added into
    them (connection layers and identity shortcuts), and each remaining connection layer on its own."""
    events, _alive = _trace_events(model, example)
    producer: dict[int, Any] = {}  # tensor address -> TracedNode or ("add", [producers])
    layers: dict[str, MappedLayer] = {}  # by the name of their first connection layer
    owner: dict[str, str] = {}  # neuron layer -> the mapped layer of its compartments
    grouped: set[str] = set()
    for what, item in events:
        if what == "add":
            out_ptr, in_ptrs = item
            producer[out_ptr] = ("add", [producer.get(p) for p in in_ptrs])
            continue
        node = item
        if node.kind == "neuron":
            feeds = _feeds(producer.get(node.in_ptr))
            convs = [f for f in feeds if isinstance(f, TracedNode) and f.kind == "synapse"]
            if convs:
                members = [_member(f, producer) if isinstance(f, TracedNode) and f.kind == "synapse"
                           else SynapseInput(None, f[1]) for f in feeds if isinstance(f, TracedNode) or f[0] == "identity"]
                layers[convs[0].name] = MappedLayer(convs[0].name, convs[0].out_shape, members)
                owner[node.name] = convs[0].name
                grouped.update(c.name for c in convs)
        producer[node.out_ptr] = node
    synapses = [item for what, item in events if what == "node" and item.kind == "synapse"]
    for node in synapses:  # connection layers no neuron integrates (the readout)
        if node.name not in grouped:
            layers[node.name] = MappedLayer(node.name, node.out_shape, [_member(node, producer)])
    for layer in layers.values():
        for m in layer.members:
            m.source = owner.get(m.source_neuron) if m.source_neuron else None
    order = [n.name for n in synapses]
    return sorted(layers.values(), key=lambda la: order.index(la.name))


def _feeds(entry: Any) -> list[Any]:
    """What a neuron layer's input sums: connection layers (``TracedNode``), ``("identity", neuron name)`` for a
    neuron layer's spikes added as they are, ``("other",)`` for anything else (the input, pooling)."""
    if isinstance(entry, tuple) and entry[0] == "add":
        return [f for e in entry[1] for f in _feeds(e)]
    if isinstance(entry, TracedNode) and entry.kind == "synapse":
        return [entry]
    if isinstance(entry, TracedNode) and entry.kind == "neuron":
        return [("identity", entry.name)]
    return [("other",)]


def _member(node: TracedNode, producer: dict[int, Any]) -> SynapseInput:
    src = producer.get(node.in_ptr)
    neuron = src.name if isinstance(src, TracedNode) and src.kind == "neuron" else None
    pool = src.name if isinstance(src, TracedNode) and src.kind == "pool" else None
    return SynapseInput(node, neuron, binary_input=node.binary_input, pool=pool)
