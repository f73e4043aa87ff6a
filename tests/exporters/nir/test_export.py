"""``to_nir``: layers NIR cannot express are refused with the module's path and what to change; the Euler
mapping of the neuron constants is exact."""

import numpy as np
import pytest
import torch
from torch import nn

from neurokd.errors import UserError
from neurokd.exporters.nir import compare_spikes, from_nir, to_nir
from neurokd.exporters.nir.convention import euler_tau
from neurokd.snn.neurons import IF, LIF
from tests.exporters.nir.helpers import make_snn


@pytest.mark.parametrize("make,shape,needles", [
    (lambda: make_snn("resnet18", [3, 64, 64], 2, width=8), None, ["stem.3", "MaxPool2d", "stem 'cifar'"]),
    (lambda: nn.Sequential(nn.Linear(4, 3), LIF(), nn.GELU()), [4], ["2 (GELU)", "rewrite it"]),
    (lambda: nn.Sequential(nn.Flatten(0), nn.Linear(16, 2)), [4, 4],
     ["0 (Flatten(start_dim=0, end_dim=-1))", "flattens the batch", "nn.Flatten()"]),
    (lambda: nn.Sequential(nn.Flatten(-3), nn.Linear(16, 2)), [4, 4], ["(Flatten(start_dim=-3,", "the batch"]),
    (lambda: nn.Sequential(nn.Flatten(1, 3)), [4, 4], ["0 (Flatten)", "input shape [4, 4]"]),
    (lambda: nn.Sequential(nn.Flatten(2, 1)), [4, 4], ["0 (Flatten)", "input shape [4, 4]"]),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular")), [1, 4, 4],
     ["padding_mode='zeros'"]),
    (lambda: nn.Sequential(nn.Conv2d(2, 2, 3, groups=2)), [2, 4, 4], ["groups=2", "groups=1"]),
    (lambda: nn.Sequential(nn.AvgPool2d(3, ceil_mode=True)), [2, 4, 4], ["ceil_mode=False"]),
    (lambda: nn.Sequential(nn.AvgPool2d(2, divisor_override=3)), [2, 4, 4], ["divisor_override=3"]),
    (lambda: nn.Sequential(nn.AdaptiveAvgPool2d(3)), [2, 4, 4], ["AdaptiveAvgPool2d(3) on 4x4", "uneven"]),
    (lambda: nn.Sequential(nn.BatchNorm2d(2)), [2, 4, 4], ["0 (BatchNorm2d)", "could not be folded"]),
    (lambda: nn.Sequential(nn.Linear(4, 3), nn.ReLU()), [4], ["1 (ReLU)", "SNN twin"]),
    (lambda: nn.Sequential(nn.Linear(4, 3)), [5], ["0 (Linear)", "does not accept input shape [5]"]),
])
def test_unexpressible_layers_are_named(make, shape, needles):
    with pytest.raises(UserError) as e:
        to_nir(make(), shape)
    msg = str(e.value)
    assert "\n" not in msg
    for n in needles:
        assert n in msg, msg


def test_ann_twin_and_bad_arguments():
    ann = make_snn("cnn", [1, 8, 8], 2)
    ann.spec.kind = "ann"
    with pytest.raises(UserError, match="export the SNN twin"):
        to_nir(ann)
    with pytest.raises(UserError, match="dt must be > 0"):
        to_nir(make_snn("cnn", [1, 8, 8], 2), dt=0.0)
    with pytest.raises(UserError, match="input_shape is required"):
        to_nir(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(UserError, match="TwinNet"):
        to_nir(nn.Linear(2, 2), [2])


def test_sequential_with_sum_pooling_same_padding_and_if_roundtrips():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding="same"), IF(threshold=0.5, T=3), nn.AvgPool2d(2, divisor_override=1),
        nn.Conv2d(4, 4, 3, padding=1, bias=False), LIF(beta=0.75, T=3), nn.Dropout(0.5), nn.Flatten(),
        nn.Linear(64, 3, bias=False))
    g = to_nir(model, [2, 8, 8], dt=1e-3)
    assert [type(n).__name__ for n in g.nodes.values()] == [
        "Input", "Conv2d", "IF", "SumPool2d", "Conv2d", "LIF", "Flatten", "Linear", "Output"]
    assert np.all(g.nodes["1"].r == 1e3)  # IF: r = 1/dt (unit gain under Euler)
    net = from_nir(g)
    x = torch.rand(3, 5, 2, 8, 8) * 2
    with torch.no_grad():
        ref = model.eval()(x.reshape(15, 2, 8, 8)).reshape(3, 5, 3)
        assert torch.equal(net(x), ref)
    r = compare_spikes(model, net, x)
    assert r["spike_equal"] and r["spikes"] > 0


@pytest.mark.parametrize("dt", [1e-4, 1e-3, 1.0])
@pytest.mark.parametrize("beta", [0.5, 0.6, 0.75, 0.8, 0.9, 0.95, 0.99, 0.999])
def test_euler_tau_inverts_exactly(beta, dt):
    tau = euler_tau(beta, dt)
    assert tau.dtype == np.float32 and abs(tau / (dt / (1 - beta)) - 1) < 1e-5
    assert np.float32(1.0 - dt / float(tau)) == np.float32(beta)  # our importer (float64, rounded once)
    tau_arr = np.full(3, tau, np.float32)
    assert (1 - dt / tau_arr).dtype == np.float32
    assert np.all((1 - dt / tau_arr) == np.float32(beta))  # snnTorch's importer (float32 numpy arithmetic)


def test_euler_tau_float64_and_small_beta():
    tau = euler_tau(0.9, 1e-4, np.float64)
    assert tau.dtype == np.float64 and 1 - 1e-4 / tau == 0.9
    # below 0.5 a float32 tau cannot always resolve beta to the last bit: the metadata carries it exactly
    g = to_nir(nn.Sequential(nn.Linear(2, 2), LIF(beta=0.1, T=1)), [2])
    assert np.float32(1.0 - 1e-4 / float(g.nodes["1"].tau.flat[0])) != np.float32(0.1)
    assert from_nir(g).layers["1"].beta == 0.1
    g.nodes["1"].metadata.clear()
    assert from_nir(g).layers["1"].beta == pytest.approx(0.1, abs=1e-7)
