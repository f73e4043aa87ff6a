"""What a converted SNN needs and Loihi 2's netx neurons cannot do is refused with one line naming the fix."""

import pytest
import torch

from neurokd.exporters.lava.quantize import ExportError, quantize_model
from neurokd.models import ModelSpec, NeuronSpec, build_model


def _snn(**neuron):
    spec = ModelSpec(arch="cnn", T=4, width=8, num_classes=10, input_shape=[1, 8, 8], neuron=NeuronSpec(**neuron))
    return build_model(spec).eval()


def test_initial_membrane_is_refused_naming_the_layer():
    with pytest.raises(ExportError, match=r"stage1\.2: its membrane starts at 0\.6, but netx neurons start every "
                                          r"sample at 0.*model\.neuron\.initial_membrane 0"):
        quantize_model(_snn(type="if", threshold=1.2, initial_membrane=0.5), input_max=1.0)


def test_subtract_reset_is_refused_before_the_initial_membrane():
    with pytest.raises(ExportError, match="reset=subtract"):
        quantize_model(_snn(type="if", reset="subtract", initial_membrane=0.5), input_max=1.0)


def test_per_layer_thresholds_quantize_exactly_and_the_neuron_is_recorded():
    model = _snn(type="if", thresholds=[0.5, 1.0, 2.0])
    net, report = quantize_model(model, calibration=torch.rand(32, 1, 8, 8))
    for q, theta in zip(report.layers, [0.5, 1.0, 2.0]):
        assert q.threshold == theta and q.v_th_mant == pytest.approx(theta * q.scale)
    assert net.meta["neuron_reset"] == "zero" and net.meta["initial_membrane"] == 0.0
