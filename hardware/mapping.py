"""Core allocation on a neuromorphic chip: how many cores each layer needs, and whether the network fits.

Model (stated in every mapping's ``assumptions``):

- Every connection layer's output elements are compartments (neurons) on the chip; a core holds a rectangular
  block of them (``[channels, *spatial]`` for convolutions, a run of outputs for linear layers). Blocks are
  chosen per layer: the fewest cores whose blocks satisfy every per-core limit the profile gives.
- Per-core limits: ``neurons_per_core``; ``synaptic_memory_per_core`` >= synapses x ``weight_bits`` (a synapse
  is one nonzero weight on one connection: convolution weights are stored per connection, no weight sharing;
  list headers, delays and tags are not counted, so this is a lower bound); ``fan_in_axons_per_core`` >=
  distinct input neurons feeding the block; ``fan_out_axons_per_core`` >= sum over the block's neurons of the
  number of destination cores their spikes must reach; ``fan_out_cores_per_neuron`` >= a neuron's destination
  cores (TrueNorth). Chip limits: ``cores_per_chip``, ``neurons_per_chip``, ``synapses_per_chip``.
- Connections are traced from one forward pass (which neuron layer feeds which connection layer); fan-in and
  fan-out are exact for that connectivity (zero weights, padding, stride, dilation and groups included).
  Identity residual connections are not modelled.

A limit the profile does not give is listed as *unchecked*, with the profile's reason; it is never assumed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from neurokd.hardware.activity import ActivityHooks, LayerEvent, model_device
from neurokd.hardware.chips import ChipProfile
from neurokd.hardware.counting import is_binary
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


# ----------------------------------------------------------------------------------------------- tracing

@dataclass
class _Node:
    name: str
    module: nn.Module
    kind: str
    in_ptr: int
    out_ptr: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    binary_input: bool


@dataclass
class _Layer:
    """A connection layer and where its input comes from."""

    node: _Node
    source: str | None = None  # the connection layer whose neurons feed this one (None: not traced)
    source_neuron: str | None = None  # the neuron layer whose spikes are this layer's input (None: external)
    dest_count: Tensor | None = None  # per output element: number of consumer cores (filled by consumers)


def trace_layers(model: nn.Module, example: Tensor) -> list[_Layer]:
    """Connection layers in execution order, each linked to the connection layer driving its input neurons."""
    nodes: list[_Node] = []
    alive: list[Tensor] = []  # holding every traced tensor keeps its address from being reused by another

    def keep(ev: LayerEvent) -> None:
        alive.extend((ev.x, ev.y))
        nodes.append(_Node(ev.name, ev.module, ev.kind, ev.x.data_ptr(), ev.y.data_ptr(),
                           tuple(ev.x.shape[2:]), tuple(ev.y.shape[2:]), is_binary(ev.x)))

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), ActivityHooks(model, keep, kinds=("synapse", "neuron")):
            model(example.to(model_device(model)))
    finally:
        model.train(was_training)
    producer: dict[int, _Node] = {}
    driver: dict[str, str] = {}  # neuron layer -> connection layer whose output it integrates
    layers: list[_Layer] = []
    for node in nodes:
        src = producer.get(node.in_ptr)
        if node.kind == "neuron":
            if src is not None and src.kind == "synapse":
                driver[node.name] = src.name
        else:
            neuron = src.name if (src is not None and src.kind == "neuron") else None
            layers.append(_Layer(node, driver.get(neuron) if neuron else None, neuron))
        producer[node.out_ptr] = node
    return layers


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

    def __init__(self, node: _Node):
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

    def fan_in(self, block: tuple[int, ...], want_dest: bool) -> tuple[int, Tensor | None]:
        """Largest number of distinct inputs of any block; with ``want_dest`` also, per input element, the
        number of blocks it feeds."""
        shape = self.node.out_shape
        if all(b == 1 for b in block):  # one neuron per block: its inputs are its synapses, no union needed
            ones = torch.ones((1, *shape))
            dest = None
            if want_dest:
                dest = (ones @ self.nz)[0] if not self.is_conv else self._grad_input(ones)[0]
            return int(self.synapses_per_neuron().max()), dest
        ids = _block_ids(shape, block)
        n_blocks = int(ids.max()) + 1
        per = max(1, _CHUNK_ELEMENTS // max(math.prod(shape), math.prod(self.node.in_shape)))
        best = 0
        dest = torch.zeros(self.node.in_shape) if want_dest else None
        for start in range(0, n_blocks, per):
            stop = min(n_blocks, start + per)
            ind = (ids.unsqueeze(0) == torch.arange(start, stop).reshape(-1, *([1] * len(shape)))).float()
            masks = self.input_masks(ind)
            best = max(best, int(masks.reshape(masks.shape[0], -1).sum(1).max()))
            if dest is not None:
                dest += masks.sum(0)
        return best, dest


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
    by_name = {layer.node.name: layer for layer in layers}
    unmapped_consumers: dict[str, list[str]] = {}  # layer -> its consumers that fit no core (fan-out unknown)
    mapped: dict[str, LayerMapping] = {}
    for layer in reversed(layers):  # consumers first: their blocks decide their sources' fan-out
        node = layer.node
        conn = _Connectivity(node)
        syn = conn.synapses_per_neuron()
        dest_out = None if node.name in unmapped_consumers else layer.dest_count
        reasons: list[str] = []
        notes: list[str] = []
        if node.name in unmapped_consumers:
            notes.append("fan-out not checked: its consumer " + ", ".join(unmapped_consumers[node.name])
                         + " fits no core")
        chosen = None
        last_fail = _single_neuron_failure(syn, dest_out, weight_bits, mem, fan_in_lim, fan_out_lim)
        for block in [] if last_fail else _candidates(node.out_shape, int(npc)):
            syn_bytes = float(_block_sums(syn, block).max()) * weight_bits / 8
            if mem is not None and syn_bytes > mem:
                last_fail = f"synaptic memory {syn_bytes:.0f} B > {mem:.0f} B per core"
                continue
            fan_out = int(_block_sums(dest_out, block).max()) if dest_out is not None else None
            if fan_out_lim is not None and fan_out is not None and fan_out > fan_out_lim:
                last_fail = f"fan-out {fan_out} output routes > {fan_out_lim:.0f} per core"
                continue
            fan_in, _ = conn.fan_in(block, want_dest=False) if fan_in_lim is not None else (None, None)
            if fan_in_lim is not None and fan_in > fan_in_lim:
                last_fail = f"fan-in {fan_in} input axons > {fan_in_lim:.0f} per core"
                continue
            chosen = (block, syn_bytes, fan_in, fan_out)
            break
        fits = chosen is not None
        if chosen is None:
            # nothing fits: describe one neuron per core, but its core count is no allocation (None)
            block = tuple(1 for _ in node.out_shape)
            reasons.append(f"not even one neuron per core fits: {last_fail}")
            syn_bytes = float(syn.max()) * weight_bits / 8
            fan_out = int(dest_out.max()) if dest_out is not None else None
            fan_in = int(syn.max())
            if layer.source is not None:  # this layer's blocks are unknown, so its source's fan-out is too
                unmapped_consumers.setdefault(layer.source, []).append(node.name)
        else:
            block, syn_bytes, fan_in, fan_out = chosen
            fan_in_exact, dest_in = conn.fan_in(block, want_dest=layer.source is not None)
            if fan_in is None:
                fan_in = fan_in_exact
            if layer.source is not None and dest_in is not None:
                src = by_name[layer.source]
                flat = dest_in.reshape(src.node.out_shape)
                src.dest_count = flat if src.dest_count is None else src.dest_count + flat
        if fan_out_neuron is not None and dest_out is not None and float(dest_out.max()) > fan_out_neuron:
            fits = False
            reasons.append(f"a neuron's spikes must reach {int(dest_out.max())} cores > {fan_out_neuron:.0f} "
                           "destination per neuron")
        if layer.source_neuron is None:
            src_desc = ("binary input" if node.binary_input else "non-binary input") + (
                " not produced by spiking neurons (the model input, or pooling)")
        elif layer.source is None:
            src_desc = (f"spikes of {layer.source_neuron} (whose input is not one connection layer, e.g. a "
                        "residual sum: its fan-out is not checked)")
        else:
            src_desc = f"spikes of {layer.source}"
        cores = math.prod(math.ceil(d / b) for d, b in zip(node.out_shape, block)) if chosen is not None else None
        mapped[node.name] = LayerMapping(
            name=node.name, type=type(node.module).__name__, neurons=math.prod(node.out_shape),
            synapses=int(syn.sum()), block=list(block), cores=cores, max_neurons_per_core=math.prod(block),
            max_synapse_bytes_per_core=syn_bytes, max_fan_in=fan_in, max_fan_out=fan_out, source=src_desc,
            fits=fits, reasons=reasons, notes=notes,
        )
    result.layers = [mapped[layer.node.name] for layer in layers]
    _totals(result, profile, weight_bits)
    result.assumptions = _assumptions(weight_bits)
    return result


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
        "fan-in = distinct input neurons feeding a core; fan-out = sum over a core's neurons of destination cores",
        "connectivity traced from one forward pass; identity residual connections are not modelled",
        "the output layer's readout units are mapped like neurons",
    ]


__all__ = ["ChipMapping", "LayerMapping", "map_network", "trace_layers"]
