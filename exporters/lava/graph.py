"""Residual (DAG) networks in Loihi 2 fixed point: populations of CUBA neurons joined by synapse projections.

netx's ``.net`` format is a chain of layers, so a network whose neurons sum several inputs (a ResNet's
``act2(conv2(...) + shortcut)``) cannot be one. This is what neurokd writes for those instead (``.lava`` files,
:mod:`~neurokd.exporters.lava.graph_writer` / :mod:`~neurokd.exporters.lava.graph_reader`) and runs with the
NumPy model (:mod:`~neurokd.exporters.lava.numpy_sim`) or as a Lava process network
(:mod:`~neurokd.exporters.lava.graph_processes`):

- :class:`Population`: one Lava ``LIF``/``LIFReset`` process (CUBA neurons as in a netx layer), shape (C, H, W)
  or (N,), a per-channel / per-neuron bias in weight units (``bias_exp = 6``, as netx). The last population is
  the readout (non-spiking, its membrane accumulates the logits).
- :class:`Projection`: one synapse process from a population (or the input) into a population: a ``conv`` (a
  Lava ``Conv``) or ``dense`` (a Lava ``Dense``) connection, integer weights ``weight << weight_exp`` (8-bit
  mantissa, one exponent per projection: the synapse group's weight exponent), and a synaptic ``delay``.
  Several projections into one population are summed at its input (Lava adds everything connected to an
  ``InPort``), which is the residual add.

Timing: every projection delivers at step ``p + 1 + delay`` what its source emitted at step ``p``. The *depth*
of a population is the number of steps from an input frame to it; all projections into a population must
arrive at the same depth (``depth(source) + 1 + delay``), so a sample's frames stay aligned through every add.
Shapes and weights are in PyTorch's (C, H, W) order, as in netx files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurokd.exporters.lava.netx import (
    ConvLayer,
    Cuba,
    DenseLayer,
    NetxFormatError,
    NetxNetwork,
    conv_output_shape,
)

FORMAT = "neurokd-lava-graph/1"
SUFFIX = ".lava"
INPUT = "input"  # the name projections use for the network input
WEIGHT_EXP_MAX = 7  # weight exponent range [0, 7]: effective weight = mantissa << exponent
DELAY_MAX = 62  # synaptic delay in steps (6-bit on Loihi 2; lava-dl's netx uses max_delay = 62)


class GraphFormatError(NetxFormatError):
    """A ``.lava`` graph file or network that is missing, malformed or not runnable."""


@dataclass
class Population:
    """CUBA neurons of one layer. ``bias``: ints per channel ``(C,)`` for a (C, H, W) shape, per neuron ``(N,)``
    for (N,); ``attrs``: neurokd's notes (``role``: spiking | readout, ``scale``)."""

    name: str
    shape: tuple[int, ...]
    neuron: Cuba
    bias: np.ndarray | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def bias_array(self) -> np.ndarray:
        """The bias broadcast to the population's shape (int64, weight units)."""
        if self.bias is None:
            return np.zeros(self.shape, np.int64)
        b = np.asarray(self.bias, np.int64)
        return (b.reshape(-1, 1, 1) * np.ones(self.shape, np.int64)) if len(self.shape) == 3 else b.reshape(self.shape)


@dataclass
class Projection:
    """Synapses from ``source`` (a population name or :data:`INPUT`) into ``target``.

    ``weight``: int mantissas, ``(out, in/groups, kH, kW)`` for a conv (Conv1d as kH = 1), ``(out, in)`` for a
    dense projection (its input flattened in (C, H, W) order). Conv geometry is (H, W) pairs.
    """

    name: str
    source: str
    target: str
    weight: np.ndarray
    weight_exp: int = 0
    delay: int = 0
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "conv" if self.weight.ndim == 4 else "dense"

    @property
    def effective_weight(self) -> np.ndarray:
        """``weight << weight_exp`` (int64): what each spike adds, in weight units."""
        return np.asarray(self.weight, np.int64) << int(self.weight_exp)

    @property
    def in_channels(self) -> int:
        return int(self.weight.shape[1]) * self.groups

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Target shape this projection produces from a source of shape ``in_shape``."""
        if self.kind == "conv":
            return conv_output_shape(self.weight.shape, in_shape, self.stride, self.padding, self.dilation)
        return (int(self.weight.shape[0]),)


@dataclass
class LavaGraph:
    """``populations`` in topological order (sources before targets; the last one is the readout), the
    ``projections`` between them, the input frame shape (C, H, W) or (N,), and neurokd's metadata."""

    input_shape: tuple[int, ...]
    populations: list[Population]
    projections: list[Projection]
    meta: dict[str, Any] = field(default_factory=dict)

    def index(self) -> dict[str, int]:
        """Population name -> position."""
        return {p.name: i for i, p in enumerate(self.populations)}

    def incoming(self, name: str) -> list[Projection]:
        return [pr for pr in self.projections if pr.target == name]

    def source_shape(self, name: str) -> tuple[int, ...]:
        if name == INPUT:
            return tuple(self.input_shape)
        return tuple(self.populations[self.index()[name]].shape)

    def depths(self) -> list[int]:
        """Steps from an input frame to each population. Raises ``ValueError`` when the projections into a
        population arrive at different depths (unaligned paths) or a source comes after its target."""
        pos = self.index()
        depth: list[int] = []
        for i, pop in enumerate(self.populations):
            arrivals = {}
            for pr in self.incoming(pop.name):
                if pr.source != INPUT and pos.get(pr.source, len(pos)) >= i:
                    raise ValueError(f"projection {pr.name}: source {pr.source!r} does not come before its "
                                     f"target {pop.name!r} (populations must be in topological order)")
                src_depth = 0 if pr.source == INPUT else depth[pos[pr.source]]
                arrivals[pr.name] = src_depth + 1 + pr.delay
            if not arrivals:
                raise ValueError(f"population {pop.name!r} has no incoming projection")
            if len(set(arrivals.values())) > 1:
                raise ValueError(f"population {pop.name!r}: its inputs arrive after different numbers of steps ("
                                 + ", ".join(f"{k}: {v}" for k, v in arrivals.items())
                                 + "); align them with synaptic delays")
            depth.append(next(iter(arrivals.values())))
        return depth

    @property
    def latency(self) -> int:
        """Steps from an input frame to the readout (the last population)."""
        return self.depths()[-1]

    @property
    def readout(self) -> Population:
        return self.populations[-1]


def graph_of_netx(net: NetxNetwork) -> LavaGraph:
    """A netx chain as a graph: one population per conv/dense layer, one projection into each from the previous
    layer (the first from the input), no delays. Numerically the same network."""
    pops: list[Population] = []
    projs: list[Projection] = []
    source = INPUT
    for i, la in enumerate(net.synaptic_layers):
        name = str(la.attrs.get("name", f"layer{i}"))
        if name == INPUT or name in {p.name for p in pops}:
            name = f"layer{i}"
        pops.append(Population(name, tuple(int(s) for s in la.shape), la.neuron, la.bias, dict(la.attrs)))
        if isinstance(la, ConvLayer):
            projs.append(Projection(name, source, name, la.weight, stride=tuple(la.stride),
                                    padding=tuple(la.padding), dilation=tuple(la.dilation), groups=la.groups))
        elif isinstance(la, DenseLayer):
            projs.append(Projection(name, source, name, la.weight))
        source = name
    return LavaGraph(tuple(net.input_shape), pops, projs, dict(net.meta))


__all__ = ["DELAY_MAX", "FORMAT", "INPUT", "SUFFIX", "WEIGHT_EXP_MAX", "GraphFormatError",
           "LavaGraph", "Population", "Projection", "graph_of_netx"]
