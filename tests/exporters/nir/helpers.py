"""Shared helpers for the NIR tests: zoo SNNs whose neurons actually spike."""

from __future__ import annotations

from torch import Tensor

from neurokd.models import ModelSpec, NeuronSpec, TwinNet, build_model


def make_snn(arch: str, input_shape: list[int], T: int = 4, width: int | None = None, classes: int = 10,
             **neuron) -> TwinNet:
    kw = {k: neuron.pop(k) for k in ("downsample", "stem") if k in neuron}
    spec = ModelSpec(arch=arch, kind="snn", T=T, num_classes=classes, input_shape=input_shape, width=width,
                     neuron=NeuronSpec(**{"beta": 0.9, **neuron}), **kw)
    return build_model(spec)


def assert_active(spikes: dict[str, Tensor], lo: float = 0.005, hi: float = 0.95) -> None:
    """Every neuron layer fires, and none is saturated."""
    assert spikes
    for name, s in spikes.items():
        rate = float(s.float().mean())
        assert lo < rate < hi, f"{name}: firing rate {rate:.4f} outside ({lo}, {hi})"
