"""Spike-for-spike comparison of two neurokd SNNs (a ``TwinNet``, an imported ``NIRNetwork``) on one input.

Spike trains are recorded with forward hooks on every neurokd neuron and keyed by NIR node name (a TwinNet
module path with ``.`` -> ``_``, as the exporter names nodes), so a model and its NIR round trip line up.
Equality is exact (``torch.equal``), never a tolerance.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from neurokd.exporters.nir.export import node_name
from neurokd.exporters.nir.network import NIRNetwork
from neurokd.models.base import TwinNet
from neurokd.snn.folding import fold, unfold
from neurokd.snn.neurons import LIF


def _neurons(model: nn.Module) -> dict[str, LIF]:
    if isinstance(model, NIRNetwork):
        return {model.node_names[k]: m for k, m in model.neurons().items()}
    return {node_name(path): m for path, m in model.named_modules() if isinstance(m, LIF)}


def _sequence(model: nn.Module, x: Tensor) -> Tensor:
    """``x`` as the ``[T, B, ...]`` sequence the model would see (static input encoded directly)."""
    if isinstance(model, TwinNet):
        static_ndim = len(model.spec.input_shape or ()) + 1
        return model.encode_input(x).reshape(model.T, -1, *x.shape[1:]) if x.ndim == static_ndim else x
    return model._sequence(x) if isinstance(model, NIRNetwork) else x


@torch.no_grad()
def record_spikes(model: nn.Module, x: Tensor, stepwise: bool = False) -> tuple[Tensor, dict[str, Tensor]]:
    """Run ``model`` on ``x`` (static ``[B, ...]`` or ``[T, B, ...]``; a model that is neither a TwinNet nor
    a NIRNetwork, e.g. an ``nn.Sequential`` whose neurons have ``T`` set, gets ``[T, B, ...]`` folded).

    Returns ``(outputs [T, B, ...], {node name: spikes [T, B, ...]})``. ``stepwise=True`` feeds one time step
    per call with stateful neurons (batch ``B`` per call instead of ``T*B``: the shapes a per-step simulator
    such as snnTorch uses, so its kernels see the same shapes).
    """
    neurons = _neurons(model)
    chunks: dict[str, list[Tensor]] = {name: [] for name in neurons}
    hooks = [m.register_forward_hook(lambda _m, _i, out, name=name: chunks[name].append(out.detach()))
             for name, m in neurons.items()]
    was_training = model.training
    model.eval()
    try:
        if not stepwise:
            out = _run(model, x)
        else:
            out = _run_stepwise(model, _sequence(model, x))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    T = out.shape[0]
    spikes = {name: torch.cat(c).reshape(T, -1, *c[0].shape[1:]) for name, c in chunks.items()}
    return out, spikes


def _run(model: nn.Module, x: Tensor) -> Tensor:
    if isinstance(model, TwinNet):
        return model.forward_seq(x)
    if isinstance(model, NIRNetwork):
        return model(x)
    return unfold(model(fold(x)), x.shape[0])  # a plain stack of layers with time-folded neurons (T set)


def _run_stepwise(model: nn.Module, seq: Tensor) -> Tensor:
    if not isinstance(model, TwinNet | NIRNetwork):
        raise TypeError(f"stepwise recording needs a TwinNet or NIRNetwork, got {type(model).__name__}")
    twin = isinstance(model, TwinNet)
    T0 = model.T if twin else None
    if twin:
        model.set_T(1)
    model.set_stateful(True)
    try:
        outs = [model.forward_seq(seq[t:t + 1]) if twin else model(seq[t:t + 1]) for t in range(seq.shape[0])]
    finally:
        model.set_stateful(False)
        if twin:
            model.set_T(T0)
    return torch.cat(outs)


def compare_spikes(a: nn.Module, b: nn.Module, x: Tensor, stepwise_a: bool = False,
                   stepwise_b: bool = False) -> dict[str, Any]:
    """Exact comparison of two SNNs' spike trains (every neuron layer, matched by node name) and outputs.

    Returns ``{"spike_equal", "output_equal", "layers", "spikes" (total in a), "mismatches" (differing
    spike-train entries), "neurons_x_steps" (entries compared), "max_output_diff", "first_mismatch",
    "missing"}``.
    """
    out_a, sa = record_spikes(a, x, stepwise_a)
    out_b, sb = record_spikes(b, x, stepwise_b)
    missing = sorted(set(sa) ^ set(sb))
    mismatches, entries, first = 0, 0, None
    for name in [n for n in sa if n in sb]:
        if sa[name].shape != sb[name].shape:
            mismatches += sa[name].numel()
            first = first or name
            continue
        diff = int((sa[name] != sb[name]).sum())
        mismatches += diff
        entries += sa[name].numel()
        if diff and first is None:
            first = name
    same_shape = out_a.shape == out_b.shape
    return {
        "spike_equal": not missing and mismatches == 0 and bool(sa),
        "output_equal": same_shape and torch.equal(out_a, out_b),
        "layers": len(sa),
        "spikes": int(sum(int(s.sum()) for s in sa.values())),
        "mismatches": mismatches,
        "neurons_x_steps": entries,
        "max_output_diff": float((out_a - out_b).abs().max()) if same_shape else float("inf"),
        "first_mismatch": first,
        "missing": missing,
    }


@torch.no_grad()
def calibrate_activity(model: nn.Module, x: Tensor, seed: int = 0) -> nn.Module:
    """Make a randomly initialised SNN spike (for tests and benchmarks; modifies ``model``).

    Every BatchNorm gets a random affine (gamma ~ U(0.8, 1.2), beta ~ U(0.2, 0.6)) and the running statistics
    of ``x``, so pre-activations are ~N(0.4, 1): neurons fire at a healthy, non-saturated rate, and folding
    BN changes every weight. Returns ``model`` in eval mode.
    """
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one batch sets the statistics
            m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.4 + 0.8)
            m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.4 + 0.2)
    model.train()
    model(x)
    return model.eval()
