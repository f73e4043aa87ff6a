"""The NumPy fixed-point model against independent references: a float64 torch run of the same integer network
(exact while no decay truncation occurs: beta = 1/2 over T <= 6 steps keeps every membrane a multiple of
2**(6-T) in Lava's << 6 units), and the latency/reset alignment of physical time."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neurokd.exporters.lava import numpy_sim
from neurokd.exporters.lava.netx import ConvLayer, DenseLayer, FlattenLayer, NetxNetwork
from neurokd.exporters.lava.quantize import quantize_model
from neurokd.exporters.lava.simulation import RESET_OFFSET, encode_inputs
from neurokd.models import ModelSpec, NeuronSpec, build_model
from neurokd.snn import get_surrogate, lif_sequence

from .conftest import conv_network, dense_network, random_batchnorm


def torch_reference(net: NetxNetwork, frames: np.ndarray):
    """Float64 torch run of the integer network in logical time: frames ``[B, T, *in]`` -> (spikes per layer
    ``[B, T, ...]``, readout sum ``[B, K]`` in weight units). Only for CUBA with iDecay = 4096."""
    x = torch.from_numpy(frames).double().transpose(0, 1)  # [T, B, ...]
    T, B = x.shape[:2]
    spikes, flat = [], False
    h = x
    for la in net.layers:
        if isinstance(la, FlattenLayer):
            flat = True
            continue
        if not isinstance(la, ConvLayer | DenseLayer):
            continue
        assert la.neuron.i_decay == 4096
        inp = h.reshape(T * B, *h.shape[2:])
        w = torch.from_numpy(la.weight).double()
        b = torch.from_numpy(la.bias).double() if la.bias is not None else None
        if isinstance(la, ConvLayer):
            a = F.conv2d(inp, w, b, la.stride, la.padding, la.dilation, la.groups)
        else:
            a = F.linear(inp.reshape(T * B, -1) if flat else inp, w, b)
        a = a.reshape(T, B, *a.shape[1:])
        beta = 1 - la.neuron.v_decay / 4096
        if la is net.synaptic_layers[-1]:
            return spikes, a.sum(0).numpy()
        s, _ = lif_sequence(a, beta, float(la.neuron.v_th_mant), "zero", get_surrogate("atan"))
        spikes.append(s.transpose(0, 1).numpy().astype(bool))
        h, flat = s, False
    raise AssertionError("no readout layer")


def logical_numpy(net: NetxNetwork, frames: np.ndarray):
    """NumPy model in physical time, windows cut out the way ``simulate`` does it."""
    B, T = frames.shape[:2]
    L = len(net.synaptic_layers)
    stream = np.concatenate([frames, np.zeros((B, L, *frames.shape[2:]), np.int64)], 1)
    trace = numpy_sim.run(net, stream, reset_interval=T, reset_offset=RESET_OFFSET)
    spikes = [s[:, 1 + i:1 + i + T] for i, s in enumerate(trace.spikes)]
    return spikes, trace.v_last[:, T + L - 1]


@pytest.mark.parametrize("arch, shape, beta", [("cnn", [1, 8, 8], 0.5), ("cnn1d", [1, 40], 0.5),
                                                ("cnn", [2, 7, 9], 1.0)])
def test_numpy_model_equals_float64_reference_of_the_exported_network(arch, shape, beta):
    torch.manual_seed(1)
    spec = ModelSpec(arch=arch, kind="snn", T=4, width=8, num_classes=5, input_shape=shape,
                     neuron=NeuronSpec(type="lif", beta=beta, threshold=0.7))
    model = random_batchnorm(build_model(spec).eval())
    x = torch.rand(24, *shape) * 2 - 0.5
    net, _ = quantize_model(model, calibration=x)
    frames = encode_inputs(net, x.numpy())
    ref_spikes, ref_sum = torch_reference(net, frames)
    got_spikes, got_v = logical_numpy(net, frames)
    assert sum(s.sum() for s in ref_spikes) > 0
    for r, g in zip(ref_spikes, got_spikes):
        assert np.array_equal(r, g.reshape(r.shape))
    assert np.array_equal(got_v, (ref_sum * 64).round().astype(np.int64))


@pytest.mark.parametrize("make", [conv_network, dense_network])
def test_batch_elements_are_independent_and_windows_follow_the_latency(make):
    """Each layer's window starts one step after the previous layer's; a sample's result does not depend
    on the other samples in the batch, and resetting at the window start makes earlier activity irrelevant."""
    net = make()
    T, L = 4, len(net.synaptic_layers)
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 16, (5, T, *net.input_shape))
    spikes, v = logical_numpy(net, frames)
    one_spikes, one_v = logical_numpy(net, frames[2:3])
    assert np.array_equal(v[2:3], one_v)
    assert all(np.array_equal(s[2:3], o) for s, o in zip(spikes, one_spikes))
    # garbage before the window (different history) changes nothing inside it: stream it after another sample
    stream = np.concatenate([frames[:1], frames[2:3], np.zeros((1, L, *net.input_shape), np.int64)], 1)
    trace = numpy_sim.run(net, stream.reshape(1, 2 * T + L, *net.input_shape), reset_interval=T,
                          reset_offset=RESET_OFFSET)
    for i, s in enumerate(trace.spikes):
        assert np.array_equal(s[0, 1 + i + T:1 + i + 2 * T], one_spikes[i][0])
    assert np.array_equal(trace.v_last[0, 2 * T + L - 1], one_v[0])
    # the first layer sees the frame sent at step 1 only at step 2 (one step of synaptic latency)
    no_input = numpy_sim.run(net, np.zeros((1, 2, *net.input_shape), np.int64))
    first = numpy_sim.run(net, np.concatenate([frames[:1, :1], np.zeros((1, 1, *net.input_shape), int)], 1))
    assert np.array_equal(no_input.spikes[0][0, 0], first.spikes[0][0, 0])
    assert not np.array_equal(no_input.spikes[0][0, 1], first.spikes[0][0, 1])


def test_lava_arithmetic_details():
    assert np.array_equal(numpy_sim.trunc_shift(np.array([-7, -1, 0, 1, 7]) * 2048, 12), [-3, 0, 0, 0, 3])
    assert numpy_sim.signed_clamp24(np.array([1 << 23]))[0] == -(1 << 23)
    assert np.array_equal(numpy_sim.wrap24(np.array([(1 << 23) + 5, -(1 << 23) - 5, 1 << 23])),
                          [-(1 << 23) + 5, (1 << 23) - 5, 1 << 23])
