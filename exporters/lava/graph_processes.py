"""A :class:`~neurokd.exporters.lava.graph.LavaGraph` as a Lava process network (lava-nc 0.10, fixed point).

One Lava process per population and per projection, the same processes lava-dl's netx builds for a chain:

| graph                          | Lava process                                                               |
|--------------------------------|----------------------------------------------------------------------------|
| population                     | ``LIFReset`` (``LIF`` without resets): ``du = iDecay - 1``, ``dv = vDecay``, |
|                                | ``vth = vThMant``, ``bias_mant``, ``bias_exp = 6`` (as netx)                 |
| conv projection, no delay      | ``Conv`` (kernel flipped and laid out (out, kW, kH, in) exactly as netx does) |
| dense projection, no delay     | ``Dense``                                                                  |
| any projection with a delay    | ``DelaySparse`` (the conv unrolled into its sparse matrix), ``delays = d`` |

Fan-in: every projection into a population connects its ``a_out`` to the population's ``a_in``; Lava sums all
connections into an ``InPort`` (``PyInPortVectorDense.recv``), which is the residual add.

Weights: Lava's ``Conv`` fixed-point model ignores ``weight_exp``, so a conv gets the effective integers
``mantissa << exp``. ``Dense`` / ``DelaySparse`` clip and truncate their weights per sign mode and shift the sum
by ``weight_exp``; they get the mantissas (doubled, with the exponent lowered by one, for mixed signs, whose
8-bit weights are even) and the projection's exponent, which reproduces ``(mantissa << exp) @ s`` exactly.

Ports are (W, H, C) ("x, y, f") as in netx; dense and sparse projections see their source flattened in
(C, H, W) order (``transpose([2, 1, 0]).flatten()``, as netx feeds a dense layer after a flatten) and write
their target through the reverse reshape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurokd.exporters.lava.graph import INPUT, LavaGraph, Population, Projection

BIAS_EXP = 6  # netx's bias exponent: biases are in weight units


@dataclass
class GraphProcesses:
    """The built processes: ``neurons[i]`` for population ``i``, ``synapses[j]`` for projection ``j``, and the
    ports that take the input frames (``inputs``: functions connecting a (W, H, C) source port)."""

    neurons: list[Any]
    synapses: list[Any]
    inputs: list[Any] = field(default_factory=list)


def whc(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A (C, H, W) shape as Lava's (W, H, C) port shape; (N,) stays."""
    return tuple(shape[::-1])


def conv_matrix(pr: Projection, in_shape: tuple[int, int, int], weight: np.ndarray):
    """The convolution of projection ``pr`` on (C, H, W) ``in_shape`` as a sparse matrix
    ``[out C*H*W, in C*H*W]`` of ``weight`` (same layout as ``pr.weight``), both flattened in (C, H, W) order."""
    from scipy.sparse import csr_matrix

    c, h, w = in_shape
    out_c, ho, wo = pr.output_shape(in_shape)
    _, cin_g, kh, kw = weight.shape
    per_group = out_c // pr.groups
    o, y, x, i, ky, kx = np.meshgrid(np.arange(out_c), np.arange(ho), np.arange(wo), np.arange(cin_g),
                                     np.arange(kh), np.arange(kw), indexing="ij")
    ci = (o // per_group) * cin_g + i
    iy = y * pr.stride[0] - pr.padding[0] + ky * pr.dilation[0]
    ix = x * pr.stride[1] - pr.padding[1] + kx * pr.dilation[1]
    vals = weight[o, i, ky, kx]
    keep = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w) & (vals != 0)
    rows = ((o * ho + y) * wo + x)[keep]
    cols = ((ci * h + iy) * w + ix)[keep]
    return csr_matrix((vals[keep], (rows, cols)), shape=(out_c * ho * wo, c * h * w))


def _signed_weights(m, exp: int) -> tuple[Any, int, Any]:
    """(weights, weight_exp, sign mode) for Lava's Dense/Sparse models so that their sum is exactly
    ``(m << exp) @ s`` (module doc)."""
    from lava.utils.weightutils import SignMode

    values = m if isinstance(m, np.ndarray) else m.data  # a scipy sparse matrix: its nonzeros
    lo, hi = min(int(values.min(initial=0)), 0), max(int(values.max(initial=0)), 0)
    if lo < 0 < hi:
        return m * 2, exp - 1, SignMode.MIXED
    return m, exp, SignMode.INHIBITORY if lo < 0 else SignMode.EXCITATORY


def _neuron(pop: Population, depth: int, reset_interval: int | None, reset_offset: int):
    from lava.proc.lif.process import LIF, LIFReset

    params = {"shape": whc(pop.shape), "du": int(pop.neuron.i_decay) - 1, "dv": int(pop.neuron.v_decay),
              "vth": int(pop.neuron.v_th_mant), "bias_mant": pop.bias_array().T.astype(np.int32),
              "bias_exp": BIAS_EXP, "name": pop.name}
    if reset_interval is None:
        return LIF(**params)
    return LIFReset(reset_interval=reset_interval, reset_offset=reset_offset + depth, **params)


def _synapse(pr: Projection, in_shape: tuple[int, ...], message_bits: int):
    """The synapse process of ``pr`` (table in the module doc)."""
    if pr.kind == "conv" and pr.delay == 0:
        from lava.proc.conv.process import Conv

        w = pr.effective_weight[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)  # as netx's create_conv
        return Conv(weight=np.ascontiguousarray(w).astype(np.int32), input_shape=whc(in_shape),
                    padding=tuple(pr.padding[::-1]), stride=tuple(pr.stride[::-1]),
                    dilation=tuple(pr.dilation[::-1]), groups=pr.groups, num_message_bits=message_bits,
                    name=pr.name)
    m = conv_matrix(pr, in_shape, pr.weight) if pr.kind == "conv" else np.asarray(pr.weight, np.int64)
    weights, exp, sign = _signed_weights(m, int(pr.weight_exp))
    common = {"weight_exp": exp, "num_weight_bits": 8, "sign_mode": sign, "num_message_bits": message_bits,
              "name": pr.name}
    if pr.delay == 0:
        from lava.proc.dense.process import Dense

        return Dense(weights=weights.astype(np.int32), **common)
    from lava.proc.sparse.process import DelaySparse
    from scipy.sparse import csr_matrix

    weights = csr_matrix(weights, dtype=np.int32)
    delays = weights.copy().astype(int)
    delays.data[:] = pr.delay
    return DelaySparse(weights=weights, delays=delays, max_delay=pr.delay, **common)


def _flat_in(port, shape: tuple[int, ...]):
    """A (W, H, C) out-port as the (N,) vector a dense/sparse synapse reads, in (C, H, W) order."""
    return port.transpose([2, 1, 0]).flatten() if len(shape) == 3 else port


def build_processes(graph: LavaGraph, input_message_bits: int = 0, reset_interval: int | None = None,
                    reset_offset: int = 0) -> GraphProcesses:
    """Build and connect the processes of ``graph``; population ``i`` resets at phase ``reset_offset + depth``
    (netx's per-layer phase, see :mod:`~neurokd.exporters.lava.numpy_sim`)."""
    depths = graph.depths()
    pos = graph.index()
    neurons = [_neuron(p, d, reset_interval, reset_offset) for p, d in zip(graph.populations, depths)]
    synapses, inputs = [], []
    for pr in graph.projections:
        in_shape = graph.source_shape(pr.source)
        bits = input_message_bits if pr.source == INPUT else 0
        syn = _synapse(pr, in_shape, bits)
        synapses.append(syn)
        target = graph.populations[pos[pr.target]]
        out = syn.a_out
        if pr.kind != "conv" or pr.delay > 0:
            out = out.reshape(target.shape).transpose([2, 1, 0]) if len(target.shape) == 3 else out
        out.connect(neurons[pos[pr.target]].a_in)
        if pr.source == INPUT:
            conv_direct = pr.kind == "conv" and pr.delay == 0
            inputs.append((syn.s_in, conv_direct))
        else:
            src = neurons[pos[pr.source]].s_out
            (src if (pr.kind == "conv" and pr.delay == 0) else _flat_in(src, in_shape)).connect(syn.s_in)
    return GraphProcesses(neurons, synapses, inputs)


def connect_input(procs: GraphProcesses, source_port, input_shape: tuple[int, ...]) -> None:
    """Feed the input frames (a (W, H, C) out-port, e.g. a ``RingBuffer`` source) to every input projection."""
    for s_in, conv_direct in procs.inputs:
        (source_port if conv_direct else _flat_in(source_port, input_shape)).connect(s_in)


__all__ = ["GraphProcesses", "build_processes", "conv_matrix", "connect_input", "whc"]
