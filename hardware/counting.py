"""Exact operation counts from recorded activity: ``count(model, inputs) -> Counts``.

Definitions (per sample, summed over the T time steps of one inference; NeuroBench's ``SynapticOperations``
convention, which ``tests/hardware/test_neurobench.py`` checks us against):

- **effective ACs** (``synops``): for a connection layer (Linear, Conv1d/2d/3d) whose input is binary (every
  value in {-1, 0, 1}, i.e. spikes), the number of (nonzero input, nonzero weight) pairs that the layer's
  connectivity joins: zero weights (pruning) are skipped, and a convolution's zero padding, stride, dilation and
  groups are respected exactly. Bias is not an operation.
- **effective MACs** (``macs``): the same pair count for a layer whose input is not binary: the encoding layer
  fed with analog input (direct encoding), a layer after average pooling, every layer of an ANN.
- **dense** operations: the same count with every input and every weight taken as nonzero (all connections;
  padding borders still respected).
- **neuron updates**: neurons x T (every neuron is updated at every step of a clocked simulation).
- **membrane updates** (NeuroBench's ``MembraneUpdates``): every neuron at the first step, then the (neuron,
  step) pairs whose post-reset membrane potential changed from the previous step: a neuron with no input and
  a resting membrane is not updated (what an event-driven chip skips).
- **spikes**, **firing rate** = spikes / (neurons x T), per layer and per time step; NeuroBench's
  ``ActivationSparsity`` = 1 - firing rate.

How it is exact and cheap: a layer's pair count for one input is ``sum_p mask[p] * fanout[p]``, with
``fanout[p]`` the number of (output, nonzero weight) connections of input element ``p`` (computed once per
layer and input shape by autograd through the layer itself, so stride, padding and padding mode, dilation and
groups are exactly the layer's). A batch then costs one matrix-vector product, in float32 when every partial
sum is an integer below 2^24 (checked), else in float64.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from neurokd.hardware.activity import (
    ActivityHooks,
    LayerEvent,
    iter_batches,
    layer_kind,
    model_device,
    time_steps,
)
from neurokd.models import count_parameters
from neurokd.progress import bar as progress_bar
from neurokd.snn import LIF, spiking_neurons

FLOAT32_EXACT = 1 << 24


def is_binary(x: Tensor) -> bool:
    """Every value in {-1, 0, 1} (NeuroBench's test for spikes)."""
    a = x.abs()
    return torch.equal(a, a.sign())


class _SynapseCounter:
    """Pair counts of one connection layer from its per-input fan-out map.

    The pair count of an input is ``sum_p mask[p] * fanout[p]``, where ``fanout[p]`` is the number of
    (output, nonzero weight) connections input element ``p`` takes part in: the gradient, with respect to the
    input, of the summed output of the layer run on the weight mask. Autograd gives it exactly for any stride,
    padding (and padding mode), dilation and groups; it depends only on the input shape and the weights, so it is
    computed once and a batch costs one matrix-vector product.
    """

    def __init__(self, module: nn.Module):
        self.module = module
        self.is_conv = not isinstance(module, nn.Linear)
        self._maps: dict[tuple, tuple[Tensor, float, bool]] = {}

    def _fanout(self, row_shape: tuple[int, ...], device: torch.device) -> tuple[Tensor, float, bool]:
        """``(fan-out map of nonzero weights [F], dense pairs per row, float32 exact)`` for rows of ``row_shape``."""
        w = self.module.weight
        key = (row_shape, w.data_ptr(), w._version, device)
        if key not in self._maps:
            self._maps.clear()
            nz, ones = (w.detach() != 0).double(), torch.ones_like(w, dtype=torch.float64)
            maps = [self._fanout_of(kernel, row_shape) for kernel in (nz, ones)]
            fan, dense = maps[0].reshape(-1), float(maps[1].sum())
            exact = float(fan.sum()) < FLOAT32_EXACT  # every partial sum of a row's count is an exact float32
            self._maps[key] = (fan.to(device, torch.float32 if exact else torch.float64), dense, exact)
        return self._maps[key]

    def _fanout_of(self, kernel: Tensor, row_shape: tuple[int, ...]) -> Tensor:
        if not self.is_conv:
            return kernel.sum(0).expand(*row_shape)  # [..., in]: a linear layer's fan-out per input feature
        x = torch.ones((1, *row_shape), dtype=torch.float64, device=kernel.device, requires_grad=True)
        with torch.enable_grad():
            self.module._conv_forward(x, kernel, None).sum().backward()
        return x.grad[0]

    def effective(self, mask: Tensor, T: int) -> Tensor:
        """Pair counts per time step ``[T]`` (summed over the batch) of a 0/1 float mask ``[T, B, ...]``."""
        fan, _dense, _exact = self._fanout(tuple(mask.shape[2:]), mask.device)
        rows = mask.reshape(-1, fan.numel()).to(fan.dtype)  # 0/1: exact in any float dtype (float64 models too)
        per_row = rows @ fan
        return per_row.reshape(T, -1).sum(1, dtype=torch.float64)

    def dense_per_row(self, row_shape: tuple[int, ...], device: torch.device) -> float:
        """All-connection count for one input row of shape ``row_shape`` (padding borders respected)."""
        return self._fanout(row_shape, device)[1]


@dataclass
class LayerCounts:
    """Counts for one layer, per sample (summed over T). Synapse fields are None for neuron layers and back."""

    name: str
    type: str
    kind: str  # "synapse" | "neuron"
    # connection layers
    op: str | None = None  # "AC" (binary input), "MAC" (non-binary input), "mixed" (varied between batches)
    acs: float | None = None
    macs: float | None = None
    dense: float | None = None
    acs_per_step: list[float] | None = None
    macs_per_step: list[float] | None = None
    weights: int | None = None
    nonzero_weights: int | None = None
    in_shape: list[int] | None = None
    out_shape: list[int] | None = None
    input_from: str | None = None  # what produced the input: one of INPUT_SOURCES (traced on the first batch)
    # neuron layers
    neurons: int | None = None
    neuron_updates: float | None = None
    membrane_updates: float | None = None
    spikes: float | None = None
    firing_rate: float | None = None
    spikes_per_step: list[float] | None = None
    firing_rate_per_step: list[float] | None = None


@dataclass
class Counts:
    """Per-layer and total counts of one model over ``samples`` inputs; every figure is per sample."""

    network: str  # "snn" | "ann"
    T: int
    samples: int
    layers: list[LayerCounts]
    params: int
    synaptic_weights: int
    nonzero_weights: int
    encoder: str | None = None
    accuracy: float | None = None
    input_kind: str = "static"  # "static" (one tensor per sample) or "event frames" (a [T, B, ...] sequence)
    notes: list[str] = field(default_factory=list)

    # ---- totals (per sample)
    def _sum(self, attr: str, kind: str) -> float:
        return float(sum(getattr(lc, attr) or 0.0 for lc in self.layers if lc.kind == kind))

    @property
    def synops(self) -> float:
        """Effective ACs (binary-input connection layers)."""
        return self._sum("acs", "synapse")

    @property
    def macs(self) -> float:
        """Effective MACs (non-binary-input connection layers)."""
        return self._sum("macs", "synapse")

    @property
    def dense(self) -> float:
        """All-connection operations (every layer, every input and weight taken as nonzero)."""
        return self._sum("dense", "synapse")

    @property
    def neurons(self) -> int:
        return int(self._sum("neurons", "neuron"))

    @property
    def neuron_updates(self) -> float:
        return self._sum("neuron_updates", "neuron")

    @property
    def membrane_updates(self) -> float:
        """NeuroBench's ``MembraneUpdates``: membranes that changed (all at the first step), per sample."""
        return self._sum("membrane_updates", "neuron")

    @property
    def spikes(self) -> float:
        return self._sum("spikes", "neuron")

    @property
    def firing_rate(self) -> float | None:
        """Spikes / (neurons x T) over all spiking layers; None without neurons."""
        n = self.neurons * self.T
        return self.spikes / n if n else None

    @property
    def mac_layers(self) -> list[str]:
        return list(self.mac_layer_roles())

    def mac_layer_roles(self) -> dict[str, str]:
        """Why each MAC layer's input is not binary, e.g. ``{"stage1.0": "encoding layer: analog input"}``."""
        what_in = "event frames (binned event counts)" if self.input_kind == "event frames" else "analog input"
        roles = {"input": f"encoding layer: {what_in}", "pool": "after pooling", "neuron": "graded neuron output",
                 "synapse": "fed by a connection layer directly", "other": "a sum or copy of spikes (e.g. residual)"}
        return {lc.name: roles.get(lc.input_from or "", "non-binary input") for lc in self.layers
                if lc.kind == "synapse" and (lc.macs or 0) > 0}

    def memory_bytes(self, weight_bits: int = 8) -> float:
        """Parameter memory when every parameter is stored with ``weight_bits`` bits (dense storage)."""
        return self.params * weight_bits / 8

    def total(self, name: str) -> float:
        """A total by its count name: ``synops``, ``macs``, ``dense``, ``neuron_updates``, ``spikes``."""
        if name not in COUNT_NAMES:
            raise KeyError(f"unknown count {name!r}; choose one of {COUNT_NAMES}")
        return float(getattr(self, name))

    def neurobench(self) -> dict[str, float | None]:
        """The same counts under NeuroBench 2.3's metric names (:data:`NEUROBENCH_DEFINITIONS`), per sample."""
        fr = self.firing_rate
        return {"Effective_ACs": self.synops, "Effective_MACs": self.macs, "Dense": self.dense,
                "ActivationSparsity": None if fr is None else 1.0 - fr,
                "MembraneUpdates": self.membrane_updates if self.network == "snn" else None}

    def to_dict(self) -> dict[str, Any]:
        return {
            "network": self.network, "T": self.T, "samples": self.samples, "encoder": self.encoder,
            "accuracy": self.accuracy, "per": "sample (summed over T time steps)",
            "neurobench": self.neurobench(),
            "totals": {"synops": self.synops, "macs": self.macs, "dense": self.dense,
                       "neuron_updates": self.neuron_updates, "membrane_updates": self.membrane_updates,
                       "spikes": self.spikes, "neurons": self.neurons,
                       "firing_rate": self.firing_rate, "params": self.params,
                       "synaptic_weights": self.synaptic_weights, "nonzero_weights": self.nonzero_weights},
            "input_kind": self.input_kind, "mac_layers": self.mac_layer_roles(),
            "layers": [{k: v for k, v in asdict(lc).items() if v is not None} for lc in self.layers],
            "notes": list(self.notes),
        }


COUNT_NAMES: tuple[str, ...] = ("synops", "macs", "dense", "neuron_updates", "membrane_updates", "spikes")
# NeuroBench 2.3's workload metrics (neurobench.metrics.workload) and how each relates to neurokd's counts
NEUROBENCH_DEFINITIONS: dict[str, str] = {
    "Effective_ACs": "= synops: (nonzero input, nonzero weight) pairs of connection layers whose input is binary "
                     "(SynapticOperations); the same definition",
    "Effective_MACs": "= macs: the same pairs for connection layers whose input is not binary; the same "
                      "definition (NeuroBench decides per layer call from the input, neurokd does so for an SNN; "
                      "for an ANN neurokd counts every layer as MACs)",
    "Dense": "= dense: every connection, each input and weight taken as nonzero; the same definition",
    "ActivationSparsity": "= 1 - firing_rate: zero outputs / all outputs of the spiking layers over the T steps; "
                          "the same definition (not measured for an ANN: its ReLU outputs are not recorded)",
    "MembraneUpdates": "= membrane_updates: every neuron at the first step, then each (neuron, step) whose "
                       "post-reset membrane changed; the same definition. It differs from neurokd's "
                       "neuron_updates = neurons x T, which counts every neuron at every step as a clocked chip "
                       "(Loihi) updates it and as the energy models price it; MembraneUpdates leaves out resting "
                       "neurons (no input, no leak to apply), so it is <= neuron_updates",
}
# what produced a connection layer's input: the model input, a pooling layer, a neuron layer, a connection layer,
# or something unwatched (a residual sum, a copy)
INPUT_SOURCES: tuple[str, ...] = ("input", "pool", "neuron", "synapse", "other")


class _Accumulator:
    """Streams events into per-layer float64 sums (kept on the model's device until the end)."""

    def __init__(self, T: int, spiking: bool):
        self.T = T
        self.spiking = spiking
        self.order: list[str] = []
        self.syn: dict[str, dict[str, Any]] = {}
        self.neu: dict[str, dict[str, Any]] = {}
        self.counters: dict[str, _SynapseCounter] = {}
        # first batch only: which watched layer produced each tensor (by address; the tensors are kept alive so
        # that an address is never reused within the batch)
        self.tracing = True
        self.produced: dict[int, str] = {}
        self.alive: list[Tensor] = []
        self.input_from: dict[str, str] = {}

    def __call__(self, ev: LayerEvent) -> None:
        if self.tracing:
            self._trace(ev)
        if ev.kind == "synapse":
            self._synapse(ev)
        elif ev.kind == "neuron":
            self._neuron(ev)

    def _trace(self, ev: LayerEvent) -> None:
        if ev.kind == "synapse" and ev.name not in self.input_from:
            source = self.produced.get(ev.x.data_ptr())
            self.input_from[ev.name] = source or ("input" if not self.produced else "other")
        self.produced[ev.y.data_ptr()] = ev.kind
        self.alive.extend((ev.x, ev.y))

    def end_batch(self) -> None:
        self.tracing = False
        self.produced.clear()
        self.alive.clear()

    def _entry(self, table: dict, ev: LayerEvent, **init) -> dict[str, Any]:
        if ev.name not in table:
            table[ev.name] = {"module": ev.module, **init}
            self.order.append(ev.name)
        return table[ev.name]

    def _synapse(self, ev: LayerEvent) -> None:
        T, B = ev.x.shape[0], ev.x.shape[1]
        counter = self.counters.get(ev.name)
        if counter is None:
            counter = self.counters[ev.name] = _SynapseCounter(ev.module)
        zeros = torch.zeros(T, dtype=torch.float64, device=ev.x.device)
        e = self._entry(self.syn, ev, acs=zeros.clone(), macs=zeros.clone(), dense=0.0, ops=set(),
                        in_shape=list(ev.x.shape[2:]), out_shape=list(ev.y.shape[2:]))
        x = ev.x if ev.x.is_contiguous() else ev.x.contiguous()
        if self.spiking and ev.x_is_spikes:
            mask, binary = x, True  # 0/1 spikes are their own nonzero mask
        else:
            a = x.abs()
            mask = a.sign()  # 1 where the input is nonzero
            binary = self.spiking and torch.equal(a, mask)  # every value in {-1, 0, 1}: spikes
        e["acs" if binary else "macs"] += counter.effective(mask, T)
        e["ops"].add("AC" if binary else "MAC")
        e["dense"] += counter.dense_per_row(tuple(x.shape[2:]), x.device) * T * B

    def _neuron(self, ev: LayerEvent) -> None:
        T = ev.y.shape[0]
        e = self._entry(self.neu, ev, spikes=torch.zeros(T, dtype=torch.float64, device=ev.y.device),
                        neurons=ev.y[0, 0].numel(), membrane_updates=0)
        y = ev.y.reshape(T, -1)
        if y.shape[1] < FLOAT32_EXACT and isinstance(ev.module, LIF):
            e["spikes"] += y.sum(1)  # LIF/IF emit exactly 0/1: an exact float32 sum (< 2^24 per step)
        else:
            e["spikes"] += torch.count_nonzero(y, dim=1)  # graded or multi-valued output: count nonzero
        if isinstance(ev.module, LIF) and ev.module.membranes is not None:  # kept by count() (keep_membranes)
            e["membrane_updates"] += membrane_updates(ev.module.membranes)


    def result(self, samples: int) -> list[LayerCounts]:
        n = max(samples, 1)
        out: list[LayerCounts] = []
        for name in self.order:
            if name in self.syn:
                e = self.syn[name]
                w = e["module"].weight
                acs, macs = (e["acs"] / n).tolist(), (e["macs"] / n).tolist()
                ops = e["ops"]
                out.append(LayerCounts(
                    name=name, type=type(e["module"]).__name__, kind="synapse",
                    op=ops.pop() if len(ops) == 1 else "mixed",
                    acs=math.fsum(acs), macs=math.fsum(macs), dense=e["dense"] / n,
                    acs_per_step=acs, macs_per_step=macs, weights=w.numel(), nonzero_weights=int((w != 0).sum()),
                    in_shape=e["in_shape"], out_shape=e["out_shape"], input_from=self.input_from.get(name),
                ))
            else:
                e = self.neu[name]
                spikes = (e["spikes"] / n).tolist()
                neurons = e["neurons"]
                out.append(LayerCounts(
                    name=name, type=type(e["module"]).__name__, kind="neuron", neurons=neurons,
                    neuron_updates=float(neurons * self.T), membrane_updates=e["membrane_updates"] / n,
                    spikes=math.fsum(spikes),
                    firing_rate=math.fsum(spikes) / (neurons * self.T),
                    spikes_per_step=spikes, firing_rate_per_step=[s / neurons for s in spikes],
                ))
        return out


def membrane_updates(membranes: Tensor) -> int:
    """NeuroBench's ``MembraneUpdates`` of one layer's post-reset membranes ``[T, B, ...]`` (summed over the
    batch): every neuron at the first step plus, at each later step, the neurons whose membrane differs from
    the step before."""
    return membranes[0].numel() + int(torch.count_nonzero(membranes[1:] != membranes[:-1]))


@contextmanager
def _keeping_membranes(model: nn.Module) -> Iterator[None]:
    """Let every LIF/IF layer keep its post-reset membranes for the duration (no extra arithmetic)."""
    neurons = spiking_neurons(model)
    for m in neurons:
        m.keep_membranes = True
    try:
        yield
    finally:
        for m in neurons:
            m.keep_membranes, m.membranes = False, None


@torch.no_grad()
def count(model: nn.Module, inputs: Any, T: int | None = None, spiking: bool | None = None,
          progress: bool = False, max_samples: int | None = None) -> Counts:
    """Count operations of ``model`` over ``inputs`` (a tensor ``[B, ...]`` / ``[T, B, ...]``, an ``(x, y)`` pair or
    an iterable of batches such as a :class:`neurokd.data.Loader`).

    ``spiking`` (default: ``model.is_snn``) decides whether binary inputs count as ACs; for an ANN every
    connection-layer operation is a MAC. With labels in the batches, ``Counts.accuracy`` is the accuracy of
    the very forward passes that were counted. The model runs in eval mode and its outputs are not changed.
    """
    spiking = bool(getattr(model, "is_snn", False)) if spiking is None else spiking
    T = time_steps(model) if T is None else T
    acc = _Accumulator(T, spiking)
    device = model_device(model)
    static_rank = len(getattr(getattr(model, "spec", None), "input_shape", None) or ()) + 1
    samples, correct, labelled, sequence = 0, 0, 0, False
    was_training = model.training
    model.eval()
    batches = iter_batches(inputs)
    bar = progress_bar(batches, desc="counting", enabled=progress)
    try:
        # pooling layers are watched only so that a layer fed by one is labelled "after pooling" (first batch)
        with ActivityHooks(model, acc, T=T, kinds=("synapse", "neuron", "pool")), _keeping_membranes(model):
            for x, y in bar:
                if max_samples is not None and samples >= max_samples:
                    break
                x = x.to(device)
                batch_axis = 1 if (static_rank > 1 and x.ndim == static_rank + 1) else 0
                sequence = sequence or batch_axis == 1
                if max_samples is not None and samples + x.shape[batch_axis] > max_samples:
                    keep = max_samples - samples
                    x = x.narrow(batch_axis, 0, keep)
                    y = None if y is None else y[:keep]
                logits = model(x)
                acc.end_batch()
                samples += x.shape[batch_axis]
                if y is not None:
                    correct += int((logits.argmax(-1) == y.to(logits.device)).sum())
                    labelled += y.numel()
    finally:
        bar.close()
        model.train(was_training)
    if samples == 0:
        raise ValueError("count(): no input samples")
    layers = acc.result(samples)
    weights = [m.weight for m in model.modules() if layer_kind(m) == "synapse"]
    spec = getattr(model, "spec", None)
    counts = Counts(
        network="snn" if spiking else "ann", T=T, samples=samples, layers=layers,
        params=count_parameters(model),
        synaptic_weights=sum(w.numel() for w in weights),
        nonzero_weights=sum(int((w != 0).sum()) for w in weights),
        encoder=getattr(spec, "encoder", None) if spiking else None,
        accuracy=correct / labelled if labelled else None,
        input_kind="event frames" if sequence else "static",
    )
    _annotate(counts)
    return counts


def _annotate(counts: Counts) -> None:
    """Plain-language notes on what the numbers are (copied into every report)."""
    c = counts
    c.notes.append("counts are exact (not estimates), per sample, summed over the T time steps of one inference")
    if c.network == "snn":
        c.notes.append(f"T = {c.T}; effective ACs count (nonzero binary input, nonzero weight) pairs; bias, "
                       "pooling and normalisation are not operations (NeuroBench SynapticOperations convention)")
        roles = c.mac_layer_roles()
        if roles:
            c.notes.append("layers with non-binary input are counted as MACs, not ACs: "
                           + ", ".join(f"{name} ({role})" for name, role in roles.items()))
        c.notes.append("neuron updates = neurons x T (clocked simulation); the output layer's readout units are "
                       "not spiking neurons and are not counted")
        c.notes.append("membrane updates (NeuroBench MembraneUpdates) count only the membranes that changed: every "
                       "neuron at the first step, then those that received input or still leaked; <= neuron "
                       "updates")
    else:
        c.notes.append("ANN: every connection-layer operation is a MAC; 'dense' counts all of them (what a CPU/GPU "
                       "executes), 'macs' only those with a nonzero input activation and weight")


__all__ = ["COUNT_NAMES", "NEUROBENCH_DEFINITIONS", "Counts", "LayerCounts", "count", "is_binary",
           "membrane_updates"]
