"""The netx ``.net`` HDF5 network description (lava-dl 0.6 ``netx.hdf5.Network``) as typed layers.

The types here own the network's structure and shape arithmetic; :mod:`~neurokd.exporters.lava.netx_writer`
writes them and :mod:`~neurokd.exporters.lava.netx_reader` reads and validates files into them (the way NIR
keeps its IR apart from ``read``/``write``). Written with h5py alone, so exporting needs no Lava install. Layout (``/layer/<i>``, run in order)::

    type      S10 array of shape (1,): b'input' | b'conv' | b'flatten' | b'dense'
    shape     int array: (C, H, W) for input/conv (netx reverses it to its (W, H, C) port order), (N,) for dense
    conv      inChannels, outChannels, kernelSize (kH, kW), stride, padding, dilation (H, W order), groups,
              weight (out, in/groups, kH, kW) integers (PyTorch layout; netx flips and transposes it itself)
    dense     inFeatures, outFeatures, weight (out, in) integers; a preceding flatten feeds it the (C, H, W)
              feature map flattened in PyTorch order
    bias      optional integers per output channel/neuron; netx uses them as ``bias_mant`` with ``bias_exp = 6``,
              i.e. in the same units as the weights
    neuron/   type 'CUBA', iDecay, vDecay (12-bit, 4096 = 1.0), vThMant, refDelay, gradedSpike (as lava-dl's
              slayer writes them)

netx casts weights and biases with ``astype(int)``; we store them as integers so nothing is truncated. Files
written by neurokd also carry HDF5 *attributes* (invisible to netx, which only reads datasets): the format
tag, the time steps, the input encoding/scale, the readout, and per-layer scales. Files from other writers
(slayer's ``export_hdf5``) read fine without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurokd.errors import UserError

FORMAT = "neurokd-netx/1"

# Loihi 2 / Lava fixed-point ranges (lava.proc.lif.models.PyLifModelBitAcc, lava.lib.dl.netx.utils).
DECAY_ONE = 4096  # 12-bit decays: 4096 = 1.0
VTH_MAX = (1 << 17) - 1  # vThMant is 17-bit unsigned
BIAS_MAX = (1 << 12) - 1  # bias_mant is 13-bit signed
WEIGHT_MIN, WEIGHT_MAX = -256, 254  # what netx's optimize_weight_bits accepts without clipping (mixed sign)


class NetxFormatError(UserError):
    """A ``.net`` file that is missing, unreadable or not a network netx (or neurokd) can run."""


@dataclass(frozen=True)
class Cuba:
    """Integer CUBA neuron parameters as stored in ``neuron/``.

    Lava update per step (see :mod:`neurokd.exporters.lava.numpy_sim`): ``u = u*(4096-iDecay)/4096 + a_in``,
    ``v = v*(4096-vDecay)/4096 + u + bias``, spike if ``v > vThMant`` (all in weight units), then ``v = 0``.
    """

    i_decay: int
    v_decay: int
    v_th_mant: int

    def __post_init__(self) -> None:
        for name, value, hi in (("iDecay", self.i_decay, DECAY_ONE), ("vDecay", self.v_decay, DECAY_ONE),
                                ("vThMant", self.v_th_mant, None)):
            if int(value) != value or value < 0 or (hi is not None and value > hi):
                rng = f"an integer in [0, {hi}]" if hi is not None else "a non-negative integer"
                raise ValueError(f"neuron {name} must be {rng}, got {value}")


@dataclass
class InputLayer:
    shape: tuple[int, ...]  # (C, H, W) or (N,)
    kind: str = field(default="input", init=False)


@dataclass
class FlattenLayer:
    shape: tuple[int, ...]  # (C*H*W, 1, 1), as slayer writes it
    kind: str = field(default="flatten", init=False)


def conv_output_shape(weight_shape: tuple[int, ...], in_shape: tuple[int, ...], stride: tuple[int, int],
                      padding: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int, int]:
    """(C, H, W) output of a 2-D convolution with weights ``(out, in/groups, kH, kW)`` on a (C, H, W) input."""
    _, h, w = in_shape
    kh, kw = weight_shape[2:]
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    return (int(weight_shape[0]), int(ho), int(wo))


@dataclass
class ConvLayer:
    """2-D convolution + CUBA neurons. ``shape`` is the output (C, H, W)."""

    shape: tuple[int, int, int]
    weight: np.ndarray  # int (out, in/groups, kH, kW)
    neuron: Cuba
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    bias: np.ndarray | None = None  # int (out,)
    attrs: dict[str, Any] = field(default_factory=dict)
    kind: str = field(default="conv", init=False)

    @property
    def in_channels(self) -> int:
        return int(self.weight.shape[1]) * self.groups

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, int, int]:
        """(C, H, W) output of this convolution on an input of (C, H, W) ``in_shape``."""
        return conv_output_shape(self.weight.shape, in_shape, self.stride, self.padding, self.dilation)


@dataclass
class DenseLayer:
    """Fully connected synapses + CUBA neurons. ``shape`` is ``(out,)``."""

    shape: tuple[int]
    weight: np.ndarray  # int (out, in)
    neuron: Cuba
    bias: np.ndarray | None = None  # int (out,)
    attrs: dict[str, Any] = field(default_factory=dict)
    kind: str = field(default="dense", init=False)


Layer = InputLayer | FlattenLayer | ConvLayer | DenseLayer
SynapticLayer = ConvLayer | DenseLayer


@dataclass
class NetxNetwork:
    """A feed-forward netx network: ``layers`` in order plus neurokd's metadata (``meta``, may be empty)."""

    layers: list[Layer]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def synaptic_layers(self) -> list[SynapticLayer]:
        """The layers that become Lava processes (each adds one time step of latency)."""
        return [la for la in self.layers if isinstance(la, ConvLayer | DenseLayer)]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input frame, (C, H, W) or (N,)."""
        first = self.layers[0]
        if isinstance(first, InputLayer):
            return tuple(first.shape)
        if isinstance(first, DenseLayer):
            return (int(first.weight.shape[1]),)
        if "input_shape" in self.meta:
            return tuple(self.meta["input_shape"])
        raise NetxFormatError("the network starts with a conv layer but records no input shape; add an 'input' "
                              "layer or pass input_shape (C, H, W)")
