"""Spiking core: neurons over ``[T, B, ...]``, surrogate gradients, encoders, time folding, ``MultiStep``."""

from neurokd.snn.container import MultiStep
from neurokd.snn.encoders import ENCODERS, direct_encode, encode, poisson_encode
from neurokd.snn.folding import TimeFolded, fold, unfold
from neurokd.snn.functional import RESETS, lif_sequence, lif_step
from neurokd.snn.neurons import IF, LIF, spiking_neurons
from neurokd.snn.surrogate import SURROGATES, ATan, Sigmoid, Triangle, get_surrogate, spike

__all__ = [
    "ENCODERS", "RESETS", "SURROGATES", "IF", "LIF", "ATan", "MultiStep", "Sigmoid", "TimeFolded", "Triangle",
    "direct_encode", "encode", "fold", "get_surrogate", "lif_sequence", "lif_step", "poisson_encode",
    "spike", "spiking_neurons", "unfold",
]
