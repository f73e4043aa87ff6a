"""Build the SNN twin of a converted ANN: weights rescaled so that spike rates stand for activations.

Each activation ``a`` has a scale ``lam_a`` (:mod:`neurokd.convert.scales`): one spike of its IF neuron stands
for ``lam_a`` in ANN units. The SNN neuron works in its own current units, ``k_a`` of them per ANN unit, and
fires at threshold ``theta_a = lam_a k_a`` (subtract reset), so its rate approximates
``clip(z / lam_a, 0, 1)`` for an ANN pre-activation ``z``. A weight layer that reads activation ``s`` (spikes
worth ``lam_s``; the network input: ``input_scale``) and drives ``a`` gets ``W <- W lam_s k_a``, bias
``b <- b k_a``; with a BatchNorm after it, the weight takes ``lam_s`` and the BatchNorm's affine ``k_a`` (eval
mode: exactly the folded layer scaled; the twin keeps its BatchNorm so the converted model is a normal twin,
trainable and exported like any other). The logits layer keeps ``k = 1``: the SNN's time-mean logits estimate the
ANN's.

``k_a = 1 / lam_a`` (threshold 1) everywhere except where an identity shortcut adds activation ``s``'s spikes
unweighted into ``a``'s input: there ``k_a = 1 / lam_s``, so the shortcut is exact and ``theta_a = lam_a / lam_s``.
That is what per-layer thresholds (``model.neuron.thresholds``) are for.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from neurokd.convert.topology import Topology
from neurokd.models import ModelSpec, build_model
from neurokd.models.base import TwinNet
from neurokd.models.thresholds import apply_neuron_spec, spiking_layer_names


def current_scales(topo: Topology, lam: dict[str, float], input_scale: float = 1.0) -> dict[str, float]:
    """``k_a`` per activation (SNN current units per ANN unit), see the module docstring."""
    out = {}
    for a in topo.activations:
        if a in topo.shortcuts:
            src = topo.shortcuts[a]
            out[a] = 1.0 / (input_scale if src is None else lam[src])
        else:
            out[a] = 1.0 / lam[a]
    return out


def converted_twin(ann: TwinNet, topo: Topology, lam: dict[str, float], spec: ModelSpec,
                   input_scale: float = 1.0, build: Callable[[ModelSpec], TwinNet] = build_model) -> TwinNet:
    """The SNN twin ``build(spec)`` (``neuron.thresholds`` filled in here) carrying ``ann``'s rescaled weights.

    ``spec`` describes the SNN (kind snn, IF neurons with subtract reset, T, initial membrane); ``ann`` is not
    modified. Returns the SNN in eval mode on ``ann``'s device.
    """
    k = current_scales(topo, lam, input_scale)
    spec = copy.deepcopy(spec)
    spec.neuron.thresholds = None
    with torch.random.fork_rng():  # building draws random initial weights: keep the caller's RNG stream
        snn = build(spec)
    theta = {a: lam[a] * k[a] for a in topo.activations}
    missing = [n for n in spiking_layer_names(snn) if n not in theta]
    if missing:
        raise ValueError(f"spiking layer {missing[0]} has no activation in the ANN's topology")
    spec.neuron.thresholds = [theta[n] for n in spiking_layer_names(snn)]
    snn.spec = spec
    apply_neuron_spec(snn, spec.neuron)

    target = snn.state_dict()
    state = {key: value.detach().double().clone() for key, value in ann.state_dict().items() if key in target}

    def signal(src: str | None) -> float:
        return input_scale if src is None else lam[src]

    for syn in topo.synapses:
        s_in, s_out = signal(syn.source), (1.0 if syn.target is None else k[syn.target])
        state[f"{syn.weight}.weight"] *= s_in
        affine = [f"{syn.norm}.weight", f"{syn.norm}.bias"] if syn.norm else [f"{syn.weight}.weight"]
        if syn.norm is None and f"{syn.weight}.bias" in state:
            affine.append(f"{syn.weight}.bias")
        for key in affine:
            state[key] *= s_out
    snn.load_state_dict({key: value.to(target[key].dtype) for key, value in state.items()})
    return snn.to(next(ann.parameters()).device).eval()
