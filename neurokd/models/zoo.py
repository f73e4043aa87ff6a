"""The twin zoo: ``build_model(spec)`` for every name in :data:`~neurokd.models.spec.ARCHS`."""

from __future__ import annotations

from collections.abc import Callable

from neurokd.models.base import TwinNet
from neurokd.models.cnn import build_cnn, build_cnn1d
from neurokd.models.resnet import RESNET_CFGS, build_resnet, build_resnet1d
from neurokd.models.spec import ARCHS, ModelSpec
from neurokd.models.thresholds import apply_neuron_spec
from neurokd.models.vgg import VGG_CFGS, build_vgg

BUILDERS: dict[str, Callable[[ModelSpec], TwinNet]] = {
    "cnn": build_cnn,
    "cnn1d": build_cnn1d,
    **{name: build_vgg for name in VGG_CFGS},
    **{name: build_resnet for name in RESNET_CFGS},
    "resnet1d": build_resnet1d,
}

if set(BUILDERS) != set(ARCHS):  # the spec's list is the one the config validates against
    raise ImportError(f"neurokd.models: builders {tuple(BUILDERS)} do not match ARCHS {ARCHS}")

_INPUT_RANK = {"cnn1d": 2, "resnet1d": 2}


def input_rank(arch: str) -> int:
    """Rank of one input sample: 2 for ``[C, L]`` signals (1-D archs), 3 for ``[C, H, W]`` images."""
    return _INPUT_RANK.get(arch, 3)


def build_model(spec: ModelSpec) -> TwinNet:
    """Build the twin described by ``spec`` (``num_classes`` and ``input_shape`` must be set)."""
    if spec.arch not in BUILDERS:
        raise ValueError(f"unknown arch {spec.arch!r}; choose one of {sorted(BUILDERS)}")
    if spec.num_classes is None or spec.input_shape is None:
        raise ValueError("spec.num_classes and spec.input_shape must be set before building")
    rank = input_rank(spec.arch)
    if len(spec.input_shape) != rank:
        kind = "[C, L] (1-D signals)" if rank == 2 else "[C, H, W] (images)"
        raise ValueError(f"arch '{spec.arch}' needs input_shape {kind}, got {list(spec.input_shape)}")
    model = BUILDERS[spec.arch](spec)
    if spec.kind == "snn":
        apply_neuron_spec(model, spec.neuron)
    return model
