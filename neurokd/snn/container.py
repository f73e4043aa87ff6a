"""``MultiStep``: neurokd's spiking layers in your own PyTorch network, on time-major ``[T, B, ...]`` input.

Like ``nn.Sequential``, but the input is a sequence: stateless layers (conv, linear, BatchNorm, pooling,
flatten, ...) run once on the time-folded ``[T*B, ...]`` and the spiking neurons (:class:`~neurokd.snn.LIF`,
:class:`~neurokd.snn.IF`, also inside nested blocks) unfold it and integrate over T, the layout the zoo's twins
use (SpikingJelly's multi-step mode with ``SeqToANNContainer``, in one container)::

    net = MultiStep(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), LIF(beta=0.9),
                    nn.Flatten(), nn.Linear(8 * 8 * 8, 10))
    logits = net(encode(x, T=4)).mean(0)   # [4, B, 1, 8, 8] -> [4, B, 10] -> rate-coded [B, 10]

Neurons inside a ``MultiStep`` take T from the input at every call. A nested ``MultiStep`` gets its input as
``[T, B, ...]`` again. Gradients flow as in the zoo (surrogate spikes, the neuron's hand-written BPTT).
"""

from __future__ import annotations

from torch import Tensor, nn

from neurokd.snn.folding import fold, unfold
from neurokd.snn.neurons import spiking_neurons


class MultiStep(nn.Sequential):
    """Sequential layers over ``[T, B, ...]``: stateless layers once on ``[T*B, ...]``, neurons over T."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """``x: [T, B, ...]`` -> the last layer's output ``[T, B, ...]``."""
        if x.ndim < 2:
            raise ValueError(f"MultiStep takes a time-major sequence [T, B, ...], got shape {list(x.shape)}")
        T = x.shape[0]
        for neuron in spiking_neurons(self):
            neuron.T = T
        h = fold(x)
        for layer in self:
            h = fold(layer(unfold(h, T))) if isinstance(layer, MultiStep) else layer(h)
        return unfold(h, T)

    def reset_state(self) -> None:
        """Clear the membranes kept by stateful neurons (``neuron.stateful = True``, streaming)."""
        for neuron in spiking_neurons(self):
            neuron.reset_state()


__all__ = ["MultiStep"]
