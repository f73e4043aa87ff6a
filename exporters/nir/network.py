"""``NIRNetwork``: an imported NIR graph as a runnable neurokd SNN over ``[T, B, ...]``.

Execution follows neurokd's convention (docs/training.md): the sequence is folded to ``[T*B, ...]`` once, every
stateless node (conv, affine, pooling, flatten, scale) runs once over all steps, and neurons (neurokd ``LIF``
modules with ``T`` set) unfold internally. Nodes run in topological order; a node with several incoming edges
gets the sum of its inputs, added left to right in edge order (as a residual ``out + identity``).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from neurokd.snn.encoders import encode
from neurokd.snn.folding import fold, unfold
from neurokd.snn.neurons import LIF, spiking_neurons


class Gain(nn.Module):
    """Elementwise input gain ``x * g`` (a NIR ``Scale`` node, or a neuron's ``r*dt/tau`` when it is not 1)."""

    def __init__(self, gain: Tensor):
        super().__init__()
        self.register_buffer("gain", gain)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gain


class NIRNetwork(nn.Module):
    """A NIR graph as a neurokd SNN.

    ``forward(x)``: ``x`` is a sequence ``[T, B, *input_shape]`` (or a static ``[B, *input_shape]``, encoded
    over ``self.T`` steps with the graph's recorded encoding); returns the output node's per-step values
    ``[T, B, *output_shape]``. :meth:`logits` is their mean over time (neurokd's readout).

    Attributes:
        layers: ``ModuleDict`` of node modules, in execution order (keys: node names with ``.`` -> ``_``).
        node_names: key -> the node's name in the NIR graph.
        sources: key -> the keys whose outputs feed it (``input_key`` for the graph input).
        metadata: the graph's metadata (``dt``, ``T``, ``encoding``, ...; empty for foreign graphs).
    """

    def __init__(self, layers: dict[str, nn.Module], sources: dict[str, list[str]], node_names: dict[str, str],
                 input_key: str, output_sources: list[str], input_shape: list[int], output_shape: list[int],
                 metadata: dict[str, Any]):
        super().__init__()
        self.layers = nn.ModuleDict(layers)
        self.sources = sources
        self.node_names = node_names
        self.input_key = input_key
        self.output_sources = output_sources
        self.input_shape = list(input_shape)
        self.output_shape = list(output_shape)
        self.metadata = dict(metadata)
        self.T: int | None = int(metadata["T"]) if "T" in metadata else None
        self.encoding: str = str(metadata.get("encoding", "direct"))
        # how many nodes read each value: lets forward drop activations as soon as they are used up
        self._uses: dict[str, int] = {}
        for srcs in [*sources.values(), output_sources]:
            for s in srcs:
                self._uses[s] = self._uses.get(s, 0) + 1

    def neurons(self) -> dict[str, LIF]:
        """Node key -> neuron module, in execution order."""
        return {k: m for k, m in self.layers.items() if isinstance(m, LIF)}

    def set_stateful(self, stateful: bool) -> None:
        """Carry membranes across calls (streaming, one step at a time); clears stored state."""
        for m in spiking_neurons(self):
            m.stateful = stateful
            m.reset_state()

    def reset_state(self) -> None:
        for m in spiking_neurons(self):
            m.reset_state()

    def _sequence(self, x: Tensor) -> Tensor:
        static_ndim = len(self.input_shape) + 1
        if x.ndim == static_ndim + 1 and list(x.shape[2:]) == self.input_shape:
            return x
        if x.ndim == static_ndim and list(x.shape[1:]) == self.input_shape:
            if self.T is None:
                raise ValueError("static input needs T: the graph records none; pass a sequence [T, B, ...] "
                                 "or set network.T")
            return encode(x, self.T, self.encoding)  # type: ignore[arg-type]
        raise ValueError(f"expected input [T, B, {', '.join(map(str, self.input_shape))}] or "
                         f"[B, {', '.join(map(str, self.input_shape))}], got {list(x.shape)}")

    def forward(self, x: Tensor) -> Tensor:
        seq = self._sequence(x)
        T = seq.shape[0]
        for m in spiking_neurons(self):
            m.T = T
        values: dict[str, Tensor] = {self.input_key: fold(seq)}
        left = dict(self._uses)
        for key, layer in self.layers.items():
            h = self._gather(self.sources[key], values, left)
            try:
                values[key] = layer(h)
            except RuntimeError as e:  # name the node: the torch message alone does not say which
                raise RuntimeError(f"node '{self.node_names[key]}' ({type(layer).__name__}) failed on input "
                                   f"{list(h.shape)}: {str(e).splitlines()[0]}") from e
        return unfold(self._gather(self.output_sources, values, left), T)

    @staticmethod
    def _gather(srcs: list[str], values: dict[str, Tensor], left: dict[str, int]) -> Tensor:
        h = values[srcs[0]]
        for s in srcs[1:]:
            h = h + values[s]
        for s in srcs:
            left[s] -= 1
            if left[s] == 0:
                del values[s]
        return h

    def logits(self, x: Tensor) -> Tensor:
        """Mean over time of the per-step outputs ``[B, *output_shape]`` (neurokd's rate readout)."""
        return self.forward(x).mean(0)

    def extra_repr(self) -> str:
        return f"input={self.input_shape}, output={self.output_shape}, T={self.T}, encoding={self.encoding}"
