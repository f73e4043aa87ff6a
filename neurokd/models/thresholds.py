"""Per-layer neuron settings of an SNN twin: thresholds and the initial membrane from ``spec.neuron``.

Every spiking layer is built with ``neuron.threshold``; ``neuron.thresholds`` (one value per spiking layer, in
:func:`spiking_layer_names` order) overrides them layer by layer, and ``neuron.initial_membrane`` (a fraction of
each layer's threshold) sets where the membrane starts. Both are spec fields, so a model file that records them
rebuilds the same network, and one written before they existed loads with their defaults (none, 0).
"""

from __future__ import annotations

from torch import nn

from neurokd.models.spec import NeuronSpec
from neurokd.snn.neurons import LIF


def spiking_layer_names(model: nn.Module) -> list[str]:
    """Module paths of the spiking layers (LIF/IF), in registration order: the order of ``neuron.thresholds``."""
    return [name for name, m in model.named_modules() if isinstance(m, LIF)]


def apply_neuron_spec(model: nn.Module, neuron: NeuronSpec) -> None:
    """Set each spiking layer's threshold (``neuron.thresholds``, when given) and initial membrane
    (``neuron.initial_membrane`` x its threshold). Raises ValueError when the thresholds do not match the layers."""
    layers = [m for m in model.modules() if isinstance(m, LIF)]
    if neuron.thresholds is not None:
        if len(neuron.thresholds) != len(layers):
            raise ValueError(f"model.neuron.thresholds has {len(neuron.thresholds)} values but the network has "
                             f"{len(layers)} spiking layers (one threshold per layer, in forward order)")
        for m, theta in zip(layers, neuron.thresholds):
            if not theta > 0:
                raise ValueError(f"model.neuron.thresholds: every threshold must be > 0, got {theta}")
            m.threshold = float(theta)
    for m in layers:
        m.v_init = neuron.initial_membrane * m.threshold
