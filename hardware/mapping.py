"""Core allocation on a neuromorphic chip: how many cores each layer needs, and whether the network fits.

Model (stated in every mapping's ``assumptions``):

- A neuron layer's compartments (neurons) are what a core holds, a rectangular block of them (``[channels,
  *spatial]`` after convolutions, a run of outputs after linear layers), together with the synapses of *every*
  connection layer feeding that neuron layer: a residual block's output neurons receive conv2's synapses plus
  the shortcut's (its downsample convolution, or one identity synapse per neuron from the block input). The
  layer is named after its first connection layer (``stage1.0.conv2``); the final readout layer, fed by no
  neuron, is mapped the same way. Blocks are chosen per layer: the fewest cores whose blocks satisfy every
  per-core limit the profile gives.
- Per-core limits: ``neurons_per_core``; ``synaptic_memory_per_core`` >= synapses x ``weight_bits`` (a synapse
  is one nonzero weight on one connection: convolution weights are stored per connection, no weight sharing;
  list headers, delays and tags are not counted, so this is a lower bound); ``fan_in_axons_per_core`` >=
  distinct input neurons feeding the block; ``fan_out_axons_per_core`` >= sum over the block's neurons of the
  number of destination cores their spikes must reach; ``fan_out_cores_per_neuron`` >= a neuron's destination
  cores (TrueNorth). Chip limits: ``cores_per_chip``, ``neurons_per_chip``, ``synapses_per_chip``.
- Connections are traced from one forward pass (:mod:`neurokd.hardware.layer_graph`: which neuron layer feeds
  which connection layer, and which connection layers and shortcuts are added into which neuron layer); fan-in (distinct input neurons, summed
  over the incoming synapse layers, which come from different neuron layers) and fan-out are exact for that
  connectivity (zero weights, padding, stride, dilation and groups included).

A limit the profile does not give is listed as *unchecked*, with the profile's reason; it is never assumed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from neurokd.hardware.chips import ChipProfile
from neurokd.hardware.layer_graph import MappedLayer, TracedNode, trace_layers
from neurokd.models.fold import fold_batchnorm

LIMITS = ("neurons_per_core", "synaptic_memory_per_core", "fan_in_axons_per_core", "fan_out_axons_per_core",
          "fan_out_cores_per_neuron", "weight_bits_max", "cores_per_chip", "neurons_per_chip", "synapses_per_chip")
_CHUNK_ELEMENTS = 1 << 24  # elements per batched block-mask computation


@dataclass
class LayerMapping:
    name: str
    type: str
    neurons: int
    synapses: int
    block: list[int]
    cores: int | None  # None: the layer fits no core, so it has no allocation
    max_neurons_per_core: int
    max_synapse_bytes_per_core: float
    max_fan_in: int | None
    max_fan_out: int | None
    source: str
    fits: bool
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)  # the synapse layers into it (a residual add: several)


@dataclass
class ChipMapping:
    chip: str
    title: str
    supported: bool
    weight_bits: int
    layers: list[LayerMapping] = field(default_factory=list)
    total_cores: int | None = 0  # None when some layer fits no core
    chips_needed: int | None = None
    fits: bool | None = None
    reason: str = ""
    checked: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------------------------- geometry

def _block_sums(values: Tensor, block: tuple[int, ...]) -> Tensor:
    """Sum of ``values`` (shape ``S``) over every block of shape ``block`` tiling ``S`` (edge blocks smaller)."""
    pad = []
    for d, b in zip(reversed(values.shape), reversed(block)):
        pad += [0, (-d) % b]
    v = torch.nn.functional.pad(values, pad)
    shape = []
    for d, b in zip(v.shape, block):
        shape += [d // b, b]
    v = v.reshape(shape)
    return v.sum(dim=tuple(range(1, 2 * len(block), 2)))


def _block_ids(shape: tuple[int, ...], block: tuple[int, ...]) -> Tensor:
    """Block index of every element of ``shape`` (row-major over the grid of blocks)."""
    grid = [math.ceil(d / b) for d, b in zip(shape, block)]
    ids = torch.zeros(shape, dtype=torch.long)
    stride = 1
    for axis in reversed(range(len(shape))):
        idx = torch.arange(shape[axis]) // block[axis]
        view = [1] * len(shape)
        view[axis] = shape[axis]
        ids += idx.reshape(view) * stride
        stride *= grid[axis]
    return ids


def _dim_options(d: int) -> list[int]:
    """Block sizes tried along an axis of length ``d``: every split into at most 16 parts, every split into a
    power of two of parts, and 1 (a layer may fit only one element of this axis per core)."""
    opts = {math.ceil(d / m) for m in range(1, min(d, 16) + 1)}
    k = 1
    while k < d:
        opts.add(math.ceil(d / k))
        k *= 2
    opts.add(1)
    return sorted(opts, reverse=True)


def _candidates(shape: tuple[int, ...], max_neurons: int) -> list[tuple[int, ...]]:
    """Block shapes holding at most ``max_neurons`` elements, fewest blocks first."""
    out = []
    for block in itertools.product(*(_dim_options(d) for d in shape)):
        if math.prod(block) <= max_neurons:
            out.append(block)
    cores = lambda b: math.prod(math.ceil(d / x) for d, x in zip(shape, b))  # noqa: E731
    return sorted(out, key=lambda b: (cores(b), -math.prod(b), tuple(-x for x in b)))


class _Connectivity:
    """Binary connectivity of one connection layer (nonzero weights), per sample and time step."""

    def __init__(self, node: TracedNode):
        self.node = node
        m = node.module
        self.nz = (m.weight.detach() != 0).float().cpu()
        self.is_conv = not isinstance(m, nn.Linear)
        if self.is_conv and isinstance(m.padding, str):
            raise NotImplementedError(f"layer {node.name}: padding={m.padding!r} is not supported by mapping")
        if not self.is_conv and len(node.in_shape) != 1:
            raise NotImplementedError(f"layer {node.name}: linear layers over extra axes are not supported by mapping")

    def synapses_per_neuron(self) -> Tensor:
        """Stored synapses of each output neuron (nonzero weights on valid, non-padding inputs)."""
        m = self.node.module
        if not self.is_conv:
            return self.nz.sum(1).double()
        ones = torch.ones((1, *self.node.in_shape), dtype=torch.float64)
        with torch.no_grad():
            out = torch.nn.functional.__dict__[f"conv{ones.ndim - 2}d"](
                ones, self.nz.double(), None, m.stride, m.padding, m.dilation, m.groups)
        return out[0]

    def input_masks(self, indicators: Tensor) -> Tensor:
        """``indicators [n, *out_shape]`` (0/1 blocks) -> ``[n, *in_shape]`` 0/1 inputs feeding each block."""
        if not self.is_conv:
            return (indicators @ self.nz > 0).float()
        return (self._grad_input(indicators) > 0).float()

    def _grad_input(self, out: Tensor) -> Tensor:
        """Transposed convolution of ``out [n, *out_shape]`` with the weight mask -> ``[n, *in_shape]``."""
        m = self.node.module
        grad_input = getattr(torch.nn.grad, f"conv{out.ndim - 2}d_input")
        with torch.no_grad():
            return grad_input((out.shape[0], *self.node.in_shape), self.nz, out, m.stride, m.padding,
                              m.dilation, m.groups)

    def fan_in(self, block: tuple[int, ...], want_dest: bool) -> tuple[Tensor, Tensor | None]:
        """Distinct inputs of every block (row-major over the grid of blocks); with ``want_dest`` also, per input
        element, the number of blocks it feeds."""
        shape = self.node.out_shape
        if all(b == 1 for b in block):  # one neuron per block: its inputs are its synapses, no union needed
            ones = torch.ones((1, *shape))
            dest = None
            if want_dest:
                dest = (ones @ self.nz)[0] if not self.is_conv else self._grad_input(ones)[0]
            return self.synapses_per_neuron().reshape(-1), dest
        ids = _block_ids(shape, block)
        n_blocks = int(ids.max()) + 1
        per = max(1, _CHUNK_ELEMENTS // max(math.prod(shape), math.prod(self.node.in_shape)))
        counts = torch.zeros(n_blocks, dtype=torch.float64)
        dest = torch.zeros(self.node.in_shape) if want_dest else None
        for start in range(0, n_blocks, per):
            stop = min(n_blocks, start + per)
            ind = (ids.unsqueeze(0) == torch.arange(start, stop).reshape(-1, *([1] * len(shape)))).float()
            masks = self.input_masks(ind)
            counts[start:stop] = masks.reshape(masks.shape[0], -1).sum(1).double()
            if dest is not None:
                dest += masks.sum(0)
        return counts, dest


class _Inputs:
    """Every synapse layer into one mapped layer (connection layers and identity shortcuts), summed: per-neuron
    synapses and per-block distinct inputs. The inputs of a residual block's output neurons come from different
    neuron layers, so their distinct inputs add up (for two inputs from the same layer the sum is an upper
    bound)."""

    def __init__(self, layer: MappedLayer):
        self.layer = layer
        self.conns = [_Connectivity(m.node) if m.node is not None else None for m in layer.members]
        self.ones = torch.ones(layer.out_shape, dtype=torch.float64)

    def synapses_per_neuron(self) -> Tensor:
        return sum((c.synapses_per_neuron() if c is not None else self.ones) for c in self.conns)

    def fan_in(self, block: tuple[int, ...], want_dest: bool) -> tuple[int, list[Tensor | None]]:
        """The largest distinct-input count of any block; with ``want_dest``, per input, how many blocks each of
        its source neurons feeds (an identity input: exactly one)."""
        total, dests = None, []
        for c in self.conns:
            if c is None:
                per, dest = _block_sums(self.ones, block).reshape(-1), (self.ones.float() if want_dest else None)
            else:
                per, dest = c.fan_in(block, want_dest)
            total = per if total is None else total + per
            dests.append(dest)
        return int(total.max()), dests


# ----------------------------------------------------------------------------------------------- mapping

def _single_neuron_failure(syn: Tensor, dest_out: Tensor | None, weight_bits: int, mem: float | None,
                           fan_in_lim: float | None, fan_out_lim: float | None) -> str:
    """Why even a core holding one neuron would break a limit ('' if it would not). A single neuron's
    distinct inputs are its synapses (each weight joins a different input element)."""
    worst = float(syn.max())
    if mem is not None and worst * weight_bits / 8 > mem:
        return f"synaptic memory {worst * weight_bits / 8:.0f} B > {mem:.0f} B per core"
    if fan_in_lim is not None and worst > fan_in_lim:
        return f"fan-in {worst:.0f} input axons > {fan_in_lim:.0f} per core"
    if fan_out_lim is not None and dest_out is not None and float(dest_out.max()) > fan_out_lim:
        return f"fan-out {float(dest_out.max()):.0f} output routes > {fan_out_lim:.0f} per core"
    return ""


def _limit(profile: ChipProfile, name: str) -> float | None:
    c = profile.arch(name)
    return c.value if c is not None else None


def map_network(model: nn.Module, example: Tensor, profile: ChipProfile, weight_bits: int = 8) -> ChipMapping:
    """Allocate ``model``'s layers to cores of ``profile``'s chip. ``example``: one input batch (its first
    sample is used). BatchNorm is folded first (the deployment form)."""
    result = ChipMapping(chip=profile.name, title=profile.title, supported=False, weight_bits=weight_bits)
    for name in LIMITS:
        c = profile.arch(name)
        if c is not None:
            result.checked.append(f"{name} = {profile.cite(c)}")
        elif name in profile.absent:
            result.unchecked.append(f"{name}: {profile.absent[name]}")
    npc = _limit(profile, "neurons_per_core")
    if npc is None:
        reason = profile.absent.get("architecture", "the profile gives no neurons_per_core")
        result.reason = f"mapping not available for {profile.title}: {reason}"
        return result
    result.supported = True
    mem = _limit(profile, "synaptic_memory_per_core")
    fan_in_lim = _limit(profile, "fan_in_axons_per_core")
    fan_out_lim = _limit(profile, "fan_out_axons_per_core")
    fan_out_neuron = _limit(profile, "fan_out_cores_per_neuron")
    model = fold_batchnorm(model)
    spec_shape = getattr(getattr(model, "spec", None), "input_shape", None)
    if spec_shape is not None and example.ndim == len(spec_shape) + 2:  # a time-major sequence (event frames)
        example = example[:, :1]
    elif example.ndim > 1:
        example = example[:1]
    layers = trace_layers(model, example)
    by_name = {layer.name: layer for layer in layers}
    unmapped_consumers: dict[str, list[str]] = {}  # layer -> its consumers that fit no core (fan-out unknown)
    mapped: dict[str, LayerMapping] = {}
    limits = (mem, fan_in_lim, fan_out_lim)
    for layer in reversed(layers):  # consumers first: their blocks decide their sources' fan-out
        lm, dests = _map_layer(layer, unmapped_consumers.get(layer.name), int(npc), weight_bits, limits)
        if lm.cores is None:  # this layer's blocks are unknown, so its sources' fan-out is too
            for m in layer.members:
                if m.source is not None:
                    unmapped_consumers.setdefault(m.source, []).append(layer.name)
        else:
            for m, dest in zip(layer.members, dests):
                if m.source is not None and dest is not None:
                    src = by_name[m.source]
                    flat = dest.reshape(src.out_shape)
                    src.dest_count = flat if src.dest_count is None else src.dest_count + flat
        if fan_out_neuron is not None and layer.dest_count is not None and \
                float(layer.dest_count.max()) > fan_out_neuron:
            lm.fits = False
            lm.reasons.append(f"a neuron's spikes must reach {int(layer.dest_count.max())} cores > "
                              f"{fan_out_neuron:.0f} destination per neuron")
        mapped[layer.name] = lm
    result.layers = [mapped[layer.name] for layer in layers]
    _totals(result, profile, weight_bits)
    result.assumptions = _assumptions(weight_bits)
    return result


def _map_layer(layer: MappedLayer, unmapped: list[str] | None, npc: int, weight_bits: int,
               limits: tuple[float | None, float | None, float | None]) -> tuple[LayerMapping, list[Tensor | None]]:
    """The fewest-core block of one layer that meets every per-core limit (``limits``: synaptic memory, fan-in,
    fan-out; None where the profile gives none); one neuron per core and no allocation when nothing fits. Also
    returns, per input, how many of the chosen blocks each source neuron feeds (see :meth:`_Inputs.fan_in`)."""
    mem, fan_in_lim, fan_out_lim = limits
    inputs = _Inputs(layer)
    syn = inputs.synapses_per_neuron()
    dest_out = None if unmapped else layer.dest_count
    notes = [f"fan-out not checked: its consumer {', '.join(unmapped)} fits no core"] if unmapped else []
    chosen = None
    last_fail = _single_neuron_failure(syn, dest_out, weight_bits, mem, fan_in_lim, fan_out_lim)
    for block in [] if last_fail else _candidates(layer.out_shape, npc):
        syn_bytes = float(_block_sums(syn, block).max()) * weight_bits / 8
        if mem is not None and syn_bytes > mem:
            last_fail = f"synaptic memory {syn_bytes:.0f} B > {mem:.0f} B per core"
            continue
        fan_out = int(_block_sums(dest_out, block).max()) if dest_out is not None else None
        if fan_out_lim is not None and fan_out is not None and fan_out > fan_out_lim:
            last_fail = f"fan-out {fan_out} output routes > {fan_out_lim:.0f} per core"
            continue
        fan_in = inputs.fan_in(block, want_dest=False)[0] if fan_in_lim is not None else None
        if fan_in_lim is not None and fan_in > fan_in_lim:
            last_fail = f"fan-in {fan_in} input axons > {fan_in_lim:.0f} per core"
            continue
        chosen = (block, syn_bytes, fan_in, fan_out)
        break
    reasons, dests = [], []
    if chosen is None:
        # nothing fits: describe one neuron per core, but its core count is no allocation (None)
        reasons.append(f"not even one neuron per core fits: {last_fail}")
        block = tuple(1 for _ in layer.out_shape)
        chosen = (block, float(syn.max()) * weight_bits / 8, int(syn.max()),
                  int(dest_out.max()) if dest_out is not None else None)
        cores = None
    else:
        cores = math.prod(math.ceil(d / b) for d, b in zip(layer.out_shape, chosen[0]))
        fan_in, dests = inputs.fan_in(chosen[0], want_dest=True)
        chosen = (*chosen[:2], fan_in, chosen[3])
    block, syn_bytes, fan_in, fan_out = chosen
    return LayerMapping(
        name=layer.name, type=layer.type, neurons=math.prod(layer.out_shape), synapses=int(syn.sum()),
        block=list(block), cores=cores, max_neurons_per_core=math.prod(block), max_synapse_bytes_per_core=syn_bytes,
        max_fan_in=fan_in, max_fan_out=fan_out, source=_describe_inputs(layer), fits=cores is not None,
        reasons=reasons, notes=notes,
        inputs=[m.node.name if m.node is not None else f"identity from {m.source_neuron}" for m in layer.members]
    ), dests


def _describe_inputs(layer: MappedLayer) -> str:
    """Where a layer's inputs come from, e.g. ``spikes of stage1.0.conv1 + identity: spikes of stem.0``."""
    parts = []
    for m in layer.members:
        kind = "binary input" if m.binary_input else "non-binary input"
        if m.pool is not None:
            text = f"{kind}: the output of pooling layer {m.pool}"
        elif m.source_neuron is None:
            text = f"{kind} not produced by spiking neurons (the model input)"
        elif m.source is None:
            text = f"spikes of {m.source_neuron} (not fed by a connection layer: its fan-out is not checked)"
        else:
            text = f"spikes of {m.source}"
        parts.append(text if m.node is not None else f"identity: {text}")
    return " + ".join(parts)


def _totals(result: ChipMapping, profile: ChipProfile, weight_bits: int) -> None:
    """Cores, chips and the verdict. A network that does not fit is reported by its root causes only: a layer
    that fits no core (its source's fan-out is then left unchecked, not failed) or a chip-wide limit."""
    bad = [lm for lm in result.layers if not lm.fits]
    wmax = _limit(profile, "weight_bits_max")
    chip_wide = [f"{weight_bits}-bit weights > the {wmax:.0f}-bit maximum"] if wmax is not None and \
        weight_bits > wmax else []
    unallocated = any(lm.cores is None for lm in result.layers)
    result.total_cores = None if unallocated else sum(lm.cores for lm in result.layers)
    needs = []
    cpc = _limit(profile, "cores_per_chip")
    if cpc and result.total_cores is not None:
        needs.append((math.ceil(result.total_cores / cpc), f"{result.total_cores} cores, {cpc:.0f} per chip"))
    npchip = _limit(profile, "neurons_per_chip")
    if npchip:
        n = sum(lm.neurons for lm in result.layers)
        needs.append((math.ceil(n / npchip), f"{n} neurons, {npchip:.0f} per chip"))
    spchip = _limit(profile, "synapses_per_chip")
    if spchip:
        s = sum(lm.synapses for lm in result.layers)
        needs.append((math.ceil(s / spchip), f"{s} synapses, {spchip:.0f} per chip"))
    result.chips_needed = None if unallocated else max((n for n, _ in needs), default=None)
    if bad or chip_wide:
        result.fits = False
        causes = chip_wide + [f"{lm.name}: {', '.join(lm.reasons)}" for lm in bad[:3]]
        result.reason = "does not fit: " + "; ".join(causes) + (
            f"; and {len(bad) - 3} more layers" if len(bad) > 3 else "")
    elif result.chips_needed is not None and result.chips_needed > 1:
        result.fits = False
        why = max(needs)[1]
        result.reason = f"needs {result.chips_needed} chips ({why})"
    else:
        result.fits = True
        result.reason = (f"fits on one chip: {result.total_cores} cores"
                         + (f" of {cpc:.0f}" if cpc else ""))
    for lm in result.layers:
        if lm.source.startswith("non-binary input"):
            mac = profile.absent.get("mac")
            result.notes.append(f"{lm.name} receives non-binary input" + (f": {mac}" if mac else ""))
        result.notes += [f"{lm.name}: {n}" for n in lm.notes]


def _assumptions(weight_bits: int) -> list[str]:
    return [
        "each connection layer's outputs are compartments; a core holds one rectangular block of them",
        f"synaptic memory = stored synapses x {weight_bits} bits (no convolutional weight sharing; list headers, "
        "delays and tags not counted: a lower bound)",
        "fan-in = distinct input neurons feeding a core, over every synapse layer into the neuron layer (a residual "
        "block's output neurons: conv2 plus the shortcut); fan-out = sum over a core's neurons of destination cores",
        "connectivity traced from one forward pass; an identity shortcut is one synapse per neuron",
        "the output layer's readout units are mapped like neurons",
    ]


__all__ = ["ChipMapping", "LayerMapping", "map_network", "trace_layers"]
