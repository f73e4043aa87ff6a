"""neurokd SNN with residual connections -> :class:`~neurokd.exporters.lava.graph.LavaGraph` in Loihi 2 fixed point.

The model's structure comes from its NIR graph (:func:`neurokd.exporters.nir.to_nir`, BatchNorm folded; read back
as a runnable :class:`~neurokd.exporters.nir.network.NIRNetwork`): one walk of the model serves both exports, and
a residual add there is already what Loihi does with it, several edges fanning into one neuron layer.

1. Populations: every spiking neuron node, plus the readout (the network output, non-spiking).
2. Projections: each input of a population is traced back through the stateless nodes to a population (or the
   network input). The chain between them becomes one synapse process: a single convolution stays a ``conv``
   projection (Conv1d as a 1-pixel-high image); no layer at all (an identity shortcut) becomes a 1x1 depthwise
   ``conv`` of weight 1; any other linear chain ending flat (``AdaptiveAvgPool2d -> Flatten -> Linear``, a
   flatten head) becomes one ``dense`` projection whose weights are the chain's exact linear map (global average
   pooling before the head is folded into the head's weights, ``W / (H W)`` per position).
3. Alignment: Lava delivers a projection's spikes one step later, so a path through ``conv1 -> act1 -> conv2``
   reaches ``act2`` one step after the shortcut does. Each projection gets the synaptic delay that makes all
   inputs of a population arrive at the same depth (the deepest one): the identity and downsample shortcuts of
   a BasicBlock get ``delay = 1``. Delays are exact and cost no neurons (Loihi 2 synapses carry up to 62 steps
   of delay; Lava runs them as ``DelaySparse``); a relay layer of copy neurons would also be exact but adds one
   neuron per shortcut input and its spikes.
4. Scale: every projection into a population is quantized in that population's one integer scale ``S`` (its
   threshold mantissa is ``theta S``; its inputs add in weight units), chosen as for netx layers
   (:mod:`~neurokd.exporters.lava.quantize`): the largest ``S`` that keeps the threshold (17 bits), bias (13 bits)
   and the worst-case input (``2**17``) in range. Each projection has its own weight exponent (a Loihi synapse
   group's ``weight_exp``): the projection with the finest weights uses 8-bit mantissas at exponent 0, the
   others ``round(W S / 2**e)`` with the smallest exponent ``e`` that fits 8 bits (e.g. an identity shortcut
   of weight ``S``). Biases of all inputs add up (conv2's and the downsample's folded BatchNorm).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from neurokd.exporters.lava.graph import DELAY_MAX, INPUT, WEIGHT_EXP_MAX, LavaGraph, Population, Projection
from neurokd.exporters.lava.netx import BIAS_MAX, DECAY_ONE, VTH_MAX, Cuba
from neurokd.exporters.lava.quantize import (
    ACT_LIMIT,
    WEIGHT_LEVELS,
    ExportError,
    LayerQuant,
    QuantReport,
    _beta,
    _check_model,
    _conv_params,
    _decay,
    _input_scale,
    _pick_scale,
    exact_threshold,
    export_meta,
    input_range,
)
from neurokd.exporters.nir.network import Gain
from neurokd.snn.neurons import LIF

DENSE_LIMIT = 1 << 26  # weights of a chain folded into one dense projection (in x out)
_LINEAR = (nn.Conv1d, nn.Conv2d, nn.Linear, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
           nn.Flatten, nn.Identity, Gain)


@dataclass
class _Term:
    """One input of a population in float units: ``W`` applied to the source's spikes (or input values)."""

    name: str
    source: str
    kind: str  # conv | dense | identity (a 1x1 depthwise conv of weight 1)
    w: np.ndarray  # float64: conv (out, in/groups, kH, kW), dense (out, in)
    b: np.ndarray  # float64 per target channel (conv) or neuron (dense)
    geometry: dict
    x_max: float = 1.0  # largest |input value| (1: spikes)
    levels: int = 1  # integer levels of one input value
    input_scale: float = 1.0  # integer units per float unit of the input
    delay: int = 0


def lava_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """A model feature shape as a population shape: (C, L) signals become (C, 1, L) images, as in netx files."""
    return (shape[0], 1, shape[1]) if len(shape) == 2 else tuple(shape)


class _Builder:
    """Walks the NIR network of the model and collects populations and their input terms."""

    def __init__(self, net):
        self.net = net
        self.shapes = self._shapes()

    def _shapes(self) -> dict[str, tuple[int, ...]]:
        """Every node's output shape (no batch), from one zero sample through the stateless nodes."""
        net = self.net
        zeros = {net.input_key: torch.zeros(1, *net.input_shape, dtype=torch.float64)}
        for key, layer in net.layers.items():
            h = zeros[net.sources[key][0]]
            zeros[key] = h if isinstance(layer, LIF) else layer(h)
        return {k: tuple(int(d) for d in v.shape[1:]) for k, v in zeros.items()}

    def trace(self, key: str) -> tuple[str, list[str]]:
        """``(source population key, keys of the stateless nodes from it to key)``."""
        net = self.net
        chain: list[str] = []
        while key != net.input_key and not isinstance(net.layers[key], LIF):
            srcs = net.sources[key]
            if len(srcs) != 1:
                raise ExportError(f"{net.node_names[key]}: a {type(net.layers[key]).__name__} applied to a sum of "
                                  "inputs has no Loihi equivalent (inputs may only add up at a neuron layer)")
            chain.insert(0, key)
            key = srcs[0]
        return key, chain

    def term(self, target: str, src: str, chain: list[str]) -> _Term:
        """The synapse layer for ``chain`` (module doc, step 2)."""
        net = self.net
        source = INPUT if src == net.input_key else net.node_names[src]
        mods = [net.layers[k] for k in chain]
        if not mods:
            c = self.shapes[src][0]
            if len(self.shapes[src]) == 1:
                return _Term(f"{net.node_names[target]}_identity", source, "dense", np.eye(c), np.zeros(c), {})
            return _Term(f"{net.node_names[target]}_identity", source, "identity", np.ones((c, 1, 1, 1)),
                         np.zeros(c), {"stride": (1, 1), "padding": (0, 0), "dilation": (1, 1), "groups": c})
        name = net.node_names[chain[-1]]
        if len(mods) == 1 and isinstance(mods[0], nn.Conv1d | nn.Conv2d):
            conv = _conv_params(mods[0])
            b = mods[0].bias.detach().double().numpy() if mods[0].bias is not None else np.zeros(conv["w"].shape[0])
            return _Term(name, source, "conv", conv["w"], b, {k: conv[k] for k in ("stride", "padding", "dilation",
                                                                                     "groups")})
        bad = [type(m).__name__ for m in mods if not isinstance(m, _LINEAR)]
        if bad:
            raise ExportError(f"{name}: {bad[0]} between {source} and {net.node_names[target]} has no Loihi "
                              "synapse equivalent (only convolutions, linear layers, average pooling and flatten)")
        if len(self.shapes[chain[-1]]) != 1:
            raise ExportError(f"{name}: the layers {', '.join(net.node_names[k] for k in chain)} between {source} "
                              f"and {net.node_names[target]} do not form one Loihi synapse layer (a convolution, or "
                              "a chain ending in a linear layer)")
        return self._dense_term(name, source, src, mods)

    def _dense_term(self, name: str, source: str, src: str, mods: list[nn.Module]) -> _Term:
        """The exact linear map of a chain ending flat: weights from the bias-free chain on the unit basis."""
        n_in = int(np.prod(self.shapes[src]))
        with torch.no_grad():
            full = nn.Sequential(*mods).double()
            b = full(torch.zeros(1, *self.shapes[src], dtype=torch.float64))[0].numpy()
            n_out = b.size
            if n_in * n_out > DENSE_LIMIT:
                raise ExportError(f"{name}: folding the layers before it into one dense projection needs "
                                  f"{n_in} x {n_out} weights (more than {DENSE_LIMIT}); use a smaller head")
            bias_free = copy.deepcopy(full)
            for m in bias_free.modules():
                if getattr(m, "bias", None) is not None:
                    m.bias = None
            basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *self.shapes[src])
            w = bias_free(basis).numpy().T
        return _Term(name, source, "dense", np.ascontiguousarray(w), b, {})


def _network(model: nn.Module):
    """The model's NIR graph as a float64 network (BatchNorm folded by the NIR export)."""
    from neurokd.errors import UserError
    from neurokd.exporters.nir.export import to_nir
    from neurokd.exporters.nir.importer import from_nir

    try:
        graph = to_nir(model)
    except UserError as e:
        raise ExportError(f"the Lava graph is built from the model's NIR graph, and {e}") from None
    return from_nir(graph, dtype=torch.float64)


def _populations(model: nn.Module) -> list[tuple[str, tuple[int, ...], LIF | None, list[_Term]]]:
    """``[(name, shape, neuron or None for the readout, input terms)]`` in topological order, terms aligned."""
    net = _network(model)
    builder = _Builder(net)
    pops = []
    for key, layer in net.layers.items():
        if isinstance(layer, LIF):
            terms = [builder.term(key, *builder.trace(s)) for s in net.sources[key]]
            pops.append((net.node_names[key], builder.shapes[key], layer, terms))
    out_terms = []
    for s in net.output_sources:
        src, chain = builder.trace(s)
        if not chain:
            raise ExportError(f"{net.node_names[src]}: the model ends in a spiking neuron; neurokd SNNs read out the "
                              "time-mean of a final linear layer, which this export maps to the output membrane")
        out_terms.append(builder.term(s, src, chain))
    head = net.output_sources[0]
    pops.append((net.node_names[head], builder.shapes[head], None, out_terms))
    _align(pops)
    return pops


def _align(pops) -> None:
    """Give every term the delay that aligns it with its population's deepest input (module doc, step 3)."""
    depth = {INPUT: 0}
    for name, _shape, _neuron, terms in pops:
        d = max(depth[t.source] + 1 for t in terms)
        for t in terms:
            t.delay = d - depth[t.source] - 1
            if t.delay > DELAY_MAX:
                raise ExportError(f"{t.name}: aligning it with the other inputs of {name} needs a delay of {t.delay}"
                                  f" steps, more than Loihi 2's {DELAY_MAX}")
        depth[name] = d


def _row_abs(term: _Term, w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Worst-case |input| per target neuron (population ``shape``) for unit inputs: sum of |weights| feeding it."""
    per_out = np.abs(w).reshape(w.shape[0], -1).sum(1)
    return per_out.reshape(-1, 1, 1) * np.ones(shape) if term.kind != "dense" and len(shape) == 3 else \
        per_out.reshape(shape)


def _worst(terms: list[_Term], ws: list[np.ndarray], b: np.ndarray, shape, levels: bool) -> float:
    total = sum(_row_abs(t, w, shape) * (t.levels if levels else t.x_max) for t, w in zip(terms, ws))
    return float((total + np.abs(_bias_array(b, shape))).max())


def _bias_array(b: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return b.reshape(-1, 1, 1) * np.ones(shape) if len(shape) == 3 and b.size == shape[0] else b.reshape(shape)


def _mantissas(t: _Term, scale: float) -> tuple[np.ndarray, int]:
    """8-bit mantissas and the smallest exponent that fits them, for ``t`` at population scale ``scale``."""
    w = t.w * (scale / t.input_scale)
    e = 0
    while np.abs(np.rint(w / (1 << e))).max() > WEIGHT_LEVELS:
        e += 1
    return np.rint(w / (1 << e)).astype(np.int64), e


def _quantize(name: str, shape, neuron: LIF | None, terms: list[_Term], T: int):
    """Threshold, bias and per-term mantissas/exponents of one population at the largest scale every limit allows
    (module doc, step 4). Returns ``(Cuba, bias ints, [(mantissa, exp)], LayerQuant)``."""
    readout = neuron is None
    theta = None if readout else float(neuron.threshold)
    reps = T if readout else 1
    b = sum(t.b for t in terms)
    fine = [t.input_scale * WEIGHT_LEVELS / float(np.abs(t.w).max()) for t in terms]
    bmax = float(np.abs(b).max())
    limits = {"weights": max(fine), "weight exponent": min(fine) * (1 << WEIGHT_EXP_MAX),
              "bias": BIAS_MAX / bmax if bmax > 0 else math.inf,
              "range": ACT_LIMIT / (reps * _worst(terms, [t.w for t in terms], b, shape, False))}
    if theta is not None:
        limits["threshold"] = VTH_MAX / theta
    scale, limit = _pick_scale(limits)
    while True:
        v_th, scale = exact_threshold(name, theta, scale)
        ints = [_mantissas(t, scale) for t in terms]
        b_int = np.clip(np.rint(b * scale), -BIAS_MAX, BIAS_MAX).astype(np.int64)
        # rounding may push the integer worst case over the limit: shrink the scale until it fits
        if reps * _worst(terms, [m << e for m, e in ints], b_int, shape, True) <= ACT_LIMIT:
            break
        scale *= 0.99
    if readout:
        cuba, beta, beta_fixed = Cuba(DECAY_ONE, 0, VTH_MAX), 1.0, 1.0
    else:
        beta = _beta(neuron)
        v_decay, beta_fixed = _decay(beta)
        cuba = Cuba(DECAY_ONE, v_decay, v_th)
    errs = [(m << e) / (scale / t.input_scale) - t.w for t, (m, e) in zip(terms, ints)]
    report = LayerQuant(
        name, "+".join(t.kind for t in terms), "readout" if readout else "spiking", scale, limit,
        max(int(np.abs(m).max()) for m, _ in ints), max(float(np.abs(e).max()) for e in errs),
        math.sqrt(sum(float((e ** 2).sum()) for e in errs) / sum(float((t.w ** 2).sum()) for t in terms)),
        float(np.abs(b_int / scale - b).max()), theta, v_th, beta, beta_fixed)
    return cuba, b_int, ints, report


def quantize_graph(model: nn.Module, calibration: torch.Tensor | np.ndarray | None = None,
                   input_max: float | None = None, input_bits: int = 8) -> tuple[LavaGraph, QuantReport]:
    """A neurokd SNN (any zoo model; residual ones need this form) as a :class:`LavaGraph` and its report.

    Direct-encoded models need the input range: ``calibration`` (representative inputs ``[N, *input_shape]``) or
    ``input_max`` (largest ``|x|``), as for :func:`~neurokd.exporters.lava.quantize.quantize_model`.
    """
    _check_model(model)
    spec = model.spec
    x_max, x_signed, in_levels = input_range(spec, calibration, input_max, input_bits)
    direct = spec.encoder == "direct"
    pops = _populations(model)
    input_scale = 1.0
    if direct:
        first = [(t, sum(u.b for u in terms)) for _n, _s, _m, terms in pops for t in terms if t.source == INPUT]
        input_scale = min(_input_scale(t.w, b, x_max, in_levels) for t, b in first)
        for t, _b in first:
            t.x_max, t.levels, t.input_scale = x_max, in_levels, input_scale
    populations, projections, quants = [], [], []
    for name, shape, neuron, terms in pops:
        shape = lava_shape(shape)
        cuba, b_int, ints, q = _quantize(name, shape, neuron, terms, int(spec.T))
        has_bias = any(np.any(t.b != 0) for t in terms)
        populations.append(Population(name, shape, cuba, b_int if has_bias else None,
                                      {"role": q.role, "scale": q.scale}))
        for t, (m, e) in zip(terms, ints):
            g = t.geometry
            projections.append(Projection(t.name, t.source, name, m, e, t.delay, g.get("stride", (1, 1)),
                                          g.get("padding", (0, 0)), g.get("dilation", (1, 1)), g.get("groups", 1),
                                          {"kind": t.kind}))
        quants.append(q)
    report = QuantReport(spec.encoder, input_scale, in_levels if direct else 1,
                         0.5 / input_scale if direct else 0.0, quants)
    meta = export_meta(spec, report, x_signed, input_bits, quants[-1].scale)
    in_shape = tuple(int(s) for s in spec.input_shape)
    return LavaGraph(lava_shape(in_shape), populations, projections, meta), report


__all__ = ["quantize_graph"]
