"""``convert_model``: a zoo ANN twin -> an IF SNN twin, by threshold balancing or QCFS.

| method | scale per activation | neuron | suits |
|---|---|---|---|
| ``threshold-balance`` | 99.9th percentile of its positive outputs on training inputs (Rueckauer 2017) | IF, subtract reset, starts at 0 (or ``initial_membrane``) | any ReLU twin; needs T of tens to hundreds |
| ``qcfs`` | the threshold the QCFS ANN learned (Bu et al. 2022) | IF, subtract reset, starts at half the threshold | a twin trained with ``model.activation: qcfs``; accurate at T around L |

Both rescale the weights as :mod:`neurokd.convert.twin` describes. BatchNorm is folded by that scaling, average
pooling and residual adds pass rates through; anything else stops with one line naming the layer.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from torch import Tensor

from neurokd.convert.names import METHODS
from neurokd.convert.scales import percentile_scales, qcfs_scales
from neurokd.convert.topology import topology
from neurokd.convert.twin import converted_twin
from neurokd.errors import ConfigError, UserError
from neurokd.models import ModelSpec, NeuronSpec, build_model
from neurokd.models.base import TwinNet
from neurokd.models.thresholds import spiking_layer_names

Method = Literal[METHODS]  # type: ignore[valid-type]
QCFS_INITIAL_MEMBRANE = 0.5  # the shift phi = 1/2 of QCFS, as a fraction of each threshold


@dataclass
class Conversion:
    """A converted SNN and how it was made: ``scales`` (lam, ANN units per spike) and ``thresholds`` per spiking
    layer, the QCFS teacher's levels L (None for threshold balancing) and the wall-clock seconds of the
    conversion (calibration included, evaluation not)."""

    model: TwinNet
    method: str
    scales: dict[str, float]
    thresholds: dict[str, float]
    levels: int | None
    seconds: float


def resolve_method(method: str, ann: TwinNet) -> Method:
    """``auto`` -> ``qcfs`` for a QCFS-trained twin, else ``threshold-balance``; ``qcfs`` needs a QCFS twin."""
    qcfs_trained = ann.spec.activation == "qcfs"
    if method == "auto":
        return "qcfs" if qcfs_trained else "threshold-balance"
    if method not in METHODS:
        raise ConfigError(f"config key 'convert.method': expected auto or one of {', '.join(METHODS)}, got {method!r}")
    if method == "qcfs" and not qcfs_trained:
        raise ConfigError("config key 'convert.method': qcfs converts a teacher trained with model.activation qcfs; "
                        "this one uses ReLU: use threshold-balance (or train a QCFS teacher)")
    return method  # type: ignore[return-value]


def snn_spec(ann_spec: ModelSpec, T: int, method: Method, template: NeuronSpec | None = None,
             encoder: str = "direct", initial_membrane: float | None = None) -> ModelSpec:
    """The converted SNN's spec: the ANN's architecture, IF neurons with subtract reset starting at
    ``initial_membrane`` x the threshold (None: 0 for threshold-balance, half for qcfs); surrogate settings from
    ``template`` (for fine-tuning)."""
    t = template or NeuronSpec()
    if initial_membrane is None:
        initial_membrane = QCFS_INITIAL_MEMBRANE if method == "qcfs" else 0.0
    neuron = NeuronSpec(type="if", beta=1.0, threshold=1.0, reset="subtract", surrogate=t.surrogate,
                        surrogate_alpha=t.surrogate_alpha, learn_beta=False, detach_reset=t.detach_reset,
                        initial_membrane=initial_membrane)
    spec = copy.deepcopy(ann_spec)
    spec.kind, spec.T, spec.encoder, spec.neuron, spec.activation = "snn", int(T), encoder, neuron, "relu"
    return spec


def convert_model(ann: TwinNet, T: int, method: str = "auto", calibration: Iterable[Tensor] | None = None,
                  percentile: float = 99.9, template: NeuronSpec | None = None, encoder: str = "direct",
                  input_scale: float = 1.0, initial_membrane: float | None = None,
                  build: Callable[[ModelSpec], TwinNet] = build_model) -> Conversion:
    """Convert the ANN twin ``ann`` into an SNN twin running ``T`` steps.

    Args:
        ann: a zoo ANN twin (ReLU, or QCFS for ``qcfs``); not modified.
        T: time steps of the SNN (any T works; the model file records this one).
        method: ``auto``, ``threshold-balance`` or ``qcfs`` (see the module docstring).
        calibration: ANN input batches for threshold balancing (training inputs).
        percentile: threshold balancing's percentile of positive activations.
        template: neuron spec whose surrogate settings the SNN keeps (for fine-tuning it later).
        encoder: the SNN's input encoding.
        input_scale: ANN input units per SNN input unit (1; event frames: the number of frames, because the ANN
            sees their sum).
        initial_membrane: the neurons' membrane at t = 0 as a fraction of their thresholds (None: the method's,
            0 for threshold-balance as Rueckauer et al., 1/2 for qcfs; the half-threshold start helps threshold
            balancing at small T too, see docs/conversion.md).
        build: builds the SNN twin from its spec (the zoo's ``build_model``).
    """
    if not isinstance(ann, TwinNet) or ann.is_snn:
        raise UserError("conversion needs a zoo ANN twin (a neurokd teacher run folder, model file or zoo state "
                        f"dict), got {'an SNN twin' if isinstance(ann, TwinNet) else type(ann).__name__}")
    t0 = time.perf_counter()
    chosen = resolve_method(method, ann)
    topo = topology(ann)
    if chosen == "qcfs":
        lam = qcfs_scales(ann, topo.activations)
    else:
        if calibration is None:
            raise UserError("threshold-balance conversion needs calibration inputs (training batches)")
        lam = percentile_scales(ann, topo.activations, calibration, percentile)
    spec = snn_spec(ann.spec, T, chosen, template, encoder, initial_membrane)
    snn = converted_twin(ann, topo, lam, spec, input_scale, build)
    thresholds = dict(zip(spiking_layer_names(snn), snn.spec.neuron.thresholds or []))
    levels = ann.spec.qcfs_levels if chosen == "qcfs" else None
    return Conversion(snn, chosen, lam, thresholds, levels, time.perf_counter() - t0)
