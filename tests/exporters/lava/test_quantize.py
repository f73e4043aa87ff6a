"""neurokd SNN -> Loihi 2 fixed point: the integer ranges, the scale relations, what cannot be exported, and
the accuracy of the quantized network on digits."""

import numpy as np
import pytest
import torch

from neurokd.exporters.lava import simulate, to_netx
from neurokd.exporters.lava.netx import BIAS_MAX, VTH_MAX, ConvLayer
from neurokd.exporters.lava.netx_reader import read_netx
from neurokd.exporters.lava.quantize import ACT_LIMIT, ExportError, quantize_model
from neurokd.models import ModelSpec, NeuronSpec, build_model
from neurokd.models.fold import fold_batchnorm


def snn(**kw):
    neuron = kw.pop("neuron", NeuronSpec())
    spec = ModelSpec(**{"arch": "cnn", "kind": "snn", "T": 4, "width": 8, "num_classes": 10,
                        "input_shape": [1, 8, 8], "neuron": neuron, **kw})
    return build_model(spec).eval()


def test_integers_fit_loihi_and_scales_are_consistent():
    torch.manual_seed(0)
    model = snn(neuron=NeuronSpec(beta=0.8, threshold=1.3))
    x = torch.rand(64, 1, 8, 8)
    net, report = quantize_model(model, calibration=x)
    folded = fold_batchnorm(model)
    assert [q.role for q in report.layers] == ["spiking"] * 3 + ["readout"]
    in_scale = net.meta["input_scale"]
    for i, (la, q) in enumerate(zip(net.synaptic_layers, report.layers)):
        op = folded.get_submodule(q.name)
        w = op.weight.detach().double().numpy()
        w_scale = q.scale / (in_scale if i == 0 else 1.0)
        assert np.abs(la.weight).max() <= 127 and np.abs(la.bias).max() <= BIAS_MAX
        assert np.abs(la.weight - w.reshape(la.weight.shape) * w_scale).max() <= 0.5 + 1e-9
        assert np.abs(la.bias - op.bias.detach().double().numpy() * q.scale).max() <= 0.5 + 1e-9
        in_max = net.meta["input_levels"] if i == 0 else 1
        reps = 4 if q.role == "readout" else 1
        worst = np.abs(la.weight).reshape(len(la.weight), -1).sum(1) * in_max + np.abs(la.bias)
        assert reps * worst.max() <= ACT_LIMIT  # the 24-bit current/membrane can never wrap or saturate
        if q.role == "spiking":
            assert la.neuron.v_th_mant == pytest.approx(1.3 * q.scale, abs=1e-9)  # exact threshold
            assert la.neuron.v_th_mant <= VTH_MAX
            assert (la.neuron.i_decay, la.neuron.v_decay) == (4096, round(4096 * 0.2))
        else:
            assert (la.neuron.i_decay, la.neuron.v_decay, la.neuron.v_th_mant) == (4096, 0, VTH_MAX)
            assert net.meta["readout_scale"] == q.scale
        assert q.limit in ("weights", "bias", "range", "threshold")
    assert net.meta["input_message_bits"] == 8 and not net.meta["input_signed"]
    assert "stage1.0" in report.table() and "graded spikes" in report.table()


def test_cnn1d_and_strided_vgg_export(tmp_path):
    torch.manual_seed(0)
    m1 = build_model(ModelSpec(arch="cnn1d", kind="snn", T=2, width=4, num_classes=10, input_shape=[1, 40])).eval()
    to_netx(m1, tmp_path / "a.net", calibration=torch.randn(8, 1, 40))
    net = read_netx(tmp_path / "a.net")
    assert net.input_shape == (1, 1, 40) and isinstance(net.layers[1], ConvLayer)
    assert net.layers[1].stride == (1, 1) and net.layers[2].stride == (1, 2)
    res = simulate(tmp_path / "a.net", np.random.default_rng(0).normal(size=(3, 1, 40)))
    assert res.logits.shape == (3, 10)
    m2 = snn(arch="vgg11", width=4, downsample="stride")
    report = to_netx(m2, tmp_path / "b.net", input_max=1.0)
    assert len(report.layers) == 9 and report.layers[-1].role == "readout"


@pytest.mark.parametrize("kw, needle", [
    ({"arch": "vgg11", "width": 4}, "--model.downsample stride"),
    ({"arch": "resnet20", "width": 4, "input_shape": [3, 8, 8]}, "residual"),
    ({"arch": "resnet1d", "width": 4, "input_shape": [1, 40]}, "residual"),
    ({"neuron": NeuronSpec(reset="subtract")}, "--model.neuron.reset zero"),
    ({"kind": "ann"}, "ANN"),
])
def test_what_netx_cannot_express_is_refused_with_the_fix(tmp_path, kw, needle):
    with pytest.raises(ExportError, match=needle.replace(".", r"\.")) as e:
        to_netx(snn(**kw), tmp_path / "m.net", input_max=1.0)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "m.net").exists()


def test_direct_encoding_needs_an_input_range():
    with pytest.raises(ExportError, match="calibration"):
        quantize_model(snn())


def test_poisson_models_take_binary_input_spikes(tmp_path):
    torch.manual_seed(0)
    model = snn(encoder="poisson")
    to_netx(model, tmp_path / "p.net")
    net = read_netx(tmp_path / "p.net")
    assert net.meta["input_message_bits"] == 0 and net.meta["encoder"] == "poisson"
    x = np.random.default_rng(0).random((6, 1, 8, 8))
    a, b = simulate(tmp_path / "p.net", x, seed=3), simulate(tmp_path / "p.net", x, seed=3)
    assert np.array_equal(a.v_out, b.v_out)


def test_learned_beta_per_layer(tmp_path):
    model = snn(neuron=NeuronSpec(learn_beta=True, beta=0.9))
    _, report = quantize_model(model, input_max=1.0)
    assert all(abs(q.beta - 0.9) < 1e-6 and abs(q.beta_fixed - 0.9) < 1 / 8192 for q in report.layers[:3])


@pytest.mark.slow
def test_quantized_accuracy_on_digits_within_one_point_of_the_float_snn(trained_snn, tmp_path):
    from neurokd.config import DataConfig
    from neurokd.data import load_dataset

    _run, model = trained_snn
    splits = load_dataset(DataConfig())
    x_test, y_test = splits.test.get_batch(torch.arange(len(splits.test)))
    to_netx(model, tmp_path / "d.net", calibration=splits.train.x)
    with torch.no_grad():
        float_pred = model(x_test).argmax(1).numpy()
    float_acc = float((float_pred == y_test.numpy()).mean())
    res = simulate(tmp_path / "d.net", x_test.numpy())
    fixed_acc = res.accuracy(y_test.numpy())
    assert float_acc > 0.9
    assert abs(fixed_acc - float_acc) <= 0.01, (float_acc, fixed_acc)
    assert (res.predictions == float_pred).mean() >= 0.98
